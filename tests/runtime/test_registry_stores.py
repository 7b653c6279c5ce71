"""The registry on a folder and on S3 (a real S3 API: moto's server), and on an MLflow server:
register v1, a worse model fails its baseline gate and registers nothing, the production model
is fetched for ``${registry.production.model}``, a hand-edited registry is a diagnostic, and
concurrent registrations leave production on the newest version."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]
SECRET = "do-not-echo-4f1c"          # planted in hand edits: never printed back


class Backend:
    """Reads a registry's raw objects, wherever they live (for assertions and hand edits)."""

    def __init__(self, kind: str, root: Path, s3_endpoint: str | None = None) -> None:
        self.kind = kind
        self.root = root
        self.endpoint = s3_endpoint

    @property
    def uri(self) -> str:
        return ".mlspec/registry" if self.kind == "local" else "s3://models/registry"

    def _fs(self):
        import pyarrow.fs as pafs

        if self.kind == "local":
            return pafs.LocalFileSystem(), str(self.root / ".mlspec/registry/churn-classifier")
        return (pafs.S3FileSystem(endpoint_override=self.endpoint.split("//")[1], scheme="http",
                                  region="us-east-1", access_key="test", secret_key="test"),
                "models/registry/churn-classifier")

    def read(self, rel: str) -> bytes:
        fs, base = self._fs()
        with fs.open_input_stream(f"{base}/{rel}") as fh:
            return fh.read()

    def write(self, rel: str, data: bytes) -> None:
        fs, base = self._fs()
        with fs.open_output_stream(f"{base}/{rel}") as fh:
            fh.write(data)

    def delete(self, rel: str) -> None:
        fs, base = self._fs()
        fs.delete_file(f"{base}/{rel}")

    def pointer(self) -> int:
        doc = json.loads(self.read("production"))
        meta = self.read(f"versions/{doc['version']}/metadata.json")
        assert doc["metadata_sha256"] == hashlib.sha256(meta).hexdigest()
        return doc["version"]

    def versions(self) -> list[str]:
        import pyarrow.fs as pafs

        fs, base = self._fs()
        infos = fs.get_file_info(pafs.FileSelector(f"{base}/versions", allow_not_found=True))
        return sorted(i.base_name for i in infos)


@pytest.fixture(params=["local", "s3"])
def backend(request, project) -> Backend:
    if request.param == "local":
        b = Backend("local", project.root)
    else:
        server = request.getfixturevalue("s3")
        b = Backend("s3", project.root, server.endpoint)
        fs, base = b._fs()
        fs.delete_dir_contents("models/registry", missing_dir_ok=True)
    spec = project.spec.read_text().replace(
        "backend: local", f"backend: local\n  uri: {b.uri}").replace(
        "    labels: data.outcomes\n",
        "    labels: data.outcomes\n    run: python score.py --model ${registry.production.model}\n"
        "    metrics: metrics/live.json\n")
    project.write("mlproject.yaml", spec)
    return b


