"""`mlspec run`: execute the Plan on this machine, the way `dvc repro` runs a pipeline.

Nodes run in plan order as `bash -c` subprocesses in the spec's folder, with the spec's
env, timeouts and retries. A node is skipped when its cache key — a hash of its command,
env, the content of its inputs and the keys of the nodes it needs — matches its last
successful run and every output it declares is still there with the recorded hash, so a
changed param re-runs exactly the nodes downstream of it. Logs go to
`.mlspec/runs/<run id>/<node>.log`. An interrupted or failed node is never recorded as done.

Processes: mlspec owns what it starts. Each node's shell leads its own process group, and
on Linux mlspec makes itself a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``) while
the run lasts, so a descendant that escapes the group with ``setsid`` and loses its parent
is re-parented to mlspec instead of init and stays findable. When a node ends, times out or
mlspec receives SIGINT, SIGTERM or SIGHUP, mlspec stops the node's whole tree: the shell's
descendants and group, and the children mlspec gained since the node started (found by
walking ``/proc``, ``PPid`` links) — never a child it had before (a program calling
:func:`run_plan` in-process keeps its own servers) — SIGTERM first, SIGKILL after a grace
period, until none is left. Why not only a recorded list of descendants? A process that forks and
exits between two polls is never seen; with the subreaper the tree cannot lose a member.
One run per folder: ``.mlspec/run.lock`` (``flock``) makes a second run stop with MS612.

After a node succeeds its declared outputs are saved to the artifact store (``storage:``, else
``.mlspec/store``) under the run's record, exactly as the generated pipelines do with
``mlspec store save``. With ``isolated=True`` every node runs in its own fresh temporary folder
holding a copy of the project's source files and only the inputs restored from the store: the
nodes share nothing but the store, as on CI runners or Kubernetes pods (no run cache then).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlspec.compiler.plan import MONITOR_KINDS, Node, Plan

# Nodes that need infrastructure a laptop does not have; the generated CI/Airflow run them.
NOT_LOCAL = {"build": "image builds run in CI", "deploy": "deployment runs in CI"}
# The monitoring checks write their outcome here (see runtime.common.write_state).
OUTCOME_ENV = "MLSPEC_OUTCOME_FILE"
CACHE_FILE = Path(".mlspec") / "cache" / "nodes.json"
RUNS_DIR = Path(".mlspec") / "runs"
LOCK_FILE = Path(".mlspec") / "run.lock"
CACHE_MAX_BYTES = 16 * 1024 * 1024
KILL_GRACE_SECONDS = 5.0
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_SHA256 = re.compile(r"(?:dir:)?[0-9a-f]{64}")


@dataclass
class NodeResult:
    id: str
    status: str            # ok, cached, failed, alert, skipped, interrupted, approved
    seconds: float = 0.0
    attempts: int = 0
    exit_code: int | None = None
    note: str = ""
    log: str | None = None
    workdir: str | None = None   # where the node ran (isolated runs: its own temporary folder)
    started: float = 0.0   # seconds after the run started (for the run report's timeline)


@dataclass
class RunResult:
    run_id: str
    results: list[NodeResult] = field(default_factory=list)
    interrupted: bool = False
    signal: int | None = None                  # the signal that stopped the run
    warnings: list[str] = field(default_factory=list)
    started: float = 0.0   # epoch seconds
    log_dir: str | None = None   # .mlspec/runs/<run id>, relative to the spec's folder

    @property
    def failed(self) -> bool:
        return self.interrupted or any(r.status in ("failed", "interrupted") for r in self.results)


class Selection(ValueError):
    """A node name given on the command line that is not in the plan."""


class RunLocked(Exception):
    """Another `mlspec run` holds the folder's lock; ``pid`` is its process id when known."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.pid = pid


