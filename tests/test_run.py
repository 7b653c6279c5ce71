"""`mlspec run`: order, caching, exact re-runs, gate failures, timeouts, retries, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SPEC = """mlspec: 1
project: {{name: demo}}
params: {{scale: {scale}, auc: {auc}}}
steps:
  prepare: {{run: python jobs.py prepare, outputs: [data/p.txt]}}
  other: {{run: python jobs.py other, outputs: [data/o.txt]}}
training:
  run: python jobs.py train ${{params.scale}}
  needs: [steps.prepare]
  outputs: {{model: models/m.txt}}
validation:
  run: python jobs.py evaluate ${{params.auc}}
  metrics: metrics/eval.json
  gates: [{{metric: auc, min: 0.8}}]
registry: {{backend: local}}
"""

JOBS = """import json, pathlib, sys
job, args = sys.argv[1], sys.argv[2:]
for d in ("data", "models", "metrics"):
    pathlib.Path(d).mkdir(exist_ok=True)
if job == "prepare":
    pathlib.Path("data/p.txt").write_text("prepared")
elif job == "other":
    pathlib.Path("data/o.txt").write_text("other")
elif job == "train":
    pathlib.Path("models/m.txt").write_text(pathlib.Path("data/p.txt").read_text() + args[0])
elif job == "evaluate":
    json.dump({"auc": float(args[0])}, open("metrics/eval.json", "w"))
"""


def write(tmp: Path, scale: int = 1, auc: float = 0.9) -> Path:
    (tmp / "jobs.py").write_text(JOBS)
    spec = tmp / "mlproject.yaml"
    spec.write_text(SPEC.format(scale=scale, auc=auc))
    return spec


def run(tmp: Path, *args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "mlspec", "run", "--format", "json", *args], cwd=tmp,
                          capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    payload = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    return proc.returncode, payload


def statuses(payload: dict) -> dict[str, str]:
    return {n["id"]: n["status"] for n in payload["nodes"]}


def test_first_run_then_everything_cached_then_param_change_reruns_downstream(tmp_path: Path) -> None:
    pytest.importorskip("numpy")  # mlspec gate / register are runtime commands
    write(tmp_path)
    code, first = run(tmp_path)
    assert code == 0, first
    assert list(statuses(first)) == ["step.other", "step.prepare", "train", "evaluate", "gate", "register"]
    assert set(statuses(first).values()) == {"ok"}
    assert (tmp_path / "models" / "m.txt").read_text() == "prepared1"

    code, second = run(tmp_path)
    assert code == 0 and set(statuses(second).values()) == {"cached"}

    write(tmp_path, scale=2)  # changes the training command only
    code, third = run(tmp_path)
    assert statuses(third) == {"step.other": "cached", "step.prepare": "cached", "train": "ok",
                               "evaluate": "ok", "gate": "ok", "register": "ok"}


PARAMS_SPEC = """mlspec: 1
project: {name: demo}
params_file: params.yaml
steps:
  prepare: {run: python jobs.py prepare, outputs: [data/p.txt], params: [prepare]}
  other: {run: python jobs.py other, outputs: [data/o.txt], params: [other.size]}
training:
  run: python jobs.py train ${params.train.scale}
  needs: [steps.prepare]
  outputs: {model: models/m.txt}
