"""Start, await and stop real server processes on loopback (shared by every fixture in ``tests/servers``).

A server is a subprocess in its own process group (so helpers it forks die with it), bound to
127.0.0.1 on a free port, logging to a file. Readiness is awaited by polling its API, never by
sleeping a fixed time; a server that exits while we wait fails at once with its log. Picking a free
port and binding it are two steps, so another process may take the port in between: a server that
dies complaining about its address is restarted on a new port (up to three times).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

LOOPBACK = "127.0.0.1"
T = TypeVar("T")

# Loopback traffic must never go through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_ADDRESS_IN_USE = ("address already in use", "address in use", "errno 98")


class ServerError(RuntimeError):
    """A server did not start, or died (the message carries the end of its log)."""


class Reportable(Protocol):
    """Something whose recent output is shown when a test that used it fails (see ``plugin.py``)."""

    name: str

    def mark(self) -> int: ...

    def report_since(self, mark: int) -> str: ...


# Everything running now, in start order: failure reports and the exit-time safety net read it.
LIVE: list[Reportable] = []
# (server name, seconds to ready) of every start in this session, for the terminal summary.
STARTUPS: list[tuple[str, float]] = []


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None,
         timeout: float = 5) -> tuple[int, bytes]:
    """One HTTP request without proxies; returns (status, body) for every status, raises only on no answer."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_json(method: str, url: str, payload: Any = None, timeout: float = 5) -> Any:
    """HTTP with a JSON body/answer; raises ``ServerError`` unless the status is 2xx."""
    body = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    status, data = http(method, url, body, headers, timeout)
    if not 200 <= status < 300:
        raise ServerError(f"{method} {url} -> HTTP {status}: {data[:500].decode(errors='replace')}")
    return json.loads(data) if data else None


def http_ok(url: str, timeout: float = 2) -> bool:
    """True when GET url answers 200 (the readiness probe of most servers)."""
    return http("GET", url, timeout=timeout)[0] == 200


def wait_for(predicate: Callable[[], T], timeout: float = 10, what: str = "condition", *,
             interval: float = 0.05, max_interval: float = 0.5,
             check: Callable[[], None] | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    An exception from the predicate counts as "not yet" (a server that is still starting refuses
    connections); the last one is quoted if time runs out. ``check`` runs before each poll and may
    raise to stop early (e.g. the server process died). The interval grows from ``interval`` to
    ``max_interval`` so fast conditions are seen fast and slow ones do not spin.
    """
    deadline = time.monotonic() + timeout
    delay, last_error = interval, ""
    while True:
        if check is not None:
            check()
        try:
            value = predicate()
        except Exception as exc:  # noqa: BLE001 -- any failure of a poll means "not yet"
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if value:
                return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{what}: not within {timeout:g} s" + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, max_interval)


class ServerProcess:
    """One server subprocess: own process group, stdout+stderr to ``log_path``."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._started_at = 0.0

    # -- lifecycle
    def launch(self) -> None:
        """Start the process (no waiting): ``wait_ready`` awaits it."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            self._started_at = time.monotonic()
            # A new session = a new process group: stop() signals the server and every child it forked.
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.cwd, env=self.env, start_new_session=True)
        LIVE.append(self)

    def check_alive(self) -> None:
        if self.proc is None:
            raise ServerError(f"{self.name} was never started")
        if self.proc.poll() is not None:
            raise ServerError(f"{self.name} exited with code {self.proc.returncode} "
                              f"(log {self.log_path}):\n{self.log_tail()}")

    def wait_ready(self, probe: Callable[[], object], timeout: float) -> float:
        """Poll ``probe`` until truthy; returns the seconds since launch. Stops the server on failure."""
        try:
            wait_for(probe, timeout, f"{self.name} readiness", check=self.check_alive)
        except TimeoutError as exc:
            self.stop()
            raise ServerError(f"{exc} (log {self.log_path}):\n{self.log_tail()}") from None
        except ServerError:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - self._started_at
        STARTUPS.append((self.name, self.startup_seconds))
        return self.startup_seconds

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the process group, SIGKILL what is left after ``timeout``; idempotent."""
        if self in LIVE:
            LIVE.remove(self)
        proc = self.proc
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        # Children that ignored SIGTERM or outlived their parent still hold the group id.
        _signal_group(proc.pid, signal.SIGKILL)

    # -- log
    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def mark(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def report_since(self, mark: int, limit: int = 12_000) -> str:
        """What the server logged since ``mark`` (the end of it when long)."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(mark)
                data = f.read()
        except OSError:
            return ""
        text = data.decode(errors="replace")
        if len(text) > limit:
            text = f"[... {len(text) - limit} characters cut ...]\n" + text[-limit:]
        return f"{self.log_path}\n{text}" if text.strip() else ""


def address_in_use(exc: BaseException) -> bool:
    """Did a server die because its port was taken (see ``start_server``)?"""
    return any(s in str(exc).lower() for s in _ADDRESS_IN_USE)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start_server(name: str, argv_for: Callable[[int], Sequence[str]], probe_for: Callable[[int], Callable[[], object]],
                 log_path: Path, *, timeout: float = 30, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, attempts: int = 3) -> tuple[ServerProcess, int]:
    """Start a server on a free port and wait until ``probe_for(port)()`` is truthy.

    Retries on a new port when the server died because its port was taken meanwhile.
    """
    for attempt in range(1, attempts + 1):
        port = free_port()
        server = ServerProcess(name, argv_for(port), log_path, cwd=cwd, env=env)
        server.launch()
        try:
            server.wait_ready(probe_for(port), timeout)
        except ServerError as exc:
            if attempt < attempts and address_in_use(exc):
                continue
            raise
        return server, port
    raise AssertionError("unreachable")


def stop_all() -> None:
    """Stop whatever is still running (interpreter exit after Ctrl-C, a crashed session)."""
    for item in reversed(list(LIVE)):
        stop = getattr(item, "stop", None)
        if stop is not None:
            try:
                stop(timeout=3)
            except Exception:  # noqa: BLE001 -- best effort at exit
                pass


atexit.register(stop_all)