class Interrupted(BaseException):
    """A forwarded signal arrived while a node was running (like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def resolve_names(plan: Plan, names: Sequence[str]) -> list[str]:
    """Accept node ids (`step.prepare`), references (`steps.prepare`, `training`) or slugs."""
    nodes = list(plan.nodes) + list(plan.monitor_nodes)
    aliases: dict[str, str] = {}
    for n in nodes:
        aliases[n.id] = aliases[n.slug] = n.id
        if n.id.startswith("step."):
            aliases["steps." + n.id[5:]] = n.id
        if n.id.startswith("check."):
            aliases["data." + n.id[6:]] = n.id
    aliases.update({k: v for k, v in {"training": "train", "validation": "evaluate"}.items()
                    if v in aliases})
    out = []
    for name in names:
        if name not in aliases:
            from mlspec.suggest import did_you_mean
            hint = did_you_mean(name, aliases)
            raise Selection(f"unknown node {name!r}" + (f"; {hint}" if hint else ""))
        out.append(aliases[name])
    return out


def select(plan: Plan, until: str | None, only: Sequence[str], monitoring: bool) -> list[Node]:
    nodes = list(plan.nodes) + (list(plan.monitor_nodes) if monitoring else [])
    if only:
        wanted = set(resolve_names(plan, only))
        return [n for n in list(plan.nodes) + list(plan.monitor_nodes) if n.id in wanted]
    if until:
        (target,) = resolve_names(plan, [until])
        keep = {target}
        by_id = {n.id: n for n in list(plan.nodes) + list(plan.monitor_nodes)}
        stack = [target]
        while stack:
            for dep in by_id[stack.pop()].needs:
                if dep not in keep:
                    keep.add(dep)
                    stack.append(dep)
        return [n for n in list(plan.nodes) + list(plan.monitor_nodes) if n.id in keep]
    return nodes


# --------------------------------------------------------------------------- cache keys


def _file_digest(path: Path) -> str:
    """The content hash of a file, or of a folder's files; ``missing`` / ``unreadable: …`` else.

    Read through the bounded reader's regular-file check, so a FIFO among a node's inputs
    or outputs is reported instead of blocking the run.
    """
    from mlspec.bounded import ReadRefused, open_regular

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable: {exc.strerror or type(exc).__name__}"
    if os.path.isdir(path):
        h = hashlib.sha256()
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                child = Path(folder, name)
                h.update(child.relative_to(path).as_posix().encode() + b"\0")
                h.update(_file_digest(child).encode())
        return "dir:" + h.hexdigest()
    del st
    h = hashlib.sha256()
    try:
        with open_regular(path) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except ReadRefused as exc:
        return "missing" if exc.missing else f"unreadable: {exc.reason}"
    except OSError as exc:
        return f"unreadable: {exc.strerror or type(exc).__name__}"
    return h.hexdigest()


def node_key(plan: Plan, node: Node, base: Path, upstream_keys: dict[str, str]) -> str:
    data = []
    for name in node.data:
        src = plan.source_named(name)
        # A fetch node writes its source: the file's content is its result, not its input (else
        # the first run's key, taken before the file existed, never matches again).
        writes = node.kind == "fetch" and src.uri in node.outputs
        content = _file_digest(base / src.uri) if src.scheme is None and not writes else None
        data.append([name, src.uri, src.version, content])
    config: Any = None
    if node.runtime:
        # Runtime commands read the spec itself: key them on the parts they read.
        config = {"gate": [g.__dict__ for g in plan.gates], "register": plan.registry and plan.registry.__dict__,
                  "data_check": [s.__dict__ for s in plan.data if s.name in node.data],
                  "eval": _eval_config(plan, node)}.get(node.kind, plan.spec_sha256)
    # Only the parameters the node reads: a change to another key of params.yaml re-runs nothing here.
    params = {k: v for k, v in plan.params if any(k == p or k.startswith(p + ".") for p in node.params)}
    payload = {
        "command": node.command, "env": node.env, "secrets": node.secrets, "params": params,
        "inputs": {p: _file_digest(base / p) for p in node.inputs}, "data": data,
        "needs": {n: upstream_keys.get(n) for n in node.needs}, "config": config,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _eval_config(plan: Plan, node: Node) -> Any:
    """What an eval node's result depends on besides its files: the eval's settings, the judge,
    the budgets and the hashes of the prompts it uses (their files are inputs too), so an
    edit elsewhere in the spec, or to another eval's prompt, does not re-run it."""
    if node.kind != "eval" or plan.llm is None:
        return None
    from dataclasses import asdict

    try:
        ev = plan.llm.eval_named(node.id.removeprefix("eval."))
    except KeyError:
        return plan.spec_sha256
    return {"eval": asdict(ev), "judge": plan.llm.judge and asdict(plan.llm.judge),
            "prompt_sha256": {p.name: p.sha256 for p in plan.llm.prompts if p.name in ev.prompts},
            "budgets": [plan.llm.cost_per_1k_requests_usd, plan.llm.latency_p95_ms, plan.llm.max_tokens_per_request]}


