"""The Plan: the typed, resolved IR that every target reads.

Defaults are applied, references resolved to node ids, interpolations expanded and
shell-quoted, and the lifecycle made explicit as nodes. Targets never see the raw
document or the Spec: when a target needs a fact, the Plan grows a typed field for it.
Everything here is frozen and ordered deterministically.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from mlspec.diagnostics import SpecPath

NodeKind = Literal[
    "fetch", "data_check", "step", "train", "evaluate", "gate", "approve", "register", "build", "deploy",
    "monitor_schema", "monitor_freshness", "monitor_drift", "monitor_performance", "monitor_check", "retrain", "eval",
    "report",   # a target's own run-reporting task (`mlspec report-run`); never a node of the Plan
]


# The monitoring graph's kinds: each records its outcome in the monitoring state.
MONITOR_KINDS = frozenset({"monitor_schema", "monitor_freshness", "monitor_drift", "monitor_performance",
                           "monitor_check", "retrain"})

PRODUCTION_DIR = ".mlspec/production"


def dockerfile_path(project: str, kind: str) -> str:
    """``docker/<project>.<kind>.Dockerfile``: the project's name first (as in
    ``monitoring/prometheus/<project>.rules.yml``), so projects can share a folder; the
    ``.Dockerfile`` extension is what editors and GitHub recognise."""
    return f"docker/{project}.{kind}.Dockerfile"


def production_model_path(model_path: str | None) -> str:
    """Where ``${registry.production.model}`` points: ``.mlspec/production/<model file name>``,
    relative to the spec's folder (the same in every target, so a command can name it)."""
    name = posixpath.basename(posixpath.normpath(model_path)) if model_path else ""
    return f"{PRODUCTION_DIR}/{name if name not in ('', '.', '..') else 'model'}"


@dataclass(frozen=True)
class ResourceRequest:
    """What one node asks of the machine it runs on."""

    cpu: float | None = None           # cores
    cpu_text: str | None = None        # as written ("2", "500m") for Kubernetes
    memory: str | None = None          # Kubernetes quantity as written
    memory_bytes: int | None = None
    gpu: int | None = None


@dataclass(frozen=True)
class Node:
    """One unit of work: a job in GitHub Actions, a task in Airflow, a subprocess in `mlspec run`."""

    id: str                            # namespaced: "check.customers", "step.prepare", "train", "gate"
    slug: str                          # the id as an identifier: "check_customers", "step_prepare"
    kind: NodeKind
    title: str                         # human label
    command: str | None                # shell command (bash), interpolations expanded; None: no command
    needs: tuple[str, ...] = ()        # node ids that run first, in plan order
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    resources: ResourceRequest = field(default_factory=ResourceRequest)
    timeout_seconds: int | None = None
    retries: int = 0
    # Files read: the declared inputs and the outputs of the nodes in ``needs`` (direct only, so
    # the Plan, the lock and the workflows stay linear in size; Plan.upstream_inputs adds the
    # outputs of every ancestor, for whoever must restore a node's whole upstream).
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()      # files written
    data: tuple[str, ...] = ()         # data sources used (names)
    params: tuple[str, ...] = ()       # params interpolated into the command
    description: str | None = None
    spec_path: SpecPath = ()
    runtime: bool = False              # the command is an mlspec runtime command
    uses_image: bool = True            # runs in the project's training image (kubernetes operators)
    # The command reads ${registry.production.model}: run `Plan.fetch_production_command` first.
    # (monitor.performance, a composite runtime command, includes the fetch itself.)
    fetch_production: bool = False
    # The command with `data.NAME.sample` in place of each sampled source's uri (pull requests);
    # None when the node reads no sampled source.
    sample_command: str | None = None


@dataclass(frozen=True)
class Column:
    """One column of a data contract, with its constraints."""

    name: str
    type: str
    nullable: bool
    min: float | None
    max: float | None
    values: tuple[Any, ...] | None
    unique: bool


@dataclass(frozen=True)
class DataSource:
    """A named data source, resolved: its scheme, format, pin, freshness and contract."""

    name: str
    uri: str
    scheme: str | None                 # "s3", "postgresql", … ; None for a relative path
    format: str | None
    version: str | None
    role: str
    freshness_seconds: int | None
    freshness: str | None
    columns: tuple[Column, ...] | None
    description: str | None
    sample: str | None = None          # a committed extract pull requests run on (spec-relative)


