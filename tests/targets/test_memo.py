"""per_plan: one result per Plan (by identity) and options (by value), never keeping the Plan."""

from __future__ import annotations

import gc
import weakref

from pydantic import BaseModel

from mlspec.targets.toolkit.memo import per_plan


class _Options(BaseModel):
    n: int = 1


class _Plan:
    """Stands in for a Plan: per_plan only needs identity and a weak reference."""


def test_one_result_per_plan_and_options() -> None:
    calls: list[tuple[int, int]] = []

    @per_plan
    def derive(plan: _Plan, options: _Options) -> list[int]:
        calls.append((id(plan), options.n))
        return [options.n]

    a, b = _Plan(), _Plan()
    first = derive(a, _Options(n=1))
    assert derive(a, _Options(n=1)) is first          # equal options, same plan: kept
    assert derive(a, _Options(n=2)) == [2]            # other options: derived again
    assert derive(b, _Options(n=2)) == [2]            # other plan: derived again
    assert len(calls) == 3


def test_the_plan_is_not_kept_alive() -> None:
    @per_plan
    def derive(plan: _Plan, options: _Options) -> int:
        return options.n

    plan = _Plan()
    ref = weakref.ref(plan)
    derive(plan, _Options())
    del plan
    gc.collect()
    assert ref() is None
