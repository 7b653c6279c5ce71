"""`mlspec ci-baseline export|fetch` and `mlspec gate --baseline-dir`: a pull request sees
production's metrics without credentials. GitHub's REST API (artifact list, the archive's
redirect to signed blob storage) is played by two real HTTP servers on loopback with the
documented response shapes; GitHub itself cannot run here."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlspec.naming import ci_baseline_artifact
from tests.runtime.conftest import codes

NAME = ci_baseline_artifact("churn")
REPO_ID = 101


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@dataclass
class FakeGitHub:
    api: str = ""
    blob: str = ""
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    archives: dict[int, bytes] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)   # (path, Authorization) on both hosts

    def add(self, artifact_id: int, archive: bytes, *, branch: str = "main", created: str = "2026-12-01T10:00:00Z",
            expired: bool = False, head_repository_id: int = REPO_ID, name: str = NAME, version: str = "3") -> None:
        self.archives[artifact_id] = archive
        self.artifacts.append({
            "id": artifact_id, "node_id": f"MDg6QXJ0aWZhY3Q{artifact_id}", "name": name, "size_in_bytes": len(archive),
            "url": f"{self.api}/repos/acme/churn/actions/artifacts/{artifact_id}",
            "archive_download_url": f"{self.api}/repos/acme/churn/actions/artifacts/{artifact_id}/zip",
            "expired": expired, "created_at": created, "updated_at": created, "expires_at": "2027-03-01T10:00:00Z",
            "digest": "sha256:" + "0" * 64,
            "workflow_run": {"id": 9000 + artifact_id, "repository_id": REPO_ID,
                             "head_repository_id": head_repository_id, "head_branch": branch,
                             "head_sha": f"{artifact_id:040x}"}})


def _server(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    gh = FakeGitHub()

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's API
            gh.seen.append((self.path, self.headers.get("Authorization")))
            if self.path.startswith("/repos/acme/churn/actions/artifacts?"):
                from urllib.parse import parse_qs, urlsplit
                q = parse_qs(urlsplit(self.path).query)
                items = [a for a in gh.artifacts if a["name"] == q.get("name", [""])[0]]
                items.sort(key=lambda a: a["created_at"], reverse=True)
                body = json.dumps({"total_count": len(items), "artifacts": items}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)
            elif self.path.endswith("/zip"):
                artifact_id = int(self.path.split("/")[-2])
                self.send_response(302)
                self.send_header("Location", f"{gh.blob}/blob/{artifact_id}?sig=secret-signature")
                self.end_headers()
            else:
                self.send_response(404)
                self.end_headers()

    class Blob(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            gh.seen.append((self.path, self.headers.get("Authorization")))
            artifact_id = int(self.path.split("?")[0].rsplit("/", 1)[-1])
            body = gh.archives[artifact_id]
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    api, gh.api = _server(Api)
    blob, gh.blob = _server(Blob)
    monkeypatch.setenv("GITHUB_API_URL", gh.api)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
    monkeypatch.setenv("GITHUB_TOKEN", "job-token")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    yield gh
    api.shutdown()
    blob.shutdown()


def _archive(metrics: dict[str, Any], version: str = "3") -> bytes:
    return _zip({"metrics.json": json.dumps(metrics).encode(),
                 "baseline.json": json.dumps({"project": "churn", "version": version}).encode()})


def test_export_writes_production_metrics_from_the_registry(project, mlspec):
    r = mlspec("ci-baseline", "export", "--format", "json")
    assert r.exit_code == 0 and r.json["exported"] is False          # nothing registered yet
    project.write("models/model.joblib", "m")
    project.metrics(roc_auc=0.83, p95_latency_ms=20)
    assert mlspec("register").exit_code == 0
    r = mlspec("ci-baseline", "export", "--out", "out/baseline")
    assert r.exit_code == 0 and r.stdout.startswith("production v1: metrics written to")
    assert json.loads((project.root / "out/baseline/metrics.json").read_text()) == {"roc_auc": 0.83,
                                                                                     "p95_latency_ms": 20.0}
    assert json.loads((project.root / "out/baseline/baseline.json").read_text())["version"] == "v1"


def test_fetch_takes_the_newest_base_branch_artifact_of_this_repository(project, mlspec, github):
    github.add(1, _archive({"roc_auc": 0.80}, "v1"), created="2026-11-01T10:00:00Z")
    github.add(2, _archive({"roc_auc": 0.84}, "v2"), created="2026-11-20T10:00:00Z")
    # Newer, but not production's: another branch, a fork's run, an expired one, another name.
    github.add(3, _archive({"roc_auc": 0.99}, "x"), created="2026-11-30T10:00:00Z", branch="feature")
    github.add(4, _archive({"roc_auc": 0.99}, "x"), created="2026-11-30T11:00:00Z", head_repository_id=666)
    github.add(5, _archive({"roc_auc": 0.99}, "x"), created="2026-11-30T12:00:00Z", expired=True)
    github.add(6, _archive({"roc_auc": 0.99}, "x"), created="2026-11-30T13:00:00Z", name="evaluation")
    r = mlspec("ci-baseline", "fetch", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["fetched"] is True and r.json["version"] == "v2"
    assert json.loads((project.root / ".mlspec/ci-baseline/metrics.json").read_text()) == {"roc_auc": 0.84}
    info = json.loads((project.root / ".mlspec/ci-baseline/baseline.json").read_text())
    assert info["run_id"] == 9002 and info["artifact_id"] == 2
    # The token went to the API only; the signed blob URL was fetched without it.
    api_calls = [(p, a) for p, a in github.seen if p.startswith("/repos/")]
    blob_calls = [(p, a) for p, a in github.seen if p.startswith("/blob/")]
    assert api_calls == [(f"/repos/acme/churn/actions/artifacts?name={NAME}&per_page=100", "Bearer job-token"),
                         ("/repos/acme/churn/actions/artifacts/2/zip", "Bearer job-token")]
    assert blob_calls == [("/blob/2?sig=secret-signature", None)]


def test_the_gate_shows_deltas_against_the_fetched_production(project, mlspec, github, tmp_path):
    github.add(1, _archive({"roc_auc": 0.85, "p95_latency_ms": 30}, "v7"))
    assert mlspec("ci-baseline", "fetch").exit_code == 0
    project.metrics(roc_auc=0.83, p95_latency_ms=20)
    summary = tmp_path / "summary.md"
    r = mlspec("gate", "--baseline-dir", ".mlspec/ci-baseline", "--summary", str(summary), "--no-push",
               "--format", "json")
    # roc_auc 0.83 < production 0.85 - 0.01: the baseline gate fails on the pull request, as it will on main.
    assert r.exit_code == 1 and codes(r) == ["MS601"]
    assert r.json["baseline"] == "production v7 (train workflow)"
    baseline_gate = next(x for x in r.json["results"] if x["baseline"])
    assert baseline_gate["baseline_value"] == 0.85 and baseline_gate["passed"] is False
    text = summary.read_text()
    assert "compared with production v7 \\(train workflow\\)" in text and "| 0\\.85 | −0\\.02 worse | ❌ **FAIL**" in text


def test_without_an_artifact_the_gate_runs_as_before(project, mlspec, github):
    r = mlspec("ci-baseline", "fetch")
    assert r.exit_code == 0 and "no artifact" in r.stdout
    assert not (project.root / ".mlspec/ci-baseline").exists()
    project.metrics(roc_auc=0.83, p95_latency_ms=20)
    r = mlspec("gate", "--baseline-dir", ".mlspec/ci-baseline", "--no-push", "--no-summary", "--format", "json")
    assert r.exit_code == 0 and r.json["baseline"] is None
    r = mlspec("gate", "--baseline", "x.json", "--baseline-dir", "d")
    assert r.exit_code == 2 and "alternatives" in r.stderr


@pytest.mark.parametrize("archive, problem", [
    (b"not a zip", "not a readable zip"),
    (_zip({"metrics.json": b"{}"}), "has no baseline.json"),
    (_zip({"metrics.json": b"[1]", "baseline.json": b"{}"}), "not JSON objects"),
    (_zip({"metrics.json": b'{"roc_auc": NaN}', "baseline.json": b"{}"}), "metrics.json is not valid JSON"),
    (_zip({"metrics.json": b"{" * 5000 + b"}" * 5000, "baseline.json": b"{}"}), "metrics.json is not valid JSON"),
    (_zip({"metrics.json": b" " * (5 * 1024 * 1024), "baseline.json": b"{}"}), "larger than"),
])
def test_a_damaged_artifact_is_a_warning_never_a_failure(project, mlspec, github, archive, problem):
    github.add(1, archive)
    r = mlspec("ci-baseline", "fetch", "--format", "json")
    assert r.exit_code == 0 and r.json["fetched"] is False and problem in r.json["problem"]
    assert codes(r) == ["MS628"]
    assert not (project.root / ".mlspec/ci-baseline/metrics.json").exists()


def test_no_api_outside_github(project, mlspec, monkeypatch):
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    r = mlspec("ci-baseline", "fetch", "--format", "json")
    assert r.exit_code == 0 and codes(r) == ["MS628"] and "GITHUB_REPOSITORY is not set" in r.json["problem"]
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")          # nothing listens
    r = mlspec("ci-baseline", "fetch", "--format", "json")
    assert r.exit_code == 0 and codes(r) == ["MS628"] and "could not be read" in r.json["problem"]
