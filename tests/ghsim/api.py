"""The slice of GitHub's REST API that generated workflows call, served on loopback from the
simulator's own runs: what a job reads through ``$GITHUB_API_URL`` with its token.

- ``GET /repos/{repo}/actions/runs/{run_id}/approvals``: the environment approvals given so far
  in that run (the register job asks who approved its release);
- ``GET /repos/{repo}/actions/artifacts?name=&per_page=``: artifacts of every run, newest first,
  with their ``workflow_run`` (branch, sha, repository ids: a fork's run has another head
  repository id); ``GET …/artifacts/{id}/zip`` redirects to a signed "blob" URL on the same
  server, which serves the zip and must be fetched without the token.

Every request needs a token the simulator issued (``Authorization: Bearer``), else 401;
requests are recorded (path, run of the token) for assertions. Response shapes follow GitHub's
documented examples; fields nobody reads are left out.
"""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from .result import RunResult

REPOSITORY_ID = 1
FORK_REPOSITORY_ID = 2


@dataclass
class RunRecord:
    run_id: int
    head_branch: str
    head_sha: str
    fork: bool
    created_at: str
    result: RunResult
    token: str
    approvals: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    path: str
    run_id: int | None          # the run whose token was presented (None: no or unknown token)
    host: str                   # "api" or "blob"


class GitHubApi:
    def __init__(self, repository: str) -> None:
        self.repository = repository
        self.runs: dict[int, RunRecord] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's API
                api._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what the simulator tells it ----------------------------------------------------------

    def start_run(self, record: RunRecord) -> None:
        with self._lock:
            self.runs[record.run_id] = record

    def approved(self, run_id: int, environment: str, reviewer: str, comment: str) -> None:
        with self._lock:
            self.runs[run_id].approvals.append({
                "state": "approved", "comment": comment,
                "environments": [{"id": 1, "node_id": "MDExOkVudmlyb25tZW50MQ==", "name": environment,
                                  "url": f"{self.url}/repos/{self.repository}/environments/{environment}",
                                  "html_url": f"https://github.com/{self.repository}/deployments/activity_log"
                                              f"?environments_filter={environment}"}],
                "user": {"login": reviewer, "id": 100, "type": "User"}})

    # --- serving -------------------------------------------------------------------------------

    def _artifacts(self) -> list[dict[str, Any]]:
        out = []
        for run in self.runs.values():
            for index, artifact in enumerate(run.result.artifacts.values(), start=1):
                artifact_id = run.run_id * 100 + index
                out.append({
                    "id": artifact_id, "node_id": f"MDg6QXJ0aWZhY3Q{artifact_id}", "name": artifact.name,
                    "size_in_bytes": sum(p.stat().st_size for p in artifact.path.rglob("*") if p.is_file()),
                    "url": f"{self.url}/repos/{self.repository}/actions/artifacts/{artifact_id}",
                    "archive_download_url": f"{self.url}/repos/{self.repository}/actions/artifacts/{artifact_id}/zip",
                    "expired": False, "created_at": run.created_at, "updated_at": run.created_at,
                    "expires_at": "2099-01-01T00:00:00Z", "digest": artifact.digest,
                    "workflow_run": {"id": run.run_id, "repository_id": REPOSITORY_ID,
                                     "head_repository_id": FORK_REPOSITORY_ID if run.fork else REPOSITORY_ID,
                                     "head_branch": run.head_branch, "head_sha": run.head_sha},
                    "_path": artifact.path})
        out.sort(key=lambda a: (a["created_at"], a["id"]), reverse=True)
        return out

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        if parts.path.startswith("/blob/"):
            self.requests.append(Request(h.path, self._run_of(h.headers.get("Authorization")), "blob"))
            return self._blob(h, parts.path)
        run_id = self._run_of(h.headers.get("Authorization"))
        self.requests.append(Request(h.path, run_id, "api"))
        if run_id is None:
            return self._json(h, 401, {"message": "Bad credentials", "status": "401"})
        prefix = f"/repos/{self.repository}/actions/"
        if not parts.path.startswith(prefix):
            return self._json(h, 404, {"message": "Not Found", "status": "404"})
        rest = parts.path[len(prefix):]
        if m := re.fullmatch(r"runs/(\d+)/approvals", rest):
            record = self.runs.get(int(m.group(1)))
            if record is None:
                return self._json(h, 404, {"message": "Not Found", "status": "404"})
            return self._json(h, 200, list(record.approvals))
        if rest == "artifacts":
            query = parse_qs(parts.query)
            name = query.get("name", [None])[0]
            per_page = min(int(query.get("per_page", ["30"])[0]), 100)
            items = [a for a in self._artifacts() if name is None or a["name"] == name]
            shown = [{k: v for k, v in a.items() if not k.startswith("_")} for a in items[:per_page]]
            return self._json(h, 200, {"total_count": len(items), "artifacts": shown})
        if m := re.fullmatch(r"artifacts/(\d+)/zip", rest):
            if not any(a["id"] == int(m.group(1)) for a in self._artifacts()):
                return self._json(h, 404, {"message": "Not Found", "status": "404"})
            h.send_response(302)
            h.send_header("Location", f"{self.url}/blob/{m.group(1)}?sv=2025-01-05&sig=signed-not-a-token")
            h.end_headers()
            return None
        return self._json(h, 404, {"message": "Not Found", "status": "404"})

    def _blob(self, h: BaseHTTPRequestHandler, path: str) -> None:
        artifact = next((a for a in self._artifacts() if f"/blob/{a['id']}" == path), None)
        if artifact is None:
            h.send_response(404)
            h.end_headers()
            return
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            root = artifact["_path"]
            for f in sorted(p for p in root.rglob("*") if p.is_file()):
                zf.write(f, f.relative_to(root).as_posix())
        body = buf.getvalue()
        h.send_response(200)
        h.send_header("Content-Type", "application/zip")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _run_of(self, authorization: str | None) -> int | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer "):]
        return next((r.run_id for r in self.runs.values() if r.token == token), None)

    @staticmethod
    def _json(h: BaseHTTPRequestHandler, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
