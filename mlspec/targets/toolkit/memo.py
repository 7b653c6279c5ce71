"""One result per Plan and options: what a target's ``check`` derives and ``emit`` needs again.

`compile` checks every target and then emits it, with the same Plan and options; building a
1,000-step pipeline's jobs, DAG contexts or workflow text twice is a measurable part of a
compile. The last result is kept (a Plan is immutable; options are compared by their JSON),
and the Plan only weakly, so nothing outlives it.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")


def per_plan(fn: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
    """Memoize ``fn(plan, options)`` for the last Plan (by identity) and options (by value).

    The result is shared: callers treat it as read-only."""
    last: list[Any] = [None, None, None]   # weakref to the plan, options JSON, result

    @functools.wraps(fn)
    def wrapper(plan: Any, options: Any) -> R:
        key = options.model_dump_json()
        if last[0] is not None and last[0]() is plan and last[1] == key:
            return last[2]
        result = fn(plan, options)
        last[:] = [weakref.ref(plan), key, result]
        return result

    return wrapper
