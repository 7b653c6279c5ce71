"""`mlspec register`: local versions, stage pointers, lineage; MLflow without the extra and on a real server."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from tests.runtime.conftest import codes

REG = ".mlspec/registry/churn-classifier"


def pointer(reg, stage="production"):
    """The version a pointer document names, after checking it records the metadata's hash."""
    doc = json.loads((reg / stage).read_text())
    meta = (reg / f"versions/{doc['version']}/metadata.json").read_bytes()
    assert doc["metadata_sha256"] == hashlib.sha256(meta).hexdigest()
    return doc["version"]


def test_versions_pointer_and_lineage(project, mlspec):
    project.write("models/model.joblib", "first")
    project.metrics(roc_auc=0.81, p95_latency_ms=20)
    r = mlspec("register")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"registered churn-classifier v1 (production) at {REG}/versions/1")
    reg = project.root / REG
    assert pointer(reg) == 1
    assert (reg / "versions/1/model.joblib").read_text() == "first"

    meta = json.loads((reg / "versions/1/metadata.json").read_text())
    spec_sha = hashlib.sha256(project.spec.read_bytes()).hexdigest()
    assert meta["spec"] == {"file": "mlproject.yaml", "sha256": spec_sha}
    assert meta["lineage"]["spec"]["sha256"] == spec_sha
    assert meta["lineage"]["project"] == "churn" and meta["lineage"]["lock_version"] == 3
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
    assert pointer(reg) == 2
    assert (reg / "versions/1/model.joblib").read_text() == "first"     # versions are immutable copies

    r = mlspec("register", "--stage", "staging")
    assert r.exit_code == 0 and "v3 (staging)" in r.stdout
    assert pointer(reg) == 2 and pointer(reg, "staging") == 3
    history = [json.loads(p.read_text()) for p in sorted((reg / "history").iterdir())]
    assert [(h["version"], h["stage"]) for h in history] == [("v1", "production"), ("v2", "production"),
                                                             ("v3", "staging")]
    assert not (reg / "incoming").exists()                                # no staging folder left
    assert sorted(p.name for p in (reg / "versions").iterdir()) == ["1", "2", "3"]


def test_git_commit_is_recorded(project, mlspec):
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=project.root, check=True)
    subprocess.run([*git, "add", "mlproject.yaml"], cwd=project.root, check=True)
    subprocess.run([*git, "commit", "-qm", "spec"], cwd=project.root, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project.root, capture_output=True, text=True, check=True).stdout.strip()
    project.write("models/model.joblib", "m")
    assert mlspec("register", "--stage", "none").exit_code == 0
    meta = json.loads((project.root / REG / "versions/1/metadata.json").read_text())
    assert meta["git"] == {"commit": head, "dirty": False}
    assert not (project.root / REG / "production").exists()


def test_model_folder_and_explicit_paths(project, mlspec):
    project.write("out/model/weights.bin", "w")
    project.write("out/model/config.json", "{}")
    project.write("m.json", json.dumps({"acc": 0.5}))
    r = mlspec("register", "--model", "out/model", "--metrics", "m.json", "--format", "json")
    assert r.exit_code == 0, r.output
    meta = json.loads((project.root / REG / "versions/1/metadata.json").read_text())
    assert meta["model"]["kind"] == "folder" and meta["metrics"] == {"acc": 0.5}
    assert (project.root / REG / "versions/1/model/weights.bin").read_text() == "w"


def test_missing_model_metrics_warning_and_errors(project, mlspec):
    r = mlspec("register")
    assert r.exit_code == 1 and "error[MS605]: model models/model.joblib does not exist" in r.stderr
    project.write("models/model.joblib", "m")
    r = mlspec("register", "--format", "json")                 # no metrics file: registered, with a warning
    assert r.exit_code == 0 and codes(r) == ["MS605"] and r.json["diagnostics"][0]["severity"] == "warning"
    r = mlspec("register", "--metrics", "nope.json")
    assert r.exit_code == 1 and "nope.json does not exist" in r.stderr


