"""The `airflow` target: Airflow 3 DAGs for the pipeline and the monitoring graph.

It writes, under ``targets.airflow.dags_folder`` (default ``airflow/dags``):

* ``<project>_pipeline.py``: one task per pipeline node of the Plan, dependencies from
  ``needs``; the gate fails the run before ``register``; approval is Airflow's
  human-in-the-loop ``ApprovalOperator``; scheduled on ``retraining.schedule``.
* ``<project>_monitoring.py``: the monitoring checks on ``monitoring.schedule``, then
  ``mlspec retrain-trigger`` decides (cooldown included) and a ``TriggerDagRunOperator``
  starts the pipeline DAG only when it says so.

Every task runs a command of the Plan with ``operator: bash`` (a ``BashOperator`` on the
worker, in the project folder) or ``operator: kubernetes`` (a ``KubernetesPodOperator`` in
the project image). Airflow renders operator fields as Jinja at run time and reads a
``bash_command`` ending in ``.sh`` as a template file; the generated operators have no
template fields and no template extensions, so commands run exactly as compiled (see
``docs/targets/airflow.md``). Secrets are names only: looked up when a task runs (worker
environment, then an Airflow Variable) or mounted from a Kubernetes Secret.

The module decides everything; ``templates/airflow/dag.py.j2`` only formats, and every
value reaches it through the ``py`` filter.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from mlspec import diagnostics as dx
from mlspec.output.artifacts import Artifact
from mlspec.diagnostics import Diagnostic, Severity
from mlspec.output.encoders import find_template_syntax, markdown_block, markdown_text
from mlspec.compiler.plan import MONITOR_KINDS, Node, Plan, ResourceRequest
from mlspec.language.types import Choices, Duration, Image, RelPath, duration_seconds, pattern_str
from mlspec.targets import Capabilities, Target, TargetOptions
from mlspec.targets.toolkit.memo import per_plan
from mlspec.targets.toolkit.state import ephemeral_state
from mlspec.targets.toolkit.pods import kubelet_literal, pod_resources, pod_security_context

TEMPLATE = "airflow/dag.py.j2"
TAG_MAX = 100                          # Airflow refuses longer DAG tags at import time
START_DATE = (2024, 1, 1)              # fixed, so the file is byte-identical on every compile
# `mlspec retrain-trigger --exit-code` exits with this when no retrain is due; the task then
# ends as "skipped" and so does the TriggerDagRunOperator after it (Airflow's own skip code).
NO_RETRAIN_EXIT_CODE = 99
# Node kinds that Airflow does not run: the image build and deployment belong to CI.
NOT_IN_AIRFLOW = frozenset({"build", "deploy"})
# How pods run a command: the shell of the generated CI and images (fails on any failing pipe).
BASH = ("/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c")

Namespace = pattern_str(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", dx.TARGET_OPTION_INVALID, "Kubernetes namespace",
    hint="a DNS-1123 label such as 'ml'", max_length=63, examples=["ml"],
)
K8sName = pattern_str(
    r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", dx.TARGET_OPTION_INVALID, "Kubernetes object name",
    hint="lowercase letters, digits, '-' and '.', starting and ending alphanumeric (e.g. 'churn-secrets')",
    max_length=253,
)
AbsolutePath = pattern_str(
    r"^/[^\x00-\x1f\x7f]{0,1023}$", dx.TARGET_OPTION_INVALID, "absolute path",
    hint="an absolute POSIX path on the Airflow workers, such as '/opt/airflow/projects/churn'",
    max_length=1024,
)


class AirflowOptions(TargetOptions):
    """Options of the airflow target (``targets.airflow``)."""

    operator: Annotated[Literal["bash", "kubernetes"], Choices(
        bash="A BashOperator per task, run on the worker in the project folder.",
        kubernetes="A KubernetesPodOperator per task, run in the project image.")] = Field(
        "bash", description="bash: a BashOperator per task, run on the worker in the project folder; "
                            "kubernetes: a KubernetesPodOperator per task, run in the project image.")
    dags_folder: RelPath = Field(
        "airflow/dags", description="Folder (relative to the output folder) the DAG files are written to.")
    project_dir: AbsolutePath | None = Field(
        None, description="bash: where the project (the spec's folder) is on the workers. Default: found "
                          "from the DAG file's own location, as compiled; the environment variable "
                          "MLSPEC_PROJECT_DIR overrides both when the DAG file is parsed.")
    workspace: Annotated[Literal["isolated", "shared"], Choices(
        isolated="Each task in a fresh temporary folder: a copy of the project's source, its inputs restored "
                 "from the store, its outputs saved to it; works on read-only DAG folders and many workers.",
        shared="Every task in the project folder itself: one writable disk all workers share.")] | None = Field(
        None, description="Where a task runs. isolated: bash tasks in a fresh copy of the project, pods in the "
                           "image's own project folder, each restoring its inputs from the store and saving its "
                           "outputs to it; shared: the project folder (bash) or volume_claim (pods). Default: "
                           "isolated when the spec's storage is an object store (every worker reaches it), shared "
                           "when it is a local folder.")
    image: Image | None = Field(
        None, description="kubernetes: the image every task runs in. Default: the training image of the "
                          "docker target, '<registry>/<project>-train:latest' with targets.docker.registry, "
                          "else the placeholder '<project>-train:latest'. Pin it by digest.")
    namespace: Namespace | None = Field(
        None, description="kubernetes: namespace of the task pods; default the Kubernetes connection's.")
    secret_name: K8sName | None = Field(
        None, description="kubernetes: the Secret whose keys are the secret names; default "
                          "'<project.name>-secrets' (as the kubernetes target).")
    volume_claim: K8sName | None = Field(
        None, description="kubernetes: a PersistentVolumeClaim that holds the project checkout and is mounted "
                          "at volume_mount_path in every pod, so files written by one task reach the next. "
                          "Without it each pod sees only its image.")
    volume_mount_path: AbsolutePath = Field(
        "/workspace", description="kubernetes: where volume_claim is mounted; commands run there.")
    approval_timeout: Duration = Field(
        "7d", description="How long the approval task waits for a person; then it rejects and "
                          "registration is skipped.")

    @field_validator("dags_folder")
    @classmethod
    def _plain_folder(cls, value: str) -> str:
        parts = value.strip("/").split("/")
        if any(p in ("", ".", "..") or not re.fullmatch(r"[A-Za-z0-9_.-]+", p) for p in parts):
            raise PydanticCustomError(
                dx.TARGET_OPTION_INVALID, "invalid DAG folder",  # no value: pydantic formats {…} in it
                {"hint": "a relative folder whose parts are letters, digits, '_', '-' and '.', "
                         "such as 'airflow/dags'"})
        return "/".join(parts)


# --------------------------------------------------------------------------- plan → tasks


def image_of(plan: Plan, options: AirflowOptions) -> str:
    """The option's image, else the project's training image (mlspec is in it)."""
    return options.image or plan.images.train.ref


def dag_stem(plan: Plan) -> str:
    """Project name as an identifier: DAG ids and file names use ``_`` only."""
    return plan.project.name.replace("-", "_")


def pipeline_dag_id(plan: Plan) -> str:
    return f"{dag_stem(plan)}_pipeline"


def monitoring_dag_id(plan: Plan) -> str:
    return f"{dag_stem(plan)}_monitoring"


def _pipeline_nodes(plan: Plan) -> list[Node]:
    return [n for n in plan.nodes if n.kind not in NOT_IN_AIRFLOW]


def _upstream(node: Node, emitted: set[str], by_id: dict[str, Node]) -> list[str]:
    """The node's needs among emitted nodes; a need that is not emitted is bridged to its own needs."""
    out: list[str] = []
    todo = list(node.needs)
    seen: set[str] = set()
    while todo:
        nid = todo.pop(0)
        if nid in seen:
            continue
        seen.add(nid)
        if nid in emitted:
            out.append(nid)
        elif nid in by_id:
            todo.extend(by_id[nid].needs)
    return out


