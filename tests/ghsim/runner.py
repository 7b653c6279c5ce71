"""Run a workflow file job by job, step by step, the way a GitHub-hosted Linux runner does.

Each job gets a fresh folder (``work/<repo>/<repo>`` workspace, ``temp``, ``home``, ``toolcache``)
and nothing from other jobs; artifacts and caches move between jobs only through the simulated
services. See docs/testing.md, "GitHub runner simulation", for what is and is not simulated.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import actions
from .commands import Annotation, EnvFileError, Masker, parse_command, parse_env_file
from .events import (
    ZERO_SHA, Event, EventError, PullRequest, Push, Remote, RepositoryDispatch, Schedule,
    WorkflowDispatch, branch_ref, repository_payload,
)
from .expressions import (
    ExpressionError, Scope, evaluate_condition, evaluate_string, evaluate_template, to_string, truthy,
)
from .globbing import hash_files
from .api import GitHubApi, RunRecord
from .result import CacheEvent, EnvironmentGate, JobResult, RunResult, StepResult, aggregate
from .workflow import (
    InvalidWorkflow, Workflow, filter_matches, load_workflow, paths_pass, push_filters_pass,
    topological_order,
)

DEFAULT_JOB_TIMEOUT_MINUTES = 360
# GitHub sends SIGINT, then SIGTERM 7.5 s later, then kills; the simulation keeps the order.
KILL_GRACE_SECONDS = 7.5
DEFAULT_PR_TYPES = ("opened", "synchronize", "reopened")
IMAGE_OS = "ubuntu24"
# Host variables a job inherits so that pip reaches the same package index the machine reaches
# (proxies, certificates, the index mirror). A GitHub runner has its own equivalents.
DEFAULT_PASSTHROUGH = (
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT",
    "PIP_FIND_LINKS", "PIP_DISABLE_PIP_VERSION_CHECK", "TZ",
)
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
PERMISSION_SCOPES = ("actions", "attestations", "checks", "contents", "deployments", "id-token", "issues",
                     "discussions", "models", "packages", "pages", "pull-requests", "repository-projects",
                     "security-events", "statuses")
RESTRICTED_DEFAULT = {"contents": "read", "packages": "read", "metadata": "read"}

# Contexts each workflow key may use (GitHub's context availability table).
WORKFLOW_KEYS = ("github", "inputs", "vars")
JOB_IF = ("github", "needs", "vars", "inputs")
JOB_KEYS = ("github", "needs", "strategy", "matrix", "vars", "inputs")
JOB_ENV = JOB_KEYS + ("secrets",)
STEP_IF = JOB_KEYS + ("job", "runner", "env", "steps")
STEP_KEYS = STEP_IF + ("secrets",)


class UnsupportedFeature(Exception):
    """The workflow uses something the simulation does not run (register a stub, or extend it)."""


class ActionFailed(Exception):
    """A built-in action or a stub failed the step (like ``core.setFailed``)."""


StubFn = Callable[["StubContext"], "Mapping[str, str] | None"]


@dataclass(frozen=True)
class Approval:
    """A reviewer's decision on a deployment to a protected environment."""

    approve: bool
    reviewer: str
    comment: str = ""


def Approve(reviewer: str, comment: str = "") -> Approval:  # noqa: N802 - reads like GitHub's button
    return Approval(True, reviewer, comment)


def Reject(reviewer: str, comment: str = "") -> Approval:  # noqa: N802
    return Approval(False, reviewer, comment)


@dataclass
class StubContext:
    """What a registered stub sees: its evaluated ``with:`` inputs and the job's folders."""

    action: str
    inputs: dict[str, str]
    env: dict[str, str]
    workspace: Path
    runner_temp: Path
    job_id: str
    step_name: str
    lines: list[str] = field(default_factory=list)

    def log(self, line: str) -> None:
        self.lines.append(line)


@dataclass
class CacheEntry:
    key: str
    version: str
    ref: str
    path: Path
    created: int


