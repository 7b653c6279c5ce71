"""A check that ran and found something is not a check that crashed: the outcome each
check records (finding, ok, error) decides, not the exit code alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.runtime.conftest import SPEC

HOUR = 3600


def _stale(project) -> None:
    for rel, age in (("data/customers.csv", 60), ("data/outcomes/part-0.csv", 5 * HOUR)):
        p = project.write(rel, "x\n1\n")
        t = time.time() - age
        os.utime(p, (t, t))


def test_exit_zero_on_finding_only_for_findings(project, mlspec):
    _stale(project)
    assert mlspec("freshness").exit_code == 1
    r = mlspec("freshness", "--exit-zero-on-finding", "--format", "json")
    assert r.exit_code == 0 and r.json["ok"] is False
    state = json.loads((project.root / ".mlspec/monitoring/freshness.json").read_text())
    assert state["status"] == "finding"
    # A check that could not run is an error: the flag does not hide it.
    r = mlspec("performance", "--exit-zero-on-finding", "--format", "json")
    assert r.exit_code == 1
    state = json.loads((project.root / ".mlspec/monitoring/performance.json").read_text())
    assert state["status"] == "error"


def test_outcome_file_is_written_when_asked(project, mlspec, monkeypatch):
    _stale(project)
    out = project.root / "outcome.json"
    monkeypatch.setenv("MLSPEC_OUTCOME_FILE", str(out))
    monkeypatch.setenv("MLSPEC_RUN_ID", "r1")
    monkeypatch.setenv("MLSPEC_NODE", "monitor.freshness")
    assert mlspec("freshness").exit_code == 1
    assert json.loads(out.read_text())["status"] == "finding"
    state = json.loads((project.root / ".mlspec/monitoring/freshness.json").read_text())
    assert (state["run_id"], state["node"]) == ("r1", "monitor.freshness")


def _run(root: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSPEC_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "mlspec", "run", "--format", "json", *args], cwd=root,
                          capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return {n["id"]: n for n in json.loads(proc.stdout)["nodes"]}


def test_mlspec_run_tells_a_crash_from_a_finding(project):
    # The performance node runs a user script first; it crashes with exit 1, before any check ran.
    spec = SPEC.replace("    labels: data.outcomes\n",
                        "    labels: data.outcomes\n    run: python -c 'import sys; sys.exit(1)'\n"
                        "    metrics: metrics/live.json\n")
    project.write("mlproject.yaml", spec)
    _stale(project)
    nodes = _run(project.root, "--only", "monitor.performance", "--only", "monitor.freshness")
    assert nodes["monitor.freshness"]["status"] == "alert"
    crashed = nodes["monitor.performance"]
    assert crashed["status"] == "failed" and crashed["exit_code"] == 1
    assert "no finding recorded" in crashed["note"]
