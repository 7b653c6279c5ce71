"""The audit log of a registry (local folder and S3): registrations, promotions and rollbacks
with who and why; hand edits of any kind reported as MS691 with exit 1; the approver read from
GitHub's approvals API (a real HTTP server on loopback); retention that holds (`registry prune`);
data that differs from its content pin refused (MS690)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.runtime.conftest import codes

DAY = 86400.0
APPROVAL = "  approval: {required: true, environment: production, reviewers: [ml-leads]}\n"


class Registry:
    """The raw objects of the registry, wherever they live (to look at and to edit by hand)."""

    def __init__(self, root: Path, s3: Any = None) -> None:
        import pyarrow.fs as pafs

        if s3 is None:
            self.fs, self.base = pafs.LocalFileSystem(), str(root / ".mlspec/registry/churn-classifier")
        else:
            self.fs = pafs.S3FileSystem(endpoint_override=s3.endpoint.split("//")[1], scheme="http",
                                        region="us-east-1", access_key="testing", secret_key="testing")
            self.base = "models/audit-registry/churn-classifier"
            self.fs.delete_dir_contents("models/audit-registry", missing_dir_ok=True)

    def read(self, rel: str) -> bytes:
        with self.fs.open_input_stream(f"{self.base}/{rel}") as fh:
            return fh.read()

    def write(self, rel: str, data: bytes) -> None:
        with self.fs.open_output_stream(f"{self.base}/{rel}") as fh:
            fh.write(data)

    def delete(self, rel: str) -> None:
        import pyarrow.fs as pafs

        if self.fs.get_file_info(f"{self.base}/{rel}").type == pafs.FileType.Directory:
            self.fs.delete_dir(f"{self.base}/{rel}")
        else:
            self.fs.delete_file(f"{self.base}/{rel}")

    def names(self, rel: str) -> list[str]:
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(f"{self.base}/{rel}", allow_not_found=True))
        return sorted(i.base_name for i in infos)


@pytest.fixture(params=["local", "s3"])
def registry(request, project) -> Registry:
    if request.param == "local":
        return Registry(project.root)
    server = request.getfixturevalue("s3")
    project.write("mlproject.yaml", project.spec.read_text().replace(
        "backend: local", "backend: local\n  uri: s3://models/audit-registry"))
    return Registry(project.root, server)


def _register(project, mlspec, model: str, auc: float, *args: str) -> dict:
    project.write("models/model.joblib", model)
    project.metrics(roc_auc=auc, p95_latency_ms=10)
    r = mlspec("register", "--format", "json", *args)
    assert r.exit_code == 0, r.output
    return r.json


def _audit(mlspec, *args: str) -> Any:
    return mlspec("audit", "--format", "json", *args)


def test_promotions_and_rollbacks_are_recorded_with_who_and_why(registry, project, mlspec):
    first = _register(project, mlspec, "model-one", 0.90, "--approver", "bob")
    assert first["audit"]["seq"] == 1
    _register(project, mlspec, "model-two", 0.91, "--approver", "bob")
    r = mlspec("registry", "promote", "--version", "1", "--by", "carol", "--reason", "v2 mis-scores new customers")
    assert r.exit_code == 0 and "rollback recorded as audit record 00000003" in r.stdout
    r = mlspec("registry", "promote", "--version", "2", "--stage", "staging", "--by", "dave")
    assert r.exit_code == 0 and "promote recorded" in r.stdout

    r = _audit(mlspec)
    assert r.exit_code == 0, r.output
    out = r.json
    assert out["verified"] and out["stages"] == {"production": "v1", "staging": "v2"}
    assert out["version"]["version"] == "v1" and out["version"]["approval"]["by"] == ["bob"]
    events = [(e["action"], e["version"], e["stage"], e["by"], e["reason"]) for e in out["events"]]
    assert events == [("register", "v1", "production", "bob", "gates passed"),
                      ("register", "v2", "production", "bob", "gates passed"),
                      ("rollback", "v1", "production", "carol", "v2 mis-scores new customers"),
                      ("promote", "v2", "staging", "dave", None)]
    # The gate table is the registered model's own against the bar as it stood: v2 vs production v1.
    v2 = _audit(mlspec, "--version", "2").json["version"]
    baseline = next(g for g in v2["gates"] if g["gate"] == "roc_auc_baseline")
    assert baseline["value"] == 0.91 and baseline["baseline_value"] == 0.90 and baseline["passed"]
    assert baseline["bound"] == ">= 0.89 (production v1 0.9 - 0.01)"

    md = mlspec("audit", "--format", "markdown")
    assert md.exit_code == 0 and md.stdout.startswith("# Audit: churn\\-classifier v1\n")
    assert "| 3 | " in md.stdout and "rollback" in md.stdout and "v2 mis\\-scores new customers" in md.stdout


def _three_records(project, mlspec) -> None:
    _register(project, mlspec, "model-one", 0.90)
    _register(project, mlspec, "model-two", 0.91)
    assert mlspec("registry", "promote", "--version", "1", "--reason", "roll back").exit_code == 0


@pytest.mark.parametrize("edit, expect", [
    ("record", "00000002.json was changed after it was written"),
    ("middle", "audit record 00000002 is missing"),
    ("newest", "head.json names record 00000003, but the log ends at 00000002"),
    ("rechained", "does not follow the record before it"),
    ("metadata", "the metadata.json of v2 was changed after its audit record 00000002 was written"),
    ("pointer", "production points at v2, but the audit log's last change of production put v1 there"),
    ("log", "v1 is registered (its metadata says it was audited) but the audit log has no record"),
])
def test_hand_edits_are_tampering(registry, project, mlspec, edit, expect):
    _three_records(project, mlspec)
    assert _audit(mlspec).exit_code == 0
    if edit == "record":
        doc = json.loads(registry.read("audit/00000002.json"))
        doc["metrics"]["roc_auc"] = 0.99
        registry.write("audit/00000002.json", json.dumps(doc).encode())
    elif edit == "middle":
        registry.delete("audit/00000002.json")
    elif edit == "newest":
        registry.delete("audit/00000003.json")
    elif edit == "rechained":
        # Record 2 rewritten with a valid hash of its own: the next record no longer follows it.
        from mlspec.runtime.audit import record_hash

        doc = json.loads(registry.read("audit/00000002.json"))
        doc["approval"] = {"source": "command line", "by": ["mallory"], "time": doc["time"]}
        doc["record_sha256"] = record_hash(doc)
        registry.write("audit/00000002.json", json.dumps(doc).encode())
    elif edit == "metadata":
        meta = json.loads(registry.read("versions/2/metadata.json"))
        meta["metrics"]["roc_auc"] = 0.99
        registry.write("versions/2/metadata.json", json.dumps(meta).encode())
    elif edit == "pointer":
        meta = registry.read("versions/2/metadata.json")
        registry.write("production", json.dumps({"version": 2, "metadata_sha256":
                                                 hashlib.sha256(meta).hexdigest()}).encode())
    elif edit == "log":
        registry.delete("audit")
    r = _audit(mlspec)
    assert r.exit_code == 1, r.output
    assert "MS691" in codes(r) and r.json["verified"] is False
    assert any(expect in d["message"] for d in r.json["diagnostics"]), r.json["diagnostics"]
    text = mlspec("audit")
    assert text.exit_code == 1 and "error[MS691]" in text.stderr
    # Nothing is built on a log that cannot be verified.
    assert mlspec("registry", "card").exit_code == 1
    assert mlspec("registry", "prune").exit_code == 1


def test_prune_respects_retention(project, mlspec, monkeypatch):
    from mlspec.runtime import audit

    registry = Registry(project.root)
    for i in range(3):
        _register(project, mlspec, f"model-{i}", 0.90 + i / 100)
    # Within the 365-day retention nothing can be pruned, not even by number.
    r = mlspec("registry", "prune", "--version", "1", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS692"] and r.json["removed_versions"] == []
    assert "within the 365-day retention" in r.json["diagnostics"][0]["message"]
    r = mlspec("registry", "prune", "--format", "json")
    assert r.exit_code == 0 and r.json["removed_versions"] == [] and r.json["removed_records"] == []
    assert registry.names("versions") == ["1", "2", "3"]

    # A year and a day later: v1 and v2 are outside retention, v3 is production.
    later = audit.now() + 366 * DAY
    monkeypatch.setattr(audit, "now", lambda: later)
    r = mlspec("registry", "prune", "--version", "3")
    assert r.exit_code == 1 and "v3 is the production version" in r.stderr
    r = mlspec("registry", "prune", "--dry-run", "--format", "json")
    assert r.exit_code == 0 and r.json["removed_versions"] == ["v1", "v2"]
    assert r.json["removed_records"] == ["00000001", "00000002"]
    assert registry.names("versions") == ["1", "2", "3"]               # a dry run removes nothing
    r = mlspec("registry", "prune", "--by", "erin", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["removed_versions"] == ["v1", "v2"] and r.json["audit"]["seq"] == 4
    assert registry.names("versions") == ["3"]                         # exactly what it listed
    assert registry.names("audit") == ["00000003.json", "00000004.json", "anchor.json", "head.json"]
    # The shortened log still verifies from its anchor, and says who pruned what.
    r = _audit(mlspec)
    assert r.exit_code == 0, r.output
    prune = r.json["events"][-1]
    assert (prune["action"], prune["by"], prune["version"]) == ("prune", "erin", "v1, v2")
    # Removing the prune record (which vouches for the anchor) is tampering.
    registry.delete("audit/00000004.json")
    registry.write("audit/head.json", registry.read("audit/head.json").replace(b'"seq": 4', b'"seq": 3'))
    assert _audit(mlspec).exit_code == 1


# ------------------------------------------------------------------ the approver in GitHub Actions


class _Approvals(BaseHTTPRequestHandler):
    status = 200
    body: Any = []
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        data = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def github_api() -> Iterator[tuple[str, type[_Approvals]]]:
    handler = type("Handler", (_Approvals,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def in_github(project, monkeypatch, github_api):
    url, handler = github_api
    project.write("mlproject.yaml", project.spec.read_text().replace("      max_regression: 0.01\n",
                                                                       "      max_regression: 0.01\n" + APPROVAL))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/churn", "GITHUB_RUN_ID": "4242",
           "GITHUB_RUN_ATTEMPT": "2", "GITHUB_API_URL": url, "GITHUB_SERVER_URL": "https://github.example",
           "GITHUB_TOKEN": "job-token", "GITHUB_SHA": "f" * 40, "GITHUB_REF": "refs/heads/main",
           "GITHUB_ACTOR": "ci-bot"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("MLSPEC_APPROVER", "MLSPEC_APPROVAL_SOURCE", "MLSPEC_RUN_ID"):
        monkeypatch.delenv(k, raising=False)
    return handler


def test_github_approver_comes_from_the_runs_approvals(project, mlspec, in_github):
    in_github.body = [{"state": "approved", "user": {"login": "octocat"}, "comment": "holdout looks right",
                       "environments": [{"name": "production"}]},
                      {"state": "rejected", "user": {"login": "someone-else"}, "environments": []}]
    out = _register(project, mlspec, "model-one", 0.90)
    assert in_github.seen == [("/repos/acme/churn/actions/runs/4242/approvals", "Bearer job-token")]
    assert "MS693" not in [d["code"] for d in out["diagnostics"]]
    rec = _audit(mlspec).json["version"]
    assert rec["approval"]["by"] == ["octocat"] and rec["approval"]["environments"] == ["production"]
    assert rec["approval"]["comment"] == "holdout looks right" and rec["approval"]["source"] == "github"
    assert rec["code"] == {"commit": "f" * 40, "source": "GITHUB_SHA", "ref": "refs/heads/main"}
    assert rec["run"]["url"] == "https://github.example/acme/churn/actions/runs/4242/attempts/2"
    assert rec["run"]["id"] == "gh-4242-2"


def test_unreadable_github_approvals_leave_the_approver_unknown(project, mlspec, in_github):
    in_github.status, in_github.body = 403, {"message": "Resource not accessible by integration"}
    out = _register(project, mlspec, "model-one", 0.90)       # still registered: the record says who is unknown
    warning = next(d for d in out["diagnostics"] if d["code"] == "MS693")
    assert warning["severity"] == "warning" and "HTTP 403" in warning["message"]
    rec = _audit(mlspec).json["version"]
    assert rec["approval"] is None and "HTTP 403" in rec["approval_problem"]
    assert "unknown" in mlspec("audit").stdout


# ------------------------------------------------------------------ content pins, checked when data is read

ROWS = "customer_id,tenure_months,monthly_charges,contract,churned\nc1,3,20.5,monthly,true\nc2,30,80,yearly,false\n"


def _pinned(project, pin: str) -> None:
    spec = project.spec.read_text().replace("    uri: data/customers.csv\n",
                                            f"    uri: data/customers.csv\n    version: \"{pin}\"\n")
    project.write("mlproject.yaml", spec + "governance: {require_pinned_data: true}\n")


def test_data_that_differs_from_its_pin_is_refused(project, mlspec):
    data = project.write("data/customers.csv", ROWS)
    good = "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()
    _pinned(project, good)
    r = mlspec("check-data", "customers", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["content"]["sha256"] == good and r.json["content"]["pin_verified"] is True
    _register(project, mlspec, "model-one", 0.90)

    project.write("data/customers.csv", ROWS + "c3,1,10,monthly,false\n")     # the data changed, the pin did not
    r = mlspec("check-data", "customers", "--format", "json")
    assert r.exit_code == 1 and "MS690" in codes(r)
    d = next(d for d in r.json["diagnostics"] if d["code"] == "MS690")
    assert d["path"] == "data.customers.version" and d["line"] is not None
    project.write("models/model.joblib", "model-two")
    r = mlspec("register", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS690"]
    assert Registry(project.root).names("versions") == ["1"]                # nothing registered on other data


def test_a_version_whose_record_cannot_be_written_is_not_left_in_production(project, mlspec):
    """The record is written after the version is committed; when that write fails, the stage goes
    back to the version before it and the user is told exactly what happened (exit 1, MS660)."""
    _register(project, mlspec, "first", 0.90, "--approver", "alice")
    audit_dir = project.root / ".mlspec/registry/churn-classifier/audit"
    (audit_dir / "00000002.json" / "in-the-way").mkdir(parents=True)     # the next record cannot be a file
    project.write("models/model.joblib", "second")
    r = mlspec("register", "--format", "json", "--approver", "alice")
    assert r.exit_code == 1 and codes(r) == ["MS660"]
    message = r.json["diagnostics"][0]["message"]
    assert message.startswith("churn-classifier v2 was registered but its audit record could not be written: ")
    assert message.endswith("; production is back at v1")
    assert "register again" in r.json["diagnostics"][0]["hint"]
    described = mlspec("registry", "describe", "--format", "json")
    assert described.json["results"][0]["stages"]["production"] == "v1"
    assert "Traceback" not in r.output


def test_an_unreadable_log_stops_registration_before_anything_is_committed(project, mlspec):
    _register(project, mlspec, "first", 0.90, "--approver", "alice")
    reg = project.root / ".mlspec/registry/churn-classifier"
    for p in sorted((reg / "audit").iterdir(), reverse=True):
        p.unlink()
    (reg / "audit").rmdir()
    (reg / "audit").write_text("not a folder")
    project.write("models/model.joblib", "second")
    r = mlspec("register", "--format", "json", "--approver", "alice")
    assert r.exit_code == 1 and codes(r) == ["MS660"]
    assert sorted(p.name for p in (reg / "versions").iterdir()) == ["1"]         # no v2 without a record