def _resources(r: ResourceRequest) -> dict[str, dict[str, str]] | None:
    """Task pods may burst (no CPU limit); the template sets both requests and limits."""
    res = pod_resources(r, guaranteed=False)
    return {"requests": res.get("requests", {}), "limits": res.get("limits", {})} if res else None


def workspace(plan: Plan, options: AirflowOptions) -> str:
    """Where bash tasks run: the option, else isolated when every worker reaches the store."""
    return options.workspace or ("shared" if plan.storage.local else "isolated")


def reads_upstream(plan: Plan) -> dict[str, bool]:
    """Whether each node may read a file an upstream node made (its declared inputs, or an
    ancestor with outputs): one pass in plan order, linear in the graph."""
    above: dict[str, bool] = {}     # some ancestor writes outputs
    for n in plan.nodes:
        above[n.id] = any(above.get(d, False) or bool(plan.node(d).outputs) for d in n.needs)
    return {n.id: bool(n.inputs) or above[n.id] for n in plan.nodes}


def isolated_command(plan: Plan, node: Node, command: str, upstream: bool | None = None) -> str:
    """The task's command in its own fresh folder: inputs restored from the store first, outputs
    saved after; a monitoring task brings the monitoring state (results, the retrain cooldown)
    from the store and takes back what it changed, also when its check failed."""
    from mlspec.output.encoders import sh

    spec = sh(plan.spec_file)
    if node.kind in MONITOR_KINDS:
        return (f"mlspec store restore-state -- {spec}\nstatus=0\n{command} || status=$?\n"
                f"mlspec store save-state -- {spec}\nexit \"$status\"")
    lines = []
    if upstream if upstream is not None else bool(plan.upstream_inputs(node.id)):
        lines.append(f"mlspec store restore --node {sh(node.id)} -- {spec}")
    lines.append(command)
    if node.outputs:
        lines.append(f"mlspec store save --node {sh(node.id)} -- {spec}")
    return "\n".join(lines)