@dataclass(frozen=True)
class Gate:
    """One validation gate: a metric's bounds, absolute or against the production version."""

    metric: str
    min: float | None
    max: float | None
    baseline: str | None
    max_regression: float | None
    higher_is_better: bool
    description: str | None
    id: str                            # "roc_auc_min", unique per plan; used in metric labels
    spec_path: SpecPath = ()           # ("validation", "gates", i)

    def condition(self) -> str:
        """What the metric must meet: ``>= 0.8 and no drop of more than 0.01 against production``."""
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.baseline:
            direction = "drop" if self.higher_is_better else "rise"
            parts.append(f"no {direction} of more than {self.max_regression or 0:g} against {self.baseline}")
        return " and ".join(parts)

    def describe(self) -> str:
        """The one description of a gate, wherever one is shown: ``roc_auc >= 0.8``."""
        return f"{self.metric} {self.condition()}"


@dataclass(frozen=True)
class Approval:
    """The human approval between the gates and registration."""

    required: bool
    environment: str
    reviewers: tuple[str, ...]


@dataclass(frozen=True)
class Registry:
    """Where registered versions of the model live."""

    backend: str
    uri: str
    model_name: str
    in_store: bool = False             # no registry.uri: versions live under the artifact store


@dataclass(frozen=True)
class Storage:
    """The artifact store every node's outputs pass through."""

    uri: str                           # as written (relative folders are relative to the spec)
    endpoint: str | None               # S3-compatible server, or None for the cloud's own
    secrets: tuple[str, ...]           # environment variables holding the credentials
    local: bool                        # a folder on this machine (invisible to other machines)


@dataclass(frozen=True)
class Slo:
    """The serving objectives the alert rules watch."""

    latency_p95_ms: float | None
    error_rate: float | None
    availability: float | None


@dataclass(frozen=True)
class Serving:
    """How the model is served: command, scaling, rollout, SLOs and the metrics its server exposes."""

    mode: str
    command: str
    port: int | None
    health_path: str | None           # None: the server has no health endpoint
    metrics_path: str
    replicas: int
    resources: ResourceRequest
    min_replicas: int | None
    max_replicas: int | None
    target_cpu_percent: int | None
    rollout_strategy: str
    canary_steps: tuple[int, ...]
    slo: Slo | None
    latency_histogram: str
    requests_total: str
    selector: tuple[tuple[str, str], ...]   # labels that select the server's own metrics, sorted
    schedule: str | None               # batch: 5-field cron
    timeout_seconds: int | None
    env: tuple[tuple[str, str], ...]
    secrets: tuple[str, ...]
    fetch_production: bool = False     # the command reads ${registry.production.model}
    # online: batch scoring next to the server (serving.batch), resolved as a batch Serving of
    # its own (mode "batch", the server's secrets, its env under the block's) run with the serving image
    batch: Serving | None = None


@dataclass(frozen=True)
class DriftCheck:
    """One column's drift check: its method and threshold."""

    column: str
    method: str
    threshold: float
    is_test: bool                      # ks/chi2: threshold is a p-value, drift when below
    severity: str
    spec_path: SpecPath = ()           # ("monitoring", "drift", i, "columns", j)


@dataclass(frozen=True)
class Performance:
    """A bound on the live model's performance, judged over a window once labels arrive."""

    metric: str
    min: float | None
    max: float | None
    labels: str | None
    window: str
    window_seconds: int
    severity: str
    metrics_path: str | None = None    # monitoring.performance.metrics: the live metrics JSON (spec-relative)
    spec_path: SpecPath = ("monitoring", "performance")


@dataclass(frozen=True)
class CheckBound:
    """One bound of a custom monitoring check."""

    metric: str                        # dotted path into the check's metrics JSON
    min: float | None
    max: float | None
    description: str | None
    spec_path: SpecPath = ()           # ("monitoring", "checks", i, "bounds", j)


@dataclass(frozen=True)
class CustomCheck:
    """monitoring.checks[]: the node ``monitor.check.<name>`` runs the command, then
    ``mlspec custom-check`` judges ``metrics_path`` against ``bounds``."""

    name: str
    description: str | None
    metrics_path: str                  # spec-relative
    bounds: tuple[CheckBound, ...]
    event: str                         # the event a finding raises
    severity: str
    spec_path: SpecPath = ()           # ("monitoring", "checks", i)

    @property
    def state_kind(self) -> str:
        """Its state file (``<kind>.json``) and its ``check`` label on mlspec_check_outcome:
        namespaced, so a check named ``drift`` never overwrites the built-in one."""
        return f"custom.{self.name}"


