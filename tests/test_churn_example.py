"""The flagship example end to end with `mlspec run`: train, gate, register, report drift;
a second run skips every unchanged node; a changed param re-runs exactly what is downstream."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("sklearn")


def run(cwd: Path, *args: str) -> dict:
    # The example keeps its store in S3 for CI; on this machine a local folder stands in.
    proc = subprocess.run([sys.executable, "-m", "mlspec", "run", "--store", ".mlspec/store", "--format", "json",
                           *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    payload = json.loads(proc.stdout)
    payload["exit"] = proc.returncode
    return payload


def statuses(payload: dict) -> dict[str, str]:
    return {n["id"]: n["status"] for n in payload["nodes"]}


@pytest.mark.slow
def test_churn_end_to_end(tmp_path: Path) -> None:
    project = tmp_path / "churn"
    shutil.copytree(ROOT / "examples" / "churn", project,
                    ignore=shutil.ignore_patterns(".mlspec", "models", "metrics", "prepared", "__pycache__"))
    first = run(project)
    s = statuses(first)
    assert first["exit"] == 0
    assert [s[n] for n in ("check.customers", "step.prepare", "train", "evaluate", "gate", "register")] == ["ok"] * 6
    assert s["monitor.drift"] == "alert"  # the committed live sample is drifted
    registry = project / ".mlspec" / "store" / "registry" / "churn-classifier"
    assert (registry / "versions" / "1" / "metadata.json").exists()
    metadata = json.loads((registry / "versions" / "1" / "metadata.json").read_text())
    assert metadata["metrics"]["roc_auc"] >= 0.75
    # Monitoring judges the deployed model: the production version, fetched from the registry.
    assert s["monitor.performance"] in ("ok", "alert")
    production = project / ".mlspec" / "production" / "model.joblib"
    assert production.read_bytes() == (registry / "versions" / "1" / "model.joblib").read_bytes()
    drift = json.loads((project / ".mlspec" / "monitoring" / "drift.json").read_text())
    assert drift["status"] == "finding"

    second = statuses(run(project))
    pipeline = ("check.customers", "step.prepare", "train", "evaluate", "gate", "register")
    assert [second[n] for n in pipeline] == ["cached"] * 6

    spec = project / "mlproject.yaml"
    spec.write_text(spec.read_text().replace("max_depth: 6", "max_depth: 5"))
    third = statuses(run(project))
    assert [third[n] for n in pipeline] == ["cached", "cached", "ok", "ok", "ok", "ok"]
    assert (registry / "versions" / "2" / "metadata.json").exists()