def _command_task(node: Node, options: AirflowOptions, plan: Plan, upstream: list[str],
                  **extra: Any) -> dict[str, Any]:
    command = plan.command_for(node) or ""
    task: dict[str, Any] = {
        "id": node.slug, "kind": "pod" if options.operator == "kubernetes" else "bash",
        "upstream": upstream, "retries": node.retries, "timeout": node.timeout_seconds,
        "trigger_rule": None, "skip_on_exit_code": None, **extra,
    }
    option = task.pop("command_option", None)
    reads = task.pop("reads_upstream", None)
    if option:  # runtime commands end in `-- SPEC …`: an option goes before the last `--`
        head, sep, tail = command.rpartition(" -- ")
        command = f"{head} {option}{sep}{tail}"
    env = dict(node.env)
    if task["kind"] == "bash":
        if workspace(plan, options) == "isolated" and node.kind != "report":
            command = isolated_command(plan, node, command, reads)
        task.update(command=command, env=env, secrets=list(node.secrets))
    else:
        if options.volume_claim:
            from mlspec.output.encoders import sh
            command = f"cd {sh(options.volume_mount_path)} && {command}"
        elif workspace(plan, options) == "isolated" and node.kind != "report":
            # Each pod starts from the image's project folder: the store carries the files between them.
            command = isolated_command(plan, node, command, reads)
        task.update(
            arguments=[kubelet_literal(command)],
            env={k: kubelet_literal(v) for k, v in env.items()},
            secrets=list(node.secrets), resources=_resources(node.resources),
        )
    return task


def pipeline_tasks(plan: Plan, options: AirflowOptions) -> list[dict[str, Any]]:
    nodes = _pipeline_nodes(plan)
    by_id = {n.id: n for n in plan.nodes}
    emitted = {n.id for n in nodes}
    slug = {n.id: n.slug for n in plan.nodes}
    tasks: list[dict[str, Any]] = []
    reads = reads_upstream(plan)
    for node in nodes:
        upstream = [slug[u] for u in _upstream(node, emitted, by_id)]
        if node.kind == "approve":
            tasks.append(_approval_task(plan, options, node, upstream))
        elif node.kind == "register":
            # `mlspec register` records who answered the approval (the HITL response) in the audit log.
            approve = next((by_id[n].slug for n in node.needs if n in emitted and by_id[n].kind == "approve"), None)
            tasks.append(_command_task(node, options, plan, upstream, approval_task=approve,
                                       reads_upstream=reads[node.id]))
        else:
            tasks.append(_command_task(node, options, plan, upstream, reads_upstream=reads[node.id]))
    return tasks


