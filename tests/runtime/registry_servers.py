"""Real servers for the registry tests, on loopback: the shared S3 API (``tests/servers/s3.py``)
with the bucket these suites use, and an MLflow tracking server with artifact serving (sqlite
backend), started once per session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.s3 import S3Server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {seconds}s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(3)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class S3:
    endpoint: str
    bucket: str


@pytest.fixture(scope="session")
def registry_bucket(s3_server: S3Server) -> S3:
    """The shared S3 server (tests/servers/s3.py) with the ``models`` bucket these suites address."""
    return S3(s3_server.endpoint_url, s3_server.make_bucket("models"))


@pytest.fixture
def s3(registry_bucket: S3, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3:
    """The S3 server, with this process's (and its children's) AWS environment pointed at it."""
    for k, v in {**s3_server.env, "AWS_ENDPOINT_URL_S3": s3_server.endpoint_url}.items():
        monkeypatch.setenv(k, v)
    return registry_bucket


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("mlflow.server", reason="needs mlflow (the test extra)")
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    log = root / "server.log"
    exe = Path(sys.executable).with_name("mlflow")
    cmd = [str(exe) if exe.exists() else "mlflow", "server", "--backend-store-uri", f"sqlite:///{root}/db.sqlite",
           "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=root)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(f"{url}/health", proc, log, 180)
        yield url
    finally:
        _stop(proc)