def _load_cache(base: Path) -> tuple[dict[str, Any], str | None]:
    """The run cache and, when it had to be dropped, why (a warning: every node runs again).

    The file is mlspec's own, but anything may have written it: it is read through the
    bounded reader (no link, no FIFO, at most 16 MiB) and used only when it has exactly
    the shape mlspec writes.
    """
    from mlspec.bounded import ReadRefused, read_text

    try:
        data = json.loads(read_text(base / CACHE_FILE, CACHE_MAX_BYTES, follow_symlinks=False))
    except ReadRefused as exc:
        return {}, None if exc.missing else f"it {exc.reason}"
    except (ValueError, RecursionError):
        return {}, "it is not JSON"
    if not isinstance(data, dict) or not all(_cache_entry_ok(k, v) for k, v in data.items()):
        return {}, "it does not have the shape mlspec writes"
    return data, None


def _cache_entry_ok(node_id: Any, entry: Any) -> bool:
    return (isinstance(node_id, str) and isinstance(entry, dict)
            and isinstance(entry.get("key"), str) and bool(_SHA256.fullmatch(entry["key"]))
            and isinstance(entry.get("run", ""), str)
            and isinstance(entry.get("outputs"), dict)
            and all(isinstance(p, str) and isinstance(d, str) for p, d in entry["outputs"].items()))


