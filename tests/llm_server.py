"""A real OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

``POST /v1/chat/completions`` answers like a judge: score 1 when the "Expected answer" appears in
the "Output to evaluate", else 0 (a deterministic rule). Scripted behaviour:

- ``failures``: a queue of actions consumed by the next requests, whatever they ask:
  ``"429"``, ``"500"``, ``"503"`` (HTTP errors, 429 with ``Retry-After: 0``), ``"timeout"`` (answer
  after ``slow_seconds``), ``"badbody"`` (a body that is not JSON);
- an output containing ``MALFORMED`` gets a verdict that is not JSON;
- ``verdicts``: output text -> score, overriding the rule;
- ``delay``: seconds to wait before every answer (latency).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatServer:
    def __init__(self) -> None:
        self.failures: deque[str] = deque()
        self.verdicts: dict[str, float] = {}
        self.delay = 0.0
        self.slow_seconds = 2.0
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0             # the most requests being answered at once
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.requests += 1
                    server.auth.append(self.headers.get("Authorization"))
                    action = server.failures.popleft() if server.failures else None
                if self.path != "/v1/chat/completions":
                    return self._send(404, b'{"error": "not found"}')
                if action in ("429", "500", "503"):
                    return self._send(int(action), b'{"error": "scripted"}',
                                      {"Retry-After": "0"} if action == "429" else {})
                if action == "timeout":
                    time.sleep(server.slow_seconds)
                if action == "badbody":
                    return self._send(200, b"<html>not json</html>")
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay:
                        time.sleep(server.delay)
                    self._send(200, json.dumps(server.reply(body)).encode())
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        user = next((m["content"] for m in body["messages"] if m["role"] == "user"), "")
        output = user.split("Output to evaluate:\n", 1)[-1]
        expected = re.search(r"Expected answer:\n(.*?)\n\nOutput to evaluate:", user, re.S)
        if "MALFORMED" in output:
            content = "I think it is fine, mostly."
        elif output in self.verdicts:
            content = json.dumps({"score": self.verdicts[output], "reason": "scripted"})
        else:
            hit = bool(expected) and expected.group(1).strip().lower() in output.lower()
            content = json.dumps({"score": 1 if hit else 0, "reason": "rule"})
        words = sum(len(m["content"].split()) for m in body["messages"])
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": words, "completion_tokens": len(content.split())},
                "model": body.get("model")}

    def __enter__(self) -> "ChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
