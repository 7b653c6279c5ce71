"""`mlspec run` owns the processes it starts, runs once per folder and trusts no cache blindly.

Reproductions: SIGTERM to `mlspec run` used to exit 143 while the node's shell and its
children went on writing outputs; a `timeout:` killed the shell but not a `setsid` child;
two concurrent runs crashed; a cache file of the wrong shape was exit 3 (even with
`--force`); an entry with emptied outputs reported "cached" while the model was missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process trees are read from /proc")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def start(tmp: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "mlspec", "run", "--format", "json", *args], cwd=tmp, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(tmp: Path, *args: str) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "mlspec", "run", "--format", "json", *args], cwd=tmp, env=env(),
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.startswith("{") else {}, proc.stderr


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line holds ``marker``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != b"Z":
            found.append(int(name))
    return found


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def spec(tmp: Path, run_cmd: str, extra: str = "") -> str:
    marker = "mlspec-test-" + uuid.uuid4().hex[:12]
    cmd = run_cmd.replace("MARK", marker)
    (tmp / "mlproject.yaml").write_text(
        "mlspec: 1\nproject: {name: demo}\nsteps:\n  long:\n"
        f"    run: {json.dumps(cmd)}\n    outputs: [out.txt]\n{extra}")
    return marker


# A node that leaves three kinds of processes: a background job in its group, a child that
# escaped with setsid (its own session and group), and the foreground command.
TREE = ("(sleep 2; touch late.txt) & "
        "setsid sh -c 'sleep 2; touch escaped.txt' MARK & "
        "sh -c 'sleep 60; touch out.txt' MARK")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_a_signal_stops_the_whole_tree_and_records_nothing(tmp_path: Path, sig: int, code: int) -> None:
    marker = spec(tmp_path, TREE)
    proc = start(tmp_path)
    wait_for(lambda: len(processes_with(marker)) >= 2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    payload = json.loads(out)
    assert payload["interrupted"] is True
    assert {n["id"]: n["status"] for n in payload["nodes"]} == {"step.long": "interrupted"}
    assert [d["code"] for d in payload["diagnostics"]] == ["MS616"]
    assert processes_with(marker) == []
    time.sleep(3)                                   # longer than the children's sleeps
    assert not any((tmp_path / f).exists() for f in ("late.txt", "escaped.txt", "out.txt"))
    cache = tmp_path / ".mlspec/cache/nodes.json"
    assert not cache.exists() or "step.long" not in json.loads(cache.read_text())


def test_a_timeout_stops_a_setsid_child_too(tmp_path: Path) -> None:
    marker = spec(tmp_path, "setsid sh -c 'sleep 3; touch escaped.txt' MARK & sleep 60", "    timeout: 1s\n")
    code, payload, _ = run(tmp_path)
    assert code == 1 and payload["nodes"][0]["note"] == "timed out"
    assert processes_with(marker) == []
    time.sleep(3.5)
    assert not (tmp_path / "escaped.txt").exists()


def test_processes_a_finished_command_left_behind_are_stopped(tmp_path: Path) -> None:
    marker = spec(tmp_path, "setsid sh -c 'sleep 3; touch escaped.txt' MARK & (sleep 3; touch late.txt) & "
                            "echo done > out.txt")
    code, payload, _ = run(tmp_path)
    assert code == 0 and payload["nodes"][0]["status"] == "ok"
    assert processes_with(marker) == []
    log = (tmp_path / payload["nodes"][0]["log"]).read_text()
    import re
    stopped = re.search(r"mlspec: stopped (\d+) process\(es\) the command left running", log)
    assert stopped and int(stopped[1]) >= 2, log
    time.sleep(3.5)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "late.txt").exists()


def test_a_second_run_in_the_same_folder_is_refused_with_the_pid(tmp_path: Path) -> None:
    marker = spec(tmp_path, "sh -c 'sleep 60' MARK")
    first = start(tmp_path)
    try:
        wait_for(lambda: processes_with(marker) != [])
        for _ in range(4):
            code, payload, err = run(tmp_path)
            assert code == 1, err
            (d,) = payload["diagnostics"]
            assert d["code"] == "MS612"
            assert d["message"] == f"another mlspec run is running in this folder (pid {first.pid})"
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert processes_with(marker) == []
    spec(tmp_path, "echo ok > out.txt")
    assert run(tmp_path)[0] == 0                    # the lock died with the first run


@pytest.mark.parametrize("content", ["[1, 2]", '{"step.long": 5}', "{not json", '{"step.long": {"key": "x"}}'])
@pytest.mark.parametrize("force", [False, True])
def test_a_cache_of_the_wrong_shape_is_dropped_with_a_warning(tmp_path: Path, content: str, force: bool) -> None:
    spec(tmp_path, "echo ok > out.txt")
    cache = tmp_path / ".mlspec/cache/nodes.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(content)
    code, payload, _ = run(tmp_path, *(["--force"] if force else []))
    assert code == 0, payload
    assert [d["code"] for d in payload["diagnostics"]] == ["MS613"]
    assert payload["nodes"][0]["status"] == "ok"
    assert set(json.loads(cache.read_text())) == {"step.long"}      # rewritten in mlspec's shape


@pytest.mark.parametrize("tamper", ["empty outputs", "recorded as missing"])
def test_cached_only_when_every_declared_output_has_its_recorded_hash(tmp_path: Path, tamper: str) -> None:
    spec(tmp_path, "echo model > out.txt")
    assert run(tmp_path)[0] == 0
    cache = tmp_path / ".mlspec/cache/nodes.json"
    data = json.loads(cache.read_text())
    data["step.long"]["outputs"] = {} if tamper == "empty outputs" else {"out.txt": "missing"}
    cache.write_text(json.dumps(data))
    (tmp_path / "out.txt").unlink()
    code, payload, _ = run(tmp_path)
    assert code == 0 and payload["nodes"][0]["status"] == "ok"       # ran again, not "cached"
    assert (tmp_path / "out.txt").read_text() == "model\n"
    assert run(tmp_path)[1]["nodes"][0]["status"] == "cached"


def test_in_process_runs_stop_only_the_nodes_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A program calling the runner in-process (a test session with a server it started)
    keeps its own children: only the node's tree is stopped, and the subreaper setting
    is restored when the run ends. Found when a full test run lost its MLflow server."""
    import ctypes

    from click.testing import CliRunner

    from mlspec.cli import cli

    marker = spec(tmp_path, "setsid sh -c 'sleep 30' MARK & echo done > out.txt")
    server = subprocess.Popen(["sleep", "60"])
    try:
        monkeypatch.chdir(tmp_path)
        r = CliRunner().invoke(cli, ["run", "--format", "json"])
        assert r.exit_code == 0, r.output
        assert processes_with(marker) == []              # the node's leftover: stopped
        assert server.poll() is None                     # the host's own child: untouched
        flag = ctypes.c_int(-1)
        assert ctypes.CDLL(None).prctl(37, ctypes.byref(flag), 0, 0, 0) == 0 and flag.value == 0
    finally:
        server.kill()
        server.wait()