def _save_cache(base: Path, cache: dict[str, Any]) -> None:
    from mlspec.runtime.common import write_atomic

    write_atomic(base / CACHE_FILE, json.dumps(cache, indent=2, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- one run per folder


@contextlib.contextmanager
def run_lock(base: Path) -> Iterator[None]:
    """Hold ``.mlspec/run.lock`` (``flock``, never through a link); :class:`RunLocked` if taken.

    The file holds the holder's pid, so the refusal can name it. The lock dies with the
    process: a killed run never leaves a stale lock behind.
    """
    path = base / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    try:
        if not os.path.samestat(os.fstat(fd), os.lstat(path)) or not os.path.isfile(path):
            raise OSError(errno.EINVAL, "the run lock is not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(_lock_pid(fd)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _lock_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and len(text) < 11 else None


# --------------------------------------------------------------------------- execution


def _child_env(node: Node, run_id: str, outcome_file: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(dict(node.env))
    # The runtime commands are `mlspec …`: make this interpreter's mlspec the one found first.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["MLSPEC_RUN_ID"] = run_id
    env["MLSPEC_NODE"] = node.id
    if outcome_file is not None:
        env[OUTCOME_ENV] = str(outcome_file)
    return env


def _run_process(command: str, cwd: Path, env: dict[str, str], log: Path, timeout: int | None,
                 signals: _Signals) -> int:
    proc: subprocess.Popen[bytes] | None = None
    before = _children()                 # this process's children that are not the node's
    with log.open("ab") as out:
        try:
            with signals.deferred():     # never a started process that nobody will stop
                proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            assert proc is not None
            with signals.deferred():
                stop_tree(proc, before)
                out.write(f"\nmlspec: timed out after {timeout}s; stopped the command and its processes\n".encode())
            return 124
        except BaseException:
            if proc is not None:
                with signals.deferred(reraise=False):
                    stop_tree(proc, before)
                out.write(b"\nmlspec: interrupted; stopped the command and its processes\n")
            raise
        # The shell is gone; whatever it left running (`cmd &`, `setsid cmd`) would go on
        # writing after the node is recorded. A node is over when its command is.
        with signals.deferred():
            left = stop_tree(proc, before)
            if left:
                out.write(f"\nmlspec: stopped {left} process(es) the command left running\n".encode())
        return code


class _Signals:
    """Forward SIGINT, SIGTERM and SIGHUP into the run as :class:`Interrupted`, raised where
    the run is (a node's tree is then stopped), except inside :meth:`deferred` sections,
    which finish first. Handlers are restored on exit."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._deferred = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in FORWARDED_SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signum
        if not self._deferred:
            raise Interrupted(signum)

    @contextlib.contextmanager
    def deferred(self, *, reraise: bool = True) -> Iterator[None]:
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
        if reraise and not self._deferred and self.received is not None:
            raise Interrupted(self.received)

    def check(self) -> None:
        if self.received is not None:
            raise Interrupted(self.received)


# --------------------------------------------------------------------------- process trees


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    """While inside, orphaned descendants re-parent to this process instead of init (Linux
    ``PR_SET_CHILD_SUBREAPER``); the previous setting is restored on exit, so a program that
    calls :func:`run_plan` in-process is a subreaper only while the run lasts."""
    libc = None
    previous = None
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            flag = ctypes.c_int(0)
            if libc.prctl(37, ctypes.byref(flag), 0, 0, 0) == 0:     # PR_GET_CHILD_SUBREAPER
                previous = flag.value
                libc.prctl(36, 1, 0, 0, 0)                           # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            libc = None
    try:
        yield
    finally:
        if libc is not None and previous is not None:
            libc.prctl(36, previous, 0, 0, 0)


def _children(table: dict[int, tuple[int, int, bytes]] | None = None) -> set[int]:
    """This process's direct children."""
    me = os.getpid()
    table = _proc_table() if table is None else table
    return {pid for pid, (ppid, _, _) in table.items() if ppid == me}


def _proc_table() -> dict[int, tuple[int, int, bytes]]:
    """``pid -> (ppid, pgid, state)`` for every process in ``/proc``; empty off Linux."""
    table: dict[int, tuple[int, int, bytes]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read(4096)
        except OSError:
            continue
        # "pid (comm) state ppid pgrp …": comm may hold spaces and ')'; split after the last ')'.
        fields = raw[raw.rfind(b")") + 2:].split()
        if len(fields) > 2:
            table[int(name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def descendants(root: int, table: dict[int, tuple[int, int, bytes]] | None = None) -> set[int]:
    """Every process below ``root`` (zombies included), by ``PPid`` links."""
    table = _proc_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _node_processes(proc: subprocess.Popen[bytes], before: set[int]) -> tuple[set[int], set[int]]:
    """``(live, zombies)`` of the node: the shell, its descendants and its process group,
    plus children this process gained since the node started (orphans of the node's tree,
    re-parented here by the subreaper) and their descendants. Children that existed before
    the node (``before``: a server a test started, say) are never the node's. Zombies are
    the ones this process must reap."""
    me = os.getpid()
    table = _proc_table()
    adopted = _children(table) - before - {proc.pid}
    tree = {proc.pid} | descendants(proc.pid, table) | {p for p, (_, pgid, _) in table.items() if pgid == proc.pid}
    for child in adopted:
        tree |= {child} | descendants(child, table)
    tree.discard(me)
    tree &= table.keys()                 # gone already
    live = {p for p in tree if table[p][2] != b"Z"}
    zombies = {p for p in tree - live if table[p][0] == me and p != proc.pid}
    return live, zombies


def _reap(zombies: set[int]) -> None:
    """Collect exit statuses of orphans re-parented to us (the subreaper's duty), and only
    theirs: ``waitpid(-1)`` could steal the status that ``Popen.wait`` is owed."""
    for pid in zombies:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def _signal(pgid: int, pids: set[int], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_tree(proc: subprocess.Popen[bytes], before: set[int], grace: float = KILL_GRACE_SECONDS) -> int:
    """Stop the node's shell, its process group and every descendant, and reap them.

    SIGTERM first; after ``grace`` seconds SIGKILL for whatever is left (it ignored SIGTERM
    or was forked meanwhile), repeated until nothing is. Returns how many processes other
    than the shell were still running when called.
    """
    live, zombies = _node_processes(proc, before)
    _reap(zombies)
    left = len(live - {proc.pid})
    if not live and proc.poll() is not None:
        return 0
    _signal(proc.pid, live, signal.SIGTERM)
    started = time.monotonic()
    # A process stuck in the kernel (state D) ignores even SIGKILL for a while: give up
    # waiting after a bounded time rather than hang the run.
    while time.monotonic() - started < grace + 10:
        proc.poll()                      # reaps the shell once it exits
        live, zombies = _node_processes(proc, before)
        _reap(zombies)
        if proc.returncode is not None:
            live.discard(proc.pid)
        if not live:
            break
        if time.monotonic() - started >= grace:
            _signal(proc.pid, live, signal.SIGKILL)
        time.sleep(0.02)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    return left


def new_run_id(started: float) -> str:
    """A local run id: sortable by time and unique across concurrent runs."""
    return time.strftime("%Y%m%dT%H%M%S", time.localtime(started)) + f"-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_plan(plan: Plan, base: Path, *, nodes: Sequence[Node], force: bool = False,
             progress: Callable[[str, NodeResult | None], None] = lambda *_: None,
             store: Any = None, isolated: bool = False, run_id: str | None = None) -> RunResult:
    """Run ``nodes`` (a plan-ordered selection) in ``base``, the spec's folder; save each
    successful node's outputs to ``store`` (a :class:`mlspec.runtime.store.Store`).

    Raises :class:`RunLocked` when another run holds the folder. SIGINT, SIGTERM and SIGHUP
    stop the running node's process tree; the result is then ``interrupted`` with the signal.
    """
    if isolated and store is None:
        raise ValueError("an isolated run needs a store")
    with run_lock(base), subreaper(), _Signals() as signals:
            return _run_locked(plan, base, nodes, force, progress, signals, store, isolated, run_id)


def _run_locked(plan: Plan, base: Path, nodes: Sequence[Node], force: bool,
                progress: Callable[[str, NodeResult | None], None], signals: _Signals, store: Any,
                isolated: bool, run_id: str | None) -> RunResult:
    started = time.time()
    run_id = run_id or new_run_id(started)
    log_dir = base / RUNS_DIR / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    force = force or isolated   # a fresh folder has no outputs to keep
    result = RunResult(run_id, started=started, log_dir=(RUNS_DIR / run_id).as_posix())
    saved, problem = _load_cache(base)
    if problem:
        result.warnings.append(f"the run cache {CACHE_FILE.as_posix()} is unusable ({problem}); "
                               "treated as empty, every node runs")
    cache = {} if force else saved
    t0 = time.monotonic()
    keys: dict[str, str] = {}
    blocked: set[str] = set()
    current: Node | None = None
    unreachable: set[str] = set()   # a gateway that refused once is not retried (one note, no waits)
    try:
        for node in nodes:
            signals.check()
            offset = round(time.monotonic() - t0, 3)
            if any(dep in blocked for dep in node.needs):
                blocked.add(node.id)
                result.results.append(NodeResult(node.id, "skipped", note="an upstream node failed", started=offset))
                progress("done", result.results[-1])
                continue
            if node.kind in NOT_LOCAL:
                result.results.append(NodeResult(node.id, "skipped", note=NOT_LOCAL[node.kind], started=offset))
                progress("done", result.results[-1])
                continue
            if node.command is None:  # approval: whoever runs `mlspec run` is the approver here
                approver = os.environ.get("MLSPEC_APPROVER")
                # When, for the audit record `mlspec register` writes (it reads the nodes' environment).
                os.environ["MLSPEC_APPROVED_AT"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                result.results.append(NodeResult(node.id, "approved", note="local run: approved by "
                                                 + (approver or "the operator"), started=offset))
                progress("done", result.results[-1])
                continue
            key = node_key(plan, node, base, {**{k: v["key"] for k, v in saved.items()}, **keys})
            keys[node.id] = key
            entry = cache.get(node.id)
            monitor = node.kind in MONITOR_KINDS
            # A node reading the production model runs every time: the registry can change under it.
            if (not monitor and not node.fetch_production and entry and entry["key"] == key
                    and _outputs_intact(base, node, entry)):
                cached = NodeResult(node.id, "cached", note="unchanged since " + entry.get("run", "?"),
                                    started=offset)
                _save_outputs(store, node, base, run_id, cached)   # this run's record, for later restores
                result.results.append(cached)
                progress("done", cached)
                if cached.status == "failed":
                    blocked.add(node.id)
                continue
            current = node
            # Forget the node before it runs: if mlspec dies mid-node, nothing says it is done.
            if saved.pop(node.id, None) is not None:
                _save_cache(base, saved)
            progress("start", NodeResult(node.id, "running"))
            offset = round(time.monotonic() - t0, 3)
            fetch = plan.fetch_production_command if node.fetch_production else None
            if isolated:
                outcome = _execute_isolated(plan, node, base, log_dir, run_id, store, signals, fetch)
            else:
                outcome = _execute(node, base, log_dir, run_id, signals, fetch)
                if outcome.status == "ok":
                    _save_outputs(store, node, base, run_id, outcome)
            current = None
            outcome.started = offset
            problem = _push_outcome(plan, base, node.id, outcome.status != "failed", unreachable)
            if problem:
                outcome.note = (outcome.note + "; " if outcome.note else "") + problem
            result.results.append(outcome)
            progress("done", outcome)
            if outcome.status == "ok" and not monitor and not isolated:
                saved[node.id] = {"key": key, "run": run_id,
                                  "outputs": {p: _file_digest(base / p) for p in node.outputs}}
                _save_cache(base, saved)
            elif outcome.status == "failed":
                blocked.add(node.id)
    except (KeyboardInterrupt, Interrupted) as exc:
        result.interrupted = True
        result.signal = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        if current is not None:
            name = signal.Signals(result.signal).name
            result.results.append(NodeResult(current.id, "interrupted", note=f"stopped by {name}",
                                             started=round(time.monotonic() - t0, 3)))
    with signals.deferred(reraise=False):      # a second signal still gets an honest record
        _report_runs(plan, base, nodes, result, unreachable)
        (log_dir / "run.json").write_text(json.dumps(
            {"run_id": run_id, "interrupted": result.interrupted, "signal": result.signal,
             "started": round(started, 3), "nodes": [r.__dict__ for r in result.results]}, indent=2) + "\n",
            encoding="utf-8")
    if signals.received is not None and not result.interrupted:
        result.interrupted, result.signal = True, signals.received
    return result


def _save_outputs(store: Any, node: Node, base: Path, run_id: str, outcome: NodeResult) -> None:
    """Save the node's outputs to the store; a node whose outputs cannot be saved failed."""
    if store is None:
        return
    from mlspec.runtime.store import StoreError, save_node

    try:
        save_node(store, node, base, run_id)
    except StoreError as exc:
        outcome.status = "failed"
        outcome.note = (outcome.note + "; " if outcome.note else "") + f"outputs not saved: {exc.message}"[:300]


def source_files(base: Path, plan: Plan) -> list[str]:
    """The project's source files below ``base`` (POSIX, relative): what git tracks or would
    track there, else every file; never ``.mlspec/``, ``.git/`` or a pipeline output."""
    outputs = [o for n in plan.nodes + plan.monitor_nodes for o in n.outputs]
    names: list[str] | None = None
    try:
        proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
                              cwd=base, capture_output=True, timeout=60, check=False)
        if proc.returncode == 0:
            names = [n for n in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = None
    if names is None:
        names = [p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()]

    def keep(name: str) -> bool:
        head = name.split("/", 1)[0]
        if head in (".mlspec", ".git"):
            return False
        return not any(name == o or name.startswith(o.rstrip("/") + "/") for o in outputs)

    return sorted(n for n in names if keep(n) and (base / n).is_file())


def _execute_isolated(plan: Plan, node: Node, base: Path, log_dir: Path, run_id: str, store: Any,
                      signals: _Signals, fetch: str | None = None) -> NodeResult:
    """Run ``node`` in a fresh folder: sources copied, inputs restored from the store, outputs saved."""
    from mlspec.runtime.store import StoreError, restore_node, save_node

    work = Path(tempfile.mkdtemp(prefix=f"mlspec-{node.slug}-"))
    try:
        for name in source_files(base, plan):
            dest = work / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base / name, dest)
        try:
            restore_node(store, plan, node, work, run_id)
        except StoreError as exc:
            return NodeResult(node.id, "failed", note=f"inputs not restored: {exc.message}"[:300], workdir=str(work))
        outcome = _execute(node, work, log_dir, run_id, signals, fetch)
        outcome.workdir = str(work)
        outcome.log = os.path.relpath(log_dir / f"{node.slug}.log", base)
        if outcome.status == "ok":
            try:
                save_node(store, node, work, run_id)
            except StoreError as exc:
                outcome.status = "failed"
                outcome.note = f"outputs not saved: {exc.message}"[:300]
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _push_outcome(plan: Plan, base: Path, node: str, success: bool, unreachable: set[str]) -> str | None:
    """Report a node's (or the whole run's) result the way `mlspec report-run` does (Pushgateway
    and/or node_exporter textfile), so the pipeline-failure and staleness alerts see local runs
    too. A reporting failure never fails the run; it is returned as a note."""
    from mlspec import metrics as M
    from mlspec.runtime.monitor_cli import run_samples
    from mlspec.runtime.common import gateway_url
    from mlspec.runtime.prometheus import PushError, push, sample, textfile_value, write_textfile

    project = plan.project.name
    samples = run_samples(project, node, success, time.time())
    notes = []
    if plan.monitoring is not None and plan.monitoring.textfile_dir:
        # The same file report-run writes; rewritten whole, so a failure carries the last success over.
        folder = Path(plan.monitoring.textfile_dir.removeprefix("file://"))
        path = base / folder / f"{project}_run_{node.replace('.', '_')}.prom"
        kept = None if success else textfile_value(path, sample(M.RUN_LAST_SUCCESS, 0, project=project, node=node))
        try:
            write_textfile(path, samples if kept is None else
                           [*samples, sample(M.RUN_LAST_SUCCESS, kept, project=project, node=node)])
        except (OSError, ValueError) as exc:
            notes.append(f"metrics text file not written: {getattr(exc, 'strerror', None) or exc}")
    gateway = gateway_url(plan)
    if gateway and gateway not in unreachable:
        grouping = [("job", M.JOB_LABEL), ("project", project), ("node", node)]
        try:
            # POST, as report-run: a failure keeps the group's last success time.
            push(gateway, samples, grouping, method="POST", timeout=5.0)
        except PushError as exc:
            unreachable.add(gateway)
            notes.append(f"metrics not pushed (not retried in this run): {exc}")
    return "; ".join(notes)[:240] or None


def _report_runs(plan: Plan, base: Path, nodes: Sequence[Node], result: RunResult, unreachable: set[str]) -> None:
    """One result per graph that ran: ``pipeline`` and ``monitoring`` (what a DAG run reports)."""
    ran = {r.id: r for r in result.results if r.status in ("ok", "failed", "alert", "interrupted", "cached")}
    monitor_ids = {n.id for n in plan.monitor_nodes}
    for whole, members in (("pipeline", [n for n in nodes if n.id not in monitor_ids]),
                           ("monitoring", [n for n in nodes if n.id in monitor_ids])):
        done = [ran[n.id] for n in members if n.id in ran]
        if done:
            _push_outcome(plan, base, whole, not result.interrupted
                          and all(r.status not in ("failed", "interrupted") for r in done), unreachable)


def _outputs_intact(base: Path, node: Node, entry: dict[str, Any]) -> bool:
    """Every output the node declares is on disk with the content recorded when it ran.

    Checked against the node's declared outputs, not the entry's list: an entry whose list
    was emptied (or a file recorded as missing) must not make a deleted model look cached.
    """
    recorded = entry["outputs"]
    for path in node.outputs:
        digest = recorded.get(path)
        if digest is None or not _SHA256.fullmatch(digest) or _file_digest(base / path) != digest:
            return False
    return True


def _recorded_outcome(path: Path) -> str | None:
    """What a monitoring node's check recorded; the node's command wrote the file, so it is
    read like any user file (bounded, regular, never through a link)."""
    from mlspec.bounded import ReadRefused, read_text

    try:
        status = json.loads(read_text(path, 1 << 20, follow_symlinks=False)).get("status")
    except (ReadRefused, ValueError, AttributeError, RecursionError):
        return None
    return status if isinstance(status, str) else None


def _execute(node: Node, base: Path, log_dir: Path, run_id: str, signals: _Signals,
             fetch: str | None = None) -> NodeResult:
    assert node.command is not None
    log = log_dir / f"{node.slug}.log"
    outcome_file = log_dir / f"{node.slug}.outcome.json" if node.kind in MONITOR_KINDS else None
    env = _child_env(node, run_id, outcome_file)
    started = time.monotonic()
    if fetch:   # ${registry.production.model}: the deployed model, fetched before the command
        with log.open("ab") as out:
            out.write(f"$ {fetch}\n".encode())
        code = _run_process(fetch, base, env, log, node.timeout_seconds, signals)
        if code != 0:
            return NodeResult(node.id, "failed", time.monotonic() - started, 1, code,
                              note="fetching the production model failed", log=os.path.relpath(log, base))
    attempts = 0
    code = 0
    recorded: str | None = None
    for attempt in range(node.retries + 1):
        attempts = attempt + 1
        with log.open("ab") as out:
            out.write(f"$ {node.command}\n# attempt {attempts} of {node.retries + 1}\n".encode())
        if outcome_file is not None:
            outcome_file.unlink(missing_ok=True)
        code = _run_process(node.command, base, env, log, node.timeout_seconds, signals)
        recorded = _recorded_outcome(outcome_file) if outcome_file is not None else None
        if code == 0:
            break
        if code == 1 and recorded == "finding":
            break  # a finding, not a crash: retrying will not change it
    seconds = time.monotonic() - started
    rel_log = os.path.relpath(log, base)
    if code == 0:
        return NodeResult(node.id, "ok", seconds, attempts, code, log=rel_log)
    if code == 1 and recorded == "finding":
        return NodeResult(node.id, "alert", seconds, attempts, code, note="finding reported", log=rel_log)
    note = "timed out" if code == 124 else f"exit code {code}"
    if node.kind in MONITOR_KINDS and code != 124:
        note += ", no finding recorded" if recorded is None else f", check recorded '{recorded}'"
    return NodeResult(node.id, "failed", seconds, attempts, code, note=note, log=rel_log)
