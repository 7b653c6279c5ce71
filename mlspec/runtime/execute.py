"""`mlspec run`: execute the Plan on this machine, the way `dvc repro` runs a pipeline.

Nodes run in plan order as `bash -c` subprocesses in the spec's folder, with the spec's
env, timeouts and retries. A node is skipped when its cache key — a hash of its command,
env, the content of its inputs and the keys of the nodes it needs — matches its last
successful run and its outputs are still there unchanged, so a changed param re-runs
exactly the nodes downstream of it. Logs go to `.mlspec/runs/<run id>/<node>.log`.
An interrupted or failed node is never recorded as done.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlspec.compiler.plan import Node, Plan

# Nodes that need infrastructure a laptop does not have; the generated CI/Airflow run them.
NOT_LOCAL = {"build": "image builds run in CI", "deploy": "deployment runs in CI"}
MONITOR_KINDS = {"monitor_schema", "monitor_freshness", "monitor_drift", "monitor_performance", "retrain"}
CACHE_FILE = Path(".mlspec") / "cache" / "nodes.json"
RUNS_DIR = Path(".mlspec") / "runs"


@dataclass
class NodeResult:
    id: str
    status: str            # ok, cached, failed, alert, skipped, interrupted, approved
    seconds: float = 0.0
    attempts: int = 0
    exit_code: int | None = None
    note: str = ""
    log: str | None = None
    started: float = 0.0   # seconds after the run started (for the run report's timeline)


@dataclass
class RunResult:
    run_id: str
    results: list[NodeResult] = field(default_factory=list)
    interrupted: bool = False
    started: float = 0.0   # epoch seconds
    log_dir: str | None = None   # .mlspec/runs/<run id>, relative to the spec's folder

    @property
    def failed(self) -> bool:
        return self.interrupted or any(r.status in ("failed", "interrupted") for r in self.results)


class Selection(ValueError):
    """A node name given on the command line that is not in the plan."""


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
    if path.is_dir():
        h = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(child.relative_to(path).as_posix().encode() + b"\0")
            h.update(_file_digest(child).encode())
        return "dir:" + h.hexdigest()
    if not path.exists():
        return "missing"
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def node_key(plan: Plan, node: Node, base: Path, upstream_keys: dict[str, str]) -> str:
    data = []
    for name in node.data:
        src = plan.source_named(name)
        content = _file_digest(base / src.uri) if src.scheme is None else None
        data.append([name, src.uri, src.version, content])
    config: Any = None
    if node.runtime:
        # Runtime commands read the spec itself: key them on the parts they read.
        config = {"gate": [g.__dict__ for g in plan.gates], "register": plan.registry and plan.registry.__dict__,
                  "data_check": [s.__dict__ for s in plan.data if s.name in node.data]}.get(node.kind, plan.spec_sha256)
    # Only the parameters the node reads: a change to another key of params.yaml re-runs nothing here.
    params = {k: v for k, v in plan.params if any(k == p or k.startswith(p + ".") for p in node.params)}
    payload = {
        "command": node.command, "env": node.env, "secrets": node.secrets, "params": params,
        "inputs": {p: _file_digest(base / p) for p in node.inputs}, "data": data,
        "needs": {n: upstream_keys.get(n) for n in node.needs}, "config": config,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _load_cache(base: Path) -> dict[str, Any]:
    try:
        return json.loads((base / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_cache(base: Path, cache: dict[str, Any]) -> None:
    path = base / CACHE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- execution


def _child_env(node: Node, run_id: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(dict(node.env))
    # The runtime commands are `mlspec …`: make this interpreter's mlspec the one found first.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["MLSPEC_RUN_ID"] = run_id
    env["MLSPEC_NODE"] = node.id
    return env


def _run_process(command: str, cwd: Path, env: dict[str, str], log: Path, timeout: int | None) -> int:
    with log.open("ab") as out:
        proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            out.write(f"\nmlspec: timed out after {timeout}s\n".encode())
            return 124
        except BaseException:
            _kill(proc)
            raise


def _kill(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def run_plan(plan: Plan, base: Path, *, nodes: Sequence[Node], force: bool = False,
             progress: Callable[[str, NodeResult | None], None] = lambda *_: None) -> RunResult:
    """Run ``nodes`` (a plan-ordered selection) in ``base``, the spec's folder."""
    started = time.time()
    run_id = time.strftime("%Y%m%dT%H%M%S", time.localtime(started)) + f"-{os.getpid()}"
    log_dir = base / RUNS_DIR / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    cache = {} if force else _load_cache(base)
    saved = _load_cache(base)
    result = RunResult(run_id, started=started, log_dir=(RUNS_DIR / run_id).as_posix())
    t0 = time.monotonic()
    keys: dict[str, str] = {}
    blocked: set[str] = set()
    try:
        for node in nodes:
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
                result.results.append(NodeResult(node.id, "approved", note="local run: approved by the operator",
                                                 started=offset))
                progress("done", result.results[-1])
                continue
            key = node_key(plan, node, base, {**{k: v.get("key") for k, v in saved.items()}, **keys})
            keys[node.id] = key
            entry = cache.get(node.id)
            monitor = node.kind in MONITOR_KINDS
            if not monitor and entry and entry.get("key") == key and _outputs_intact(base, entry):
                result.results.append(NodeResult(node.id, "cached", note="unchanged since " + entry.get("run", "?"),
                                                 started=offset))
                progress("done", result.results[-1])
                continue
            progress("start", NodeResult(node.id, "running"))
            offset = round(time.monotonic() - t0, 3)
            outcome = _execute(node, base, log_dir, run_id)
            outcome.started = offset
            _push_outcome(plan, node, outcome)
            result.results.append(outcome)
            progress("done", outcome)
            if outcome.status == "ok" and not monitor:
                saved[node.id] = {"key": key, "run": run_id,
                                  "outputs": {p: _file_digest(base / p) for p in node.outputs}}
                _save_cache(base, saved)
            elif outcome.status == "failed":
                blocked.add(node.id)
                saved.pop(node.id, None)
                _save_cache(base, saved)
    except KeyboardInterrupt:
        result.interrupted = True
        running = next((n for n in nodes if n.id not in {r.id for r in result.results}), None)
        if running is not None:
            saved.pop(running.id, None)
            _save_cache(base, saved)
            result.results.append(NodeResult(running.id, "interrupted", note="stopped by Ctrl-C",
                                             started=round(time.monotonic() - t0, 3)))
    (log_dir / "run.json").write_text(json.dumps(
        {"run_id": run_id, "interrupted": result.interrupted, "started": round(started, 3),
         "nodes": [r.__dict__ for r in result.results]}, indent=2) + "\n", encoding="utf-8")
    return result


