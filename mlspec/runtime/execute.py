"""`mlspec run`: execute the Plan on this machine, the way `dvc repro` runs a pipeline.

Nodes run in plan order as `bash -c` subprocesses in the spec's folder, with the spec's
env, timeouts and retries. A node is skipped when its cache key — a hash of its command,
env, the content of its inputs and the keys of the nodes it needs — matches its last
successful run and its outputs are still there unchanged, so a changed param re-runs
exactly the nodes downstream of it. Logs go to `.mlspec/runs/<run id>/<node>.log`.
An interrupted or failed node is never recorded as done.

After a node succeeds its declared outputs are saved to the artifact store (``storage:``, else
``.mlspec/store``) under the run's record, exactly as the generated pipelines do with
``mlspec store save``. With ``isolated=True`` every node runs in its own fresh temporary folder
holding a copy of the project's source files and only the inputs restored from the store: the
nodes share nothing but the store, as on CI runners or Kubernetes pods (no run cache then).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlspec.compiler.plan import Node, Plan

# Nodes that need infrastructure a laptop does not have; the generated CI/Airflow run them.
NOT_LOCAL = {"build": "image builds run in CI", "deploy": "deployment runs in CI"}
MONITOR_KINDS = {"monitor_schema", "monitor_freshness", "monitor_drift", "monitor_performance", "retrain"}
# The monitoring checks write their outcome here (see runtime.common.write_state).
OUTCOME_ENV = "MLSPEC_OUTCOME_FILE"
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
    workdir: str | None = None   # where the node ran (isolated runs: its own temporary folder)
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


def new_run_id(started: float) -> str:
    """A local run id: sortable by time and unique across concurrent runs."""
    return time.strftime("%Y%m%dT%H%M%S", time.localtime(started)) + f"-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_plan(plan: Plan, base: Path, *, nodes: Sequence[Node], force: bool = False,
             progress: Callable[[str, NodeResult | None], None] = lambda *_: None,
             store: Any = None, isolated: bool = False, run_id: str | None = None) -> RunResult:
    """Run ``nodes`` (a plan-ordered selection) in ``base``, the spec's folder; save each
    successful node's outputs to ``store`` (a :class:`mlspec.runtime.store.Store`)."""
    started = time.time()
    run_id = run_id or new_run_id(started)
    log_dir = base / RUNS_DIR / run_id
    log_dir.mkdir(parents=True, exist_ok=True)
    if isolated and store is None:
        raise ValueError("an isolated run needs a store")
    force = force or isolated   # a fresh folder has no outputs to keep
    cache = {} if force else _load_cache(base)
    saved = _load_cache(base)
    result = RunResult(run_id, started=started, log_dir=(RUNS_DIR / run_id).as_posix())
    t0 = time.monotonic()
    keys: dict[str, str] = {}
    blocked: set[str] = set()
    unreachable: set[str] = set()   # a gateway that refused once is not retried (one note, no waits)
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
            # A node reading the production model runs every time: the registry can change under it.
            if (not monitor and not node.fetch_production and entry and entry.get("key") == key
                    and _outputs_intact(base, entry)):
                cached = NodeResult(node.id, "cached", note="unchanged since " + entry.get("run", "?"),
                                    started=offset)
                _save_outputs(store, node, base, run_id, cached)   # this run's record, for later restores
                result.results.append(cached)
                progress("done", cached)
                if cached.status == "failed":
                    blocked.add(node.id)
                continue
            progress("start", NodeResult(node.id, "running"))
            offset = round(time.monotonic() - t0, 3)
            fetch = plan.fetch_production_command if node.fetch_production else None
            if isolated:
                outcome = _execute_isolated(plan, node, base, log_dir, run_id, store, fetch)
            else:
                outcome = _execute(node, base, log_dir, run_id, fetch)
                if outcome.status == "ok":
                    _save_outputs(store, node, base, run_id, outcome)
            outcome.started = offset
            problem = _push_outcome(plan, node.id, outcome.status != "failed", unreachable)
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
    _report_runs(plan, nodes, result, unreachable)
    (log_dir / "run.json").write_text(json.dumps(
        {"run_id": run_id, "interrupted": result.interrupted, "started": round(started, 3),
         "nodes": [r.__dict__ for r in result.results]}, indent=2) + "\n", encoding="utf-8")
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
                      fetch: str | None = None) -> NodeResult:
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
        outcome = _execute(node, work, log_dir, run_id, fetch)
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


def _push_outcome(plan: Plan, node: str, success: bool, unreachable: set[str]) -> str | None:
    """Report a node's (or the whole run's) result the way `mlspec report-run` does, so the
    pipeline-failure and staleness alerts see local runs too. A push failure never fails the
    run; it is returned as a note."""
    from mlspec.runtime.commands import run_samples
    from mlspec.runtime.common import gateway_url

    gateway = gateway_url(plan)
    if not gateway or gateway in unreachable:
        return None
    from mlspec import metrics as M
    from mlspec.runtime.prometheus import PushError, push

    grouping = [("job", M.JOB_LABEL), ("project", plan.project.name), ("node", node)]
    try:
        # POST, as report-run: a failure keeps the group's last success time.
        push(gateway, run_samples(plan.project.name, node, success, time.time()), grouping, method="POST",
             timeout=5.0)
    except PushError as exc:
        unreachable.add(gateway)
        return f"metrics not pushed (not retried in this run): {exc}"[:240]
    return None


def _report_runs(plan: Plan, nodes: Sequence[Node], result: RunResult, unreachable: set[str]) -> None:
    """One result per graph that ran: ``pipeline`` and ``monitoring`` (what a DAG run reports)."""
    ran = {r.id: r for r in result.results if r.status in ("ok", "failed", "alert", "interrupted", "cached")}
    monitor_ids = {n.id for n in plan.monitor_nodes}
    for whole, members in (("pipeline", [n for n in nodes if n.id not in monitor_ids]),
                           ("monitoring", [n for n in nodes if n.id in monitor_ids])):
        done = [ran[n.id] for n in members if n.id in ran]
        if done:
            _push_outcome(plan, whole, not result.interrupted
                          and all(r.status not in ("failed", "interrupted") for r in done), unreachable)


def _outputs_intact(base: Path, entry: dict[str, Any]) -> bool:
    return all(_file_digest(base / p) == digest for p, digest in entry.get("outputs", {}).items())


def _recorded_outcome(path: Path) -> str | None:
    try:
        status = json.loads(path.read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return None
    return status if isinstance(status, str) else None


def _execute(node: Node, base: Path, log_dir: Path, run_id: str, fetch: str | None = None) -> NodeResult:
    assert node.command is not None
    log = log_dir / f"{node.slug}.log"
    outcome_file = log_dir / f"{node.slug}.outcome.json" if node.kind in MONITOR_KINDS else None
    env = _child_env(node, run_id, outcome_file)
    started = time.monotonic()
    if fetch:   # ${registry.production.model}: the deployed model, fetched before the command
        with log.open("ab") as out:
            out.write(f"$ {fetch}\n".encode())
        code = _run_process(fetch, base, env, log, node.timeout_seconds)
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
        code = _run_process(node.command, base, env, log, node.timeout_seconds)
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
