"""Compiler benchmarks: `python benchmarks/run.py [--repeat N] [--quick] [--json FILE]`.

Every figure is a fresh process, as a user or CI runs it: `mlspec validate`, `mlspec compile`
(every registered target) and, for scale, a bare `yaml.CSafeLoader` parse of the same file.
Cases: chains of 10, 100, 1,000 and 5,000 steps, a 1,000-step fan-in (1,000 independent steps
joined 200 at a time, the limit of a `needs` list, then training) and fan-out (every step
needs the first), and a monorepo of 100 projects compiled by one `mlspec compile --all` at
its root. Each row reports the median wall time, the peak resident memory of the compile
process, the ratio to the bare parse, milliseconds per step and, when the peer is installed,
the time of a peer compiling the same shape (KFP; kedro-airflow needs a Kedro project and is
reported as such). Peers are never dependencies of mlspec.

Goals: a 1,000-step spec compiles within 5x the bare-parse process and validates within 3x,
peak memory stays under 100 MB, and ms per step stays flat from 10 to 5,000 steps.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARSE = ("import sys, yaml\n"
         "for f in sys.argv[1:]:\n"
         "    yaml.load(open(f, 'rb'), Loader=yaml.CSafeLoader)\n")


def make_spec(steps: int, name: str = "bench", shape: str = "chain", github_train: bool = True) -> str:
    """A realistic spec: a data contract, ``steps`` steps (a chain, a fan-in or a fan-out),
    train, gates, serving and monitoring. Steps are written compactly so that 5,000 of them
    stay under the loader's 1 MiB limit for a spec."""
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
        "steps:" if steps else "steps: {}",
    ]
    for i in range(steps):
        if shape == "chain":
            needs = "data.raw" if i == 0 else f"steps.s{i - 1}" if i % 10 else f"steps.s{i - 1}, data.raw"
        elif shape == "fan_out":
            needs = "data.raw" if i == 0 else "steps.s0"
        else:  # fan_in: independent steps joined 200 at a time (a list's limit), then training
            needs = "data.raw"
        lines += [
            f"  s{i}:",
            f"    run: python -m pkg.s{i} --n ${{params.n_estimators}} --out out/s{i}.pq",
            f"    needs: [{needs}]",
            f"    outputs: [out/s{i}.pq]",
            "    resources: {cpu: 1, memory: 1Gi}",
        ]
    if shape == "fan_in" and steps:
        joins = range(0, steps, 200)
        for j in joins:
            lines += [f"  join{j // 200}:", f"    run: python -m pkg.join --part {j // 200}",
                      "    needs: [" + ", ".join(f"steps.s{i}" for i in range(j, min(j + 200, steps))) + "]"]
        train_needs = "[" + ", ".join(f"steps.join{j // 200}" for j in joins) + "]"
    elif not steps:
        train_needs = "[]"
    elif shape == "chain":
        train_needs = f"[steps.s{steps - 1}]"
    else:
        train_needs = f"[steps.s0, steps.s{steps - 1}]"
    lines += [
        "training:",
        "  run: python -m pkg.train --depth ${params.max_depth}",
        f"  needs: {train_needs}",
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
        "targets: {prometheus: {runbook_url: 'https://github.com/example/bench/blob/main/'}"
        # 1,000 steps side by side would be 1,000 GitHub jobs, and a chain of 5,000 about as many, over
        # the 256 a workflow run starts (MS411): those compile the other targets, as such a project would.
        + ("}" if github_train else ", github_actions: {train: false}}"),
    ]
    return "\n".join(lines) + "\n"


PYCACHE = Path(tempfile.mkdtemp(prefix="mlspec-bench-pycache-"))


