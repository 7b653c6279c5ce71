"""examples/dvc-style end to end with `mlspec run`: the fetch command brings the data, the stages
read params.yaml themselves, the gates read dvclive's nested metrics, and a changed parameter
re-runs exactly the stages that list it (and what depends on them)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dvc-style"
pytest.importorskip("sklearn")
PIPELINE = ("fetch.posts", "check.posts", "step.prepare", "step.featurize", "train", "evaluate", "gate", "register")


def run(root: Path) -> dict[str, str]:
    proc = subprocess.run([sys.executable, "-m", "mlspec", "run", "--store", ".mlspec/store", "--format", "json"],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    payload = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return {n["id"]: n["status"] for n in payload["nodes"]}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.slow
def test_dvc_style_project_runs_and_reruns_only_what_a_param_touches(tmp_path: Path) -> None:
    root = tmp_path / "dvc-style"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".mlspec", "data", "models", "eval", "__pycache__"))
    first = run(root)
    assert [first[n] for n in PIPELINE] == ["ok"] * len(PIPELINE)
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"avg_prec", "roc_auc"} and 0.75 <= metrics["avg_prec"]["test"] < 1.0
    # The registered version keeps the nested metrics, so a production baseline can read avg_prec.test.
    (version,) = (root / ".mlspec" / "store" / "registry" / "post-tagger" / "versions").iterdir()
    record = json.loads((version / "metadata.json").read_text())
    assert record["metrics"] == metrics

    assert set(run(root).values()) == {"cached"}

    # A training parameter: training and what follows re-run; the data stages stay cached.
    edit(root / "params.yaml", "n_est: 50", "n_est: 40")
    second = run(root)
    assert [second[n] for n in PIPELINE] == ["cached"] * 4 + ["ok"] * 4

    # A featurization parameter: featurize onwards; fetch, check and prepare stay cached.
    edit(root / "params.yaml", "ngrams: 2", "ngrams: 1")
    third = run(root)
    assert [third[n] for n in PIPELINE] == ["cached"] * 3 + ["ok"] * 5