@dataclass(frozen=True)
class Alert:
    """Where alerts of some events go (a channel and its recipient)."""

    channel: str
    to: str
    on: tuple[str, ...]
    severity: str


@dataclass(frozen=True)
class Monitoring:
    """The scheduled monitoring: its checks, where their metrics go and where alerts are sent."""

    schedule: str                      # 5-field cron
    schedule_text: str                 # as written ("@hourly")
    reference: str | None              # data source names
    current: str | None
    drift: tuple[DriftCheck, ...]
    performance: Performance | None
    schema_checks: bool
    freshness: tuple[str, ...]         # sources with a freshness bound
    pushgateway: str | None
    alerts: tuple[Alert, ...]
    textfile_dir: str | None = None    # node_exporter textfile collector folder (relative to the spec)
    period_seconds: int = 3600         # longest gap between two scheduled runs (staleness alerts)
    checks: tuple[CustomCheck, ...] = ()

    def check(self, name: str) -> CustomCheck | None:
        return next((c for c in self.checks if c.name == name), None)


@dataclass(frozen=True)
class Retraining:
    """When the pipeline runs again: a schedule and the events that trigger it."""

    schedule: str | None               # 5-field cron
    schedule_text: str | None
    on: tuple[str, ...]
    cooldown: str
    cooldown_seconds: int
    period_seconds: int | None = None  # longest gap between two scheduled runs (staleness alerts)
    # The target whose scheduler runs `schedule` (None without one): one owner, or the project
    # would train twice per tick, into the same registry.
    scheduler: str | None = None


@dataclass(frozen=True)
class Judge:
    """The model that scores LLM eval answers."""

    provider: str                      # openai_compatible | local
    model: str
    base_url: str | None
    api_key_secret: str | None         # the environment variable's NAME
    entrypoint: str | None             # local: module:function
    timeout_seconds: int
    max_concurrency: int
    retries: int


@dataclass(frozen=True)
class Prompt:
    """A versioned prompt file of an LLM project."""

    name: str
    file: str                          # relative to the spec
    description: str | None
    sha256: str | None                 # of the file's bytes at compile time; None when missing


@dataclass(frozen=True)
class LlmEval:
    """One LLM eval: its dataset, scorer and gates."""

    name: str
    dataset: str                       # data source name
    scorer: str
    rubric: str | None
    min: float | None
    max: float | None
    command: str | None = None         # the eval's `run`, interpolations expanded
    outputs: str = ""                  # JSONL the run writes (spec-relative)
    prompts: tuple[str, ...] = ()      # prompt names it exercises
    pattern: str | None = None
    schema: str | None = None          # json_schema file (spec-relative)
    ignore_case: bool = False
    rubric_sha256: str | None = None
    timeout_seconds: int | None = None
    spec_path: SpecPath = ()           # ("llm", "evals", i)

    @property
    def node_id(self) -> str:
        return f"eval.{self.name}"


@dataclass(frozen=True)
class Llm:
    """The LLM a project calls: its prompts, evals, token budget and judge."""

    provider: str
    model: str
    version: str | None
    prompts: tuple[Prompt, ...]
    evals: tuple[LlmEval, ...]
    cost_per_1k_requests_usd: float | None
    latency_p95_ms: float | None
    max_tokens_per_request: int | None
    judge: Judge | None = None

    def eval_named(self, name: str) -> LlmEval:
        for e in self.evals:
            if e.name == name:
                return e
        raise KeyError(name)


@dataclass(frozen=True)
class Image:
    """One container image of the project, decided once for every target that builds, pushes or runs it."""

    kind: Literal["train", "serve"]
    dockerfile: str                    # relative to the output folder
    name: str                          # the pushed repository, else a local name ("churn-train")
    pushed: bool                       # targets.docker.registry is set
    tag: str                           # the tag deployments and tasks run
    emitted: bool                      # mlspec writes this image's Dockerfile for this plan

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def registry_host(self) -> str | None:
        """The registry host ('docker.io' when the first part is no host); None when not pushed."""
        if not self.pushed:
            return None
        first = self.name.split("/", 1)[0]
        if "/" in self.name and ("." in first or ":" in first or first == "localhost"):
            return first
        return "docker.io"


@dataclass(frozen=True)
class Images:
    """The project's two container images and the user id they run as."""

    train: Image
    serve: Image
    uid: int                           # the one user id of images, pods and volumes
    context: str                       # build context relative to the output folder (the spec's folder)

    def emitted(self) -> tuple[Image, ...]:
        return tuple(i for i in (self.train, self.serve) if i.emitted)