def run_process(argv: list[str], cwd: Path) -> tuple[float, int]:
    """Wall time (s) and peak resident memory (bytes) of one fresh process.

    Bytecode is cached (in a temporary folder, never the source tree) even when the
    environment sets PYTHONDONTWRITEBYTECODE: an installed mlspec has its .pyc files, and
    compiling every module from source at each start would add a cost no user pays."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} … failed ({proc.returncode}):\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024   # Linux reports KiB


def measure(argv: list[str], cwd: Path, repeat: int) -> tuple[float, int]:
    runs = [run_process(argv, cwd) for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), max(m for _, m in runs)


def kfp_peer(steps: int, shape: str, tmp: Path, repeat: int) -> str:
    """KFP compiling a pipeline of the same shape (container components), when installed."""
    if importlib.util.find_spec("kfp") is None:
        return "kfp not installed"
    src = tmp / f"kfp_{shape}_{steps}.py"
    body = ["from kfp import dsl, compiler", "",
            "@dsl.container_component",
            "def step(name: str):",
            "    return dsl.ContainerSpec(image='python:3.11-slim', command=['python', '-m', name])", "",
            "@dsl.pipeline(name='bench')", "def bench():"]
    for i in range(steps):
        body.append(f"    s{i} = step(name='pkg.s{i}')")
        if shape == "chain" and i:
            body.append(f"    s{i}.after(s{i - 1})")
        elif shape == "fan_out" and i:
            body.append(f"    s{i}.after(s0)")
    body.append("    t = step(name='pkg.train')")
    if steps:
        body.append(f"    t.after({', '.join(f's{i}' for i in range(steps)) if shape == 'fan_in' else f's{steps - 1}'})")
        # (KFP has no limit on a task's dependencies: the fan-in needs no join tasks there.)
    body += ["", f"compiler.Compiler().compile(bench, {str(tmp / 'kfp.yaml')!r})"]
    src.write_text("\n".join(body) + "\n")
    t, _ = measure([sys.executable, str(src)], tmp, repeat)
    return f"kfp {t:.2f}s"


def kedro_peer() -> str:
    if importlib.util.find_spec("kedro_airflow") is None:
        return "kedro-airflow not installed"
    return "kedro-airflow installed (needs a Kedro project: not measured)"


def bench_case(label: str, steps: int, shape: str, repeat: int, tmp: Path, peers: bool) -> dict:
    folder = tmp / label.replace(" ", "-").replace(",", "")
    folder.mkdir()
    spec = folder / "mlproject.yaml"
    text = make_spec(steps, shape=shape, github_train=shape == "chain" and steps <= 1000)
    spec.write_text(text)
    py = sys.executable
    run_process([py, "-m", "mlspec", "compile", "-o", ".", "--force", "mlproject.yaml"], folder)  # warm disk caches
    parse_s, _ = measure([py, "-c", PARSE, "mlproject.yaml"], folder, repeat)
    validate_s, validate_rss = measure([py, "-m", "mlspec", "validate", "mlproject.yaml"], folder, repeat)
    compile_s, compile_rss = measure([py, "-m", "mlspec", "compile", "-o", ".", "--force", "mlproject.yaml"],
                                     folder, repeat)
    sizes = {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*")
             if p.is_file() and p.name != "mlproject.yaml" and not p.name.startswith(".mlspec")}
    peer = "; ".join((kfp_peer(steps, shape, folder, repeat), kedro_peer())) if peers else ""
    return {"case": label, "steps": steps, "bytes": len(text.encode()), "parse_s": round(parse_s, 3),
            "validate_s": round(validate_s, 3), "validate_x": round(validate_s / parse_s, 1),
            "compile_s": round(compile_s, 3), "compile_x": round(compile_s / parse_s, 1),
            "peak_mib": round(compile_rss / 2**20, 1), "validate_peak_mib": round(validate_rss / 2**20, 1),
            "ms_per_step": None,   # filled in by main(): the marginal cost over the 10-step chain
            "largest_artifact": max(sizes.items(), key=lambda kv: kv[1]) if sizes else None,
            "artifact_bytes": sum(sizes.values()), "peer": peer}


def bench_monorepo(projects: int, tmp: Path, repeat: int) -> dict:
    """``projects`` specs of 5 steps each, compiled by one `mlspec compile --all` at the root
    (every project's files side by side: one index each, workflows with path filters)."""
    root = tmp / "monorepo"
    specs = []
    for i in range(projects):
        d = root / f"p{i:03d}"
        d.mkdir(parents=True)
        (d / "mlproject.yaml").write_text(make_spec(5, name=f"project-{i:03d}"))
        specs.append(f"p{i:03d}/mlproject.yaml")
    py = sys.executable
    argv = [py, "-m", "mlspec", "compile", "--all", "--force"]   # from the root, as a monorepo compiles
    run_process(argv, root)
    parse_s, _ = measure([py, "-c", PARSE, *specs], root, repeat)
    compile_s, rss = measure(argv, root, repeat)
    return {"case": f"monorepo, {projects} projects", "steps": 5 * projects,
            "bytes": sum((root / s).stat().st_size for s in specs), "parse_s": round(parse_s, 3),
            "validate_s": None, "validate_x": None, "compile_s": round(compile_s, 3),
            "compile_x": round(compile_s / parse_s, 1), "peak_mib": round(rss / 2**20, 1),
            "ms_per_step": None, "ms_per_project": round(1000 * compile_s / projects, 1), "peer": ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--quick", action="store_true", help="skip the 5,000-step chain and the peers")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    cases = [("chain 10", 10, "chain"), ("chain 100", 100, "chain"), ("chain 1,000", 1000, "chain")]
    if not args.quick:
        cases.append(("chain 5,000", 5000, "chain"))
    cases += [("fan-in 1,000", 1000, "fan_in"), ("fan-out 1,000", 1000, "fan_out")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for label, steps, shape in cases:
            rows.append(bench_case(label, steps, shape, args.repeat, tmp, peers=not args.quick and steps >= 1000))
            print(json.dumps(rows[-1]), file=sys.stderr)
        rows.append(bench_monorepo(100, tmp, args.repeat))
        print(json.dumps(rows[-1]), file=sys.stderr)
    shutil.rmtree(PYCACHE, ignore_errors=True)
    # ms per step beyond the fixed cost (start-up, imports): (t(N) - t(10 steps)) / (N - 10).
    base = rows[0]
    for r in rows[1:-1]:
        r["ms_per_step"] = round(1000 * (r["compile_s"] - base["compile_s"]) / (r["steps"] - base["steps"]), 3)
    width = max(len(r["case"]) for r in rows)
    head = (f"{'case':<{width}}  {'bytes':>9}  {'parse s':>7}  {'validate s':>10}  {'×':>5}  {'compile s':>9}  "
            f"{'×':>5}  {'peak MiB':>8}  {'ms/step':>7}  peer")
    print(head)
    for r in rows:
        v = "-" if r["validate_s"] is None else r["validate_s"]
        vx = "-" if r["validate_x"] is None else r["validate_x"]
        print(f"{r['case']:<{width}}  {r['bytes']:>9}  {r['parse_s']:>7}  {v:>10}  {vx:>5}  {r['compile_s']:>9}  "
              f"{r['compile_x']:>5}  {r['peak_mib']:>8}  {'-' if r['ms_per_step'] is None else r['ms_per_step']:>7}  "
              f"{r['peer']}")
    print("× = the ratio to a bare yaml.CSafeLoader parse of the same file(s) in a fresh process; "
          "ms/step = (compile time - the 10-step chain's) / (steps - 10): flat = linear growth; "
          "peak = the compile process's peak resident memory")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
