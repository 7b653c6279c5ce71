"""A minimal Language Server Protocol client over stdio, for driving the real
yaml-language-server from tests (JSON-RPC 2.0 with ``Content-Length`` framing).

It answers the requests a server sends to its client (``workspace/configuration``,
``client/registerCapability``, progress creation) so that the server never waits on us.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class LspError(RuntimeError):
    pass


class LspClient:
    def __init__(self, argv: Sequence[str], *, settings: dict[str, Any], cwd: Path,
                 timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=cwd)
        self._next_id = 0
        self._responses: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self._stderr: list[bytes] = []
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr or []), daemon=True).start()

    # ---------------------------------------------------------------- wire
    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def _read_message(self) -> dict[str, Any] | None:
        stream = self.proc.stdout
        assert stream is not None
        length = None
        while True:
            line = stream.readline()
            if not line:
                return None
            line = line.strip()
            if not line:
                break
            name, _, value = line.decode("ascii").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        if length is None:
            raise LspError("message without Content-Length")
        return json.loads(stream.read(length))

    def _read_loop(self) -> None:
        while True:
            try:
                message = self._read_message()
            except (ValueError, LspError):
                return
            if message is None:
                return
            if "id" in message and "method" in message:
                self._answer(message)
            elif "id" in message:
                self._responses.setdefault(message["id"], queue.Queue()).put(message)
            else:
                self.notifications.put(message)

    def _answer(self, request: dict[str, Any]) -> None:
        method = request["method"]
        result: Any = None
        if method == "workspace/configuration":
            result = [self._section(item.get("section")) for item in request["params"]["items"]]
        self._send({"id": request["id"], "result": result})

    def _section(self, section: str | None) -> Any:
        node: Any = self.settings
        for part in (section or "").split(".") if section else []:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    # ---------------------------------------------------------------- API
    def request(self, method: str, params: Any) -> Any:
        self._next_id += 1
        rid = self._next_id
        box = self._responses.setdefault(rid, queue.Queue())
        self._send({"id": rid, "method": method, "params": params})
        try:
            reply = box.get(timeout=self.timeout)
        except queue.Empty:
            raise LspError(f"no answer to {method} within {self.timeout} s; "
                           f"stderr: {b''.join(self._stderr)[-2000:]!r}") from None
        if "error" in reply:
            raise LspError(f"{method}: {reply['error']}")
        return reply.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LspError("expected notification did not arrive")
            try:
                message = self.notifications.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(message):
                return message

    def initialize(self, root: Path) -> dict[str, Any]:
        markdown = ["markdown", "plaintext"]
        caps = {
            "textDocument": {
                "completion": {"completionItem": {"snippetSupport": True, "documentationFormat": markdown}},
                "hover": {"contentFormat": markdown},
                "synchronization": {"didSave": False},
            },
            "workspace": {"configuration": True, "didChangeConfiguration": {"dynamicRegistration": True}},
        }
        result = self.request("initialize", {"processId": None, "rootUri": root.as_uri(),
                                             "capabilities": caps, "initializationOptions": {}})
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": self.settings})
        return result

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml",
                                                             "version": 1, "text": text}})
        return uri

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.proc.wait(timeout=5)
        except (LspError, OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
