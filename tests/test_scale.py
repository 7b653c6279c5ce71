"""Large pipelines compile without deep recursion, and what they produce grows linearly.

The specs are the benchmark's (benchmarks/run.py): chains of 1,000 and 5,000 steps. The
compile runs under a recursion limit only a few hundred frames above the test's own depth,
so any recursion that follows the pipeline's depth (a graph walk, a nested structure encoded
recursively, a template recursing over nodes) fails here instead of at a user's 5,000th step.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from mlspec.api import check_project, emit_artifacts
from mlspec.compiler.lineage import lock_data
from mlspec.targets import available_targets, capability_diagnostics

ROOT = Path(__file__).resolve().parent.parent
_limits: dict[int, list[str]] = {}   # GitHub-limit diagnostics by chain length


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("mlspec_bench", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compile(tmp: Path, steps: int) -> tuple[Any, dict[str, int]]:
    folder = tmp / f"chain-{steps}"
    folder.mkdir()
    spec = folder / "mlproject.yaml"
    spec.write_text(_bench().make_spec(steps), encoding="utf-8")
    limit = sys.getrecursionlimit()
    # A few hundred frames above where we stand: enough for any fixed nesting, far too few
    # for recursion that grows with 1,000 or 5,000 steps.
    sys.setrecursionlimit(len(inspect.stack(0)) + 400)
    try:
        checked = check_project(spec, out_dir=folder, check_targets=False)
        assert checked.ok, [d.message for d in checked.diagnostics if d.is_error][:3]
        # The targets' own checks: GitHub's limits are the one thing a long chain may cross.
        found = []
        for name, target_class in available_targets().items():
            if name in checked.target_options:
                target = target_class(checked.target_options[name], ())
                found += capability_diagnostics(target, checked.plan) + target.check(checked.plan)
        assert not [d for d in found if d.is_error and d.code not in ("MS411", "MS412")], found[:3]
        _limits[steps] = [d.code for d in found if d.code in ("MS411", "MS412")]
        artifacts = emit_artifacts(checked.plan, checked.target_options)
        sizes = {a.path: len(a.render(checked.plan.source).encode()) for a in artifacts}
    finally:
        sys.setrecursionlimit(limit)
    return checked.plan, sizes


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Any, dict[str, int]]]:
    tmp = tmp_path_factory.mktemp("scale")
    return {n: _compile(tmp, n) for n in (1000, 5000)}


def test_5000_steps_compile_under_a_low_recursion_limit(compiled) -> None:
    plan, sizes = compiled[5000]
    assert len([n for n in plan.nodes if n.kind == "step"]) == 5000
    assert f".github/workflows/{plan.project.name}-train.yml" in sizes


def test_the_plan_keeps_direct_inputs_and_computes_the_upstream_on_demand(compiled) -> None:
    plan, _ = compiled[5000]
    last = plan.node("step.s4999")
    assert last.inputs == ("out/s4998.pq",)   # what its one need writes, not 4,999 files
    assert sum(len(n.inputs) for n in plan.nodes) < 3 * len(plan.nodes)
    upstream = plan.upstream_inputs("train")
    assert len(upstream) == 5000 and upstream[0] == "out/s4999.pq"   # nearest first
    assert len(plan.ancestors("train")) >= 5000


def test_artifacts_grow_linearly(compiled) -> None:
    """5x the steps: no artifact more than about 5x as large (quadratic growth would be 25x)."""
    small, large = compiled[1000][1], compiled[5000][1]
    assert set(small) == set(large)
    for path in small:
        assert large[path] <= 5.5 * small[path] + 4096, (path, small[path], large[path])
    workflow = next(p for p in small if p.endswith("-train.yml"))
    assert large[workflow] >= 4 * small[workflow]   # it does grow with the steps: the check can fail


def test_the_lock_lists_direct_inputs_only(compiled) -> None:
    plan, _ = compiled[1000]
    lock = lock_data(plan)
    pipeline = {n["id"]: n for n in lock["pipeline"]}
    assert pipeline["train"]["inputs"] == ["out/s999.pq"]
    assert pipeline["step.s501"]["needs"] == ["step.s500"]
    assert pipeline["step.s501"]["inputs"] == ["out/s500.pq"]
    assert len(json.dumps(lock)) < 400 * len(lock["pipeline"])


def test_github_limits(compiled) -> None:
    """1,000 steps pack into a workflow GitHub runs (five a job); 5,000 need 1,000+ jobs, more
    than GitHub starts in one run: a diagnostic, never a file GitHub refuses."""
    assert _limits[1000] == []
    assert _limits[5000] == ["MS411"]
    assert compiled[1000][1][".github/workflows/bench-train.yml"] <= 500 * 1024
