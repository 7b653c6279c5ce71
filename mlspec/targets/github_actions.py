"""The `github_actions` target: a CI workflow and a training/release workflow.

``.github/workflows/<prefix>-ci.yml`` validates the spec, checks that the committed
artifacts are up to date and runs the project's tests. ``<prefix>-train.yml`` runs the
Plan's pipeline graph: one job per node in plan order, ``needs:`` from the graph, files
passed between jobs as artifacts, the gate job stopping everything after it, approval as a
job bound to a GitHub environment with required reviewers, and the serving image built
and pushed last.

Workflows are built as Python data and written by :func:`mlspec.output.encoders.yaml_dump`; they
are never text-templated. Hardening (docs/targets/github-actions.md): ``permissions: {}`` at the top
and the minimum per job, every action pinned to a full commit SHA (``action_pins``),
``persist-credentials: false``, ``concurrency``, ``timeout-minutes`` on every job,
``shell: bash``, user values only through ``env:`` (the spec's commands are the one
exception: they *are* the user's shell scripts), secrets only on the step that needs them
and only in jobs bound to an environment. The compiler has already rejected ``${{`` in any
spec text (MS310), so no user value can become a GitHub expression.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from mlspec import diagnostics as dx
from mlspec.output.artifacts import Artifact
from mlspec.diagnostics import Diagnostic, SpecPath
from mlspec.compiler.plan import Image, Node, Plan
from mlspec.language.types import EnvironmentName, SecretName, pattern_str
from mlspec.targets import Target, TargetOptions
from mlspec.targets import action_pins as pins
from mlspec.language.target_options import PipRequirement
from mlspec.targets.toolkit.memo import per_plan
from mlspec.targets.toolkit.state import ephemeral_state
from mlspec.targets.toolkit.texts import node_text_paths, nul_errors

WORKFLOW_DIR = ".github/workflows"
# Minutes a job needs besides its command: checkout, setup-python, pip install, artifacts.
SETUP_MINUTES = 10
# GitHub-hosted runners stop every job after 6 hours; self-hosted ones after 5 days.
HOSTED_MAX_MINUTES = 360
SELF_HOSTED_MAX_MINUTES = 7200
# GitHub starts at most 256 jobs per workflow run and no run of a workflow file over 500 KB.
MAX_JOBS = 256
MAX_WORKFLOW_BYTES = 500 * 1024
HOSTED_LABEL = re.compile(r"(ubuntu|windows|macos)-[a-z0-9.-]+")
RETRY_PAUSE_SECONDS = 30
OUTPUTS_TAR = "mlspec-outputs.tar"
INPUTS_DIR = "mlspec-inputs"
MAX_NAMED_DOWNLOADS = 5  # above this, a job downloads all artifacts in one step
# Step-level variables the generated scripts use; a spec env of the same name would clash.
COMMAND_VAR = "MLSPEC_NODE_COMMAND"
RESERVED_ENV = frozenset({COMMAND_VAR})
JOB_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
RELEASE_KINDS = frozenset({"approve", "register", "build", "deploy"})
COMMAND_KINDS = frozenset({"fetch", "data_check", "step", "train", "evaluate", "eval", "gate", "register"})
# The workflow's run id for the store: one per workflow run, the same in every attempt, so that a
# re-run of the failed jobs finds the outputs the jobs that succeeded saved in the first attempt.
RUN_ID = "gh-${{ github.run_id }}"

_OPTION = dx.TARGET_OPTION_INVALID
_RUNNER_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_RUNNER_HINT = "a runner label such as 'ubuntu-latest', or a list of labels such as [self-hosted, linux, gpu]"


def _check_runner(value: Any) -> str | list[str]:
    """One runner label or a non-empty list of them (one error, not one per union member)."""
    labels = [value] if isinstance(value, str) else value
    if not isinstance(labels, list) or not 1 <= len(labels) <= 10 or not all(isinstance(x, str) for x in labels):
        raise PydanticCustomError(_OPTION, "expected a runner label or a list of 1 to 10 labels",
                                  {"hint": _RUNNER_HINT})
    for label in labels:
        if not _RUNNER_LABEL.fullmatch(label):
            raise PydanticCustomError(_OPTION, f"invalid runner label {label!r}", {"hint": _RUNNER_HINT})
    return value if isinstance(value, str) else list(labels)


Runner = Annotated[Any, PlainValidator(_check_runner), WithJsonSchema({"anyOf": [
    {"type": "string", "pattern": "^" + _RUNNER_LABEL.pattern + "$"},
    {"type": "array", "minItems": 1, "maxItems": 10,
     "items": {"type": "string", "pattern": "^" + _RUNNER_LABEL.pattern + "$"}},
], "examples": ["ubuntu-latest", ["self-hosted", "linux", "gpu"]]})]
Branch = pattern_str(
    r"^(?!.*\.\.)(?!.*//)(?!.*\.lock$)(?!.*/$)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$", _OPTION, "branch name",
    hint="a plain branch name such as 'main' or 'release/v1' (no patterns)", max_length=200,
    examples=["main"],
)
FilePrefix = pattern_str(
    r"^[a-z0-9][a-z0-9-]{0,39}$", _OPTION, "workflow file prefix",
    hint="lowercase letters, digits and '-' (e.g. 'churn')", max_length=40,
)
EventType = pattern_str(
    r"^[a-z0-9][a-z0-9._-]{0,99}$", _OPTION, "repository_dispatch event type",
    hint="lowercase letters, digits, '.', '_' and '-' (e.g. 'mlspec-retrain')", max_length=100,
)


def _option_error(message: str) -> PydanticCustomError:
    return PydanticCustomError(_OPTION, message)


class GitHubActionsOptions(TargetOptions):
    """Options of the github_actions target (``targets.github_actions``)."""

    runs_on: Runner = Field("ubuntu-latest", description="Runner label (or list of labels) for every job.")
    gpu_runs_on: Runner | None = Field(
        None, description="Runner label(s) for jobs whose node requests GPUs (`resources.gpu` > 0); "
                          "required when any node does, since GitHub-hosted runners have none.")
    branch: Branch = Field("main", description="The release branch: CI runs on pushes to it and pull "
                           "requests into it; models are released only from it (see `release_branch_only`).")
    workflow_prefix: FilePrefix | None = Field(
        None, description="File name prefix of the workflows; default the project name "
                          "(`<prefix>-ci.yml`, `<prefix>-train.yml`).")
    ci: bool = Field(True, description="Emit the CI workflow (validate, compile --check, project tests).")
    pull_request_pipeline: bool = Field(
        True, description="On pull requests, the CI workflow also runs the pipeline up to the gates on the "
                          "pull request's code, in one job without secrets, and writes the gate table, the "
                          "metrics and `validation.outputs` into the job summary. It never registers or deploys.")
    review: bool = Field(True, description="On pull requests, write `mlspec diff` (what the spec change alters: "
                         "gates, secrets, permissions, schedules, …) into the job summary.")
    code_scanning: bool = Field(False, description="Upload the spec's diagnostics as SARIF to GitHub code scanning "
                                "on pushes to the branch (the repository must have code scanning enabled).")
    train: bool = Field(True, description="Emit the training/release workflow (pipeline nodes packed into "
                        "jobs: a chain shares a job; fan-out, approvals, GPUs and image builds get their own).")
    mlspec_install: PipRequirement | None = Field(
        None, description="The pip requirement that installs mlspec in CI and in jobs that run mlspec "
                          "runtime commands (gate, check-data, register). Default: targets.docker.mlspec_install, "
                          "which defaults to exactly the mlspec version that generated the files.")
    secrets_environment: EnvironmentName | None = Field(
        "training", description="GitHub environment for jobs that receive secrets, so secrets can be "
                                "scoped to it and protected by its rules. null: no environment (secrets "
                                "then come from repository secrets only).")
    retrain_event: EventType = Field(
        "mlspec-retrain", description="`repository_dispatch` event type that starts a retrain (sent by "
                                      "monitoring when `retraining.on` events fire).")
    timeout_minutes: int = Field(60, ge=1, le=7200, description="Minutes allowed to a node without a `timeout` "
                                 "(a node with one gets its timeout times its attempts); a job's timeout is the "
                                 "sum over its nodes plus setup time.")
    release_branch_only: bool = Field(
        True, description="Run the release jobs (approval, register, image build) only on `branch`; "
                          "training started from another branch stops after the gates.")
    artifact_retention_days: int | None = Field(
        None, ge=1, le=400, description="Days GitHub keeps the files passed between jobs; default the "
                                        "repository's setting.")
    registry_username_secret: SecretName | None = Field(
        None, description="Secret holding the image registry user name. Not needed for ghcr.io, "
                          "where the job's GITHUB_TOKEN logs in.")
    registry_password_secret: SecretName | None = Field(
        None, description="Secret holding the image registry password or token. Not needed for ghcr.io.")

    @model_validator(mode="after")
    def _credentials_come_in_pairs(self) -> GitHubActionsOptions:
        if (self.registry_username_secret is None) != (self.registry_password_secret is None):
            raise _option_error("set both registry_username_secret and registry_password_secret, or neither")
        return self


# --------------------------------------------------------------------------- small helpers


REPORT_JOB = "report"   # the final job reporting how the run ended (no node slug is 'report')


def job_id(node: Node) -> str:
    """The job id of a node: its slug with '-' for '_' (``step_prepare`` → ``step-prepare``)."""
    return node.slug.replace("_", "-")


def workflow_paths(plan: Plan, options: GitHubActionsOptions) -> tuple[str, str]:
    prefix = options.workflow_prefix or plan.project.name
    return f"{WORKFLOW_DIR}/{prefix}-ci.yml", f"{WORKFLOW_DIR}/{prefix}-train.yml"


def _workspace_path(plan: Plan, path: str) -> str:
    """``path`` (relative to the spec's folder) relative to the repository root."""
    return posixpath.normpath(posixpath.join(plan.spec_dir, path))


def _glob_literal(path: str) -> str:
    """``path`` as a `paths:` filter pattern matching only itself (GitHub escapes with '\\')."""
    return "".join("\\" + c if c in "*?+[]!\\" else c for c in path)


def _runner(labels: str | list[str]) -> str | list[str]:
    return list(labels) if isinstance(labels, list) else labels


def _labels(labels: str | list[str]) -> list[str]:
    return list(labels) if isinstance(labels, list) else [labels]


def _hosted(labels: str | list[str]) -> bool:
    return any(HOSTED_LABEL.fullmatch(label) for label in _labels(labels))


def _expression_string(text: str) -> str:
    """A GitHub expression string literal: single quotes, ``''`` for a quote."""
    return "'" + text.replace("'", "''") + "'"


def _attempts(node: Node) -> int:
    return node.retries + 1


def _timeouts(node: Node, options: GitHubActionsOptions) -> tuple[int, int | None]:
    """(job timeout, command step timeout) in minutes."""
    if not node.timeout_seconds:
        return options.timeout_minutes, None
    attempts = _attempts(node)
    step = math.ceil((node.timeout_seconds * attempts + RETRY_PAUSE_SECONDS * (attempts - 1)) / 60)
    return step + SETUP_MINUTES, step


def _node_minutes(node: Node, options: GitHubActionsOptions) -> int:
    """Minutes a node may take inside a job: its timeout times its attempts, else the option."""
    return _timeouts(node, options)[1] or options.timeout_minutes


def _max_minutes(labels: str | list[str]) -> int:
    return HOSTED_MAX_MINUTES if _hosted(labels) else SELF_HOSTED_MAX_MINUTES


@dataclass(frozen=True)
class Job:
    """Pipeline nodes that run one after the other on one runner (one job of the train workflow)."""

    id: str
    nodes: tuple[Node, ...]

    def minutes(self, options: GitHubActionsOptions) -> int:
        if len(self.nodes) == 1:
            return _timeouts(self.nodes[0], options)[0]
        return SETUP_MINUTES + sum(_node_minutes(n, options) for n in self.nodes)


def _runs_on(node: Node, options: GitHubActionsOptions) -> str | list[str]:
    return options.gpu_runs_on if (node.resources.gpu or 0) > 0 and options.gpu_runs_on else options.runs_on


def _release_only(node: Node, options: GitHubActionsOptions) -> bool:
    return node.kind in RELEASE_KINDS and options.release_branch_only


def pack(plan: Plan, options: GitHubActionsOptions) -> list[Job]:
    """The jobs of the train workflow, in plan order.

    A node joins the job of the nodes it needs when a separate runner would gain nothing: all
    its needs are in that job, no other node waits on that job (a fan-out keeps its
    parallelism), it runs on the same runner labels under the same branch condition, and the
    job stays within the runner's time limit. Approvals (an environment's reviewers) and image
    builds (Docker, not Python) are jobs of their own; every job boundary is a round trip of
    files through the store, so fewer boundaries mean fewer installs and transfers."""
    children: dict[str, set[str]] = {n.id: set() for n in plan.nodes}
    for n in plan.nodes:
        for d in n.needs:
            children.setdefault(d, set()).add(n.id)
    groups: list[list[Node]] = []
    where: dict[str, int] = {}
    for node in plan.nodes:
        target = {where[d] for d in node.needs if d in where}
        gi = next(iter(target)) if len(target) == 1 and len(node.needs) > 0 else None
        if gi is not None and not _joins(node, groups[gi], children, options):
            gi = None
        if gi is None:
            where[node.id] = len(groups)
            groups.append([node])
        else:
            where[node.id] = gi
            groups[gi].append(node)
    jobs = []
    for group in groups:
        named = next((n for n in group if n.kind == "train"), group[-1])
        jobs.append(Job(job_id(named), tuple(group)))
    return jobs


def _joins(node: Node, group: list[Node], children: dict[str, set[str]], options: GitHubActionsOptions) -> bool:
    if node.kind not in COMMAND_KINDS or group[0].kind not in COMMAND_KINDS:
        return False
    members = {m.id for m in group}
    waiting = set().union(*(children.get(m, set()) for m in members)) - members
    if waiting != {node.id}:
        return False
    labels = _runs_on(node, options)
    if _labels(labels) != _labels(_runs_on(group[0], options)):
        return False
    if _release_only(node, options) != _release_only(group[0], options):
        return False
    minutes = SETUP_MINUTES + sum(_node_minutes(n, options) for n in (*group, node))
    return minutes <= _max_minutes(labels)


# --------------------------------------------------------------------------- steps


def _checkout() -> dict[str, Any]:
    return {"name": "Check out the repository", "uses": pins.CHECKOUT.uses,
            "with": {"persist-credentials": False}}


def _setup_python(plan: Plan, cache_keys: list[str]) -> dict[str, Any]:
    """Python with pip's download cache, keyed on ``cache_keys`` (files relative to the repository
    root): the requirements for jobs that install them, the workflow file (which pins mlspec)
    for jobs that install only mlspec -- so the two kinds of job never share one cache entry.
    No keys: no cache (a job that publishes an image restores nothing a poisoned cache could hold)."""
    step: dict[str, Any] = {"name": "Set up Python", "uses": pins.SETUP_PYTHON.uses,
                            "with": {"python-version": plan.environment.python}}
    if cache_keys:
        step["with"].update({"cache": "pip", "cache-dependency-path": "\n".join(cache_keys)})
    return step


def _install(plan: Plan, requirement: str | None, requirements: bool = True) -> dict[str, Any] | None:
    """One pip run for the project's requirements and mlspec, so one resolver sees both."""
    env: dict[str, str] = {}
    args: list[str] = []
    requirements = requirements and bool(plan.environment.requirements)
    if requirements:
        assert plan.environment.requirements is not None
        env["MLSPEC_REQUIREMENTS"] = plan.environment.requirements
        args.append('-r "$MLSPEC_REQUIREMENTS"')
    if requirement:
        env["MLSPEC_INSTALL"] = requirement
        args.append('"$MLSPEC_INSTALL"')
    if not args:
        return None
    what = " and ".join(x for x in ("requirements" if requirements else "", "mlspec" if requirement else "") if x)
    return {"name": f"Install {what}", "env": env,
            "run": "python -m pip install --disable-pip-version-check " + " ".join(args)}


def _download_inputs(producers: list[str]) -> list[dict[str, Any]]:
    """Fetch the outputs of upstream jobs (each a tar made by the producing job) and unpack them
    in place (the transport when the store is a local folder, which no other runner sees)."""
    steps: list[dict[str, Any]] = []
    if len(producers) > MAX_NAMED_DOWNLOADS:
        # Deep pipelines: one step fetching every artifact of the run so far (each into its own
        # folder) keeps a job's size constant instead of growing with its number of ancestors.
        # Output paths have one producer each (MS313), so unpacking extra archives is harmless.
        # (The count is not named: the producer list is cut short past the threshold.)
        steps.append({"name": "Download the outputs of every upstream job",
                      "uses": pins.DOWNLOAD_ARTIFACT.uses,
                      "with": {"path": f"${{{{ runner.temp }}}}/{INPUTS_DIR}"}})
        producers = []
    for name in producers:
        steps.append({"name": f"Download outputs of job {name}", "uses": pins.DOWNLOAD_ARTIFACT.uses,
                      "with": {"name": name, "path": f"${{{{ runner.temp }}}}/{INPUTS_DIR}/{name}"}})
    if steps:
        steps.append({"name": "Unpack inputs", "run": (
            f'for archive in "$RUNNER_TEMP"/{INPUTS_DIR}/*/{OUTPUTS_TAR}; do\n'
            '  tar -xf "$archive"\n'
            "done")})
    return steps


def _upload_outputs(name: str, outputs: list[str], options: GitHubActionsOptions) -> list[dict[str, Any]]:
    """Tar a job's outputs, so paths and folders arrive exactly where they were written.

    (upload-artifact roots an artifact at the common ancestor of its paths, which would
    move a single ``data/x.parquet`` to ``x.parquet`` on download.)
    """
    if not outputs:
        return []
    upload: dict[str, Any] = {
        "name": name, "path": f"${{{{ runner.temp }}}}/{OUTPUTS_TAR}",
        "if-no-files-found": "error", "overwrite": True,
    }
    if options.artifact_retention_days is not None:
        upload["retention-days"] = options.artifact_retention_days
    return [
        {"name": "Pack outputs", "env": {"MLSPEC_PATHS": "\n".join(outputs)},
         "run": ('mapfile -t paths <<< "$MLSPEC_PATHS"\n'
                 f'tar -cf "$RUNNER_TEMP/{OUTPUTS_TAR}" -- "${{paths[@]}}"')},
        {"name": "Upload outputs", "uses": pins.UPLOAD_ARTIFACT.uses, "with": upload},
    ]


def _store_step(action: str, nodes: list[Node], paths: list[str], spec_file: str,
                credentials: dict[str, str]) -> dict[str, Any]:
    """``mlspec store save|restore`` for the nodes of one job; node ids and paths reach the
    shell as data (env), never as script text."""
    from mlspec.output.encoders import sh

    env = {"MLSPEC_NODES": "\n".join(n.id for n in nodes)}
    run = 'args=()\nwhile IFS= read -r node; do args+=(--node "$node"); done <<< "$MLSPEC_NODES"\n'
    if paths:
        env["MLSPEC_PATHS"] = "\n".join(paths)
        run += 'while IFS= read -r path; do args+=(--path "$path"); done <<< "$MLSPEC_PATHS"\n'
    run += f'mlspec store {action} "${{args[@]}}" -- {sh(spec_file)}'
    name = "Restore inputs from the store" if action == "restore" else "Save outputs to the store"
    return {"name": name, "env": {**env, **credentials}, "run": run}


def _command_step(node: Node, command: str | None, timeout: int | None,
                  credentials: dict[str, str] | None = None, *, secrets: bool = True) -> dict[str, Any]:
    """The step running ``node``'s command; ``secrets=False`` leaves its secrets out (a pull request's run)."""
    env = dict(node.env)
    for name in node.secrets if secrets else ():
        env[name] = f"${{{{ secrets.{name} }}}}"
    env.update(credentials or {})
    attempts = _attempts(node)
    if attempts == 1:
        run = command
    else:
        # The command is data here (an env value run by bash), so it can be retried without
        # changing its errexit semantics; each attempt gets the node's own timeout.
        env[COMMAND_VAR] = command or ""
        limit = f"timeout --kill-after=30 {node.timeout_seconds} " if node.timeout_seconds else ""
        run = (
            f"for attempt in {' '.join(str(i) for i in range(1, attempts + 1))}; do\n"
            f'  if {limit}bash --noprofile --norc -eo pipefail -c "${COMMAND_VAR}"; then\n'
            "    exit 0\n"
            "  fi\n"
            f'  echo "::warning::attempt $attempt of {attempts} failed"\n'
            f'  if [ "$attempt" -lt {attempts} ]; then sleep {RETRY_PAUSE_SECONDS}; fi\n'
            "done\n"
            "exit 1")
    step: dict[str, Any] = {"name": f"Run {node.title}"}
    if env:
        step["env"] = dict(sorted(env.items()))
    step["run"] = run
    if timeout is not None:
        step["timeout-minutes"] = timeout
    return step


def _runs_project_code(node: Node) -> bool:
    """Whether the node imports the project's requirements: every command but mlspec's own
    checks (gate, check-data, register); `mlspec eval` runs the eval's own command."""
    return not node.runtime or node.kind == "eval"


def _has_secret(step: dict[str, Any]) -> bool:
    return any("secrets." in str(v) for v in (step.get("env") or {}).values())


def _job_title(job: Job) -> str:
    titles = [n.title for n in job.nodes]
    if len(titles) <= 5 and sum(map(len, titles)) <= 80:
        return " → ".join(titles)
    return f"{titles[0]} → … → {titles[-1]} ({len(titles)} nodes)"


# --------------------------------------------------------------------------- workflows


class _Builder:
    """Turns one Plan into the two workflow documents (plain dicts)."""

    def __init__(self, plan: Plan, options: GitHubActionsOptions) -> None:
        self.plan = plan
        self.options = options
        self.requirement = options.mlspec_install or plan.mlspec_install
        self.producers = {path: n for n in plan.nodes for path in n.outputs}
        self.jobs = pack(plan, options) if options.train else []
        self.job_of = {n.id: job for job in self.jobs for n in job.nodes}
        self.job_order = {j.id: i for i, j in enumerate(self.jobs)}
        self.upstream = self._upstream_jobs()
        train_path = workflow_paths(plan, options)[1]
        requirements = plan.environment.requirements
        # pip's cache: keyed on the requirements where jobs install them, else on the workflow.
        self.runtime_cache = [train_path]
        self.requirements_cache = [_workspace_path(plan, requirements)] if requirements else [train_path]

    # ------------------------------------------------------------------ shared

    def _defaults(self, working_directory: bool) -> dict[str, Any]:
        run: dict[str, Any] = {"shell": "bash"}
        if working_directory and self.plan.spec_dir != ".":
            run["working-directory"] = self.plan.spec_dir
        return {"run": run}

    def _project_paths(self) -> list[str]:
        """The CI's `paths:` filter when the project shares the repository (its spec lies below
        the output folder, the repository root): the project's folder, what its steps read
        from outside it, and the files generated for it, which all carry its name. Empty
        for a project at the root: every change is the project's."""
        plan = self.plan
        if plan.spec_dir == ".":
            return []
        name, slug = plan.project.name, plan.project.name.replace("-", "_")
        folder = plan.spec_dir.rstrip("/")
        read = {_workspace_path(plan, path) for n in plan.nodes for path in n.inputs}
        if plan.environment.requirements:
            read.add(_workspace_path(plan, plan.environment.requirements))
        outside = sorted(path for path in read if not path.startswith(f"{folder}/") and path != ".")
        literal = [_glob_literal(p) for p in (f"{folder}/", *outside)]
        return [f"{literal[0]}**", *workflow_paths(plan, self.options), f".mlspec-manifest.{name}.json",
                f"**/{name}.*", f"**/*.{name}.*", f"**/{slug}_*", *literal[1:]]

    def _header(self, name: str, on: dict[str, Any], cancel: bool) -> dict[str, Any]:
        return {
            "name": name,
            "on": on,
            "permissions": {},
            "concurrency": {"group": "${{ github.workflow }}-${{ github.ref }}", "cancel-in-progress": cancel},
        }

    # ------------------------------------------------------------------ CI

    def ci(self) -> dict[str, Any]:
        plan, o = self.plan, self.options
        spec = _workspace_path(plan, plan.spec_file)
        on: dict[str, Any] = {"pull_request": {"branches": [o.branch]}, "push": {"branches": [o.branch]}}
        paths = self._project_paths()
        if paths:
            on = {event: {**trigger, "paths": paths} for event, trigger in on.items()}
        workflow = self._header(f"{plan.project.name} CI", on, cancel=True)
        workflow["defaults"] = self._defaults(working_directory=False)
        ci_cache = [workflow_paths(plan, o)[0]]
        validate_env = {"MLSPEC_SPEC": spec}
        jobs: dict[str, Any] = {"validate": {
            "name": "validate the spec and generated files",
            "runs-on": _runner(o.runs_on),
            "timeout-minutes": 15,
            "permissions": {"contents": "read"},
            "steps": [
                _checkout(),
                _setup_python(plan, ci_cache),
                {"name": "Install mlspec", "env": {"MLSPEC_INSTALL": self.requirement},
                 "run": 'python -m pip install --disable-pip-version-check "$MLSPEC_INSTALL"'},
                {"name": "Validate the spec", "env": validate_env,
                 "run": 'mlspec validate --format github -- "$MLSPEC_SPEC"'},
                {"name": "Check generated files are up to date", "env": validate_env,
                 "run": 'mlspec compile --check --format github --out . -- "$MLSPEC_SPEC"'},
            ],
        }}
        install = {"name": "Install mlspec", "env": {"MLSPEC_INSTALL": self.requirement},
                   "run": 'python -m pip install --disable-pip-version-check "$MLSPEC_INSTALL"'}
        if o.review:
            # Full history so the merge base with the target branch exists; no token is kept.
            checkout = _checkout()
            checkout["with"]["fetch-depth"] = 0
            jobs["review"] = {
                "name": "what this change alters",
                "if": "github.event_name == 'pull_request'",
                "runs-on": _runner(o.runs_on),
                "timeout-minutes": 15,
                "permissions": {"contents": "read"},
                "steps": [checkout, _setup_python(plan, ci_cache), dict(install), {
                    "name": "Summarise the spec change", "env": validate_env,
                    "run": 'mlspec diff --format markdown "$MLSPEC_SPEC" >> "$GITHUB_STEP_SUMMARY"'}],
            }
        if o.code_scanning:
            jobs["code-scanning"] = {
                "name": "upload diagnostics to code scanning",
                "if": f"github.event_name == 'push' && github.ref == {_expression_string('refs/heads/' + o.branch)}",
                "runs-on": _runner(o.runs_on),
                "timeout-minutes": 15,
                "permissions": {"contents": "read", "security-events": "write"},
                "steps": [_checkout(), _setup_python(plan, ci_cache), dict(install), {
                    "name": "Upload SARIF", "env": {**validate_env, "GH_TOKEN": "${{ github.token }}"},
                    "run": 'mlspec validate --format sarif -- "$MLSPEC_SPEC" > mlspec.sarif || true\n'
                           'gh api --method POST "repos/$GITHUB_REPOSITORY/code-scanning/sarifs" '
                           '-f commit_sha="$GITHUB_SHA" -f ref="$GITHUB_REF" '
                           '-f sarif="$(gzip -c mlspec.sarif | base64 -w0)"'}],
            }
        if plan.environment.test:
            steps = [_checkout(), _setup_python(plan, self.requirements_cache if plan.environment.requirements
                                                  else ci_cache)]
            install = _install(plan, None)
            if install:
                steps.append(install)
            test_step: dict[str, Any] = {"name": "Run the project's tests", "run": plan.environment.test}
            if plan.environment.env:
                test_step["env"] = dict(plan.environment.env)
            steps.append(test_step)
            jobs["test"] = {
                "name": "project tests",
                "runs-on": _runner(o.runs_on),
                "timeout-minutes": o.timeout_minutes,
                "permissions": {"contents": "read"},
                "defaults": self._defaults(working_directory=True),
                "steps": steps,
            }
        if o.pull_request_pipeline and o.train and self._trial_nodes():
            jobs["pipeline"] = self.trial()
        if plan.images.train.emitted and plan.images.train.pushed:
            # Orchestrators (Airflow's KubernetesPodOperator) run pipeline nodes in this image,
            # so it follows the release branch; pull requests do not publish images.
            job = {"name": "training image", "needs": ["validate"],
                   "if": f"github.event_name == 'push' && github.ref == "
                         f"{_expression_string('refs/heads/' + o.branch)}",
                   "runs-on": _runner(o.runs_on), "timeout-minutes": o.timeout_minutes}
            jobs["training-image"] = self._image_job(job, plan.images.train, "training", [])
        workflow["jobs"] = jobs
        return workflow

    # ------------------------------------------------------------------ pull requests

    def _pr_baseline(self) -> bool:
        """Pull requests compare with production when this workflow registers and they gate."""
        return any(n.kind == "register" for n in self.plan.nodes) and any(
            n.kind == "gate" for n in self._trial_nodes())

    def _export_baseline(self, credentials: dict[str, str]) -> list[dict[str, Any]]:
        from mlspec.naming import CI_BASELINE_DIR, ci_baseline_artifact
        from mlspec.output.encoders import sh

        plan, o = self.plan, self.options
        upload: dict[str, Any] = {"name": ci_baseline_artifact(plan.project.name),
                                  "path": _workspace_path(plan, CI_BASELINE_DIR + "/"),
                                  "include-hidden-files": True, "if-no-files-found": "ignore",
                                  "retention-days": o.artifact_retention_days or 90}
        export: dict[str, Any] = {"name": "Export the production metrics for pull requests"}
        if credentials:
            export["env"] = dict(credentials)
        export["run"] = f"mlspec ci-baseline export --out {CI_BASELINE_DIR} -- {sh(plan.spec_file)}"
        return [export,
                {"name": "Upload the production metrics for pull requests",
                 "uses": pins.UPLOAD_ARTIFACT.uses, "with": upload}]

    def _trial_nodes(self) -> list[Node]:
        """The pipeline up to the gates: every node but the release (approval, register, image,
        deploy) and what runs after it."""
        dropped: set[str] = set()
        kept: list[Node] = []
        sampled = {d.name for d in self.plan.data if d.sample}
        for n in self.plan.nodes:
            if n.kind == "fetch" and set(n.data) <= sampled:
                continue        # the pull request reads the committed sample, nothing to fetch
            if n.kind in RELEASE_KINDS or n.kind not in COMMAND_KINDS or dropped & set(n.needs):
                dropped.add(n.id)
            else:
                kept.append(n)
        return kept

    def trial(self) -> dict[str, Any]:
        """The pull request's own run of the pipeline up to the gates, in one job on one disk.

        No secrets and no environment (a pull request from a fork gets none, and the code under
        review must not see the store's credentials); the store and the registry are a folder of
        the job, so gates comparing with production note that none is visible; nothing is pushed
        to the Pushgateway. `mlspec gate` writes the gate table and the metrics into the job summary
        ($GITHUB_STEP_SUMMARY); the last step adds `validation.outputs` and uploads them."""
        plan, o = self.plan, self.options
        nodes = self._trial_nodes()
        steps: list[dict[str, Any]] = [_checkout(), _setup_python(plan, self.requirements_cache)]
        install = _install(plan, self.requirement, any(_runs_project_code(n) for n in nodes))
        assert install is not None
        steps.append(install)
        baseline = self._pr_baseline()
        for node in nodes:
            command = plan.command_for(node, sample=True)
            if baseline and node.kind == "gate" and command and command.startswith("mlspec gate "):
                from mlspec.naming import CI_BASELINE_DIR
                from mlspec.output.encoders import sh

                # Production as the train workflow last exported it: the job's read-only token
                # lists the base branch's artifacts; the gate table then shows the deltas.
                steps.append({"name": "Fetch the production metrics", "env": {"GITHUB_TOKEN": "${{ github.token }}"},
                              "run": f"mlspec ci-baseline fetch --out {CI_BASELINE_DIR} -- {sh(plan.spec_file)}"})
                command = command.replace("mlspec gate ", f"mlspec gate --baseline-dir {CI_BASELINE_DIR} ", 1)
            step = _command_step(node, command, _timeouts(node, o)[1] or o.timeout_minutes, secrets=False)
            step["name"] = f"Run {node.title}"
            steps.append(step)
        outputs = [p for p in (plan.eval_metrics_path, plan.train_metrics_path, *plan.eval_outputs) if p]
        if outputs:
            steps.append({
                "name": "Show the evaluation outputs", "if": "always()",
                "env": {"MLSPEC_OUTPUTS": "\n".join(outputs)},
                "run": ('{\n'
                        '  echo "### Evaluation outputs"\n'
                        '  while IFS= read -r f; do\n'
                        '    if [ ! -f "$f" ]; then echo "- \\`$f\\`: not written"; continue; fi\n'
                        '    size=$(wc -c < "$f")\n'
                        '    case "$f" in\n'
                        '      *.json|*.md|*.txt|*.csv|*.yaml|*.yml)\n'
                        '        if [ "$size" -le 65536 ]; then\n'
                        '          printf \'<details><summary>%s</summary>\\n\\n~~~~\\n\' "$f"\n'
                        '          cat -- "$f"\n'
                        '          printf \'\\n~~~~\\n</details>\\n\'\n'
                        '          continue\n'
                        '        fi ;;\n'
                        '    esac\n'
                        '    echo "- \\`$f\\` ($size bytes, in the run\'s artifact \\`evaluation\\`)"\n'
                        '  done <<< "$MLSPEC_OUTPUTS"\n'
                        '} >> "$GITHUB_STEP_SUMMARY"')})
            upload: dict[str, Any] = {"name": "evaluation",
                                      "path": "\n".join(_workspace_path(plan, p) for p in outputs),
                                      "if-no-files-found": "ignore"}
            if o.artifact_retention_days is not None:
                upload["retention-days"] = o.artifact_retention_days
            steps.append({"name": "Upload the evaluation outputs", "if": "always()",
                          "uses": pins.UPLOAD_ARTIFACT.uses, "with": upload})
        job: dict[str, Any] = {
            "name": "train and gate the change",
            "if": "github.event_name == 'pull_request'",
            "runs-on": _runner(o.runs_on),
            # GitHub stops a job at its runner's limit whatever the sum says; say so in the file.
            "timeout-minutes": min(SETUP_MINUTES + sum(_node_minutes(n, o) for n in nodes), _max_minutes(o.runs_on)),
            "permissions": {"actions": "read", "contents": "read"} if baseline else {"contents": "read"},
            # One disk, no credentials: outputs and the registry stay in the job; no metrics leave it.
            "env": {"MLSPEC_STORAGE": ".mlspec/pull-request-store", "MLSPEC_NO_PUSH": "1"},
            "defaults": self._defaults(working_directory=True),
            "steps": steps,
        }
        return job

    # ------------------------------------------------------------------ training / release

    def triggers(self) -> dict[str, Any]:
        on: dict[str, Any] = {"workflow_dispatch": {}}
        r = self.plan.retraining
        if r is not None and r.schedule and r.scheduler == "github_actions":   # else Airflow runs it
            on["schedule"] = [{"cron": r.schedule}]
        if r is not None and r.on:
            on["repository_dispatch"] = {"types": [self.options.retrain_event]}
        return on

    def train(self) -> dict[str, Any]:
        plan = self.plan
        workflow = self._header(f"{plan.project.name} train", self.triggers(), cancel=False)
        if not plan.storage.local:
            workflow["env"] = {"MLSPEC_RUN_ID": RUN_ID}
        workflow["defaults"] = self._defaults(working_directory=True)
        workflow["jobs"] = {job.id: self.job(job) for job in self.jobs}
        workflow["jobs"][REPORT_JOB] = self.report(list(workflow["jobs"]))
        return workflow

    def report(self, jobs: list[str]) -> dict[str, Any]:
        """How the run ended (mlspec_run_success, mlspec_run_timestamp_seconds) for the failure and
        staleness alerts: runs after every job whatever happened. A skipped job (release-only
        jobs off the release branch) is not a failure; a cancelled one is."""
        from mlspec.output.encoders import sh

        run = ('case " $MLSPEC_NEEDS " in\n'
               '  *" failure "*|*" cancelled "*) status=failure ;;\n'
               '  *) status=success ;;\n'
               'esac\n'
               f'mlspec report-run --node pipeline --status "$status" -- {sh(self.plan.spec_file)}')
        return {
            "name": "report the run", "needs": jobs, "if": "always()", "runs-on": _runner(self.options.runs_on),
            "timeout-minutes": 10, "permissions": {"contents": "read"},
            "steps": [
                _checkout(), _setup_python(self.plan, self.runtime_cache),
                {"name": "Install mlspec", "env": {"MLSPEC_INSTALL": self.requirement},
                 "run": 'python -m pip install --disable-pip-version-check "$MLSPEC_INSTALL"'},
                # The repository variable MLSPEC_PUSHGATEWAY, when set, overrides monitoring.pushgateway.
                {"name": "Report the run", "env": {"MLSPEC_NEEDS": "${{ join(needs.*.result, ' ') }}",
                                                   "MLSPEC_PUSHGATEWAY": "${{ vars.MLSPEC_PUSHGATEWAY }}"},
                 "run": run},
            ],
        }

    # ------------------------------------------------------------------ one job

    def _producer(self, path: str) -> Node | None:
        """The node that writes ``path`` (or the folder it lies in); None for a source file."""
        if path in self.producers:
            return self.producers[path]
        parts = path.split("/")
        for i in range(len(parts) - 1, 0, -1):
            found = self.producers.get("/".join(parts[:i]))
            if found is not None:
                return found
        return None

    def _upstream_jobs(self) -> dict[str, list[str]]:
        """For each job, the earlier jobs whose outputs it may read, in workflow order: the makers
        of its nodes' inputs, and every job upstream that writes something (a job starts on an
        empty runner, and a node may read any upstream file; this holds whether a node's inputs
        are what it reads directly or everything upstream). One pass in job order, each list cut
        at MAX_NAMED_DOWNLOADS + 1 (beyond that, only "many" matters), so it stays linear."""
        cap = MAX_NAMED_DOWNLOADS + 1
        order = self.job_order
        writes = {j.id: any(n.outputs for n in j.nodes) for j in self.jobs}
        out: dict[str, list[str]] = {}
        for job in self.jobs:
            found: set[str] = set()
            for node in job.nodes:
                for path in node.inputs:
                    producer = self._producer(path)
                    if producer is not None and self.job_of[producer.id].id != job.id:
                        found.add(self.job_of[producer.id].id)
                if len(found) >= cap:
                    break
            for need in self._needs(job):
                if writes[need]:
                    found.add(need)
                found.update(out[need])
                if len(found) >= cap:
                    break
            out[job.id] = sorted(found, key=order.__getitem__)[:cap]
        return out

    def _needs(self, job: Job) -> list[str]:
        members = {n.id for n in job.nodes}
        needed = {self.job_of[d].id for n in job.nodes for d in n.needs if d not in members}
        return sorted(needed, key=self.job_order.__getitem__)

    def _credentials(self) -> dict[str, str]:
        """The store's credentials, for the steps that read or write it (none for a local store)."""
        if self.plan.storage.local:
            return {}
        return {name: f"${{{{ secrets.{name} }}}}" for name in self.plan.storage.secrets}

    def job(self, job: Job) -> dict[str, Any]:
        o, plan = self.options, self.plan
        first = job.nodes[0]
        out: dict[str, Any] = {"name": first.title if len(job.nodes) == 1 else _job_title(job)}
        needs = self._needs(job)
        if needs:
            out["needs"] = needs
        if _release_only(first, o):
            out["if"] = f"github.ref == {_expression_string('refs/heads/' + o.branch)}"
        out["runs-on"] = _runner(_runs_on(first, o))
        out["timeout-minutes"] = job.minutes(o)
        if first.kind == "approve":
            return self._approve(out)
        if first.kind == "build":
            return self._build(out, first)
        out["permissions"] = {"contents": "read"}
        store = not plan.storage.local
        credentials = self._credentials()
        sources = self.upstream[job.id]
        saved = [n for n in job.nodes if n.outputs]
        requirements = any(_runs_project_code(n) for n in job.nodes)
        mlspec = any(n.runtime or n.fetch_production for n in job.nodes) or (store and bool(sources or saved))
        steps: list[dict[str, Any]] = [_checkout(), _setup_python(plan, self.requirements_cache if requirements
                                                                  else self.runtime_cache)]
        install = _install(plan, self.requirement if mlspec else None, requirements)
        if install:
            steps.append(install)
        if store and sources:
            # Every node of the job is named: the store skips what they make themselves.
            steps.append(_store_step("restore", list(job.nodes), [], plan.spec_file, credentials))
        elif not store:
            steps += _download_inputs(sources)
        for node in job.nodes:
            # A node without a timeout is bounded by its job's (which counts timeout_minutes for it).
            step_timeout = _timeouts(node, o)[1]
            # mlspec's own commands may read the registry and the store (a gate's production
            # baseline, register, the production model's fetch): they get the store's credentials.
            own = credentials if (node.runtime or node.fetch_production) else None
            if node.kind == "register" and plan.approval is not None:
                # `mlspec register` reads who approved the environment (the run's approvals API)
                # for the audit record: the job's token, allowed to read the run and nothing more.
                out["permissions"] = {"actions": "read", "contents": "read"}
                own = {**(own or {}), "GITHUB_TOKEN": "${{ github.token }}"}
            steps.append(_command_step(node, plan.command_for(node), step_timeout, own))
            if node.kind == "register" and self._pr_baseline():
                steps += self._export_baseline(credentials)
        if store and saved:
            steps.append(_store_step("save", saved, [], plan.spec_file, credentials))
        elif not store:
            steps += _upload_outputs(job.id, [p for n in job.nodes for p in n.outputs], o)
        if o.secrets_environment and any(_has_secret(step) for step in steps):
            out["environment"] = o.secrets_environment
        out["steps"] = steps
        return out

    def _approve(self, job: dict[str, Any]) -> dict[str, Any]:
        approval = self.plan.approval
        environment = approval.environment if approval else "production"
        job["permissions"] = {}
        job["environment"] = environment
        step: dict[str, Any] = {"name": "Record the approval"}
        env = {"MLSPEC_ENVIRONMENT": environment}
        message = 'echo "Release approved through the GitHub environment \'$MLSPEC_ENVIRONMENT\'."'
        if approval and approval.reviewers:
            env["MLSPEC_REVIEWERS"] = ", ".join(approval.reviewers)
            message += '\necho "Reviewers named in the spec: $MLSPEC_REVIEWERS"'
        step["env"] = env
        step["run"] = message
        job["steps"] = [step]
        return job

    def _build(self, job: dict[str, Any], node: Node) -> dict[str, Any]:
        # The serving image needs the trained model, none of the other upstream files.
        model = self.plan.model_path
        producer = self.producers.get(model) if model else None
        if producer is None or model is None:
            fetch: list[dict[str, Any]] = []
        elif self.plan.storage.local:
            fetch = _download_inputs([self.job_of[producer.id].id])
        else:
            install = _install(self.plan, self.requirement, False)
            assert install is not None
            fetch = [_setup_python(self.plan, []), install,
                     _store_step("restore", [node], [model], self.plan.spec_file, self._credentials())]
        if self.options.secrets_environment and any(_has_secret(s) for s in fetch):
            job["environment"] = self.options.secrets_environment
        return self._image_job(job, self.plan.images.serve, "serving", fetch)

    def _image_job(self, job: dict[str, Any], image: Image, title: str,
                   fetch: list[dict[str, Any]]) -> dict[str, Any]:
        """Build the project's ``image``; push it when targets.docker.registry is set."""
        o, plan = self.options, self.plan
        repository = image.name if image.pushed else None
        push = repository is not None
        ghcr = push and image.registry_host == "ghcr.io" and o.registry_password_secret is None
        job["permissions"] = {"contents": "read", "packages": "write"} if ghcr else {"contents": "read"}
        if push and not ghcr and o.secrets_environment:
            job["environment"] = o.secrets_environment
        steps: list[dict[str, Any]] = [_checkout(), *fetch,
                                       {"name": "Set up Docker Buildx", "uses": pins.SETUP_BUILDX.uses}]
        build: dict[str, Any] = {"context": plan.images.context, "file": image.dockerfile, "push": push}
        if push:
            assert repository is not None
            if ghcr:
                login = {"registry": "ghcr.io", "username": "${{ github.actor }}",
                         "password": "${{ github.token }}"}
            else:
                login = {"registry": image.registry_host,
                         "username": f"${{{{ secrets.{o.registry_username_secret} }}}}",
                         "password": f"${{{{ secrets.{o.registry_password_secret} }}}}"}
            steps.append({"name": "Log in to the image registry", "uses": pins.LOGIN.uses, "with": login})
            steps.append({"name": "Image tags and labels", "id": "meta", "uses": pins.METADATA.uses, "with": {
                "images": repository,
                "tags": "type=sha,format=long\ntype=raw,value=latest,enable={{is_default_branch}}",
            }})
            build["tags"] = "${{ steps.meta.outputs.tags }}"
            build["labels"] = "${{ steps.meta.outputs.labels }}"
        steps.append({"name": f"Build and push the {title} image" if push else f"Build the {title} image",
                      "uses": pins.BUILD_PUSH.uses, "with": build})
        job["steps"] = steps
        return job


# Why a job holds a scope beyond reading its checkout (zizmor's undocumented-permissions asks
# reviewers to be told).
PERMISSION_REASONS = {("packages", "write"): "push the image to ghcr.io",
                      ("security-events", "write"): "upload SARIF to code scanning",
                      ("actions", "read"): "read who approved the run's environment, for the audit record"}
# Jobs whose scope serves another purpose (by job id: "pipeline" is the CI workflow's pull
# request job; node jobs are named after node slugs, which never equal it).
JOB_PERMISSION_REASONS = {"pipeline": {("actions", "read"): "list and download production's metrics artifact"}}


_USES_LINE = re.compile(r'(\s*(?:- )?uses: )"([^"]+)"')
_PERMISSIONS_LINE = re.compile(r"\s*permissions:")
_SCOPE = re.compile(r'\s*([a-z-]+): "(read|write)"')


_JOB_LINE = re.compile(r"  ([A-Za-z_][A-Za-z0-9_-]*):")


def _with_comments(text: str, job_reasons: dict[str, dict[tuple[str, str], str]] | None = None) -> str:
    """Comments a YAML dumper cannot write: ``# <tag>`` after each pinned ``uses:`` (for
    reviewers and Dependabot) and the reason after each scope of a ``permissions:`` block that
    needs one (a job's own reason first, from ``job_reasons``).
    """
    lines = []
    block_indent: int | None = None
    job: str | None = None
    for line in text.split("\n"):
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            job = None
        elif indent == 2 and (m_job := _JOB_LINE.fullmatch(line)):
            job = m_job.group(1)
        if block_indent is not None and indent <= block_indent:
            block_indent = None
        m = _USES_LINE.fullmatch(line) if "uses: " in line else None
        if m and m.group(2) in pins.BY_USES:
            line = f"{line}  # {pins.BY_USES[m.group(2)].tag}"
        elif line.endswith("permissions:") and _PERMISSIONS_LINE.fullmatch(line):
            block_indent = indent
        elif block_indent is not None:
            scope = _SCOPE.fullmatch(line)
            key = (scope.group(1), scope.group(2)) if scope else None
            reason = ((job_reasons or {}).get(job or "", {}).get(key) if key else None) or (
                PERMISSION_REASONS.get(key) if key else None)
            if reason:
                line = f"{line}  # {reason}"
        lines.append(line)
    return "\n".join(lines)


FOLD_WIDTH = 120
_QUOTED_LINE = re.compile(
    r'(?P<lead>(?P<indent> *)(?:- )?(?:(?:"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_-]*): )?)'
    r'"(?P<body>(?:[^"\\]|\\.)*)"')
# One unit of a double-quoted scalar: an escape sequence or one character (never split inside).
_UNIT = re.compile(r"\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)|.", re.S)


def _fold_line(line: str) -> str:
    """Fold a long one-line double-quoted scalar the way PyYAML does: each line ends with an
    escaped line break (``\\``) and a space that starts the next line is escaped (``\\ ``),
    so the value is unchanged. Breaks go at spaces, else between characters."""
    m = _QUOTED_LINE.fullmatch(line)
    if not m:
        return line
    indent = " " * (len(m["indent"]) + (2 if m["lead"].lstrip(" ").startswith("- ") else 0) + 2)
    units = _UNIT.findall(m["body"])
    out: list[str] = []
    current = m["lead"] + '"'
    start = 0
    while start < len(units):
        room = FOLD_WIDTH - len(current) - 1
        taken, width, last_space = 0, 0, -1
        while start + taken < len(units) and width + len(units[start + taken]) <= room:
            if units[start + taken] == " " and taken > 0:
                last_space = taken
            width += len(units[start + taken])
            taken += 1
        if start + taken >= len(units):
            out.append(current + "".join(units[start:]) + '"')
            break
        cut = last_space if last_space > 0 else max(taken, 1)
        out.append(current + "".join(units[start:start + cut]) + "\\")
        start += cut
        current = indent
        if units[start] == " ":
            current += "\\ "
            start += 1
    return "\n".join(out)


def _fold_long_lines(text: str) -> str:
    """Keep workflow lines readable (and under yamllint's limit) without changing any value."""
    import yaml

    folded = "\n".join(_fold_line(ln) if len(ln) > FOLD_WIDTH else ln for ln in text.split("\n"))
    if folded == text:
        return text
    # Proof that folding changed no value: both texts read back alike (libyaml when present:
    # the pure-Python reader takes seconds on the workflow of a thousand-step pipeline).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if yaml.load(folded, Loader=loader) != yaml.load(text, Loader=loader):  # noqa: S506 - safe loaders
        return text
    return folded


@per_plan
def _builder(plan: Plan, options: GitHubActionsOptions) -> _Builder:
    """The builder of ``plan`` with ``options``: `compile` checks the train workflow's job count
    and size, then writes it and the CI workflow from the same builder (it holds no state
    beyond what it derives in ``__init__``)."""
    return _Builder(plan, options)


@per_plan
def _train_text(plan: Plan, options: GitHubActionsOptions) -> str:
    """The rendered train workflow: rendered once, to check its size and to write it."""
    return render_workflow(_builder(plan, options).train())


def render_workflow(workflow: dict[str, Any]) -> str:
    from mlspec.output.encoders import yaml_dump

    return _with_comments(_fold_long_lines(yaml_dump(workflow)), JOB_PERMISSION_REASONS)


# --------------------------------------------------------------------------- the target


class GitHubActionsTarget(Target):
    name = "github_actions"
    description = "GitHub Actions workflows: CI (validate, compile --check, tests) and training/release."
    options_model = GitHubActionsOptions

    def _emitted(self, plan: Plan) -> list[tuple[str, str]]:
        """``(kind, path)`` of the workflows this plan gets: "ci" and "train"."""
        options: GitHubActionsOptions = self.options
        ci_path, train_path = workflow_paths(plan, options)
        return ([("ci", ci_path)] if options.ci else []) + ([("train", train_path)] if options.train and plan.nodes else [])

    def workflows(self, plan: Plan) -> dict[str, dict[str, Any]]:
        """The workflows as plain data, by path (what :meth:`emit` dumps; tests compare with it)."""
        builder = _builder(plan, self.options)
        return {path: builder.ci() if kind == "ci" else builder.train() for kind, path in self._emitted(plan)}

    def emit(self, plan: Plan) -> list[Artifact]:
        # The train workflow's text is the one `check` rendered to measure it.
        return [Artifact(path, render_workflow(_builder(plan, self.options).ci()) if kind == "ci"
                         else _train_text(plan, self.options), self.name, "github-workflow")
                for kind, path in self._emitted(plan)]

    def check(self, plan: Plan) -> list[Diagnostic]:
        options: GitHubActionsOptions = self.options
        diags: list[Diagnostic] = []

        def cannot(message: str, path: SpecPath, hint: str | None = None) -> None:
            diags.append(Diagnostic(dx.TARGET_CANNOT_EXPRESS, f"github_actions: {message}", path=path, hint=hint))

        if plan.spec_dir == ".." or plan.spec_dir.startswith("../"):
            cannot("the spec lies outside the output folder, but workflows must live in the repository "
                   "root's .github/workflows and run the spec from inside the repository", (),
                   hint="compile with the output folder at the repository root, e.g. `mlspec compile -o .`")
        self._check_registry(plan, options, cannot)
        if options.train:
            diags += ephemeral_state(plan, "github_actions", "the runners of the training workflow")
        texts: list[tuple[SpecPath, str]] = []
        if options.ci:
            texts += [(("environment", "test"), plan.environment.test or "")]
            texts += [(("environment", "env", k), v) for k, v in plan.environment.env]
        if options.train:
            texts += [t for n in plan.nodes for t in node_text_paths(plan, n)]
        diags += nul_errors(texts, "github_actions")
        if not options.train:
            return diags
        seen: dict[str, str] = {}
        for node in plan.nodes:
            jid = job_id(node)
            if not JOB_ID.fullmatch(jid) or jid in seen:
                cannot(f"node {node.id!r} has no unique job id ({jid!r})", node.spec_path)
            seen.setdefault(jid, node.id)
            if node.kind not in COMMAND_KINDS | {"approve", "build"}:
                cannot(f"{node.kind!r} nodes ({node.id}) have no GitHub Actions job yet", node.spec_path)
            if node.kind in COMMAND_KINDS and not node.command:
                cannot(f"node {node.id!r} has no command to run", node.spec_path)
            clash = sorted(RESERVED_ENV & {k for k, _ in node.env})
            if clash:
                cannot(f"environment variable {clash[0]!r} of {node.id} is reserved by the generated "
                       "workflow", node.spec_path, hint="rename the variable")
            gpus = node.resources.gpu or 0
            if gpus > 0 and options.gpu_runs_on is None:
                cannot(f"{node.id} requests {gpus} GPU(s), but GitHub-hosted runners have none",
                       (*node.spec_path, "resources", "gpu"),
                       hint="set targets.github_actions.gpu_runs_on to a GPU runner label")
            job_minutes = _timeouts(node, options)[0]
            labels = options.gpu_runs_on if gpus > 0 and options.gpu_runs_on else options.runs_on
            if _hosted(labels) and job_minutes > HOSTED_MAX_MINUTES:
                cannot(f"{node.id} may run {job_minutes} minutes (timeout × attempts + setup), but "
                       f"GitHub-hosted runners stop jobs after {HOSTED_MAX_MINUTES}",
                       (*node.spec_path, "timeout") if node.timeout_seconds else node.spec_path,
                       hint="shorten the timeout or set targets.github_actions.runs_on to a self-hosted runner")
        if not dx.has_errors(diags):
            diags += self._check_limits(plan, options)
        return diags

    @staticmethod
    def _check_limits(plan: Plan, options: GitHubActionsOptions) -> list[Diagnostic]:
        """GitHub refuses a run of more than MAX_JOBS jobs and a workflow file over
        MAX_WORKFLOW_BYTES: a diagnostic at the node that crosses the line, never such a file."""
        builder = _builder(plan, options)
        jobs = builder.jobs
        if len(jobs) + 1 > MAX_JOBS:   # + the job reporting how the run ended
            over = jobs[MAX_JOBS - 1]
            return [Diagnostic(
                dx.GHA_TOO_MANY_JOBS,
                f"github_actions: the training workflow needs {len(jobs) + 1} jobs ({len(jobs)} for the pipeline's "
                f"nodes, one reporting the run), but GitHub starts at most {MAX_JOBS} in one workflow run; "
                f"{over.nodes[0].id} would start job {MAX_JOBS}",
                path=over.nodes[0].spec_path,
                hint="run fewer nodes side by side, give steps a `timeout` so that more of a chain shares a job, "
                     "or set targets.github_actions.train: false and run the pipeline with Airflow")]
        # The header the writer adds is a few hundred bytes; keep a margin for it.
        size = len(_train_text(plan, options).encode("utf-8")) + 1024
        if size > MAX_WORKFLOW_BYTES:
            largest = max(jobs, key=lambda j: sum(len(n.command or "") + 200 for n in j.nodes))
            return [Diagnostic(
                dx.GHA_WORKFLOW_TOO_LARGE,
                f"github_actions: the training workflow would be {size // 1024} KB, but GitHub starts no run of a "
                f"workflow file over {MAX_WORKFLOW_BYTES // 1024} KB",
                path=largest.nodes[0].spec_path,
                hint="move long commands into scripts the steps run, or split the project into several specs")]
        return []

    @staticmethod
    def _check_registry(plan: Plan, options: GitHubActionsOptions, cannot: Any) -> None:
        """Every image the workflows push needs a login the runner can make."""
        pushed = []
        if options.train and any(n.kind == "build" for n in plan.nodes):
            pushed.append(plan.images.serve)
        if options.ci and plan.images.train.emitted:
            pushed.append(plan.images.train)
        hosts = sorted({i.registry_host for i in pushed if i.registry_host is not None} - {"ghcr.io"})
        if hosts and options.registry_password_secret is None:
            cannot(f"cannot log in to the image registry {hosts[0]!r}: only ghcr.io accepts the job's "
                   "GITHUB_TOKEN", ("targets", "docker", "registry"),
                   hint="set targets.github_actions.registry_username_secret and registry_password_secret")


__all__ = ["GitHubActionsOptions", "GitHubActionsTarget", "job_id", "workflow_paths"]
