"""The DVC-style and Kedro-style examples end to end with `mlspec run`. DVC: the fetch command
brings the data, the stages read params.yaml themselves, the gates read dvclive's nested metrics.
Kedro: a fan-in of data-processing nodes, parameters in conf/base. In both, a changed parameter
re-runs exactly the nodes that list it (and what depends on them)."""

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


KEDRO = Path(__file__).resolve().parent.parent / "examples" / "kedro-style"
PROCESSING = ("step.preprocess_companies", "step.preprocess_shuttles", "step.create_model_input_table")
SCIENCE = ("step.split_data", "train", "evaluate", "gate", "register")


@pytest.mark.slow
def test_kedro_style_project_runs_and_a_parameter_reruns_only_its_nodes(tmp_path: Path) -> None:
    root = tmp_path / "kedro-style"
    shutil.copytree(KEDRO, root, ignore=shutil.ignore_patterns(".mlspec", "02_*", "03_*", "05_*", "06_*", "08_*",
                                                               "__pycache__"))
    # A developer's machine-local credentials, as Kedro keeps them: read by nobody here, and the
    # image-context tests prove the generated ignore files keep them out of every image.
    (root / "conf" / "local" / "credentials.yml").write_text("dev_s3: {key: not-a-real-key}\n")
    first = run(root)
    assert {first[n] for n in PROCESSING + SCIENCE} == {"ok"}
    metrics = json.loads((root / "data" / "08_reporting" / "metrics.json").read_text())
    assert metrics["r2_score"] >= 0.8 and metrics["mae"] <= 200

    # model_options.test_size is read by split_data only: the data-processing nodes stay cached.
    edit(root / "conf" / "base" / "parameters.yml", "test_size: 0.2", "test_size: 0.25")
    second = run(root)
    assert [second[n] for n in PROCESSING] == ["cached"] * 3
    assert [second[n] for n in SCIENCE] == ["ok"] * 5

    # A raw table changes: its preprocessing node and everything after it re-run, the other one does not.
    raw = root / "data" / "01_raw" / "companies.csv"
    raw.write_text(raw.read_text().replace("\n0,", "\n0,", 1).replace("%,t", "%,f", 1))
    third = run(root)
    assert third["step.preprocess_shuttles"] == "cached"
    assert third["step.preprocess_companies"] == "ok" and third["step.create_model_input_table"] == "ok"