def test_broken_production_pointer_is_a_registry_error_for_gates(project, mlspec):
    project.write(f"{REG}/production", '{"version": 7, "metadata_sha256": "x"}')
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    r = mlspec("gate")
    assert r.exit_code == 1 and "error[MS660]" in r.stderr and "names version 7" in r.stderr
    project.write("models/model.joblib", "m")                   # registering repairs the pointer
    assert mlspec("register").exit_code == 0
    assert pointer(project.root / REG) == 1


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


def test_mlflow_registry_roundtrip(project, mlspec, mlflow_server, monkeypatch, tmp_path_factory):
    """A real MLflow server: versions are MLflow models in the training run, `production` is an alias."""
    import joblib
    import mlflow
    import numpy as np
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LogisticRegression

    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    name = f"churn-{tmp_path_factory.mktemp('n').name}"           # one registered model per test run
    project.write("mlproject.yaml", project.spec.read_text().replace(
        "backend: local\n  model_name: churn-classifier", f"backend: mlflow\n  uri: {mlflow_server}\n  model_name: {name}"))
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    est = LogisticRegression().fit(x, [0, 0, 1, 1])
    (project.root / "models").mkdir()
    joblib.dump(est, project.root / "models/model.joblib")
    client = MlflowClient(mlflow_server)
    exp = client.create_experiment(f"train-{name}")
    training_run = client.create_run(exp).info.run_id               # the run training logged
    client.set_terminated(training_run)
    project.write(".mlspec/mlflow_run_id", training_run + "\n")
    project.metrics(roc_auc=0.9, p95_latency_ms=1)

    r = mlspec("gate")
    assert r.exit_code == 0 and "first model" in r.stdout          # no registered model yet
    r = mlspec("register", "--format", "json")
    assert r.exit_code == 0, r.output
    res = r.json["results"][0]
    assert (res["version"], res["path"], res["run_id"], res["flavour"]) == ("v1", f"models:/{name}/1", training_run,
                                                                           "sklearn")
    mv = client.get_model_version_by_alias(name, "production")
    assert mv.version == "1" and mv.run_id == training_run            # linked to the run that trained it
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@production")
    assert list(loaded.predict(np.array([[0.0], [3.0]]))) == [0, 1]

    # A worse model fails its baseline gate against production v1 and is not registered.
    project.metrics(roc_auc=0.85, p95_latency_ms=1)
    r = mlspec("gate")
    assert r.exit_code == 1 and "production v1 0.9 - 0.01" in r.stdout
    assert len(client.search_model_versions(f"name='{name}'")) == 1

    # A file that is not an sklearn estimator: a pyfunc wrapper that exposes its path; staging only.
    (project.root / ".mlspec/mlflow_run_id").unlink()
    project.write("models/weights.bin", "raw weights")
    r = mlspec("register", "--model", "models/weights.bin", "--stage", "staging", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["results"][0]["flavour"] == "pyfunc" and r.json["results"][0]["version"] == "v2"
    wrapped = mlflow.pyfunc.load_model(f"models:/{name}@staging").unwrap_python_model()
    assert Path(wrapped.path).read_text() == "raw weights"
    assert client.get_model_version_by_alias(name, "production").version == "1"

    # ${registry.production.model}: the production file, fetched and checked.
    r = mlspec("registry", "fetch")
    assert r.exit_code == 0, r.output
    assert (project.root / ".mlspec/production/model.joblib").read_bytes() == (project.root / "models/model.joblib").read_bytes()
    r = mlspec("registry", "describe", "--format", "json")
    assert r.json["results"][0]["stages"] == {"production": "v1", "staging": "v2"}
    r = mlspec("registry", "promote", "--version", "2")
    assert r.exit_code == 0 and client.get_model_version_by_alias(name, "production").version == "2"
