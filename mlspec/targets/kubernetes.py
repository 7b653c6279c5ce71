"""The `kubernetes` target: plain Kubernetes manifests that run the spec's `serving`.

Off by default (``targets.kubernetes.enabled: false``): a cluster layout is a platform
decision. When on, it writes one multi-document file, ``k8s/<project>.yaml``:

* online serving: a Deployment (hardened to the Pod Security Standards' *restricted*
  profile), a ClusterIP Service, an autoscaling/v2 HorizontalPodAutoscaler when
  ``serving.autoscaling`` is set, and a policy/v1 PodDisruptionBudget when at least two
  replicas always run;
* batch serving: a batch/v1 CronJob on ``serving.schedule`` (UTC);
* online serving with ``serving.batch``: both, the CronJob running the serving image with
  ``serving.batch.run`` on ``serving.batch.schedule``.

The manifests are built as Python data and written with :func:`mlspec.output.encoders.yaml_dump`.
Secrets are referenced by name only (``secretKeyRef`` into ``<project>-secrets``). Every
string that the kubelet expands (``command``, ``env[].value``: ``$(VAR)`` references) has
its ``$`` doubled, so it reaches the process exactly as written in the spec.

What plain manifests cannot express is reported by :meth:`KubernetesTarget.check` as
MS402 instead of being dropped: canary and blue/green rollouts, CPU autoscaling without a
CPU request, and project names that are not valid object names. Schedules come normalised
from the Plan (Sunday is 0), so a cron day-of-week 7 needs no diagnostic.
See ``docs/targets/kubernetes.md``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlspec import diagnostics as dx
from mlspec.output.artifacts import Artifact
from mlspec.diagnostics import Diagnostic
from mlspec.compiler.plan import Plan, Serving
from mlspec.language.types import pattern_str
from mlspec.targets import Target, TargetOptions
from mlspec.targets.toolkit.pods import CONTAINER_SECURITY_CONTEXT, kubelet_literal, pod_resources, pod_security_context

MANIFEST_DIR = "k8s"

CONTAINER = {"online": "server", "batch": "score"}
COMPONENT = {"online": "serving", "batch": "batch-scoring"}

STARTUP_SECONDS = 300                 # how long a server may take to load its model before liveness counts
# The shell for commands that need one: the same as the docker target's CMD and the pipelines
# (errexit, pipefail). bash execs the last command of a `-c` string, so the server still gets SIGTERM.
BASH = ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]

Namespace = pattern_str(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", dx.TARGET_OPTION_INVALID, "Kubernetes namespace",
    hint="a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending "
         "with a letter or digit (e.g. 'ml')",
    max_length=63, examples=["ml"],
)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
ImageReference = pattern_str(
    rf"^{_PATH_COMPONENT}(?::[0-9]{{1,5}})?(?:/{_PATH_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$",
    dx.TARGET_OPTION_INVALID, "container image reference",
    hint="e.g. 'ghcr.io/example/churn:1.4.0' or 'registry.example.com:5000/ml/churn@sha256:<64 hex>'",
    max_length=255, examples=["ghcr.io/example/churn:1.4.0"],
)


class KubernetesOptions(TargetOptions):
    """Options of the kubernetes target."""

    enabled: bool = Field(False, description="Emit Kubernetes manifests for `serving` (off by default).")
    namespace: Namespace = Field("default", description="Namespace written into every object's metadata.")
    image: ImageReference | None = Field(
        None, description="Container image that runs the serving command; default '<registry>/<project>:latest' "
                          "with targets.docker.registry (the tag CI pushes from the default branch), else "
                          "'<project>:latest', a placeholder to replace at deploy time. Pin it by digest "
                          "('image@sha256:…') for reproducible deploys.")
    service_monitor: bool = Field(
        True, description="With online serving, also write a prometheus-operator ServiceMonitor "
                          "(k8s/<project>.monitoring.yaml, its own file: apply it where the operator runs) that "
                          "scrapes the server and attaches the labels the alert rules and dashboard select by "
                          "(serving.metrics.labels, default project=<name>).")


# --------------------------------------------------------------------------- escaping


# Characters that make a command need a shell when they appear outside quotes (POSIX sh and
# bash; bash also expands '~' in assignment-like arguments such as 'dir=~/x').
_SHELL_SPECIAL = frozenset("|&;<>()$`\\*?[]{}!~\n\r")
# Reserved words and builtins that only a shell can run as the first word.
_SHELL_WORDS = frozenset({
    "!", "{", "}", "[[", "case", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if",
    "in", "select", "then", "time", "until", "while", ".", ":", "alias", "break", "cd", "command",
    "continue", "eval", "exec", "exit", "export", "getopts", "hash", "local", "read", "readonly",
    "return", "set", "shift", "source", "times", "trap", "type", "ulimit", "umask", "unalias",
    "unset", "wait",
})


def exec_argv(command: str) -> list[str] | None:
    """The argv of ``command`` when running it needs no shell, else ``None``.

    "No shell" means one program and literal arguments: words separated by spaces or tabs,
    quoted with ``'…'`` or ``"…"`` but without expansions, redirections, operators,
    globbing, assignments or builtins. Such a command runs without a shell, so it works in
    any image and the manifest shows exactly what runs.
    """
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote: str | None = None
    for c in command:
        if quote == "'":
            if c == "'":
                quote = None
            else:
                word.append(c)
        elif quote == '"':
            if c == '"':
                quote = None
            elif c in "$`\\":
                return None
            else:
                word.append(c)
        elif c in "'\"":
            quote, in_word = c, True
        elif c in " \t":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif c in _SHELL_SPECIAL or (c == "#" and not in_word) or (c == "=" and not words):
            return None
        else:
            word.append(c)
            in_word = True
    if quote is not None:
        return None
    if in_word:
        words.append("".join(word))
    if not words or not words[0] or words[0] in _SHELL_WORDS:
        return None
    return words


def container_command(command: str) -> list[str]:
    """The container ``command``: the argv itself when no shell is needed, else bash as in the image's CMD."""
    argv = exec_argv(command)
    return [kubelet_literal(w) for w in (argv if argv is not None else [*BASH, command])]