def _approval_task(plan: Plan, options: AirflowOptions, node: Node, upstream: list[str]) -> dict[str, Any]:
    approval = plan.approval
    environment = approval.environment if approval else "production"
    reviewers = list(approval.reviewers) if approval else []
    model = plan.registry.model_name if plan.registry else plan.project.name
    # HITL renders subject and body as Jinja and the body as Markdown: the subject is built
    # from names that cannot hold '{' or '%'; spec values in the body are Markdown-escaped,
    # which escapes '{', '%' and '#' too.
    body = (f"Every gate passed for model {markdown_text(model)}. Approve to register it; "
            f"Reject, or no answer within {markdown_text(options.approval_timeout)}, skips registration.")
    if reviewers:
        body += "\n\nReviewers: " + ", ".join(markdown_text(r) for r in reviewers)
    return {
        "id": node.slug, "kind": "approval", "upstream": upstream,
        "subject": f"Register {model} for {environment}?", "body": body,
        "response_timeout": duration_seconds(options.approval_timeout),
    }


def monitoring_tasks(plan: Plan, options: AirflowOptions) -> list[dict[str, Any]]:
    by_id = {n.id: n for n in plan.monitor_nodes}
    emitted = set(by_id)
    tasks: list[dict[str, Any]] = []
    for node in plan.monitor_nodes:
        upstream = [by_id[u].slug for u in _upstream(node, emitted, by_id)]
        if node.kind == "retrain":
            # Runs even when a check crashed; it reads the recorded results and decides.
            # "No retrain" is a skip, not a failure.
            tasks.append(_command_task(node, options, plan, upstream, trigger_rule="all_done",
                                       skip_on_exit_code=NO_RETRAIN_EXIT_CODE,
                                       command_option="--exit-code"))
            tasks.append({"id": "trigger_pipeline", "kind": "trigger", "upstream": [node.slug],
                          "trigger_dag_id": pipeline_dag_id(plan)})
        else:
            # A finding is the check doing its job: the task succeeds and records it for
            # the retrain task; only a check that could not run fails the task.
            tasks.append(_command_task(node, options, plan, upstream, command_option="--exit-zero-on-finding"))
    return tasks


def report_tasks(plan: Plan, options: AirflowOptions, whole: str, upstream: list[str]) -> list[dict[str, Any]]:
    """How the whole run ended, for the failure and staleness alerts: two final tasks after
    every task. ``report_success`` runs when nothing failed (skips are fine: "no retrain"),
    ``report_failure`` when something did; the one that does not run is skipped or
    upstream-failed, so the DAG run keeps its own state."""
    from mlspec.compiler.plan import Node
    from mlspec.output.encoders import sh

    out = []
    for status, rule in (("success", "none_failed"), ("failure", "one_failed")):
        node = Node(id=f"report.{status}", slug=f"report_{status}", kind="report", title=f"report {status}",
                    command=f"mlspec report-run --node {whole} --status {status} -- {sh(plan.spec_file)}",
                    env=plan.environment.env, runtime=True)
        out.append(_command_task(node, options, plan, list(upstream), trigger_rule=rule))
    return out


# --------------------------------------------------------------------------- rendering


def _tags(plan: Plan) -> list[str]:
    return ["mlspec", plan.project.name, *(f"{k}:{v}" for k, v in plan.project.labels)]


def _doc_md(plan: Plan, what: str) -> str:
    """Markdown for the DAG's page: spec text escaped, so it shows as plain text."""
    p = plan.project
    parts = [f"### {markdown_text(p.name)}: {what}"]
    if p.description:
        parts.append(markdown_block(p.description))
    facts = [("Owners", ", ".join(p.owners)), ("Repository", p.repository or "")]
    parts += [f"{label}: {markdown_text(value)}" for label, value in facts if value]
    parts.append(f"Generated by mlspec from {markdown_text(plan.spec_file)}: edit the spec, not this file.")
    return "\n\n".join(parts)


def _project_dir_parts(plan: Plan, options: AirflowOptions) -> list[str]:
    """Path components from the DAG file's folder to the spec's folder (``['..', '..']``)."""
    up = [".."] * len(options.dags_folder.split("/"))
    rel = posixpath.normpath(posixpath.join(*up, plan.spec_dir))
    return rel.split("/")