class CacheStore:
    """The repository's Actions cache: immutable entries scoped by ref, shared across runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries: list[CacheEntry] = []
        self._counter = itertools.count(1)

    def lookup(self, key: str, restore_keys: list[str], version: str, refs: list[str]) -> tuple[CacheEntry | None, bool]:
        for ref in refs:
            scoped = [e for e in self.entries if e.ref == ref and e.version == version]
            exact = [e for e in scoped if e.key == key]
            if exact:
                return exact[-1], True
            for prefix in restore_keys:
                partial = sorted((e for e in scoped if e.key.startswith(prefix)), key=lambda e: e.created)
                if partial:
                    return partial[-1], False
        return None, False

    def exists(self, key: str, version: str, ref: str) -> bool:
        return any(e.key == key and e.version == version and e.ref == ref for e in self.entries)

    def new_entry(self, key: str, version: str, ref: str) -> CacheEntry:
        n = next(self._counter)
        entry = CacheEntry(key, version, ref, self.root / f"entry-{n}", n)
        entry.path.mkdir(parents=True)
        self.entries.append(entry)
        return entry


@dataclass
class RunState:
    sim: Simulator
    workflow: Workflow
    remote: Remote
    run_dir: Path
    github: dict[str, Any]
    inputs: dict[str, Any]
    secrets: dict[str, str]
    vars: dict[str, str]
    approvals: Mapping[str, Approval]
    environment_secrets: Mapping[str, Mapping[str, str]]
    stubs: Mapping[str, StubFn]
    result: RunResult
    cache_refs: list[str]
    wf_env: dict[str, str] = field(default_factory=dict)
    job_counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def artifact_dir(self) -> Path:
        return self.run_dir / "artifacts"


class Simulator:
    """Runs workflow files against a local git repository.

    ``workdir`` holds runs, job folders, the Actions cache and the venv template. ``pip_cache``
    is a pip cache folder shared by every job and run (a transport speed-up: the same packages
    are installed, only not downloaded again); ``wheelhouse`` is exposed to pip through
    ``PIP_FIND_LINKS`` so that packages built locally resolve as if published.
    ``venv_template`` may be shared between Simulators to pay for ``python -m venv`` once.
    """

    def __init__(self, workdir: Path, *, wheelhouse: Path | None = None, pip_cache: Path | None = None,
                 python: str | None = None, repository: str = "octo-org/octo-repo",
                 default_branch: str = "main", actor: str = "octocat", keep_job_dirs: bool = False,
                 venv_template: Path | None = None,
                 default_permissions: str = "restricted",
                 passthrough_env: tuple[str, ...] = DEFAULT_PASSTHROUGH, api: bool = False) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.wheelhouse = Path(wheelhouse) if wheelhouse else None
        self.pip_cache = Path(pip_cache) if pip_cache else self.workdir / "pip-cache"
        self.pip_cache.mkdir(parents=True, exist_ok=True)
        self.python = python or getattr(sys, "_base_executable", None) or sys.executable
        self.repository = repository
        self.default_branch = default_branch
        self.actor = actor
        self.keep_job_dirs = keep_job_dirs
        self.default_permissions = default_permissions
        self.passthrough_env = passthrough_env
        self.cache = CacheStore(self.workdir / "actions-cache")
        # Made once with `python -m venv`; jobs copy its pip (see actions._venv). Shareable between
        # Simulators because no job writes to it.
        self.venv_template = Path(venv_template) if venv_template else self.workdir / "venv-template"
        self._runs = itertools.count(1)
        # The REST API on loopback ($GITHUB_API_URL), serving this simulator's runs (see api.py).
        self.api = GitHubApi(repository) if api else None
        self.image_bin = self.workdir / "image-bin"
        self._make_image_bin()

    def _make_image_bin(self) -> None:
        # The hosted image has `python` (the system Python); this machine's system Python stands in.
        self.image_bin.mkdir(exist_ok=True)
        system = shutil.which("python3", path="/usr/bin:/bin")
        link = self.image_bin / "python"
        if system and not link.exists():
            link.symlink_to(system)

    # --- public ---------------------------------------------------------------------------------

    def close(self) -> None:
        if self.api is not None:
            self.api.close()

    def run(self, workflow: Path | str, repo: Path | str, event: Event, *,
            secrets: Mapping[str, str] | None = None, vars: Mapping[str, str] | None = None,  # noqa: A002
            approvals: Mapping[str, Approval] | None = None,
            environment_secrets: Mapping[str, Mapping[str, str]] | None = None,
            stubs: Mapping[str, StubFn] | None = None, run_attempt: int = 1) -> RunResult:
        started = time.monotonic()
        wf = load_workflow(workflow)
        run_no = next(self._runs)
        run_dir = self.workdir / f"run-{run_no}"
        run_dir.mkdir(parents=True)
        remote = Remote.mirror(Path(repo), run_dir / "remote.git", self.repository, self.default_branch)
        result = RunResult(workflow=wf.name, event_name=event.name, triggered=False)
        trigger = self._trigger(wf, event, remote, run_no, run_attempt, run_dir)
        if isinstance(trigger, str):
            result.reason = trigger
            result.duration = time.monotonic() - started
            return result
        github, inputs, fork, cache_refs = trigger
        result.triggered = True
        token = f"ghs_sim{uuid.uuid4().hex}"
        github["token"] = token
        given_secrets = {} if fork else dict(secrets or {})
        given_secrets["GITHUB_TOKEN"] = token
        github["secret_source"] = "None" if fork else "Actions"
        if self.api is not None:
            self.api.start_run(RunRecord(
                run_id=int(github["run_id"]), head_branch=github["head_ref"] or github["ref_name"],
                head_sha=github["sha"], fork=fork, created_at=f"2026-01-01T00:{run_no % 60:02d}:00Z",
                result=result, token=token))
        state = RunState(sim=self, workflow=wf, remote=remote, run_dir=run_dir, github=github, inputs=inputs,
                         secrets=given_secrets, vars={} if fork else dict(vars or {}),
                         approvals=approvals or {}, environment_secrets=environment_secrets or {},
                         stubs=stubs or {}, result=result, cache_refs=cache_refs)
        result.github = {k: v for k, v in github.items() if k != "token"}
        result.permissions = wf.data.get("permissions")
        scope = Scope({"github": github, "inputs": inputs, "vars": state.vars, "secrets": state.secrets})
        try:
            if "concurrency" in wf.data:
                result.concurrency = _concurrency(wf.data["concurrency"], Scope(
                    {"github": github, "inputs": inputs, "vars": state.vars}))
            state.wf_env = {str(k): evaluate_string(v, scope) for k, v in (wf.data.get("env") or {}).items()}
        except ExpressionError as exc:
            raise InvalidWorkflow(f"{wf.path.name}: {exc}") from None
        for job_id in topological_order(wf.jobs):
            result.order.append(job_id)
            result.jobs[job_id] = JobOrchestrator(state, job_id, fork).run()
        conclusions = [leg.conclusion for legs in result.jobs.values() for leg in legs]
        result.conclusion = ("failure" if "failure" in conclusions else
                             "cancelled" if "cancelled" in conclusions else "success")
        result.duration = time.monotonic() - started
        return result

    # --- triggering -------------------------------------------------------------------------------

    def _trigger(self, wf: Workflow, event: Event, remote: Remote, run_no: int, attempt: int,
                 run_dir: Path) -> str | tuple[dict[str, Any], dict[str, Any], bool, list[str]]:
        name = event.name
        if name not in wf.on:
            return f"the workflow has no on.{name} trigger (it has: {', '.join(wf.on)})"
        filters = wf.on[name] if isinstance(wf.on[name], dict) else {}
        repo_payload = repository_payload(self.repository, self.default_branch)
        sender = {"login": self.actor, "id": 1, "type": "User"}
        default_ref = branch_ref(self.default_branch)
        inputs: dict[str, Any] = {}
        fork = False
        head_ref = base_ref = ""
        try:
            if isinstance(event, Push):
                ref = branch_ref(event.ref)
                sha = event.sha or remote.resolve(ref)
                before = event.before or remote.parent(sha) or ZERO_SHA
                changed = remote.changed_files(before, sha) if before != ZERO_SHA else remote.files_of(sha)
                ok, why = push_filters_pass(filters, ref, changed)
                if not ok:
                    return why
                commit = remote.commit_info(sha)
                payload: dict[str, Any] = {
                    "ref": ref, "before": before, "after": sha, "created": before == ZERO_SHA,
                    "deleted": False, "forced": False, "base_ref": None,
                    "compare": f"https://github.com/{self.repository}/compare/{before[:12]}...{sha[:12]}",
                    "commits": [commit], "head_commit": commit,
                    "pusher": {"name": self.actor, "email": f"{self.actor}@users.noreply.github.com"},
                    "repository": repo_payload, "sender": sender}
            elif isinstance(event, PullRequest):
                types = filters.get("types", list(DEFAULT_PR_TYPES))
                types = [types] if isinstance(types, str) else types
                if event.action not in types:
                    return f"pull_request action '{event.action}' is not in on.pull_request.types {types}"
                branches, ignore = filters.get("branches"), filters.get("branches-ignore")
                if branches is not None and not filter_matches(_strs(branches), event.base):
                    return f"base branch '{event.base}' does not match on.pull_request.branches {branches}"
                if ignore is not None and filter_matches(_strs(ignore), event.base):
                    return f"base branch '{event.base}' matches on.pull_request.branches-ignore {ignore}"
                base_sha = remote.resolve(branch_ref(event.base))
                head_sha = remote.resolve(branch_ref(event.head))
                merge_base = remote_merge_base(remote, base_sha, head_sha)
                ok, why = paths_pass(filters, "pull_request", remote.changed_files(merge_base, head_sha))
                if not ok:
                    return why
                sha = remote.create_pull_refs(event.number, base_sha, head_sha)
                ref = f"refs/pull/{event.number}/merge"
                head_ref, base_ref, fork = event.head, event.base, event.fork
                owner, repo_name = self.repository.split("/", 1)
                head_repo = (repository_payload(f"contributor/{repo_name}", self.default_branch, fork=True)
                             if fork else repo_payload)
                payload = {
                    "action": event.action, "number": event.number, "repository": repo_payload, "sender": sender,
                    "pull_request": {
                        "number": event.number, "title": event.title, "state": "open", "draft": event.draft,
                        "merged": False, "user": {"login": "contributor" if fork else self.actor},
                        "labels": [{"name": label} for label in event.labels],
                        "head": {"ref": event.head, "sha": head_sha, "repo": head_repo,
                                 "label": f"{head_repo['owner']['login']}:{event.head}"},
                        "base": {"ref": event.base, "sha": base_sha, "repo": repo_payload,
                                 "label": f"{owner}:{event.base}"},
                        "merge_commit_sha": sha,
                        "html_url": f"https://github.com/{self.repository}/pull/{event.number}"}}
            elif isinstance(event, WorkflowDispatch):
                ref = branch_ref(event.ref)
                sha = remote.resolve(ref)
                inputs, as_strings = _dispatch_inputs(filters.get("inputs") or {}, event.inputs)
                payload = {"inputs": as_strings, "ref": ref, "repository": repo_payload, "sender": sender,
                           "workflow": f".github/workflows/{wf.path.name}"}
            elif isinstance(event, Schedule):
                crons = [str(e.get("cron")) for e in (wf.on["schedule"] or []) if isinstance(e, dict)]
                cron = event.cron or (crons[0] if crons else None)
                if cron not in crons:
                    return f"no on.schedule entry has cron '{cron}' (it has: {crons})"
                ref = default_ref
                sha = remote.resolve(ref)
                payload = {"schedule": cron, "repository": repo_payload, "sender": sender}
            elif isinstance(event, RepositoryDispatch):
                types = filters.get("types")
                if types is not None and event.event_type not in _strs(types):
                    return f"repository_dispatch type '{event.event_type}' is not in on.repository_dispatch.types"
                ref = default_ref
                sha = remote.resolve(ref)
                payload = {"action": event.event_type, "branch": self.default_branch,
                           "client_payload": dict(event.client_payload), "repository": repo_payload, "sender": sender}
            else:  # pragma: no cover - the Event union is closed
                raise UnsupportedFeature(f"event {event!r}")
        except EventError as exc:
            raise EventError(f"{name}: {exc}") from None
        event_path = run_dir / "event.json"
        event_path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        ref_type = "tag" if ref.startswith("refs/tags/") else "branch"
        ref_name = ref.split("/", 2)[2] if ref.startswith(("refs/heads/", "refs/tags/", "refs/pull/")) else ref
        owner = self.repository.split("/", 1)[0]
        github: dict[str, Any] = {
            "action": "", "action_path": "", "action_ref": "", "action_repository": "", "action_status": "",
            "actor": self.actor, "actor_id": "1", "triggering_actor": self.actor,
            "api_url": self.api.url if self.api else "https://api.github.com",
            "graphql_url": "https://api.github.com/graphql",
            "server_url": "https://github.com", "base_ref": base_ref, "head_ref": head_ref,
            "event": payload, "event_name": name, "event_path": str(event_path), "job": "",
            "ref": ref, "ref_name": ref_name, "ref_protected": False, "ref_type": ref_type,
            "repository": self.repository, "repository_id": "1", "repository_owner": owner,
            "repository_owner_id": "1", "repositoryUrl": f"git://github.com/{self.repository}.git",
            "retention_days": "90", "run_id": str(1000 + run_no), "run_number": str(run_no),
            "run_attempt": str(attempt), "sha": sha, "workflow": wf.name,
            "workflow_ref": f"{self.repository}/.github/workflows/{wf.path.name}@{ref}", "workflow_sha": sha,
            "workspace": "", "path": "", "env": "", "output": "", "state": "", "step_summary": "",
        }
        # Caches: a run reads its own ref's caches, then the base branch's (PRs), then the default branch's.
        cache_refs = [ref]
        if base_ref:
            cache_refs.append(branch_ref(base_ref))
        if default_ref not in cache_refs:
            cache_refs.append(default_ref)
        return github, inputs, fork, cache_refs


def remote_merge_base(remote: Remote, a: str, b: str) -> str:
    from .events import git
    return git("merge-base", a, b, cwd=remote.path)


def _strs(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _dispatch_inputs(spec: Mapping[str, Any], given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise EventError(f"Unexpected inputs provided: {unknown}")
    typed: dict[str, Any] = {}
    strings: dict[str, str] = {}
    for name, definition in spec.items():
        definition = definition or {}
        kind = definition.get("type", "string")
        if name in given:
            raw = given[name]
        elif "default" in definition:
            raw = definition["default"]
        elif definition.get("required"):
            raise EventError(f"Required input '{name}' not provided")
        else:
            raw = "" if kind != "boolean" else False
        if kind == "boolean":
            if isinstance(raw, str):
                if raw not in ("true", "false"):
                    raise EventError(f"Provided value '{raw}' for input '{name}' is not a boolean")
                raw = raw == "true"
            typed[name] = bool(raw)
        elif kind == "number":
            try:
                typed[name] = float(raw) if not isinstance(raw, (int, float)) else raw
            except ValueError:
                raise EventError(f"Provided value '{raw}' for input '{name}' is not a number") from None
        elif kind == "choice":
            options = [str(o) for o in definition.get("options", [])]
            if str(raw) not in options and not (raw == "" and not definition.get("required")):
                raise EventError(f"Provided value '{raw}' for input '{name}' not in the list of allowed values")
            typed[name] = str(raw)
        else:
            typed[name] = to_string(raw) if not isinstance(raw, str) else raw
        strings[name] = to_string(typed[name])
    return typed, strings


def _concurrency(value: Any, scope: Scope) -> dict[str, Any]:
    evaluated = evaluate_template(value, scope)
    if isinstance(evaluated, dict):
        return {"group": to_string(evaluated.get("group")),
                "cancel-in-progress": truthy(evaluated.get("cancel-in-progress", False))}
    return {"group": to_string(evaluated), "cancel-in-progress": False}


def effective_permissions(declared: Any, default: str, fork: bool) -> dict[str, str]:
    if declared is None:
        perms = (dict(RESTRICTED_DEFAULT) if default == "restricted"
                 else {s: "write" for s in PERMISSION_SCOPES if s != "id-token"} | {"metadata": "read"})
    elif declared == "read-all":
        perms = {s: "read" for s in PERMISSION_SCOPES if s != "id-token"} | {"metadata": "read"}
    elif declared == "write-all":
        perms = {s: "write" for s in PERMISSION_SCOPES} | {"metadata": "read"}
    elif isinstance(declared, dict):
        perms = {str(k): str(v) for k, v in declared.items() if str(v) != "none"}
        if perms:
            perms.setdefault("metadata", "read")
    else:
        perms = {}
    if fork:  # pull requests from forks get a read-only token
        perms = {k: ("read" if v == "write" else v) for k, v in perms.items() if k != "id-token"}
    return dict(sorted(perms.items()))


def expand_matrix(matrix: Any) -> list[dict[str, Any]]:
    if not isinstance(matrix, dict):
        raise InvalidWorkflow(f"strategy.matrix must be a mapping, got {matrix!r}")
    keys = [k for k in matrix if k not in ("include", "exclude")]
    combos: list[dict[str, Any]] = [{}] if keys else []
    for k in keys:
        values = matrix[k]
        if not isinstance(values, list) or not values:
            raise InvalidWorkflow(f"Matrix vector '{k}' does not contain any values")
        combos = [{**c, k: v} for c in combos for v in values]
    for ex in matrix.get("exclude") or []:
        combos = [c for c in combos if not all(c.get(k) == v for k, v in ex.items())]
    originals = [dict(c) for c in combos]
    for inc in matrix.get("include") or []:
        added = False
        for combo, original in zip(combos, originals):
            if all(original[k] == v for k, v in inc.items() if k in original):
                combo.update(inc)
                added = True
        if not added:
            combos.append(dict(inc))
            originals.append({})
    if not combos:
        raise InvalidWorkflow("the matrix produced no job")
    return combos


class JobOrchestrator:
    """One job id: its ``if:``, its matrix legs and fail-fast."""

    def __init__(self, state: RunState, job_id: str, fork: bool) -> None:
        self.state = state
        self.job_id = job_id
        self.spec = state.workflow.jobs[job_id]
        self.fork = fork

    def needs_context(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for need in _strs(self.spec.get("needs") or []):
            legs = self.state.result.jobs[need]
            outputs: dict[str, str] = {}
            for leg in legs:
                outputs.update(leg.outputs)
            out[need] = {"result": aggregate([leg.conclusion for leg in legs]), "outputs": outputs}
        return out

    def ancestors(self) -> set[str]:
        jobs = self.state.workflow.jobs
        seen: set[str] = set()
        todo = _strs(self.spec.get("needs") or [])
        while todo:
            j = todo.pop()
            if j not in seen:
                seen.add(j)
                todo.extend(_strs(jobs[j].get("needs") or []))
        return seen

    def run(self) -> list[JobResult]:
        state = self.state
        spec = self.spec
        for key in ("uses",):
            if key in spec:
                raise UnsupportedFeature(f"job {self.job_id}: reusable workflows (jobs.<id>.uses) are not simulated")
        needs = self.needs_context()
        results = [state.result.jobs[a] for a in self.ancestors()]
        ancestor_results = [aggregate([leg.conclusion for leg in legs]) for legs in results]
        status = {
            "success": lambda: all(r == "success" for r in ancestor_results),
            "failure": lambda: any(r == "failure" for r in ancestor_results),
            "cancelled": lambda: False,
            "always": lambda: True,
        }
        github = dict(state.github, job=self.job_id)
        scope = Scope({"github": github, "needs": needs, "vars": state.vars, "inputs": state.inputs}, status)
        raw_name = spec.get("name")
        try:
            should_run = evaluate_condition(spec.get("if"), scope)
        except ExpressionError as exc:
            job = JobResult(self.job_id, str(raw_name or self.job_id), "failure", error=f"if: {exc}")
            return [job]
        if not should_run:
            name = str(raw_name) if raw_name and "${{" not in str(raw_name) else self.job_id
            return [JobResult(self.job_id, name, "skipped",
                              permissions_declared=spec.get("permissions"))]
        strategy = spec.get("strategy") or {}
        legs: list[dict[str, Any] | None] = [None]
        fail_fast = True
        job_scope = Scope({"github": github, "needs": needs, "vars": state.vars, "inputs": state.inputs,
                           "matrix": {}, "strategy": {}})
        if "matrix" in strategy:
            try:
                matrix = evaluate_template(strategy["matrix"], job_scope)
                fail_fast = truthy(evaluate_template(strategy.get("fail-fast", True), job_scope))
            except ExpressionError as exc:
                return [JobResult(self.job_id, str(raw_name or self.job_id), "failure", error=f"strategy: {exc}")]
            legs = list(expand_matrix(matrix))
        out: list[JobResult] = []
        failed = False
        for index, matrix in enumerate(legs):
            strategy_ctx = {"fail-fast": fail_fast, "job-index": index, "job-total": len(legs),
                            "max-parallel": strategy.get("max-parallel", len(legs))}
            if failed and fail_fast:
                name = _job_name(self.job_id, raw_name, matrix)
                out.append(JobResult(self.job_id, name, "cancelled", matrix=matrix,
                                     error="cancelled by fail-fast after another matrix job failed"))
                continue
            leg = JobRun(state, self.job_id, spec, needs, matrix, strategy_ctx, self.fork).run()
            out.append(leg)
            failed = failed or leg.conclusion == "failure"
        return out


def _job_name(job_id: str, raw: Any, matrix: dict[str, Any] | None) -> str:
    if raw is not None:
        return str(raw)
    if matrix:
        return f"{job_id} ({', '.join(to_string(v) for v in matrix.values())})"
    return job_id


class JobRun:
    """One job (one matrix leg) on a fresh runner."""

    def __init__(self, state: RunState, job_id: str, spec: dict[str, Any], needs: dict[str, Any],
                 matrix: dict[str, Any] | None, strategy: dict[str, Any], fork: bool) -> None:
        self.state = state
        self.sim = state.sim
        self.job_id = job_id
        self.spec = spec
        self.needs = needs
        self.matrix = matrix
        self.strategy = strategy
        self.fork = fork
        n = next(state.job_counter)
        self.root = state.run_dir / f"job-{n}-{job_id}"
        repo_name = self.sim.repository.split("/", 1)[1]
        self.workspace = self.root / "work" / repo_name / repo_name
        self.temp = self.root / "temp"
        self.home = self.root / "home"
        self.toolcache = self.root / "toolcache"
        for d in (self.workspace, self.temp, self.home, self.toolcache):
            d.mkdir(parents=True)
        self.github = dict(state.github, job=job_id, workspace=str(self.workspace))
        self.masker = Masker()
        self.secrets = dict(state.secrets)
        for value in self.secrets.values():
            self.masker.add(value)
        self.global_env: dict[str, str] = {}  # workflow env, job env, then GITHUB_ENV additions
        self.path_prepends: list[str] = []
        self.steps_ctx: dict[str, Any] = {}
        self.failed = False  # job status "failure"
        self.cancelled = False
        self.deadline = float("inf")
        self.post_hooks: list[tuple[str, Callable[[], None]]] = []
        self.process_groups: list[int] = []
        self.step_counter: dict[str, int] = {}
        self.current: StepResult | None = None
        self.result = JobResult(job_id, job_id, "success", matrix=matrix)

    # --- helpers used by actions -------------------------------------------------------------------

    @property
    def runner_ctx(self) -> dict[str, Any]:
        return {"os": "Linux", "arch": "X64", "name": "GitHub Actions 1", "environment": "github-hosted",
                "temp": str(self.temp), "tool_cache": str(self.toolcache), "debug": ""}

    def log(self, line: str) -> None:
        assert self.current is not None
        self.current.log.append(self.masker.mask(line))

    def annotate(self, level: str, message: str, properties: Mapping[str, str] | None = None) -> None:
        step = self.current.name if self.current else "(job)"
        self.state.result.annotations.append(Annotation(level, self.masker.mask(message), self.result.name,
                                                        step, dict(properties or {})))
        if self.current is not None:
            self.current.log.append(f"##[{level}]{self.masker.mask(message)}")

    def export_env(self, name: str, value: str) -> None:
        self.global_env[name] = value

    def add_path(self, entry: str) -> None:
        self.path_prepends.append(entry)

    def add_post(self, label: str, fn: Callable[[], None]) -> None:
        self.post_hooks.append((label, fn))

    def record_cache(self, action: str, key: str, hit: str, matched: str | None = None) -> None:
        step = self.current.name if self.current else "(post)"
        self.state.result.cache_events.append(CacheEvent(self.result.name, step, action, key, hit, matched))

    def base_env(self) -> dict[str, str]:
        env = {"HOME": str(self.home), "LANG": "C.UTF-8", "USER": "runner",
               "PATH": ":".join([str(self.home / ".local" / "bin"), str(self.sim.image_bin), *SYSTEM_PATH]),
               "PIP_CACHE_DIR": str(self.sim.pip_cache), "ImageOS": IMAGE_OS, "ImageVersion": "20240101.1.0",
               "DEBIAN_FRONTEND": "noninteractive", "XDG_CONFIG_HOME": str(self.home / ".config")}
        for name in self.sim.passthrough_env:
            if name in os.environ:
                env[name] = os.environ[name]
        if self.sim.wheelhouse is not None:
            env["PIP_FIND_LINKS"] = " ".join(filter(None, [str(self.sim.wheelhouse), env.get("PIP_FIND_LINKS")]))
        return env

    def default_env(self, files: Mapping[str, Path], action_id: str) -> dict[str, str]:
        g = self.github
        return {
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_ACTION": action_id, "GITHUB_ACTOR": g["actor"],
            "GITHUB_ACTOR_ID": g["actor_id"], "GITHUB_API_URL": g["api_url"], "GITHUB_BASE_REF": g["base_ref"],
            "GITHUB_EVENT_NAME": g["event_name"], "GITHUB_EVENT_PATH": g["event_path"],
            "GITHUB_GRAPHQL_URL": g["graphql_url"], "GITHUB_HEAD_REF": g["head_ref"], "GITHUB_JOB": self.job_id,
            "GITHUB_REF": g["ref"], "GITHUB_REF_NAME": g["ref_name"], "GITHUB_REF_PROTECTED": "false",
            "GITHUB_REF_TYPE": g["ref_type"], "GITHUB_REPOSITORY": g["repository"],
            "GITHUB_REPOSITORY_ID": g["repository_id"], "GITHUB_REPOSITORY_OWNER": g["repository_owner"],
            "GITHUB_REPOSITORY_OWNER_ID": g["repository_owner_id"], "GITHUB_RETENTION_DAYS": g["retention_days"],
            "GITHUB_RUN_ATTEMPT": g["run_attempt"], "GITHUB_RUN_ID": g["run_id"],
            "GITHUB_RUN_NUMBER": g["run_number"], "GITHUB_SERVER_URL": g["server_url"], "GITHUB_SHA": g["sha"],
            "GITHUB_TRIGGERING_ACTOR": g["triggering_actor"], "GITHUB_WORKFLOW": g["workflow"],
            "GITHUB_WORKFLOW_REF": g["workflow_ref"], "GITHUB_WORKFLOW_SHA": g["workflow_sha"],
            "GITHUB_WORKSPACE": str(self.workspace), "GITHUB_ENV": str(files["env"]),
            "GITHUB_OUTPUT": str(files["output"]), "GITHUB_PATH": str(files["path"]),
            "GITHUB_STATE": str(files["state"]), "GITHUB_STEP_SUMMARY": str(files["step_summary"]),
            "RUNNER_ARCH": "X64", "RUNNER_ENVIRONMENT": "github-hosted", "RUNNER_NAME": "GitHub Actions 1",
            "RUNNER_OS": "Linux", "RUNNER_TEMP": str(self.temp), "RUNNER_TOOL_CACHE": str(self.toolcache),
            "RUNNER_WORKSPACE": str(self.workspace.parent),
        }

    def process_env(self, step_env: Mapping[str, str], files: Mapping[str, Path], action_id: str) -> dict[str, str]:
        env = self.base_env()
        env.update(self.global_env)
        env.update(step_env)
        env.update(self.default_env(files, action_id))
        env["PATH"] = ":".join([*reversed(self.path_prepends), env["PATH"]])
        return env

    def execute(self, argv: list[str], cwd: Path, env: Mapping[str, str], timeout: float) -> tuple[int | None, bool, list[str]]:
        """Run a process (its own process group) with stdout+stderr to a file; kill it at the timeout."""
        out_path = self.temp / f"_out_{uuid.uuid4().hex}"
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            self.process_groups.append(proc.pid)
            timed_out = False
            try:
                proc.wait(timeout=max(timeout, 0.001))
            except subprocess.TimeoutExpired:
                timed_out = True
                _signal_group(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=KILL_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout=2.5)
                    except subprocess.TimeoutExpired:
                        _signal_group(proc.pid, signal.SIGKILL)
                        proc.wait()
        text = out_path.read_bytes().decode("utf-8", errors="replace")
        out_path.unlink()
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return (None if timed_out else proc.returncode), timed_out, [ln.rstrip("\r") for ln in lines]

    def run_tool(self, argv: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> list[str]:
        """A helper process of a built-in action (git): logged, failing the step on a non-zero exit."""
        self.log(f"[command]{' '.join(shlex.quote(a) for a in argv)}")
        full = dict(env or self.process_env({}, self._null_files(), "__tool"))
        code, _, lines = self.execute(argv, cwd, full, self.remaining())
        for line in lines:
            self.log(line)
        if code != 0:
            raise ActionFailed(f"The process '{argv[0]}' failed with exit code {code}")
        return lines

    def _null_files(self) -> dict[str, Path]:
        return {k: Path(os.devnull) for k in ("env", "output", "path", "state", "step_summary")}

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    # --- contexts ------------------------------------------------------------------------------------

    def contexts(self, names: tuple[str, ...], env: Mapping[str, str] | None = None) -> dict[str, Any]:
        available = {
            "github": self.github, "needs": self.needs, "strategy": self.strategy, "matrix": self.matrix or {},
            "vars": self.state.vars, "inputs": self.state.inputs, "secrets": self.secrets,
            "job": {"status": self.status_word(), "container": {"network": "", "id": ""}, "services": {}},
            "runner": self.runner_ctx, "env": dict(env if env is not None else self.env_context()),
            "steps": self.steps_ctx,
        }
        return {n: available[n] for n in names}

    def env_context(self) -> dict[str, str]:
        return dict(self.global_env)

    def status_word(self) -> str:
        return "cancelled" if self.cancelled else "failure" if self.failed else "success"

    def step_status(self) -> dict[str, Callable[[], bool]]:
        return {"success": lambda: not self.failed and not self.cancelled,
                "failure": lambda: self.failed,
                "cancelled": lambda: self.cancelled,
                "always": lambda: True}

    def scope(self, names: tuple[str, ...], *, status: bool = False, env: Mapping[str, str] | None = None,
              hash_files_fn: bool = True) -> Scope:
        return Scope(self.contexts(names, env), self.step_status() if status else {},
                     (lambda pats: hash_files(pats, self.workspace, self.home)) if hash_files_fn else None)

    # --- the job ----------------------------------------------------------------------------------------

    def run(self) -> JobResult:
        started = time.monotonic()
        res = self.result
        try:
            self._run()
        finally:
            for pgid in self.process_groups:  # "Cleaning up orphan processes"
                _signal_group(pgid, signal.SIGKILL)
            res.duration = time.monotonic() - started
            if not self.sim.keep_job_dirs:
                shutil.rmtree(self.root, ignore_errors=True)
        return res

    def _run(self) -> None:
        spec, res = self.spec, self.result
        job_scope = Scope(self.contexts(JOB_KEYS))
        res.name = evaluate_string(spec["name"], job_scope) if "name" in spec else _job_name(self.job_id, None, self.matrix)
        res.runs_on = evaluate_template(spec.get("runs-on"), job_scope)
        labels = [res.runs_on] if isinstance(res.runs_on, str) else list(res.runs_on or [])
        if isinstance(res.runs_on, dict):
            labels = _strs(res.runs_on.get("labels", []))
        if not any("ubuntu" in str(label) or str(label).lower() == "linux" for label in labels):
            raise UnsupportedFeature(f"job {self.job_id}: runs-on {res.runs_on!r}: only Linux (ubuntu-*) runners are simulated")
        for key in ("container", "services"):
            if key in spec:
                raise UnsupportedFeature(f"job {self.job_id}: jobs.<id>.{key} is not simulated")
        declared = spec.get("permissions", self.state.workflow.data.get("permissions"))
        res.permissions_declared = spec.get("permissions")
        res.permissions = effective_permissions(declared, self.sim.default_permissions, self.fork)
        res.secrets_available = not self.fork
        if "concurrency" in spec:
            res.concurrency = _concurrency(spec["concurrency"], job_scope)
        if truthy(evaluate_template(spec.get("continue-on-error", False), job_scope)):
            raise UnsupportedFeature(f"job {self.job_id}: job-level continue-on-error is not simulated")
        if "environment" in spec and not self._environment_gate(job_scope):
            return
        timeout = evaluate_template(spec.get("timeout-minutes", DEFAULT_JOB_TIMEOUT_MINUTES), job_scope)
        self.deadline = time.monotonic() + float(timeout) * 60
        env_scope = Scope(self.contexts(JOB_ENV))
        self.global_env.update(self.state.wf_env)
        self.global_env.update({str(k): evaluate_string(v, env_scope) for k, v in (spec.get("env") or {}).items()})
        defaults = dict((self.state.workflow.data.get("defaults") or {}).get("run") or {})
        defaults.update((spec.get("defaults") or {}).get("run") or {})
        self.defaults = {k: evaluate_string(v, Scope(self.contexts(JOB_KEYS + ("env",)))) for k, v in defaults.items()}
        steps = spec.get("steps") or []
        if not steps:
            raise InvalidWorkflow(f"job {self.job_id} has no steps")
        for index, step in enumerate(steps):
            self._step(index, step)
        self._post()
        self._outputs()
        res.conclusion = "cancelled" if self.cancelled else "failure" if self.failed else "success"

    def _environment_gate(self, scope: Scope) -> bool:
        raw = evaluate_template(self.spec["environment"], scope)
        name = to_string(raw.get("name")) if isinstance(raw, dict) else to_string(raw)
        url = to_string(raw.get("url")) if isinstance(raw, dict) and "url" in raw else None
        decision = self.state.approvals.get(name)
        gate = EnvironmentGate(name=name, url=url, protected=decision is not None)
        self.result.environment = gate
        if decision is not None:
            gate.approved, gate.reviewer, gate.comment = decision.approve, decision.reviewer, decision.comment
            api = self.state.sim.api
            if api is not None and decision.approve:
                api.approved(int(self.state.github["run_id"]), name, decision.reviewer, decision.comment)
            if not decision.approve:
                self.result.conclusion = "failure"
                self.result.error = f"deployment to environment '{name}' was rejected by {decision.reviewer}"
                return False
        for k, v in (self.state.environment_secrets.get(name) or {}).items():
            if not self.fork:
                self.secrets[k] = v
                self.masker.add(v)
        return True

    def _step_ids(self, step: Mapping[str, Any]) -> tuple[str | None, str]:
        if step.get("id"):
            return str(step["id"]), str(step["id"])
        if "run" in step:
            base = "__run"
        else:
            base = "__" + str(step.get("uses", "action")).split("@")[0].replace("/", "_").replace("-", "_")
        count = self.step_counter.get(base, 0) + 1
        self.step_counter[base] = count
        return None, base if count == 1 else f"{base}_{count}"

    def _step(self, index: int, step: Mapping[str, Any]) -> None:
        step_id, action_id = self._step_ids(step)
        if ("run" in step) == ("uses" in step):
            raise InvalidWorkflow(f"job {self.job_id}, step {index + 1}: a step has either 'run' or 'uses'")
        default_name = (f"Run {str(step['run']).strip().splitlines()[0] if str(step['run']).strip() else ''}"
                        if "run" in step else f"Run {step['uses']}")
        sr = StepResult(index=index, name=default_name, id=step_id, uses=step.get("uses"))
        self.current = sr
        self.result.steps.append(sr)
        started = time.monotonic()
        try:
            if "name" in step:
                sr.name = evaluate_string(step["name"], self.scope(STEP_KEYS))
            if self.remaining() <= 0 and not self.cancelled:
                self._cancel("the job has exceeded the maximum execution time")
            run_it = evaluate_condition(step.get("if"), self.scope(STEP_IF, status=True))
        except ExpressionError as exc:
            self._fail_step(sr, f"The step's if/name expression is not valid: {exc}", False)
            sr.duration = time.monotonic() - started
            self._record_step(sr)
            return
        if not run_it:
            sr.outcome = sr.conclusion = "skipped"
            self._record_step(sr)
            return
        continue_on_error = False
        try:
            step_env = {str(k): evaluate_string(v, self.scope(STEP_KEYS))
                        for k, v in (step.get("env") or {}).items()}
            env_ctx = {**self.global_env, **step_env}
            scope = self.scope(STEP_KEYS, env=env_ctx)
            continue_on_error = truthy(evaluate_template(step.get("continue-on-error", False), scope))
            timeout_minutes = evaluate_template(step.get("timeout-minutes"), scope)
            timeout = min(self.remaining(), float(timeout_minutes) * 60 if timeout_minutes is not None else float("inf"))
            sr.env = {k: self.masker.mask(v) for k, v in step_env.items()}
            if "run" in step:
                self._run_script(sr, step, step_env, scope, timeout, action_id)
            else:
                self._run_action(sr, step, step_env, scope, action_id, timeout)
        except ExpressionError as exc:
            self._fail_step(sr, f"The template is not valid: {exc}", continue_on_error)
        except (ActionFailed, EnvFileError) as exc:
            self._fail_step(sr, str(exc), continue_on_error)
        else:
            if sr.outcome == "failure":
                self._fail_step(sr, sr.error, continue_on_error)
        sr.duration = time.monotonic() - started
        self._record_step(sr)

    def _fail_step(self, sr: StepResult, message: str | None, continue_on_error: bool) -> None:
        if sr.outcome != "cancelled":
            sr.outcome = "failure"
        if message and sr.error is None:
            sr.error = message
        if message and not any(line == f"##[error]{self.masker.mask(message)}" for line in sr.log):
            self.annotate("error", message)
        if continue_on_error and sr.outcome == "failure":
            sr.conclusion = "success"
        else:
            sr.conclusion = sr.outcome
            if sr.outcome == "failure":
                self.failed = True

    def _record_step(self, sr: StepResult) -> None:
        if sr.id is not None:
            self.steps_ctx[sr.id] = {"outputs": dict(sr.outputs), "outcome": sr.outcome, "conclusion": sr.conclusion}

    def _cancel(self, why: str) -> None:
        self.cancelled = True
        self.result.error = why
        # Steps that still run after a cancellation (always(), cancelled()) get cancel-timeout-minutes.
        cancel_minutes = evaluate_template(self.spec.get("cancel-timeout-minutes", 5), Scope(self.contexts(JOB_KEYS)))
        self.deadline = time.monotonic() + float(cancel_minutes) * 60
        self.annotate("error", f"The job running on runner GitHub Actions 1 has exceeded the maximum execution "
                               f"time of {self.spec.get('timeout-minutes', DEFAULT_JOB_TIMEOUT_MINUTES)} minutes.")

    def _step_files(self) -> dict[str, Path]:
        d = self.temp / "_runner_file_commands"
        d.mkdir(exist_ok=True)
        files = {}
        for kind, prefix in (("env", "set_env"), ("output", "set_output"), ("path", "add_path"),
                             ("state", "save_state"), ("step_summary", "step_summary")):
            p = d / f"{prefix}_{uuid.uuid4()}"
            p.write_bytes(b"")
            files[kind] = p
        return files

    def _run_script(self, sr: StepResult, step: Mapping[str, Any], step_env: dict[str, str], scope: Scope,
                    timeout: float, action_id: str) -> None:
        script = evaluate_string(step["run"], scope)
        shell = evaluate_string(step["shell"], scope) if "shell" in step else self.defaults.get("shell")
        workdir = (evaluate_string(step["working-directory"], scope) if "working-directory" in step
                   else self.defaults.get("working-directory"))
        template, ext = _shell_template(shell)
        sr.shell = template
        sr.run = self.masker.mask(script)
        script_path = self.temp / f"{uuid.uuid4()}{ext}"
        script_path.write_text(script, encoding="utf-8")
        files = self._step_files()
        env = self.process_env(step_env, files, action_id)
        cwd = self.workspace / workdir if workdir else self.workspace
        argv = [a.replace("{0}", str(script_path)) for a in shlex.split(template)]
        if shell is None and shutil.which("bash", path=env["PATH"]) is None:
            argv = ["sh", "-e", str(script_path)]
        exe = shutil.which(argv[0], path=env["PATH"])
        if exe is None:
            raise ActionFailed(f"Unable to locate executable file: {argv[0]}. Please verify either the file path "
                               "exists or the file can be found within a directory specified by the PATH environment variable.")
        if not cwd.is_dir():
            raise ActionFailed(f"An error occurred trying to start process '{exe}' with working directory "
                               f"'{cwd}'. No such file or directory")
        code, timed_out, lines = self.execute([exe, *argv[1:]], cwd, env, timeout)
        self._process_output(sr, lines)
        sr.exit_code = code
        self._apply_files(sr, files)
        if timed_out:
            if self.remaining() <= 0:
                sr.outcome = "cancelled"
                self._cancel("the job has exceeded the maximum execution time")
                sr.error = "The operation was canceled."
            else:
                sr.outcome = "failure"
                sr.error = f"The action '{sr.name}' has timed out after {step.get('timeout-minutes')} minutes."
        elif code != 0:
            sr.outcome = "failure"
            sr.error = f"Process completed with exit code {code}."

    def _process_output(self, sr: StepResult, lines: list[str]) -> None:
        stop_token: str | None = None
        for line in lines:
            if stop_token is not None:
                if line.strip() == f"::{stop_token}::":
                    stop_token = None
                else:
                    sr.log.append(self.masker.mask(line))
                continue
            cmd = parse_command(line)
            if cmd is None:
                sr.log.append(self.masker.mask(line))
                continue
            if cmd.name == "add-mask":
                self.masker.add(cmd.data)
            elif cmd.name in ("error", "warning", "notice"):
                self.annotate(cmd.name, cmd.data, cmd.properties)
            elif cmd.name == "debug":
                pass  # shown only with step debug logging
            elif cmd.name == "group":
                sr.groups.append(cmd.data)
                sr.log.append(f"##[group]{self.masker.mask(cmd.data)}")
            elif cmd.name == "endgroup":
                sr.log.append("##[endgroup]")
            elif cmd.name == "stop-commands":
                stop_token = cmd.data
            elif cmd.name == "set-output":
                self.annotate("warning", "The `set-output` command is deprecated and will be disabled soon. "
                              "Please upgrade to using Environment Files.")
                sr.outputs[cmd.properties.get("name", "")] = cmd.data
            elif cmd.name in ("set-env", "add-path"):
                sr.outcome = "failure"
                sr.error = (f"Unable to process command '{line.strip()}' successfully. The `{cmd.name}` command "
                            "is disabled.")
                self.annotate("error", sr.error)
            else:
                sr.log.append(self.masker.mask(line))

    def _apply_files(self, sr: StepResult, files: Mapping[str, Path]) -> None:
        for name, value in parse_env_file(files["env"].read_text(encoding="utf-8"), "GITHUB_ENV"):
            if name.upper() == "NODE_OPTIONS":
                self.annotate("warning", "Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command.")
                continue
            self.global_env[name] = value
        for name, value in parse_env_file(files["output"].read_text(encoding="utf-8"), "GITHUB_OUTPUT"):
            sr.outputs[name] = value
        for line in files["path"].read_text(encoding="utf-8").splitlines():
            if line.strip():
                self.path_prepends.append(line.strip())
        summary = files["step_summary"].read_text(encoding="utf-8")
        if len(summary.encode()) > 1024 * 1024:
            self.annotate("error", "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of 1024k")
        else:
            sr.summary = self.masker.mask(summary)

    def _run_action(self, sr: StepResult, step: Mapping[str, Any], step_env: dict[str, str], scope: Scope,
                    action_id: str, timeout: float) -> None:
        uses = str(step["uses"])
        inputs = {str(k): evaluate_string(v, scope) for k, v in (step.get("with") or {}).items()}
        sr.inputs = {k: self.masker.mask(v) for k, v in inputs.items()}
        key = uses.split("@", 1)[0]
        candidates = [uses, key, "/".join(key.split("/")[:2])]
        stub = next((self.state.stubs[c] for c in candidates if c in self.state.stubs), None)
        if stub is not None:
            sr.stubbed = True
            self.state.result.stubs_used.append(f"{self.result.name}/{sr.name}: {uses}")
            files = self._step_files()
            ctx = StubContext(uses, inputs, self.process_env(step_env, files, action_id), self.workspace,
                              self.temp, self.job_id, sr.name)
            try:
                outputs = stub(ctx) or {}
            finally:
                for line in ctx.lines:
                    self.log(line)
            sr.outputs.update({k: str(v) for k, v in outputs.items()})
            return
        builtin = actions.BUILTINS.get(key)
        if builtin is None:
            kind = ("a docker action" if uses.startswith("docker://") else
                    "a local action" if uses.startswith("./") else "an action")
            raise UnsupportedFeature(
                f"unsupported action '{uses}' ({kind}) in job '{self.job_id}', step '{sr.name}': the simulation "
                f"runs only {sorted(actions.BUILTINS)}; register a stub, e.g. stubs={{'{key}': fn}}")
        unexpected = sorted(set(inputs) - set(builtin.inputs))
        if unexpected:
            self.annotate("warning", f"Unexpected input(s) {', '.join(repr(u) for u in unexpected)}, valid inputs are "
                                     f"{builtin.inputs}")
        outputs = builtin.run(self, inputs, step_env)
        sr.outputs.update(outputs)

    def _post(self) -> None:
        for label, fn in reversed(self.post_hooks):
            sr = StepResult(index=len(self.result.steps), name=f"Post {label}", id=None)
            self.current = sr
            self.result.steps.append(sr)
            try:
                fn()
            except ActionFailed as exc:
                self._fail_step(sr, str(exc), False)
        self.current = None

    def _outputs(self) -> None:
        spec = self.spec.get("outputs") or {}
        scope = Scope(self.contexts(("github", "needs", "strategy", "matrix", "job", "runner", "env", "vars",
                                     "secrets", "steps", "inputs")))
        for name, value in spec.items():
            try:
                text = evaluate_string(value, scope)
            except ExpressionError as exc:
                self.result.outputs[str(name)] = ""
                self.annotate("error", f"output {name}: {exc}")
                continue
            if self.masker.mask(text) != text:
                self.annotate("warning", f"Skip output '{name}' since it may contain secret.")
                continue
            self.result.outputs[str(name)] = text


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _shell_template(shell: str | None) -> tuple[str, str]:
    """GitHub's exact invocation per ``shell:`` value, and the script file's extension."""
    if shell is None or shell == "":
        return "bash -e {0}", ".sh"
    if shell == "bash":
        return "bash --noprofile --norc -eo pipefail {0}", ".sh"
    if shell == "sh":
        return "sh -e {0}", ".sh"
    if shell == "python":
        return "python {0}", ".py"
    if shell in ("pwsh", "powershell", "cmd"):
        raise UnsupportedFeature(f"shell: {shell} is not simulated")
    parts = shlex.split(shell)
    if "{0}" not in shell:
        parts.append("{0}")
    ext = ".py" if os.path.basename(parts[0]).startswith("python") else ".sh"
    return " ".join(shlex.quote(p) if p != "{0}" else p for p in parts), ext
