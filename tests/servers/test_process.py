"""The machinery under every server fixture: process groups, start failures, port clashes, failure reports."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.servers import _process
from tests.servers._process import LOOPBACK, ServerError, ServerProcess, http_ok, start_server, wait_for


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_stop_ends_the_server_and_everything_it_forked(tmp_path: Path) -> None:
    script = "sleep 300 & echo $! > child.pid; trap '' TERM; wait"  # the parent even ignores SIGTERM
    server = ServerProcess("forker", ["sh", "-c", script], tmp_path / "forker.log", cwd=tmp_path)
    server.launch()
    child = int(wait_for(lambda: (tmp_path / "child.pid").read_text().strip(), 10, "child pid"))
    assert server.proc is not None and _alive(server.proc.pid) and _alive(child)
    started = time.monotonic()
    server.stop(timeout=1)
    assert not server.running
    assert wait_for(lambda: not _alive(child), 5, "child gone")
    assert time.monotonic() - started < 5
    assert server not in _process.LIVE
    server.stop()  # idempotent


def test_a_server_that_dies_at_start_fails_at_once_with_its_log(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('error: bad config line 3', flush=True); raise SystemExit(3)"]
    started = time.monotonic()
    with pytest.raises(ServerError, match=r"(?s)exited with code 3.*bad config line 3"):
        start_server("broken", lambda port: argv, lambda port: lambda: False, tmp_path / "broken.log", timeout=60)
    assert time.monotonic() - started < 20  # did not wait for the timeout


def test_a_server_that_never_gets_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; print('stuck', flush=True); time.sleep(300)"]
    with pytest.raises(ServerError, match=r"(?s)readiness: not within 1 s.*stuck"):
        start_server("stuck", lambda port: argv, lambda port: lambda: False, tmp_path / "stuck.log", timeout=1)
    assert not [s for s in _process.LIVE if getattr(s, "name", "") == "stuck"]


def test_a_port_taken_meanwhile_is_retried_on_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        ports = iter([taken.getsockname()[1], _process.free_port()])
        monkeypatch.setattr(_process, "free_port", lambda: next(ports))
        server, port = start_server(
            "http", lambda p: [sys.executable, "-m", "http.server", "--bind", LOOPBACK, str(p)],
            lambda p: lambda: http_ok(f"http://{LOOPBACK}:{p}/"), tmp_path / "http.log", timeout=60)
        try:
            assert port != taken.getsockname()[1]
            assert "Address already in use" in server.log_path.read_text()  # the first attempt's complaint
        finally:
            server.stop()


def test_a_failing_test_shows_what_its_servers_logged(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.servers.plugin"]')
    pytester.makepyfile(textwrap.dedent(f"""
        import sys
        import pytest
        from tests.servers._process import ServerProcess, wait_for

        @pytest.fixture(scope="module")
        def echo(tmp_path_factory):
            log = tmp_path_factory.mktemp("echo") / "echo.log"
            code = "import sys, time\\nfor line in sys.stdin: pass\\n"
            server = ServerProcess("echo-server", [{sys.executable!r}, "-c", code], log)
            server.launch()
            yield server
            server.stop()

        def test_passes(echo):
            echo.log_path.open("a").write("said during the passing test\\n")

        def test_fails(echo):
            echo.log_path.open("a").write("said during the failing test\\n")
            assert False
    """))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "echo-server output during this test" in out
    assert "said during the failing test" in out
    assert "said during the passing test" not in out  # only this test's part of a shared server's log