# The oldest releases a generated DAG runs on, per feature it uses (stated in each DAG's header,
# in docs/targets/airflow.md, and checked against the Airflow the tests run): HITL approvals
# arrived in Airflow 3.1; ApprovalOperator(response_timeout=) in the standard provider 1.12.2.
MIN_AIRFLOW = "apache-airflow>=3.1.0"
MIN_STANDARD = "apache-airflow-providers-standard>=1.12.2"
MIN_STANDARD_BASIC = "apache-airflow-providers-standard>=1.0.0"
MIN_KUBERNETES = "apache-airflow-providers-cncf-kubernetes>=10.25.0"


def requirements(kinds: set[str]) -> list[str]:
    """The distributions (with minimum versions) a DAG with tasks of ``kinds`` needs."""
    out = [MIN_AIRFLOW]
    if "approval" in kinds:
        out.append(MIN_STANDARD)
    elif kinds & {"bash", "trigger"}:
        out.append(MIN_STANDARD_BASIC)
    if "pod" in kinds:
        out.append(MIN_KUBERNETES)
    return out


def dag_context(plan: Plan, options: AirflowOptions, kind: Literal["pipeline", "monitoring"]) -> dict[str, Any]:
    """Plain values for ``dag.py.j2``; the template encodes each with ``py``."""
    if kind == "pipeline":
        tasks = pipeline_tasks(plan, options)
        r = plan.retraining
        # The schedule's owner runs it; otherwise the DAG is triggered by hand or by the monitoring DAG.
        schedule = r.schedule if r is not None and r.scheduler == "airflow" else None
        dag_id, what = pipeline_dag_id(plan), "training pipeline"
    else:
        tasks = monitoring_tasks(plan, options)
        schedule = plan.monitoring.schedule if plan.monitoring else None
        dag_id, what = monitoring_dag_id(plan), "monitoring"
    tasks = tasks + report_tasks(plan, options, kind, [t["id"] for t in tasks])
    kinds = {t["kind"] for t in tasks}
    command_tasks = [t for t in tasks if t["kind"] in ("bash", "pod")]
    return {
        "dag_id": dag_id,
        "schedule": schedule,
        "start_date": list(START_DATE),
        "owner": ", ".join(plan.project.owners) or None,
        "tags": _tags(plan),
        "doc_md": _doc_md(plan, what),
        "operator": options.operator,
        "requires": requirements(kinds),
        "uses": {
            "bash": "bash" in kinds, "pod": "pod" in kinds, "approval": "approval" in kinds,
            "trigger": "trigger" in kinds,
            "timedelta": any(t.get("timeout") for t in command_tasks) or "approval" in kinds,
            "secrets": any(t["secrets"] for t in command_tasks),
            "resources": any(t.get("resources") for t in command_tasks),
            "volume": bool(options.volume_claim) and "pod" in kinds,
            "approval_env": any(t.get("approval_task") for t in command_tasks),
        },
        "project_secrets": tuple(plan.environment.secrets),
        "project_dir": options.project_dir,
        "isolated": workspace(plan, options) == "isolated" and "bash" in kinds,
        # Never copied into a task's folder: the run's outputs (they come from the store).
        "isolated_exclude": sorted({posixpath.normpath(o) for n in (*plan.nodes, *plan.monitor_nodes)
                                    for o in n.outputs}),
        "project_dir_parts": _project_dir_parts(plan, options),
        "image": image_of(plan, options),
        "image_pull_policy": "IfNotPresent" if "@sha256:" in image_of(plan, options) else "Always",
        "bash": list(BASH),
        "pod_security_context": pod_security_context(plan.images.uid, shared_volume=bool(options.volume_claim)),
        "container_security_context": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "namespace": options.namespace,
        "secret_name": options.secret_name or f"{plan.project.name}-secrets",
        "volume_claim": options.volume_claim,
        "volume_mount_path": options.volume_mount_path,
        "pod_labels": {"app.kubernetes.io/part-of": plan.project.name,
                       "app.kubernetes.io/managed-by": "mlspec",
                       "app.kubernetes.io/component": kind},
        "tasks": tasks,
    }


