"""Where one compile's time goes: `python benchmarks/phases.py [--steps N] [--spec FILE]`.

Runs in a fresh interpreter (re-executes itself, with bytecode cached as `run.py` does) and
times, in that one process, each import group and each stage of `mlspec compile`: load,
validate (including pydantic building the language's models on first use), the targets'
options, the semantic rules, the Plan, every target's check and emit, and the write. The
sum is close to what `run.py` reports for the same spec minus the interpreter's own start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _measure(spec: Path, out: Path) -> list[tuple[str, float]]:
    marks: list[tuple[str, float]] = []
    last = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        marks.append((name, now - last))
        last = now

    import yaml  # noqa: F401
    mark("import yaml")
    from mlspec.cli import _compiler_process
    _compiler_process()   # the process settings of `mlspec validate` and `compile`
    mark("import click and the CLI")
    from pydantic import BaseModel  # noqa: F401
    mark("import pydantic")
    from mlspec.language import models  # noqa: F401
    mark("import mlspec.language.models")
    from mlspec.api import _spec_dir
    from mlspec.compiler.resolve import resolve_plan
    from mlspec.language.loader import load_document
    from mlspec.language.params import load_params
    from mlspec.language.rules import check_rules
    from mlspec.language.validate import validate_spec
    mark("import the rest of the front end")
    from mlspec.targets import available_targets, capability_diagnostics, chosen_targets, validate_target_options
    registry = available_targets()
    mark("find and import the targets")

    doc, _ = load_document(spec)
    mark("load (YAML + positions)")
    checked, diags = validate_spec(doc)
    mark("validate (models built on first use)")
    if checked is None:
        raise SystemExit(f"{spec}: invalid: {diags[:3]}")
    options, _ = validate_target_options(checked.targets, doc)
    mark("targets' options")
    check_rules(checked, doc)
    mark("semantic rules")
    params, _ = load_params(checked, doc)
    spec_dir = _spec_dir(doc, out)
    plan, diags = resolve_plan(checked, doc, image_options=options.get("docker"), spec_dir=spec_dir, params=params)
    mark("resolve the Plan")
    if plan is None:
        raise SystemExit(f"{spec}: no plan: {diags[:3]}")
    chosen = chosen_targets(options, ())
    for name in chosen:
        target = registry[name](options[name])
        capability_diagnostics(target, plan)
        target.check(plan)
        mark(f"check {name}")
    artifacts = []
    for name in chosen:
        artifacts += registry[name](options[name]).emit(plan)
        mark(f"emit {name}")
    from mlspec.output.writer import index_name, write_artifacts
    write_artifacts(sorted(artifacts, key=lambda a: a.path), out, source=plan.source, force=True,
                    protected=[spec], index=index_name(plan.project.name))
    mark("write (stage, hash, replace)")
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps of the generated chain (default 1,000)")
    parser.add_argument("--spec", type=Path, help="a spec to measure instead of a generated chain")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        marks = _measure(args.child, args.child.parent)
        width = max(len(n) for n, _ in marks)
        for name, seconds in marks:
            print(f"{name:<{width}}  {1000 * seconds:8.1f} ms")
        print(f"{'total':<{width}}  {1000 * sum(s for _, s in marks):8.1f} ms")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = folder / "mlproject.yaml"
        if args.spec:
            spec.write_bytes(args.spec.read_bytes())
        else:
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from run import make_spec

            spec.write_text(make_spec(args.steps, github_train=args.steps <= 1000))
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               "PYTHONPYCACHEPREFIX": str(folder / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        argv = [sys.executable, __file__, "--child", str(spec)]
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)   # warm the bytecode and disk
        return subprocess.run(argv, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