# --------------------------------------------------------------------------- building blocks


def image_of(plan: Plan, options: KubernetesOptions) -> str:
    """The option's image, else the project's serving image."""
    return options.image or plan.images.serve.ref


def labels(plan: Plan, component: str) -> dict[str, str]:
    """Recommended ``app.kubernetes.io/*`` labels, then the project's own labels (sorted)."""
    name = plan.project.name
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": name,
        "app.kubernetes.io/managed-by": "mlspec",
        **dict(plan.project.labels),
    }


def selector(plan: Plan, component: str) -> dict[str, str]:
    """Pod selector: only labels that never change (a Deployment's selector is immutable)."""
    return {"app.kubernetes.io/name": plan.project.name, "app.kubernetes.io/component": component}


def metadata(plan: Plan, options: KubernetesOptions, component: str) -> dict[str, Any]:
    return {"name": plan.project.name, "namespace": options.namespace, "labels": labels(plan, component)}


def secret_name(plan: Plan) -> str:
    return f"{plan.project.name}-secrets"


def env_vars(plan: Plan, serving: Serving) -> list[dict[str, Any]]:
    """Plain variables (values made literal), then secrets by reference, never by value."""
    env: list[dict[str, Any]] = [{"name": k, "value": kubelet_literal(v)} for k, v in serving.env]
    env += [{"name": s, "valueFrom": {"secretKeyRef": {"name": secret_name(plan), "key": s}}}
            for s in serving.secrets]
    return env


