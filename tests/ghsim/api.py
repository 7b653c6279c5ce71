"""The part of GitHub's REST API a job can ask about its own run, served on loopback.

Only ``GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals`` ("Get the review history for
a workflow run"): the simulator records each environment decision of a run here as GitHub does
when a reviewer approves or rejects a deployment, and a job reading it with its run's token gets
the same JSON shape GitHub answers (a list of ``{state, comment, environments, user}``).
Another token is answered 401 and an unknown run 404, as GitHub does.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_APPROVALS = re.compile(r"/repos/([^/]+/[^/]+)/actions/runs/(\d+)/approvals")


class GitHubAPI:
    """Start with ``with GitHubAPI() as api:`` and pass ``api`` to ``Simulator(..., api=api)``."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str | None]] = []     # (path, Authorization) of every request
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                api.requests.append((self.path, self.headers.get("Authorization")))
                status, body = api.answer(self.path.split("?", 1)[0], self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> GitHubAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- fed by the simulator -------------------------------------------------------------------

    def start_run(self, repository: str, run_id: str, token: str) -> None:
        with self._lock:
            self.runs[(repository.lower(), run_id)] = {"token": token, "reviews": []}

    def review(self, repository: str, run_id: str, environment: str, reviewer: str, approved: bool,
               comment: str) -> None:
        env_id = 161088068 + len(environment)
        with self._lock:
            self.runs[(repository.lower(), run_id)]["reviews"].append({
                "state": "approved" if approved else "rejected",
                "comment": comment,
                "environments": [{
                    "id": env_id, "node_id": f"EN_sim{env_id}", "name": environment,
                    "url": f"{self.url}/repos/{repository}/environments/{environment}",
                    "html_url": f"https://github.com/{repository}/deployments/activity_log?environments_filter="
                                f"{environment}",
                    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}],
                "user": {"login": reviewer, "id": 1000 + len(reviewer), "node_id": "U_sim",
                         "avatar_url": "https://github.com/images/error/octocat_happy.gif", "gravatar_id": "",
                         "url": f"{self.url}/users/{reviewer}", "html_url": f"https://github.com/{reviewer}",
                         "type": "User", "site_admin": False},
            })

    # --- the endpoint ----------------------------------------------------------------------------

    def answer(self, path: str, authorization: str | None) -> tuple[int, Any]:
        m = _APPROVALS.fullmatch(path)
        with self._lock:
            run = self.runs.get((m.group(1).lower(), m.group(2))) if m else None
            if run is None:
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            if authorization not in (f"Bearer {run['token']}", f"token {run['token']}"):
                return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            return 200, list(run["reviews"])
