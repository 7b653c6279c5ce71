"""Compiler benchmarks: `python benchmarks/run.py [--repeat N] [--json FILE]`.

Generates specs with 10, 100 and 1,000 steps and a monorepo of 100 projects, compiles each
to every registered target, and reports wall time, peak traced memory and the ratio to a
bare `yaml.CSafeLoader` parse of the same bytes. Goal: a 1,000-step spec compiles within
5× the bare parse, and time grows linearly with the number of steps.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml


def make_spec(steps: int, name: str = "bench") -> str:
    """A realistic spec: data with a contract, a chain of steps fanning in, train, gates, monitoring."""
    lines = [
        "mlspec: 1",
        "project:",
        f"  name: {name}",
        "  description: Generated benchmark project.",
        "  owners: [ml@example.com]",
        "environment:",
        '  python: "3.11"',
        "  secrets: [AWS_ACCESS_KEY_ID]",
        "params: {n_estimators: 300, max_depth: 8}",
        "data:",
        "  raw:",
        "    uri: s3://bucket/raw.parquet",
        '    version: "2026-11-01"',
        "    freshness: 24h",
        "    schema:",
        "      a: {type: integer, min: 0}",
        "      b: {type: float}",
        "      c: {type: category, values: [x, y, z]}",
        "  live: {uri: s3://bucket/live/, format: parquet, role: live}",
        "steps:",
    ]
    for i in range(steps):
        needs = "[data.raw]" if i == 0 else f"[steps.s{i - 1}]" if i % 10 else f"[steps.s{i - 1}, data.raw]"
        lines += [
            f"  s{i}:",
            f"    run: python -m pkg.step{i} --n ${{params.n_estimators}} --in ${{data.raw.uri}} --out out/s{i}.parquet",
            f"    needs: {needs}",
            f"    outputs: [out/s{i}.parquet]",
            "    resources: {cpu: 1, memory: 1Gi}",
            "    timeout: 30m",
            "    retries: 1",
        ]
    lines += [
        "training:",
        "  run: python -m pkg.train --depth ${params.max_depth}",
        f"  needs: [steps.s{steps - 1}]" if steps else "  needs: []",
        "  seed: 42",
        "  outputs: {model: models/model.joblib, metrics: metrics/train.json}",
        "validation:",
        "  run: python -m pkg.evaluate --model ${training.outputs.model}",
        "  metrics: metrics/eval.json",
        "  gates:",
        "    - {metric: roc_auc, min: 0.8}",
        "    - {metric: roc_auc, baseline: production, max_regression: 0.01}",
        "registry: {backend: local}",
        "storage: {uri: 's3://bench/project'}",
        "serving:",
        "  mode: online",
        "  run: uvicorn pkg.api:app --host 0.0.0.0 --port 8080",
        "  port: 8080",
        "  slo: {latency_p95_ms: 200, error_rate: 0.01, availability: 0.995}",
        "monitoring:",
        "  reference: data.raw",
        "  current: data.live",
        "  drift: [{columns: [a, b], method: psi, threshold: 0.2}, {columns: [c], method: chi2, threshold: 0.01}]",
        "  schema_checks: true",
        "  pushgateway: http://pushgateway:9091",
        "  alerts: [{channel: slack, to: '#ml-alerts'}]",
        "retraining: {schedule: '0 3 * * 1', on: [data_drift], cooldown: 24h}",
        "targets: {prometheus: {runbook_url: 'https://github.com/example/bench/blob/main/'}}",
    ]
    return "\n".join(lines) + "\n"


def bare_parse(text: str) -> float:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    t = time.perf_counter()
    yaml.load(text, Loader=loader)  # noqa: S506 - CSafeLoader is the safe loader
    return time.perf_counter() - t


def compile_once(spec: Path, out: Path, *, trace: bool = False) -> tuple[float, int]:
    """Wall time of one compile; with ``trace``, the peak traced memory instead (tracing slows
    Python down several times, so time and memory come from separate runs)."""
    from mlspec.api import compile_project

    gc.collect()
    if trace:
        tracemalloc.start()
    t = time.perf_counter()
    result = compile_project(spec, out, force=True)
    elapsed = time.perf_counter() - t
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if not result.ok:
        raise SystemExit(f"benchmark spec did not compile: {[d.message for d in result.diagnostics][:3]}")
    return elapsed, peak


def bench_steps(steps: int, repeat: int, tmp: Path) -> dict:
    spec_dir = tmp / f"steps-{steps}"
    spec_dir.mkdir()
    spec = spec_dir / "mlproject.yaml"
    text = make_spec(steps)
    spec.write_text(text)
    compile_once(spec, spec_dir)  # warm imports and caches
    times = [compile_once(spec, spec_dir)[0] for _ in range(repeat)]
    peaks = [compile_once(spec, spec_dir, trace=True)[1]]
    parse = min(bare_parse(text) for _ in range(repeat))
    compile_s = statistics.median(times)
    return {"case": f"{steps} steps", "bytes": len(text.encode()), "compile_s": round(compile_s, 4),
            "bare_parse_s": round(parse, 5), "ratio": round(compile_s / parse, 1),
            "peak_mib": round(max(peaks) / 2**20, 1)}


def bench_monorepo(projects: int, tmp: Path) -> dict:
    root = tmp / "monorepo"
    specs = []
    for i in range(projects):
        d = root / f"p{i:03d}"
        d.mkdir(parents=True)
        (d / "mlproject.yaml").write_text(make_spec(5, name=f"project-{i:03d}"))
        specs.append(d / "mlproject.yaml")
    t = time.perf_counter()
    for spec in specs:
        compile_once_no_trace(spec, spec.parent)
    elapsed = time.perf_counter() - t
    tracemalloc.start()
    for spec in specs[:10]:
        compile_once_no_trace(spec, spec.parent)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    parse = sum(bare_parse(s.read_text()) for s in specs)
    return {"case": f"monorepo of {projects} projects", "bytes": sum(s.stat().st_size for s in specs),
            "compile_s": round(elapsed, 3), "bare_parse_s": round(parse, 4), "ratio": round(elapsed / parse, 1),
            "peak_mib": round(peak / 2**20, 1)}


def compile_once_no_trace(spec: Path, out: Path) -> None:
    from mlspec.api import compile_project

    if not compile_project(spec, out, force=True).ok:
        raise SystemExit(f"{spec} did not compile")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for steps in (10, 100, 1000):
            rows.append(bench_steps(steps, args.repeat, tmp))
            print(json.dumps(rows[-1]), file=sys.stderr)
        rows.append(bench_monorepo(100, tmp))
    width = max(len(r["case"]) for r in rows)
    print(f"{'case':<{width}}  {'bytes':>9}  {'compile s':>9}  {'parse s':>8}  {'ratio':>6}  {'peak MiB':>8}")
    for r in rows:
        print(f"{r['case']:<{width}}  {r['bytes']:>9}  {r['compile_s']:>9}  {r['bare_parse_s']:>8}  "
              f"{r['ratio']:>6}  {r['peak_mib']:>8}")
    per_step = [(r["compile_s"] / int(r["case"].split()[0])) for r in rows[:3]]
    print(f"seconds per step: {', '.join(f'{x:.5f}' for x in per_step)} (linear growth keeps these flat)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