def _rendered_strings(ctx: dict[str, Any]) -> list[str]:
    """Strings in fields Airflow renders as Jinja: only the approval's subject and body.

    (Commands, env and cwd go to operators without template fields, so Airflow never
    renders them; the trigger's DAG id is an identifier.)
    """
    return [t[f] for t in ctx["tasks"] if t["kind"] == "approval" for f in ("subject", "body")]


class AirflowTarget(Target):
    name = "airflow"
    description = "Airflow 3 DAGs: the pipeline (gate, approval, register) and monitoring with retrain triggers."
    options_model = AirflowOptions

    def capabilities(self) -> Capabilities:
        if self.options.operator == "bash":
            # A BashOperator runs on whatever worker picks it up: it cannot ask for a GPU.
            return Capabilities(gpu=False, hint="set targets.airflow.operator to 'kubernetes' to request GPUs")
        return Capabilities()

    def check(self, plan: Plan) -> list[Diagnostic]:
        """What the generated DAGs cannot express, reported instead of dropped."""
        options: AirflowOptions = self.options
        diags: list[Diagnostic] = []
        for tag in _tags(plan):
            if len(tag) > TAG_MAX:
                diags.append(_cannot(f"label {tag!r} is longer than Airflow's {TAG_MAX}-character tag limit",
                                     ("project", "labels"), "shorten the label key or value"))
        retrain = any(n.kind == "retrain" for n in plan.monitor_nodes)
        if retrain and not _pipeline_nodes(plan):
            diags.append(_cannot("retraining.on triggers the pipeline DAG, but the spec has no pipeline "
                                 "(no training)", ("retraining", "on"), "add a 'training:' section"))
        pods_share_nothing = options.operator == "kubernetes" and not options.volume_claim
        if pods_share_nothing:
            diags += ephemeral_state(plan, "airflow", "the pods of operator 'kubernetes' (no volume_claim)")
        if pods_share_nothing and workspace(plan, options) == "shared":
            written = {o for m in plan.nodes for o in m.outputs}
            shared = sorted({f for n in (*plan.nodes, *plan.monitor_nodes) if n.command for f in n.inputs
                             if f in written})
            if shared:
                diags.append(Diagnostic(
                    dx.TARGET_CANNOT_EXPRESS,
                    "airflow target: with operator 'kubernetes' every task runs in its own pod, so files one task "
                    f"writes ({', '.join(shared[:3])}{', …' if len(shared) > 3 else ''}) do not reach the next",
                    severity=Severity.WARNING, path=("targets", "airflow", "operator"),
                    hint="set targets.airflow.volume_claim to a PersistentVolumeClaim holding the project, "
                         "or have the commands read and write object storage (s3://, gs://)"))
        for ctx in _contexts(plan, options):
            for text in _rendered_strings(ctx):
                token = find_template_syntax(text)
                if token:  # cannot happen with Markdown-escaped text; a guard against regressions
                    diags.append(_cannot(f"{token!r} in the approval text of DAG {ctx['dag_id']!r} would be "
                                         "Jinja syntax to Airflow", ("validation", "approval"),
                                         "remove it from the reviewers or the names"))
        return diags

    def emit(self, plan: Plan) -> list[Artifact]:
        from mlspec.output.templating import render

        options: AirflowOptions = self.options
        artifacts = []
        for ctx in _contexts(plan, options):
            text = render(TEMPLATE, extra_dirs=self.template_dirs, **ctx)
            path = f"{options.dags_folder}/{ctx['dag_id']}.py"
            artifacts.append(Artifact(path, text, self.name, "airflow-dag"))
        return artifacts


@per_plan
def _contexts(plan: Plan, options: AirflowOptions) -> list[dict[str, Any]]:
    """The template contexts of the DAGs, built once for `check` and `emit`."""
    out = []
    if _pipeline_nodes(plan):
        out.append(dag_context(plan, options, "pipeline"))
    if plan.monitor_nodes:
        out.append(dag_context(plan, options, "monitoring"))
    return out


def _cannot(message: str, path: dx.SpecPath, hint: str) -> Diagnostic:
    return Diagnostic(dx.TARGET_CANNOT_EXPRESS, f"airflow target: {message}", path=path, hint=hint)