"""


def test_one_param_change_reruns_only_the_nodes_that_read_it(tmp_path: Path) -> None:
    """DVC style: commands read params.yaml themselves; each node names the keys it reads."""
    (tmp_path / "jobs.py").write_text(JOBS)
    (tmp_path / "mlproject.yaml").write_text(PARAMS_SPEC)

    def params(split: float, size: int, scale: int) -> None:
        (tmp_path / "params.yaml").write_text(
            f"prepare:\n  split: {split}\nother:\n  size: {size}\ntrain:\n  scale: {scale}\n")

    params(0.2, 10, 1)
    code, first = run(tmp_path)
    assert code == 0 and set(statuses(first).values()) == {"ok"}, first
    params(0.2, 11, 1)                                   # other.size: only step.other reads it
    code, second = run(tmp_path)
    assert statuses(second) == {"step.other": "ok", "step.prepare": "cached", "train": "cached"}
    params(0.3, 11, 1)                                   # prepare.split: prepare, and train after it
    code, third = run(tmp_path)
    assert statuses(third) == {"step.other": "cached", "step.prepare": "ok", "train": "ok"}
    params(0.3, 11, 2)                                   # train.scale, interpolated: train only
    code, fourth = run(tmp_path)
    assert statuses(fourth) == {"step.other": "cached", "step.prepare": "cached", "train": "ok"}
    assert (tmp_path / "models" / "m.txt").read_text() == "prepared2"


def test_failing_gate_stops_before_register(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    write(tmp_path, auc=0.5)
    code, payload = run(tmp_path)
    assert code == 1
    s = statuses(payload)
    assert s["gate"] == "failed" and s["register"] == "skipped"
    assert not (tmp_path / ".mlspec" / "registry").exists() or not any((tmp_path / ".mlspec" / "registry").rglob("*.txt"))


def test_until_and_only_select_nodes(tmp_path: Path) -> None:
    write(tmp_path)
    code, payload = run(tmp_path, "--until", "training")
    assert code == 0 and list(statuses(payload)) == ["step.prepare", "train"]
    code, payload = run(tmp_path, "--only", "steps.other")
    assert code == 0 and statuses(payload) == {"step.other": "ok"}
    proc = subprocess.run([sys.executable, "-m", "mlspec", "run", "--only", "steps.nope"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "did you mean" in proc.stderr


def test_deleted_output_reruns_its_producer(tmp_path: Path) -> None:
    write(tmp_path)
    assert run(tmp_path, "--until", "training")[0] == 0
    (tmp_path / "models" / "m.txt").unlink()
    code, payload = run(tmp_path, "--until", "training")
    assert statuses(payload) == {"step.prepare": "cached", "train": "ok"}


def test_timeout_and_retries(tmp_path: Path) -> None:
    (tmp_path / "mlproject.yaml").write_text(
        "mlspec: 1\nproject: {name: demo}\nsteps:\n"
        "  slow: {run: 'sleep 5', timeout: 1s}\n"
        "  flaky:\n    run: \"test -f marker || (touch marker; exit 3)\"\n    retries: 1\n")
    code, payload = run(tmp_path)
    nodes = {n["id"]: n for n in payload["nodes"]}
    assert nodes["step.slow"]["status"] == "failed" and nodes["step.slow"]["note"] == "timed out"
    assert nodes["step.flaky"]["status"] == "ok" and nodes["step.flaky"]["attempts"] == 2
    assert code == 1
    (d,) = payload["diagnostics"]
    assert (d["code"], d["path"], d["line"]) == ("MS608", "steps.slow", 4)


def test_ctrl_c_stops_cleanly_and_does_not_record_the_node(tmp_path: Path) -> None:
    (tmp_path / "mlproject.yaml").write_text(
        "mlspec: 1\nproject: {name: demo}\nsteps:\n  long: {run: 'sleep 30 && touch done.txt', outputs: [done.txt]}\n")
    proc = subprocess.Popen([sys.executable, "-m", "mlspec", "run"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline and not list((tmp_path / ".mlspec" / "runs").glob("*/step_long.log")):
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in out
    cache = tmp_path / ".mlspec" / "cache" / "nodes.json"
    assert not cache.exists() or "step.long" not in json.loads(cache.read_text())
    assert not (tmp_path / "done.txt").exists()


@pytest.mark.validator
def test_node_results_reach_a_real_pushgateway(tmp_path: Path) -> None:
    """The pipeline-failure alert reads mlspec_run_success: local runs push it per node."""
    import urllib.request

    from tests import validators as V

    with V.pushgateway() as url:
        (tmp_path / "mlproject.yaml").write_text(
            "mlspec: 1\nproject: {name: demo}\nsteps:\n  good: {run: 'true'}\n  bad: {run: 'exit 4'}\n"
            f"monitoring:\n  pushgateway: {url}\n  alerts: [{{channel: slack, to: '#ml'}}]\n")
        code, payload = run(tmp_path, "--no-monitoring")
        assert code == 1 and statuses(payload) == {"step.bad": "failed", "step.good": "ok"}
        body = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    import re

    series = {(m.group(1), m.group(2)): float(m.group(3)) for m in re.finditer(
        r'^(mlspec_run_\w+)\{[^}]*node="([^"]+)"[^}]*\} (\S+)$', body, re.M)}
    assert series[("mlspec_run_success", "step.bad")] == 0
    assert series[("mlspec_run_success", "step.good")] == 1
    assert series[("mlspec_run_timestamp_seconds", "step.good")] > 1.7e9


def _textfile_series(folder: Path) -> dict[tuple[str, str], float]:
    """``{(metric, node): value}`` over every ``*.prom`` file in ``folder``."""
    import re

    out = {}
    for f in sorted(folder.glob("*.prom")):
        for m in re.finditer(r'^(mlspec_run_\w+)\{[^}]*node="([^"]+)"[^}]*\} (\S+)$', f.read_text(), re.M):
            out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def test_textfile_mode_keeps_the_last_success_time_after_a_failed_run(tmp_path: Path) -> None:
    """node_exporter textfile mode: a textfile is rewritten whole, so a failure must carry the last
    success time over (the staleness alert reads it), as a Pushgateway POST does."""
    spec = ("mlspec: 1\nproject: {name: demo}\nsteps:\n  flaky: {run: 'test ! -e broken'}\n"
            "monitoring:\n  textfile_dir: metrics/textfile\n  alerts: [{channel: slack, to: '#ml'}]\n")
    (tmp_path / "mlproject.yaml").write_text(spec)
    folder = tmp_path / "metrics" / "textfile"
    code, _ = run(tmp_path, "--no-monitoring")
    assert code == 0
    first = _textfile_series(folder)
    assert first[("mlspec_run_success", "step.flaky")] == 1
    assert first[("mlspec_run_last_success_timestamp_seconds", "step.flaky")] == first[
        ("mlspec_run_timestamp_seconds", "step.flaky")] > 1.7e9
    assert first[("mlspec_run_last_success_timestamp_seconds", "pipeline")] > 1.7e9

    (tmp_path / "broken").write_text("")
    time.sleep(0.05)
    code, payload = run(tmp_path, "--no-monitoring", "--force")
    assert code == 1 and statuses(payload) == {"step.flaky": "failed"}
    after = _textfile_series(folder)
    assert after[("mlspec_run_success", "step.flaky")] == 0
    assert after[("mlspec_run_success", "pipeline")] == 0
    assert after[("mlspec_run_timestamp_seconds", "step.flaky")] > first[("mlspec_run_timestamp_seconds", "step.flaky")]
    for node in ("step.flaky", "pipeline"):   # the last success stands, neither 0 nor gone
        key = ("mlspec_run_last_success_timestamp_seconds", node)
        assert after[key] == first[key]

    # report-run (what Airflow, GitHub and Kubernetes call) writes the same file the same way
    env = {**os.environ, "MLSPEC_PUSHGATEWAY": ""}
    r = subprocess.run([sys.executable, "-m", "mlspec", "report-run", "--node", "pipeline", "--status", "failure",
                        "--timestamp", "2000000000"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env=env)
    assert r.returncode == 0, r.stderr
    final = _textfile_series(folder)
    assert final[("mlspec_run_timestamp_seconds", "pipeline")] == 2e9
    assert final[("mlspec_run_last_success_timestamp_seconds", "pipeline")] == first[
        ("mlspec_run_last_success_timestamp_seconds", "pipeline")]
    r = subprocess.run([sys.executable, "-m", "mlspec", "report-run", "--node", "pipeline", "--status", "success",
                        "--timestamp", "2000000100"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env=env)
    assert r.returncode == 0 and _textfile_series(folder)[("mlspec_run_last_success_timestamp_seconds",
                                                             "pipeline")] == 2000000100
