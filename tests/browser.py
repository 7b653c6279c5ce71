"""A small Chrome DevTools Protocol client: headless Chromium, driven over its websocket.

Use: ``with Browser.start() as b: page = b.new_page(); page.open(url); page.evaluate(js)``.
Every page records what a person's browser would notice: requests sent
(``Network.requestWillBeSent``), console messages (``Runtime.consoleAPICalled``,
``Log.entryAdded`` — where Content-Security-Policy violations land) and uncaught exceptions
(``Runtime.exceptionThrown``). ``Browser.start`` skips the test (a failure in CI, see
``tests/conftest.py``) when Chromium or websocket-client is missing.

Chromium runs with ``--remote-debugging-port=0`` (it picks a free loopback port and writes
it to ``DevToolsActivePort`` in its profile folder), a throw-away profile, and without
background networking, component updates or sync, so it talks to nothing but us.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.validators import SETUP_HINT, find_tool

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1"]


class CDPError(RuntimeError):
    pass


def chromium_path() -> str | None:
    return find_tool("chromium") or find_tool("chromium-browser")


@dataclass
class Page:
    browser: Browser
    session: str
    target: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    loaded: bool = False

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            self.requests.append({"url": params["request"]["url"], "type": params.get("type")})
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append({"source": "console", "level": params.get("type"), "text": text})
        elif method == "Log.entryAdded":
            e = params["entry"]
            self.console.append({"source": e.get("source"), "level": e.get("level"), "text": e.get("text"),
                                 "url": e.get("url")})
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            self.exceptions.append({"text": d.get("text"), "description": d.get("exception", {}).get("description")})
        elif method == "Page.loadEventFired":
            self.loaded = True

    def open(self, url: str, timeout: float = 60) -> None:
        """Navigate and wait for the load event (and for rendering to settle)."""
        self.loaded = False
        r = self.send("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise CDPError(f"navigation to {url} failed: {r['errorText']}")
        deadline = time.monotonic() + timeout
        while not self.loaded:
            if time.monotonic() > deadline:
                raise CDPError(f"{url} did not load within {timeout} s")
            self.browser.pump(0.2)
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))", await_promise=True)

    def evaluate(self, expression: str, *, await_promise: bool = False, timeout: float = 60) -> Any:
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": await_promise}, timeout=timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError(d.get("exception", {}).get("description") or d.get("text") or "evaluation failed")
        return r["result"].get("value")

    def screenshot(self, path: Path, width: int = 1100) -> Path:
        """A PNG of the whole page at ``width`` CSS pixels."""
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))", await_promise=True)
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions: what a report must never show."""
        out = [f"console {c['level']}: {c['text']}" for c in self.console if c["level"] in ("error", "warning", "assert")]
        out += [f"exception: {e['description'] or e['text']}" for e in self.exceptions]
        return out


class Browser:
    def __init__(self, proc: subprocess.Popen, profile: str, ws: Any) -> None:
        self.proc, self.profile, self.ws = proc, profile, ws
        self.next_id = 0
        self.pages: dict[str, Page] = {}
        self.replies: dict[int, dict[str, Any]] = {}

    @classmethod
    def start(cls, timeout: float = 30) -> Browser:
        exe = chromium_path()
        if exe is None:
            pytest.skip(f"validator tool 'chromium' (headless browser) is not installed: {SETUP_HINT}")
        try:
            import websocket  # websocket-client
        except ImportError:
            pytest.skip(f"websocket-client is not installed: {SETUP_HINT}")
        profile = tempfile.mkdtemp(prefix="mlspec-chromium-")
        proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.poll() is not None else ""
                proc.kill()
                shutil.rmtree(profile, ignore_errors=True)
                raise CDPError(f"chromium did not start its DevTools endpoint: {err}")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        # No Origin header: Chromium refuses websocket clients that send a foreign one.
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=timeout, suppress_origin=True,
                                         enable_multithread=False)
        return cls(proc, profile, ws)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # -------------------------------------------------------------- protocol

    def pump(self, timeout: float) -> None:
        """Read one message (or time out) and dispatch it."""
        import websocket

        self.ws.settimeout(timeout)
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return
        msg = json.loads(raw)
        if "id" in msg:
            self.replies[msg["id"]] = msg
        elif "sessionId" in msg and msg["sessionId"] in self.pages:
            self.pages[msg["sessionId"]].on_event(msg["method"], msg.get("params", {}))

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        self.next_id += 1
        mid = self.next_id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while mid not in self.replies:
            if time.monotonic() > deadline:
                raise CDPError(f"{method}: no answer within {timeout} s")
            self.pump(min(1.0, max(deadline - time.monotonic(), 0.01)))
        reply = self.replies.pop(mid)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def new_page(self, width: int = 1100, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        self.pages[session] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
        return page