def container(plan: Plan, options: KubernetesOptions, serving: Serving) -> dict[str, Any]:
    image = image_of(plan, options)
    c: dict[str, Any] = {
        "name": CONTAINER[serving.mode],
        "image": image,
        # A digest never changes; a tag may be pushed again.
        "imagePullPolicy": "IfNotPresent" if "@sha256:" in image else "Always",
        "command": container_command(plan.command_for(serving) or ""),
    }
    if serving.mode == "online":
        c["ports"] = [{"name": "http", "containerPort": serving.port, "protocol": "TCP"}]
    env = env_vars(plan, serving)
    if env:
        c["env"] = env
    res = pod_resources(serving.resources, guaranteed=True)
    if res:
        c["resources"] = res
    if serving.mode == "online":
        # Without a health path the probes can only see that the port accepts connections.
        kind, how = (("httpGet", {"path": serving.health_path, "port": "http", "scheme": "HTTP"})
                     if serving.health_path is not None else ("tcpSocket", {"port": "http"}))
        c["startupProbe"] = {kind: dict(how), "periodSeconds": 5, "timeoutSeconds": 2,
                             "failureThreshold": STARTUP_SECONDS // 5}
        c["readinessProbe"] = {kind: dict(how), "periodSeconds": 10, "timeoutSeconds": 2,
                               "successThreshold": 1, "failureThreshold": 3}
        c["livenessProbe"] = {kind: dict(how), "periodSeconds": 20, "timeoutSeconds": 5,
                              "failureThreshold": 3}
    c["securityContext"] = dict(CONTAINER_SECURITY_CONTEXT)
    c["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    return c


def pod_spec(plan: Plan, options: KubernetesOptions, serving: Serving) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if serving.mode == "batch":
        spec["restartPolicy"] = "Never"
    spec |= {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(plan.images.uid, port=serving.port if serving.mode == "online" else None),
    }
    if serving.mode == "online" and min_replicas(serving) > 1:
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector(plan, COMPONENT["online"])},
        }]
    spec["containers"] = [container(plan, options, serving)]
    # The root filesystem is read-only; most Python servers still need a writable /tmp.
    spec["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    return spec


def min_replicas(serving: Serving) -> int:
    return serving.min_replicas if serving.min_replicas is not None else serving.replicas


# --------------------------------------------------------------------------- objects


def online_objects(plan: Plan, options: KubernetesOptions, serving: Serving) -> list[dict[str, Any]]:
    component = COMPONENT["online"]
    name = plan.project.name
    autoscaled = serving.max_replicas is not None
    template_meta = {
        "labels": labels(plan, component),
        "annotations": {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(serving.port),
            "prometheus.io/path": serving.metrics_path,
        },
    }
    deployment_spec: dict[str, Any] = {}
    if not autoscaled:
        # With an HPA the replica count is its business: a manifest value would reset it on every apply.
        deployment_spec["replicas"] = serving.replicas
    deployment_spec |= {
        "selector": {"matchLabels": selector(plan, component)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {"metadata": template_meta, "spec": pod_spec(plan, options, serving)},
    }
    objects: list[dict[str, Any]] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(plan, options, component),
         "spec": deployment_spec},
        {"apiVersion": "v1", "kind": "Service", "metadata": metadata(plan, options, component),
         "spec": {"type": "ClusterIP", "selector": selector(plan, component),
                  "ports": [{"name": "http", "port": serving.port, "targetPort": "http", "protocol": "TCP",
                             "appProtocol": "http"}]}},
    ]
    if autoscaled:
        objects.append({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": metadata(plan, options, component),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": serving.min_replicas,
                "maxReplicas": serving.max_replicas,
                "metrics": [{"type": "Resource", "resource": {
                    "name": "cpu", "target": {"type": "Utilization",
                                              "averageUtilization": serving.target_cpu_percent}}}],
            },
        })
    if min_replicas(serving) > 1:
        objects.append({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": metadata(plan, options, component),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(plan, component)},
                     "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        })
    return objects


def batch_objects(plan: Plan, options: KubernetesOptions, serving: Serving) -> list[dict[str, Any]]:
    component = COMPONENT["batch"]
    job_spec: dict[str, Any] = {"backoffLimit": 0}
    if serving.timeout_seconds is not None:
        job_spec["activeDeadlineSeconds"] = serving.timeout_seconds
    job_spec["template"] = {"metadata": {"labels": labels(plan, component)},
                            "spec": pod_spec(plan, options, serving)}
    return [{
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata(plan, options, component),
        "spec": {
            "schedule": serving.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": labels(plan, component)}, "spec": job_spec},
        },
    }]


def manifests(plan: Plan, options: KubernetesOptions) -> list[dict[str, Any]]:
    """The Kubernetes objects for the plan's serving, in apply order; empty without serving."""
    serving = plan.serving
    if serving is None:
        return []
    if serving.mode == "online":
        # serving.batch: a CronJob next to the server, running the same image with the batch command
        batch = batch_objects(plan, options, serving.batch) if serving.batch is not None else []
        return online_objects(plan, options, serving) + batch
    return batch_objects(plan, options, serving)


def manifest_path(plan: Plan) -> str:
    return f"{MANIFEST_DIR}/{plan.project.name}.yaml"


def monitoring_path(plan: Plan) -> str:
    return f"{MANIFEST_DIR}/{plan.project.name}.monitoring.yaml"


# How often the operator's Prometheus scrapes the server: the rules' shortest window is 5m.
SCRAPE_INTERVAL = "30s"


def service_monitor(plan: Plan, options: KubernetesOptions, serving: Serving) -> dict[str, Any]:
    """The prometheus-operator ServiceMonitor for the online server's Service.

    The relabelings attach ``serving.selector`` (the labels the SLO rules and the dashboard
    select by) to every scraped series, as the generated static scrape config does, so the
    rules match whichever way Prometheus discovers the server."""
    component = COMPONENT["online"]
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": metadata(plan, options, component),
        "spec": {
            "selector": {"matchLabels": selector(plan, component)},
            "namespaceSelector": {"matchNames": [options.namespace]},
            "endpoints": [{
                "port": "http", "path": serving.metrics_path, "interval": SCRAPE_INTERVAL,
                "relabelings": [{"action": "replace", "targetLabel": k, "replacement": relabel_literal(v)}
                                for k, v in serving.selector],
            }],
        },
    }


def relabel_literal(value: str) -> str:
    """``value`` as a relabeling ``replacement``, which expands ``$1``/``${name}`` regex groups:
    ``$$`` is a literal dollar sign."""
    return value.replace("$", "$$")


# --------------------------------------------------------------------------- the target


def _cannot(message: str, path: dx.SpecPath, hint: str) -> Diagnostic:
    return Diagnostic(dx.TARGET_CANNOT_EXPRESS, f"kubernetes target: {message}", path=path, hint=hint)


class KubernetesTarget(Target):
    name = "kubernetes"
    description = ("k8s/<project>.yaml: a hardened Deployment, Service, HorizontalPodAutoscaler and "
                   "PodDisruptionBudget for online serving, and a CronJob for batch scoring (off by default).")
    options_model = KubernetesOptions

    def check(self, plan: Plan) -> list[Diagnostic]:
        """What plain manifests cannot express. Runs whenever the target runs (enabled or ``--target``)."""
        serving = plan.serving
        if serving is None:
            return []
        diags: list[Diagnostic] = []
        name = plan.project.name
        if not name[-1].isalnum():
            diags.append(_cannot(
                f"project name {name!r} is not a valid Kubernetes object name", ("project", "name"),
                "Kubernetes names end with a letter or digit: drop the trailing '-'"))
        if serving.mode == "online":
            if serving.rollout_strategy != "rolling":
                diags.append(_cannot(
                    f"rollout strategy {serving.rollout_strategy!r} needs a progressive delivery controller; "
                    "a plain Deployment only rolls", ("serving", "rollout", "strategy"),
                    "use 'strategy: rolling' with this target, or disable it and deploy with "
                    "Argo Rollouts or Flagger"))
            if serving.max_replicas is not None and serving.resources.cpu_text is None:
                diags.append(_cannot(
                    "autoscaling on CPU utilisation needs a CPU request", ("serving", "autoscaling"),
                    "add 'resources: {cpu: 1}' under serving; target_cpu_percent is a share of it"))
        return diags

    def emit(self, plan: Plan) -> list[Artifact]:
        from mlspec.output.encoders import yaml_dump

        options = self.options
        objects = manifests(plan, options)
        if not objects:
            return []
        body = "---\n".join(yaml_dump(obj) for obj in objects)
        out = [Artifact(manifest_path(plan), body, self.name, "kubernetes-manifests")]
        serving = plan.serving
        if options.service_monitor and serving is not None and serving.mode == "online":
            out.append(Artifact(monitoring_path(plan), yaml_dump(service_monitor(plan, options, serving)),
                                self.name, "kubernetes-monitoring"))
        return out
