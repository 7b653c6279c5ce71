"""`mlspec register`: local versions, stage pointers, lineage; MLflow without the extra."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from tests.runtime.conftest import codes

REG = ".mlspec/registry/churn-classifier"


def test_versions_pointer_and_lineage(project, mlspec):
    project.write("models/model.joblib", "first")
    project.metrics(roc_auc=0.81, p95_latency_ms=20)
    r = mlspec("register")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"registered churn-classifier v1 (production) at {REG}/v1")
    reg = project.root / REG
    assert (reg / "production").read_text() == "v1\n"
    assert (reg / "v1/model.joblib").read_text() == "first"

    meta = json.loads((reg / "v1/metadata.json").read_text())
    spec_sha = hashlib.sha256(project.spec.read_bytes()).hexdigest()
    assert meta["spec"] == {"file": "mlproject.yaml", "sha256": spec_sha}
    assert meta["lineage"]["spec"]["sha256"] == spec_sha
    assert meta["lineage"]["project"] == "churn" and meta["lineage"]["lock_version"] == 2
    assert meta["model"]["sha256"] == hashlib.sha256(b"first").hexdigest()
    assert meta["metrics"] == {"roc_auc": 0.81, "p95_latency_ms": 20.0}
    assert meta["data"]["customers"] == {"uri": "data/customers.csv", "version": None}
    assert meta["version"] == "v1" and meta["stage"] == "production" and meta["created"].endswith("Z")

    project.write("models/model.joblib", "second")
    r = mlspec("register", "--format", "json")
    assert r.exit_code == 0
    res = r.json["results"][0]
    assert (res["version"], res["stage"], res["previous"]) == ("v2", "production", "v1")
    assert r.json["lineage"]["spec_sha256"] == spec_sha
    assert (reg / "production").read_text() == "v2\n"
    assert (reg / "v1/model.joblib").read_text() == "first"     # versions are immutable copies

    r = mlspec("register", "--stage", "staging")
    assert r.exit_code == 0 and "v3 (staging)" in r.stdout
    assert (reg / "production").read_text() == "v2\n" and (reg / "staging").read_text() == "v3\n"
    history = [json.loads(x) for x in (reg / "history.jsonl").read_text().splitlines()]
    assert [(h["version"], h["stage"]) for h in history] == [("v1", "production"), ("v2", "production"),
                                                             ("v3", "staging")]
    assert not [p for p in reg.iterdir() if p.name.startswith(".")]      # no temporary folder left


def test_git_commit_is_recorded(project, mlspec):
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=project.root, check=True)
    subprocess.run([*git, "add", "mlproject.yaml"], cwd=project.root, check=True)
    subprocess.run([*git, "commit", "-qm", "spec"], cwd=project.root, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project.root, capture_output=True, text=True, check=True).stdout.strip()
    project.write("models/model.joblib", "m")
    assert mlspec("register", "--stage", "none").exit_code == 0
    meta = json.loads((project.root / REG / "v1/metadata.json").read_text())
    assert meta["git"] == {"commit": head, "dirty": False}
    assert not (project.root / REG / "production").exists()


def test_model_folder_and_explicit_paths(project, mlspec):
    project.write("out/model/weights.bin", "w")
    project.write("out/model/config.json", "{}")
    project.write("m.json", json.dumps({"acc": 0.5}))
    r = mlspec("register", "--model", "out/model", "--metrics", "m.json", "--format", "json")
    assert r.exit_code == 0, r.output
    meta = json.loads((project.root / REG / "v1/metadata.json").read_text())
    assert meta["model"]["kind"] == "folder" and meta["metrics"] == {"acc": 0.5}
    assert (project.root / REG / "v1/model/weights.bin").read_text() == "w"


def test_missing_model_metrics_warning_and_errors(project, mlspec):
    r = mlspec("register")
    assert r.exit_code == 1 and "error[MS605]: model models/model.joblib does not exist" in r.stderr
    project.write("models/model.joblib", "m")
    r = mlspec("register", "--format", "json")                 # no metrics file: registered, with a warning
    assert r.exit_code == 0 and codes(r) == ["MS605"] and r.json["diagnostics"][0]["severity"] == "warning"
    r = mlspec("register", "--metrics", "nope.json")
    assert r.exit_code == 1 and "nope.json does not exist" in r.stderr


def test_broken_production_pointer_is_a_registry_error_for_gates(project, mlspec):
    project.write(f"{REG}/production", "v7\n")
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    r = mlspec("gate")
    assert r.exit_code == 1 and "error[MS606]" in r.stderr and "'v7'" in r.stderr
    project.write("models/model.joblib", "m")                   # registering repairs the pointer
    assert mlspec("register").exit_code == 0
    assert (project.root / REG / "production").read_text() == "v1\n"


def test_mlflow_backend_without_mlflow_is_ms607(project, mlspec, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)           # as if not installed
    project.write("mlproject.yaml", project.spec.read_text().replace("backend: local", "backend: mlflow\n  uri: http://mlflow:5000"))
    project.write("models/model.joblib", "m")
    project.metrics(roc_auc=0.9)
    r = mlspec("register", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS607"]
    assert r.json["diagnostics"][0]["hint"] == "pip install 'mlspec-compiler[mlflow]'"


def test_spec_without_registry(project, mlspec):
    project.write("mlproject.yaml", "mlspec: 1\nproject: {name: tiny}\n"
                  "training: {run: 'true', outputs: {model: m.bin}}\n")
    r = mlspec("register")
    assert r.exit_code == 1 and "error[MS606]: the spec has no `registry` section" in r.stderr


def test_mlflow_registry_roundtrip(project, mlspec, monkeypatch):
    """Runs where MLflow is installed (the `mlflow` extra); verified with mlflow-skinny 3.17."""
    pytest.importorskip("mlflow", reason="the optional mlflow extra is not installed")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")       # MLflow 3 keeps the file store behind a flag
    store = (project.root / "mlruns").as_uri()
    # A file:// MLflow store lives on the machine (MS410 for the GitHub training workflow): local runs only.
    project.write("mlproject.yaml", project.spec.read_text().replace(
        "backend: local", f"backend: mlflow\n  uri: {store}") + "targets:\n  github_actions: {enabled: false}\n")
    project.write("models/model.joblib", "m")
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    r = mlspec("gate")
    assert r.exit_code == 0 and "first model" in r.stdout          # no registered model yet
    r = mlspec("register", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["results"][0]["version"] == "v1" and r.json["results"][0]["path"] == "models:/churn-classifier/1"
    project.metrics(roc_auc=0.85, p95_latency_ms=1)
    r = mlspec("gate")
    assert r.exit_code == 1 and "production v1 0.9 - 0.01" in r.stdout