def _push_outcome(plan: Plan, node: Node, outcome: NodeResult) -> None:
    """Report the node's result to the Pushgateway (when monitoring names one), so the
    pipeline-failure alert sees local runs too. A push failure never fails the run."""
    gateway = plan.monitoring.pushgateway if plan.monitoring else None
    if not gateway or outcome.status not in ("ok", "failed", "alert"):
        return
    from mlspec import metrics as M
    from mlspec.runtime.prometheus import PushError, push, sample

    samples = [sample(M.RUN_SUCCESS, 0 if outcome.status == "failed" else 1, project=plan.project.name, node=node.id),
               sample(M.RUN_TIMESTAMP, time.time(), project=plan.project.name, node=node.id)]
    grouping = [("job", M.JOB_LABEL), ("project", plan.project.name), ("node", node.id)]
    try:
        push(gateway, samples, grouping, timeout=5.0)
    except PushError as exc:
        outcome.note = (outcome.note + "; " if outcome.note else "") + f"metrics not pushed: {exc}"[:200]


def _outputs_intact(base: Path, entry: dict[str, Any]) -> bool:
    return all(_file_digest(base / p) == digest for p, digest in entry.get("outputs", {}).items())


def _execute(node: Node, base: Path, log_dir: Path, run_id: str) -> NodeResult:
    assert node.command is not None
    log = log_dir / f"{node.slug}.log"
    env = _child_env(node, run_id)
    started = time.monotonic()
    attempts = 0
    code = 0
    for attempt in range(node.retries + 1):
        attempts = attempt + 1
        with log.open("ab") as out:
            out.write(f"$ {node.command}\n# attempt {attempts} of {node.retries + 1}\n".encode())
        code = _run_process(node.command, base, env, log, node.timeout_seconds)
        if code == 0:
            break
        if node.kind in MONITOR_KINDS and code == 1:
            break  # a finding, not a crash: retrying will not change it
    seconds = time.monotonic() - started
    rel_log = os.path.relpath(log, base)
    if code == 0:
        return NodeResult(node.id, "ok", seconds, attempts, code, log=rel_log)
    if node.kind in MONITOR_KINDS and code == 1:
        return NodeResult(node.id, "alert", seconds, attempts, code, note="finding reported", log=rel_log)
    note = "timed out" if code == 124 else f"exit code {code}"
    return NodeResult(node.id, "failed", seconds, attempts, code, note=note, log=rel_log)