def test_registry_lifecycle(backend, project, mlspec):
    # v1 becomes production.
    project.write("models/model.joblib", "model-one")
    project.metrics(roc_auc=0.90, p95_latency_ms=10)
    r = mlspec("register", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["results"][0]["version"] == "v1" and backend.pointer() == 1
    assert backend.read("versions/1/model.joblib") == b"model-one"

    # A worse model fails its baseline gate against production v1 (exit 1); nothing is registered.
    project.write("models/model.joblib", "model-two-worse")
    project.metrics(roc_auc=0.85, p95_latency_ms=10)
    r = mlspec("gate")
    assert r.exit_code == 1 and "MS601" in r.stderr and "production v1" in r.stdout
    assert backend.versions() == ["1"] and backend.pointer() == 1

    # ${registry.production.model} is the fetched production model (v1), not the last trained.
    from mlspec.api import check_project

    plan = check_project(project.spec).plan
    node = plan.node("monitor.performance")
    assert node.command.startswith("mlspec registry fetch --alias production -- mlproject.yaml && "
                                   "python score.py --model .mlspec/production/model.joblib ")
    assert plan.fetch_production_command == "mlspec registry fetch --alias production -- mlproject.yaml"
    r = mlspec("registry", "fetch", "--alias", "production")
    assert r.exit_code == 0, r.output
    assert (project.root / ".mlspec/production/model.joblib").read_text() == "model-one"

    # describe names the version production serves; a rollback is a promotion.
    project.write("models/model.joblib", "model-three")
    project.metrics(roc_auc=0.95, p95_latency_ms=10)
    assert mlspec("register").exit_code == 0 and backend.pointer() == 2
    r = mlspec("registry", "describe", "--format", "json")
    assert r.exit_code == 0 and r.json["results"][0]["stages"]["production"] == "v2"
    r = mlspec("registry", "promote", "--version", "1")
    assert r.exit_code == 0 and "production -> v1 (was v2)" in r.stdout and backend.pointer() == 1
    r = mlspec("registry", "promote", "--version", "9")
    assert r.exit_code == 1 and "MS662" in r.stderr


@pytest.mark.parametrize("edit, expect", [
    ("metadata", "does not match the hash"),
    ("missing-metadata", "names version 1, which is not in the registry"),
    ("pointer", "is not a pointer document"),
    ("dangling", "names version 7"),
    ("model", "does not match the sha256"),
])
def test_hand_edited_registry_is_a_diagnostic(backend, project, mlspec, edit, expect):
    project.write("models/model.joblib", "m1")
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    assert mlspec("register").exit_code == 0
    if edit == "metadata":
        meta = json.loads(backend.read("versions/1/metadata.json"))
        meta["metrics"]["roc_auc"] = 0.99
        meta["note"] = SECRET
        backend.write("versions/1/metadata.json", json.dumps(meta).encode())
    elif edit == "missing-metadata":
        backend.delete("versions/1/metadata.json")
    elif edit == "pointer":
        backend.write("production", f"v1 {SECRET}\n".encode())
    elif edit == "dangling":
        backend.write("production", json.dumps({"version": 7, "metadata_sha256": SECRET}).encode())
    elif edit == "model":
        backend.write("versions/1/model.joblib", SECRET.encode())
    r = mlspec("registry", "fetch") if edit == "model" else mlspec("gate")
    assert r.exit_code == 1, r.output
    assert "error[MS660]" in r.stderr and expect in r.stderr
    assert SECRET not in r.output and "Traceback" not in r.output
    assert not (project.root / ".mlspec/production/model.joblib").exists()


def test_symlink_in_a_local_registry_is_a_diagnostic(project, mlspec, tmp_path_factory):
    project.write("models/model.joblib", "m1")
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    assert mlspec("register").exit_code == 0
    outside = tmp_path_factory.mktemp("outside") / "production"
    outside.write_text(SECRET)
    pointer = project.root / ".mlspec/registry/churn-classifier/production"
    pointer.unlink()
    pointer.symlink_to(outside)
    r = mlspec("gate")
    assert r.exit_code == 1 and "error[MS660]" in r.stderr and "symbolic link" in r.stderr
    assert SECRET not in r.output


def _cli(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "mlspec", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_concurrent_registers_leave_production_on_the_newest(backend, project):
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    n = 4
    for i in range(n):
        project.write(f"m{i}/model.joblib", f"model-{i}")
    procs = [_cli(project.root, "register", "--model", f"m{i}/model.joblib", "--format", "json") for i in range(n)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    versions = sorted(int(json.loads(o[0])["results"][0]["version"][1:]) for o in outs)
    assert versions == list(range(1, n + 1))                      # every registration got its own number
    assert backend.versions() == [str(i) for i in range(1, n + 1)]
    assert backend.pointer() == n                                 # production on the newest version
    for v in range(1, n + 1):                                     # each version holds its own model
        meta = json.loads(backend.read(f"versions/{v}/metadata.json"))
        assert hashlib.sha256(backend.read(f"versions/{v}/model.joblib")).hexdigest() == meta["model"]["sha256"]


@pytest.mark.parametrize("fails", ["production", "history/"])
def test_failed_write_withdraws_the_version(project, mlspec, monkeypatch, fails):
    """A registration whose pointer or history record cannot be written leaves nothing behind."""
    from mlspec.runtime import registry as reg
    from mlspec.runtime.common import Failure

    project.write("models/model.joblib", "m1")
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    real = reg.Store.write

    def failing(self, rel, data):
        if rel.startswith(fails):
            raise Failure("MS606", "cannot write the registry: disk full")
        return real(self, rel, data)

    monkeypatch.setattr(reg.Store, "write", failing)
    r = mlspec("register")
    assert r.exit_code == 1 and "disk full" in r.stderr
    base = project.root / ".mlspec/registry/churn-classifier"
    assert not list((base / "versions").iterdir()) and not (base / "production").exists()
    assert not (base / "incoming").exists()
    assert not (base / "history").exists() or not list((base / "history").iterdir())