@dataclass(frozen=True)
class Project:
    """Identity and ownership of the project."""

    name: str
    description: str | None
    owners: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    repository: str | None


@dataclass(frozen=True)
class Environment:
    """How the project's code runs: Python, requirements, base image, variables."""

    python: str
    requirements: str | None
    base_image: str                    # default applied
    base_image_pinned: bool
    system_packages: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    secrets: tuple[str, ...]
    test: str | None
    requirements_sha256: str | None = None          # of the requirements file, when it exists
    requirements_lock: tuple[str, str] | None = None  # (file, sha256) of a lock file beside it


@dataclass(frozen=True)
class Governance:
    """Risk level, model card and approvers of the project."""

    risk_level: str
    model_card: bool
    approvers: tuple[str, ...]
    require_pinned_data: bool
    audit_retention_days: int
    # The model card's descriptive fields (the registered version's card renders them).
    intended_use: str | None = None
    limitations: str | None = None
    ethical_considerations: str | None = None
    out_of_scope_uses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything a target may know about a project."""

    spec_file: str                     # the spec's file name, as commands run it from spec_dir
    spec_dir: str                      # POSIX path from the output folder to the spec's folder ("." if same)
    spec_sha256: str                   # hash of the spec's bytes
    source: str                        # the spec as named in generated headers
    project: Project
    environment: Environment
    params: tuple[tuple[str, Any], ...]
    data: tuple[DataSource, ...]
    nodes: tuple[Node, ...]            # pipeline graph, topologically ordered (stable)
    monitor_nodes: tuple[Node, ...]    # scheduled monitoring graph, topologically ordered
    gates: tuple[Gate, ...]
    approval: Approval | None
    registry: Registry | None
    storage: Storage                   # the spec's storage, else the local folder .mlspec/store
    serving: Serving | None
    monitoring: Monitoring | None
    retraining: Retraining | None
    governance: Governance
    llm: Llm | None
    model_path: str | None
    train_metrics_path: str | None
    eval_metrics_path: str | None
    eval_outputs: tuple[str, ...]      # validation.outputs: plots and reports evaluation writes
    tracking_backend: str
    tracking_experiment: str | None
    seed: int | None
    images: Images
    mlspec_install: str                # pip requirement installing this mlspec where pipelines run
    # ${registry.production.model}: the stable local path the production model is fetched to,
    # and the command that fetches it (run before every node with fetch_production). None
    # without a registry.
    production_model: str | None = None
    fetch_production_command: str | None = None

    @cached_property
    def _by_id(self) -> dict[str, Node]:
        # Built once per Plan (cached_property writes the instance dict, which a frozen
        # dataclass allows): node lookups stay O(1) however many nodes there are.
        return {n.id: n for n in self.nodes + self.monitor_nodes}

    def command_for(self, unit: Node | Serving, *, sample: bool = False) -> str | None:
        """The shell a target runs for a node or a server: its command (on the data samples with
        ``sample``), preceded by the fetch of the production model when it reads
        ``${registry.production.model}`` (every target the same way; `mlspec run` runs the fetch
        as its own logged sub-step)."""
        command = (getattr(unit, "sample_command", None) if sample else None) or unit.command
        if command and unit.fetch_production and self.fetch_production_command:
            return f"{self.fetch_production_command} && {command}"
        return command

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def ancestors(self, node_id: str) -> list[str]:
        """Every node ``node_id`` runs after, nearest first (depth-first over ``needs``, in
        their order): one iterative walk, linear in the number of ancestors and their edges."""
        order: list[str] = []
        seen: set[str] = set()
        stack = list(reversed(self.node(node_id).needs))
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            order.append(n)
            stack.extend(reversed(self.node(n).needs))
        return order

    def upstream_inputs(self, node_id: str) -> tuple[str, ...]:
        """The node's inputs plus the outputs of every ancestor: what a node may read on a
        machine that starts empty. Computed on demand for one node (linear in its upstream);
        the Plan itself stores only direct inputs, since the transitive sets of a chain of N
        steps add up to N² paths."""
        out = dict.fromkeys(self.node(node_id).inputs)
        for a in self.ancestors(node_id):
            out.update(dict.fromkeys(self.node(a).outputs))
        return tuple(out)

    def source_named(self, name: str) -> DataSource:
        for d in self.data:
            if d.name == name:
                return d
        raise KeyError(name)
