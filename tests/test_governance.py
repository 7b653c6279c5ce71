"""Governance you can audit, on the flagship example: after `mlspec run` registers a version
(store in a local folder, and in S3), `mlspec audit` names the approver, the data hashes, the
gate values and the commit; the registered version's model card carries the real metric values
and gate verdicts; a record edited by hand is reported as tampering with exit 1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
pytest.importorskip("sklearn")

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "churn"
    shutil.copytree(REPO / "examples" / "churn", project,
                    ignore=shutil.ignore_patterns(".mlspec", "models", "metrics", "prepared", "__pycache__"))
    # A checkout as the runner has it: HEAD names a branch whose commit is a loose ref. mlspec
    # reads it without the git binary (the `git` commands see no repository here).
    git = project / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(COMMIT + "\n")
    return project


def mlspec(cwd: Path, *args: str, store: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLSPEC_STORAGE": store}
    for name in ("GITHUB_ACTIONS", "GITHUB_SHA", "GITHUB_RUN_ID", "MLSPEC_RUN_ID", "MLSPEC_APPROVER",
                 "AIRFLOW_CTX_DAG_RUN_ID"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


class Records:
    """The audit log's raw records wherever the registry lives (to read them and edit one by hand)."""

    def __init__(self, project: Path, s3: object | None = None, prefix: str = "") -> None:
        import pyarrow.fs as pafs

        if s3 is None:
            self.fs = pafs.LocalFileSystem()
            self.base = str(project / ".mlspec/store/registry/churn-classifier/audit")
        else:
            self.fs = pafs.S3FileSystem(endpoint_override=s3.endpoint, scheme="http",  # type: ignore[attr-defined]
                                        region="us-east-1", access_key="testing", secret_key="testing")
            self.base = f"{prefix}/registry/churn-classifier/audit"

    def read(self, seq: int) -> bytes:
        with self.fs.open_input_stream(f"{self.base}/{seq:08d}.json") as fh:
            return fh.read()

    def write(self, seq: int, data: bytes) -> None:
        with self.fs.open_output_stream(f"{self.base}/{seq:08d}.json") as fh:
            fh.write(data)


def _audit_churn(project: Path, store: str, records: Records) -> None:
    run = mlspec(project, "run", "--store", store, "--approver", "alice", "--no-monitoring", "--format", "json",
                 store=store)
    assert run.returncode == 0, run.stdout + run.stderr
    statuses = {n["id"]: n["status"] for n in json.loads(run.stdout)["nodes"]}
    assert statuses["approve"] == "approved" and statuses["register"] == "ok"

    r = mlspec(project, "audit", "--format", "json", store=store)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verified"] is True and out["problems"] == [] and out["stages"]["production"] == "v1"
    rec = out["version"]
    assert rec["version"] == "v1" and rec["kind"] == "register"
    # Who signed it off, and when.
    assert rec["approval"]["by"] == ["alice"] and rec["approval"]["source"] == "mlspec run"
    assert rec["approval"]["time"].endswith("Z")
    # Which data: the content of what the pipeline read, checked against the spec's pin.
    data = (project / "data" / "customers.csv").read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    customers = rec["data"]["customers"]
    assert customers["sha256"] == digest and customers["pin"] == digest and customers["pin_verified"] is True
    assert customers["hashed"] == "when the pipeline read it (check-data)"
    model = (project / "models" / "model.joblib").read_bytes()
    assert rec["model"]["sha256"] == hashlib.sha256(model).hexdigest()
    prepared = (project / "data" / "prepared" / "train.csv").read_bytes()
    assert rec["files"]["data/prepared/train.csv"]["sha256"] == hashlib.sha256(prepared).hexdigest()
    # How it scored against which bar: the evaluation's own values, the spec's bounds.
    metrics = json.loads((project / "metrics" / "eval.json").read_text())
    gates = {g["gate"]: g for g in rec["gates"]}
    assert gates["roc_auc_min"]["value"] == metrics["roc_auc"] and gates["roc_auc_min"]["bound"] == ">= 0.75"
    assert gates["p95_latency_ms_max"]["value"] == metrics["p95_latency_ms"]
    assert all(g["passed"] for g in rec["gates"]) and rec["gates_passed"] is True
    # Which code.
    assert rec["code"] == {"commit": COMMIT, "source": ".git HEAD", "ref": None}
    assert rec["run"]["platform"] == "local" and rec["run"]["id"]
    assert [e["action"] for e in out["events"]] == ["register"]

    text = mlspec(project, "audit", store=store)
    assert text.returncode == 0 and "approved by  alice" in text.stdout and COMMIT in text.stdout
    assert digest in text.stdout and "chain verified" in text.stdout

    # The card of the registered version: real values, verdicts, data, approval.
    card = mlspec(project, "registry", "card", store=store)
    assert card.returncode == 0, card.stderr
    import cmarkgfm   # GitHub's Markdown: the card is read on GitHub

    from mlspec.runtime.common import num

    html = cmarkgfm.github_flavored_markdown_to_html(card.stdout)
    assert (f"<td>roc_auc</td>\n<td>{num(metrics['roc_auc'])}</td>\n<td>&gt;= 0.75</td>\n<td>✅ pass</td>"
            in html)
    assert (f"<td>p95_latency_ms</td>\n<td>{num(metrics['p95_latency_ms'])}</td>\n<td>&lt;= 100</td>\n"
            "<td>✅ pass</td>") in html
    assert "<p>Predicts which customers will cancel their subscription next month.</p>" in html
    assert "<h2>Intended use</h2>" in html and "<li>Pricing or denying service to a customer</li>" in html
    assert f"<td>{digest}</td>" in html and "alice at " in html and f"<td>{COMMIT} (.git HEAD)</td>" in html

    # A hand edit of the record: tampering, exit 1, with the record named.
    raw = records.read(1)
    records.write(1, raw.replace(b'"alice"', b'"mallory"'))
    bad = mlspec(project, "audit", store=store)
    assert bad.returncode == 1
    assert "error[MS691]" in bad.stderr and "00000001.json was changed after it was written" in bad.stderr
    assert mlspec(project, "registry", "card", store=store).returncode == 1
    records.write(1, raw)
    assert mlspec(project, "audit", store=store).returncode == 0


@pytest.mark.slow
def test_audit_after_a_local_run(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _audit_churn(project, ".mlspec/store", Records(project))


@pytest.mark.slow
@pytest.mark.server
def test_audit_after_a_run_on_s3(tmp_path: Path, s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    bucket = s3_server.make_bucket()
    project = _project(tmp_path)
    _audit_churn(project, f"s3://{bucket}/churn", Records(project, s3_server, f"{bucket}/churn"))
