"""The `kubernetes` target: valid, hardened manifests that mean what the spec says.

Specs are written to a temporary folder as variants of the examples (with
``targets: {kubernetes: {enabled: true, namespace: ml}}``) or as small synthetic specs, and
compiled with the same ``check_project`` + ``emit_artifacts`` the CLI uses. The real
validator is kubernetes-validate (k8s 1.37, strict schemas, every error walked) plus yamllint.
"""

from __future__ import annotations

import copy
import io
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec import diagnostics as dx
from mlspec.api import check_project, emit_artifacts
from mlspec.output.encoders import yaml_dump
from mlspec.language.loader import load_document
from mlspec.targets.kubernetes import BASH, exec_argv, kubelet_literal
from tests import validators as V

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlproject.yaml"))
K8S = {"kubernetes": {"enabled": True, "namespace": "ml"}}

validator = pytest.mark.validator


# --------------------------------------------------------------------------- helpers


def example_data(example: str) -> dict[str, Any]:
    doc, diags = load_document(ROOT / "examples" / example / "mlproject.yaml")
    assert doc is not None, diags
    return copy.deepcopy(doc.data)


SERVING_EXAMPLES = [ex for ex in EXAMPLES if "serving" in example_data(ex)]


def base_spec(**serving: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mlspec": 1,
        "project": {"name": "demo"},
        "training": {"run": "python train.py", "outputs": {"model": "models/model.pkl"}},
        "targets": copy.deepcopy(K8S),
    }
    if serving:
        data["serving"] = serving
    return data


ONLINE = {"mode": "online", "run": "uvicorn demo.api:app --host 0.0.0.0 --port 8080", "port": 8080,
          "slo": {"latency_p95_ms": 200}}
BATCH = {"mode": "batch", "run": "python -m demo.score --out s3://bucket/scores/", "schedule": "30 2 * * *",
         "timeout": "2h", "resources": {"cpu": "500m", "memory": "1Gi"}}


def write_spec(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "mlproject.yaml"
    path.write_text(yaml_dump(data), encoding="utf-8")
    return path


def check(tmp_path: Path, data: dict[str, Any], targets: tuple[str, ...] = ("kubernetes",)):
    return check_project(write_spec(tmp_path, data), display_name="mlproject.yaml", out_dir=tmp_path,
                         targets=targets)


def compile_k8s(tmp_path: Path, data: dict[str, Any]) -> tuple[Path | None, list[dict[str, Any]]]:
    """Write the spec, compile the kubernetes target; the manifest file and its documents."""
    checked = check(tmp_path, data)
    errors = [d.to_json() for d in checked.diagnostics if d.is_error]
    assert checked.ok, errors
    artifacts = emit_artifacts(checked.plan, checked.options_for(["kubernetes"]))
    if not artifacts:
        return None, []
    for artifact in artifacts:
        assert artifact.target == "kubernetes" and artifact.path.startswith("k8s/")
        out = tmp_path / artifact.path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(artifact.render(checked.plan.source), encoding="utf-8", newline="\n")
    # The ServiceMonitor (online serving) is a file of its own: k8s/<project>.monitoring.yaml.
    assert sorted(a.kind for a in artifacts) in (["kubernetes-manifests"],
                                                 ["kubernetes-manifests", "kubernetes-monitoring"])
    out = tmp_path / next(a.path for a in artifacts if a.kind == "kubernetes-manifests")
    docs = [d for d in yaml.safe_load_all(out.read_text(encoding="utf-8")) if d is not None]
    return out, docs


def manifest_artifact(artifacts: list[Any]) -> Any:
    (artifact,) = [a for a in artifacts if a.kind == "kubernetes-manifests"]
    return artifact


def monitoring_docs(manifest: Path) -> list[dict[str, Any]]:
    """The documents of the ServiceMonitor file next to ``manifest`` (none when it was not written)."""
    path = manifest.with_name(manifest.stem + ".monitoring.yaml")
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d] if path.exists() else []


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [d["kind"] for d in docs]
    assert len(kinds) == len(set(kinds)), kinds
    return {d["kind"]: d for d in docs}


def pod_of(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj["spec"]["template"]


def kubelet_expand(text: str, lookup) -> str:
    """Port of k8s.io/kubernetes third_party/forked/golang/expansion.Expand (command, args, env values)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1:]
            if rest[0] == "$":
                read, is_var, advance = "$", False, 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close == -1:
                    read, is_var, advance = "$(", False, 1
                else:
                    read, is_var, advance = rest[1:close], True, close + 1
            else:
                read, is_var, advance = "$" + rest[0], False, 1
            out.append(lookup(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def every_var_defined(name: str) -> str:
    return f"<expanded {name}>"


def validator_findings(path: Path) -> list[str]:
    findings = V.kubernetes_validate([path]) + V.yamllint([path])
    monitoring = path.with_name(path.stem + ".monitoring.yaml")
    if monitoring.exists():
        findings += V.prometheus_operator_validate([monitoring]) + V.yamllint([monitoring])
    return findings


# --------------------------------------------------------------------------- options and enabling


def test_disabled_by_default_and_enabled_by_option(tmp_path: Path) -> None:
    data = base_spec(**ONLINE)
    data["targets"] = {}
    assert "kubernetes" not in check(tmp_path, data, targets=()).target_options
    data["targets"] = {"kubernetes": {"enabled": True}}
    options = check(tmp_path, data, targets=()).target_options
    assert options["kubernetes"].namespace == "default"
    assert options["kubernetes"].image is None


@pytest.mark.parametrize(("options", "where"), [
    ({"namespace": "ML"}, "targets.kubernetes.namespace"),
    ({"namespace": "-ml"}, "targets.kubernetes.namespace"),
    ({"namespace": "a" * 64}, "targets.kubernetes.namespace"),
    ({"image": "Demo:Latest"}, "targets.kubernetes.image"),
    ({"image": "demo:latest --privileged"}, "targets.kubernetes.image"),
    ({"image": "demo@sha256:abc"}, "targets.kubernetes.image"),
    ({"output_dir": "deploy"}, "targets.kubernetes.output_dir"),
    ({"enabled": "yes"}, "targets.kubernetes.enabled"),
])
def test_invalid_options_are_positioned_errors(tmp_path: Path, options: dict, where: str) -> None:
    data = base_spec(**ONLINE)
    data["targets"] = {"kubernetes": {"enabled": True, **options}}
    checked = check(tmp_path, data, targets=())
    errors = [d for d in checked.diagnostics if d.is_error]
    assert errors and all(d.dotted_path == where for d in errors), [d.to_json() for d in errors]
    assert all(d.span is not None and d.code == dx.TARGET_OPTION_INVALID for d in errors)


@pytest.mark.parametrize("image", [
    "demo", "demo:1.0", "ghcr.io/example/demo:sha-0123abc", "registry.example.com:5000/ml/demo:v1",
    "docker.io/library/python:3.11-slim@sha256:" + "0" * 64, "my__org/my--image",
])
def test_image_option_accepts_image_references(tmp_path: Path, image: str) -> None:
    data = base_spec(**ONLINE)
    data["targets"]["kubernetes"]["image"] = image
    (c,) = pod_of(by_kind(compile_k8s(tmp_path, data)[1])["Deployment"])["spec"]["containers"]
    assert c["image"] == image


# --------------------------------------------------------------------------- the real validator


def example_variants() -> list[Any]:
    assert SERVING_EXAMPLES, "no example has a serving section: nothing would be validated"
    return [pytest.param(ex, id=ex) for ex in SERVING_EXAMPLES]


@validator
@pytest.mark.parametrize("example", example_variants())
def test_examples_compile_to_valid_manifests(example: str, tmp_path: Path) -> None:
    data = example_data(example)
    data["targets"] = copy.deepcopy(K8S)
    serving = data["serving"]
    if serving.get("mode") == "online" and serving.get("rollout", {}).get("strategy", "rolling") != "rolling":
        # Plain manifests cannot do canary/blue-green: the target says so instead of dropping it...
        (tmp_path / "as-is").mkdir()
        checked = check(tmp_path / "as-is", data)
        errors = [(d.code, d.dotted_path) for d in checked.diagnostics if d.is_error]
        assert errors == [(dx.TARGET_CANNOT_EXPRESS, "serving.rollout.strategy")]
        # ...and with a rolling rollout the same example compiles.
        data["serving"]["rollout"] = {"strategy": "rolling"}
    path, docs = compile_k8s(tmp_path, data)
    assert path is not None and docs
    assert validator_findings(path) == []
    expected = {"online": {"Deployment", "Service"}, "batch": {"CronJob"}}[data["serving"]["mode"]]
    assert expected <= set(by_kind(docs))
    assert [d["kind"] for d in monitoring_docs(path)] == (["ServiceMonitor"] if "Service" in expected else [])


SYNTHETIC = {
    "online-minimal": dict(ONLINE),
    "online-autoscaled": {**ONLINE, "resources": {"cpu": 0.5, "memory": "512Mi"},
                          "autoscaling": {"min_replicas": 3, "max_replicas": 12, "target_cpu_percent": 60}},
    "online-autoscaled-from-one": {**ONLINE, "resources": {"cpu": "250m"},
                                   "autoscaling": {"min_replicas": 1, "max_replicas": 4}},
    "online-replicas-gpu": {**ONLINE, "replicas": 3, "resources": {"cpu": 4, "memory": "16Gi", "gpu": 1}},
    "online-low-port-shell": {**ONLINE, "port": 80, "run": "cd app && exec gunicorn -b 0.0.0.0:80 \"wsgi:app\""},
    "batch": dict(BATCH),
    "batch-minimal": {"mode": "batch", "run": "python score.py", "schedule": "@daily"},
    "online-and-batch": {**ONLINE, "batch": {"run": "python -m demo.score", "schedule": "@daily", "timeout": "1h"}},
}


@validator
@pytest.mark.parametrize("case", sorted(SYNTHETIC))
def test_synthetic_specs_compile_to_valid_manifests(case: str, tmp_path: Path) -> None:
    data = base_spec(**SYNTHETIC[case])
    data["environment"] = {"env": {"LOG_LEVEL": "info"}, "secrets": ["DB_PASSWORD"]}
    path, docs = compile_k8s(tmp_path, data)
    assert path is not None and docs
    assert validator_findings(path) == []


# --------------------------------------------------------------------------- meaning


@pytest.fixture
def reference_docs(tmp_path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    data = example_data("reference")
    data["targets"] = copy.deepcopy(K8S)
    data["serving"]["rollout"] = {"strategy": "rolling"}
    _, docs = compile_k8s(tmp_path, data)
    return data, by_kind(docs)


def test_online_objects_and_order(reference_docs) -> None:
    data, objs = reference_docs
    # the reference also scores in batches (serving.batch): its CronJob comes last
    assert list(objs) == ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "CronJob"]
    for obj in objs.values():
        assert obj["metadata"]["name"] == "churn"
        assert obj["metadata"]["namespace"] == "ml"
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "churn"
        assert labels["app.kubernetes.io/managed-by"] == "mlspec"
        assert labels["team"] == "growth"


def test_security_context_is_restricted(reference_docs) -> None:
    _, objs = reference_docs
    pod = pod_of(objs["Deployment"])["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    assert c["securityContext"] == {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "privileged": False,
                                    "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    # read-only root: /tmp is the only writable place, and it is an emptyDir
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert "hostNetwork" not in pod and "hostPID" not in pod


def test_probes_ports_and_scrape_annotations(reference_docs) -> None:
    data, objs = reference_docs
    sv = data["serving"]
    tmpl = pod_of(objs["Deployment"])
    (c,) = tmpl["spec"]["containers"]
    assert c["ports"] == [{"name": "http", "containerPort": sv["port"], "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": sv["health_path"], "port": "http", "scheme": "HTTP"}
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 60
    assert tmpl["metadata"]["annotations"] == {"prometheus.io/scrape": "true",
                                               "prometheus.io/port": str(sv["port"]),
                                               "prometheus.io/path": sv["metrics_path"]}
    svc = objs["Service"]["spec"]
    assert svc["ports"][0]["port"] == sv["port"] and svc["ports"][0]["targetPort"] == "http"
    # the Service and the Deployment select exactly the pods of the template
    selector = objs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert svc["selector"] == selector
    assert selector.items() <= tmpl["metadata"]["labels"].items()
    assert objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector


def test_command_runs_without_a_shell_when_it_can(reference_docs) -> None:
    data, objs = reference_docs
    (c,) = pod_of(objs["Deployment"])["spec"]["containers"]
    assert c["command"] == shlex.split(data["serving"]["run"])


def test_resources_hpa_and_pdb(reference_docs) -> None:
    data, objs = reference_docs
    sv = data["serving"]
    (c,) = pod_of(objs["Deployment"])["spec"]["containers"]
    want = {"cpu": str(sv["resources"]["cpu"]), "memory": sv["resources"]["memory"]}
    assert c["resources"] == {"requests": want, "limits": want}
    # the HPA owns the replica count; a manifest value would reset it on every apply
    assert "replicas" not in objs["Deployment"]["spec"]
    hpa = objs["HorizontalPodAutoscaler"]["spec"]
    auto = sv["autoscaling"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "churn"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (auto["min_replicas"], auto["max_replicas"])
    assert hpa["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": auto["target_cpu_percent"]}}}]
    assert objs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_secrets_by_reference_only(reference_docs) -> None:
    data, objs = reference_docs
    (c,) = pod_of(objs["Deployment"])["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    for name in data["environment"]["secrets"]:
        assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": "churn-secrets", "key": name}}}
    for name, value in data["environment"]["env"].items():
        assert env[name] == {"name": name, "value": value}
    assert "Secret" not in objs


def test_replicas_without_autoscaling(tmp_path: Path) -> None:
    _, docs = compile_k8s(tmp_path, base_spec(**{**ONLINE, "replicas": 3}))
    objs = by_kind(docs)
    assert list(objs) == ["Deployment", "Service", "PodDisruptionBudget"]
    assert objs["Deployment"]["spec"]["replicas"] == 3


def test_single_replica_has_no_pdb_and_no_resources(tmp_path: Path) -> None:
    _, docs = compile_k8s(tmp_path, base_spec(**ONLINE))
    objs = by_kind(docs)
    assert list(objs) == ["Deployment", "Service"]
    assert objs["Deployment"]["spec"]["replicas"] == 1
    pod = pod_of(objs["Deployment"])["spec"]
    assert "resources" not in pod["containers"][0] and "topologySpreadConstraints" not in pod
    assert objs["Deployment"]["metadata"]["namespace"] == "ml"


def test_autoscaling_from_one_replica_has_no_pdb(tmp_path: Path) -> None:
    spec = {**ONLINE, "resources": {"cpu": "250m"}, "autoscaling": {"min_replicas": 1, "max_replicas": 4}}
    objs = by_kind(compile_k8s(tmp_path, base_spec(**spec))[1])
    assert list(objs) == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    assert objs["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_gpu_is_a_limit(tmp_path: Path) -> None:
    spec = {**ONLINE, "resources": {"cpu": 4, "memory": "16Gi", "gpu": 2}}
    (c,) = pod_of(by_kind(compile_k8s(tmp_path, base_spec(**spec))[1])["Deployment"])["spec"]["containers"]
    assert c["resources"] == {"requests": {"cpu": "4", "memory": "16Gi"},
                              "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"}}


def test_low_port_gets_the_unprivileged_port_sysctl(tmp_path: Path) -> None:
    spec = {**ONLINE, "port": 80, "run": "uvicorn demo.api:app --port 80"}
    pod = pod_of(by_kind(compile_k8s(tmp_path, base_spec(**spec))[1])["Deployment"])["spec"]
    assert pod["securityContext"]["sysctls"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "80"}]


def test_batch_is_a_cronjob(tmp_path: Path) -> None:
    data = base_spec(**BATCH)
    data["environment"] = {"secrets": ["DB_PASSWORD"]}
    objs = by_kind(compile_k8s(tmp_path, data)[1])
    assert list(objs) == ["CronJob"]
    cron = objs["CronJob"]
    assert cron["spec"]["schedule"] == "30 2 * * *"
    assert cron["spec"]["timeZone"] == "Etc/UTC"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 7200 and job["backoffLimit"] == 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    assert c["command"] == shlex.split(BATCH["run"])
    assert "ports" not in c and "livenessProbe" not in c
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert c["env"] == [{"name": "DB_PASSWORD",
                         "valueFrom": {"secretKeyRef": {"name": "demo-secrets", "key": "DB_PASSWORD"}}}]
    assert cron["metadata"]["labels"]["app.kubernetes.io/component"] == "batch-scoring"


def test_online_serving_with_batch_scoring_gets_both(tmp_path: Path) -> None:
    batch = {"run": "python -m demo.score --since \"$(date)\"", "schedule": "@hourly", "timeout": "30m",
             "resources": {"cpu": 2, "memory": "4Gi"}, "env": {"BATCH": "1", "LOG_LEVEL": "debug"}}
    data = base_spec(**ONLINE, resources={"cpu": 1}, env={"LOG_LEVEL": "info"}, batch=batch)
    data["environment"] = {"secrets": ["DB_PASSWORD"]}
    objs = by_kind(compile_k8s(tmp_path, data)[1])
    assert list(objs) == ["Deployment", "Service", "CronJob"]
    server = pod_of(objs["Deployment"])["spec"]["containers"][0]
    cron = objs["CronJob"]
    assert cron["spec"]["schedule"] == "0 * * * *"
    assert cron["metadata"]["labels"]["app.kubernetes.io/component"] == "batch-scoring"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 1800
    (c,) = job["template"]["spec"]["containers"]
    # the serving image, with the batch command and the batch block's resources and env over serving's
    assert c["image"] == server["image"]
    assert kubelet_expand(c["command"][-1], every_var_defined) == 'python -m demo.score --since "$(date)"'
    assert c["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env == {"BATCH": "1", "LOG_LEVEL": "debug", "DB_PASSWORD": None}
    assert {e["name"]: e.get("value") for e in server["env"]}["LOG_LEVEL"] == "info"
    assert "ports" not in c and "livenessProbe" not in c


def test_batch_block_without_resources_takes_the_servers(tmp_path: Path) -> None:
    data = base_spec(**ONLINE, resources={"cpu": "500m", "memory": "1Gi"},
                     batch={"run": "python -m demo.score", "schedule": "@daily"})
    objs = by_kind(compile_k8s(tmp_path, data)[1])
    (c,) = objs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert c["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert "activeDeadlineSeconds" not in objs["CronJob"]["spec"]["jobTemplate"]["spec"]


def test_batch_alias_schedule_is_expanded(tmp_path: Path) -> None:
    data = base_spec(mode="batch", run="python score.py", schedule="@weekly")
    assert by_kind(compile_k8s(tmp_path, data)[1])["CronJob"]["spec"]["schedule"] == "0 0 * * 0"


def test_no_serving_no_manifest(tmp_path: Path) -> None:
    assert compile_k8s(tmp_path, base_spec()) == (None, [])


def test_image_option(tmp_path: Path) -> None:
    digest = "ghcr.io/example/demo:1.2.3@sha256:" + "a" * 64
    data = base_spec(**ONLINE)
    data["targets"]["kubernetes"]["image"] = digest
    (c,) = pod_of(by_kind(compile_k8s(tmp_path, data)[1])["Deployment"])["spec"]["containers"]
    assert (c["image"], c["imagePullPolicy"]) == (digest, "IfNotPresent")
    data["targets"]["kubernetes"].pop("image")
    (c,) = pod_of(by_kind(compile_k8s(tmp_path, data)[1])["Deployment"])["spec"]["containers"]
    assert (c["image"], c["imagePullPolicy"]) == ("demo:latest", "Always")


def test_default_image_is_the_one_the_docker_target_pushes(tmp_path: Path) -> None:
    data = base_spec(**ONLINE)
    data["targets"]["docker"] = {"registry": "ghcr.io/example"}
    checked = check(tmp_path, data, targets=("kubernetes", "docker"))
    assert checked.ok, [d.to_json() for d in checked.diagnostics if d.is_error]
    assert checked.plan.images.serve.ref == "ghcr.io/example/demo:latest"
    artifact = manifest_artifact(emit_artifacts(checked.plan, checked.options_for(["kubernetes"])))
    (doc, *_) = yaml.safe_load_all(artifact.content)
    assert pod_of(doc)["spec"]["containers"][0]["image"] == "ghcr.io/example/demo:latest"


@pytest.mark.parametrize(("written", "cron"), [("0 2 * * 7", "0 2 * * 0"), ("0 2 * * 5-7", "0 2 * * 0,5,6"),
                                             ("0 2 * * sun", "0 2 * * 0")])
def test_sunday_as_seven_is_normalised_not_refused(tmp_path: Path, written: str, cron: str) -> None:
    checked = check(tmp_path, base_spec(**{**BATCH, "schedule": written}))
    assert checked.ok, [d.to_json() for d in checked.diagnostics if d.is_error]
    artifact = manifest_artifact(emit_artifacts(checked.plan, checked.options_for(["kubernetes"])))
    (job,) = yaml.safe_load_all(artifact.content)
    assert job["spec"]["schedule"] == cron


# --------------------------------------------------------------------------- what it cannot express (MS402)


@pytest.mark.parametrize(("serving", "project", "path"), [
    ({**ONLINE, "rollout": {"strategy": "canary", "canary_steps": [10, 100]}}, "demo", "serving.rollout.strategy"),
    ({**ONLINE, "rollout": {"strategy": "blue_green"}}, "demo", "serving.rollout.strategy"),
    ({**ONLINE, "autoscaling": {"max_replicas": 3}}, "demo", "serving.autoscaling"),
    (dict(ONLINE), "demo-", "project.name"),
])
def test_cannot_express_is_ms402(tmp_path: Path, serving: dict, project: str, path: str) -> None:
    data = base_spec(**serving)
    data["project"]["name"] = project
    checked = check(tmp_path, data)
    errors = [d for d in checked.diagnostics if d.is_error]
    assert [(d.code, d.dotted_path) for d in errors] == [(dx.TARGET_CANNOT_EXPRESS, path)]
    assert errors[0].hint and errors[0].message.startswith("kubernetes target:")
    # Disabled (the default), the same spec is fine.
    data["targets"] = {"kubernetes": {"enabled": False}}
    assert not [d for d in check(tmp_path, data, targets=()).diagnostics if d.code == dx.TARGET_CANNOT_EXPRESS]


def test_rolling_and_sunday_as_zero_are_fine(tmp_path: Path) -> None:
    assert check(tmp_path, base_spec(**{**ONLINE, "rollout": {"strategy": "rolling"}})).ok
    assert check(tmp_path, base_spec(**{**BATCH, "schedule": "0 2 * * 0,sun"})).ok


# --------------------------------------------------------------------------- hostile strings

# Bidi controls are not here: the loader refuses them in any spec (MS004) before a target sees them.
HOSTILE_VALUES = [
    "no", "yes", "on", "off", "null", "~", "true", "3.10", "1e3", "-1e-3", "0o755", "0x1F", "1_000", ".inf",
    "", " ", "  leading and trailing  ", "#not a comment", "a: b", "- item", "---", "...", "key: value\nother: 1",
    "line one\nline two\n", "trailing spaces  \nx", "quote ' and \" and \\ backslash",
    "$(HOME)", "$$(HOME)", "$HOME ${HOME} $", "$(", "a$(b)c$$d", "`id`", "; rm -rf / #", "&& curl evil |",
    "%s %n", "zero\u200bwidth", "emoji 🚀", "日本語",
    "*alias", "&anchor", "!!python/object:os.system", "!tag", "@at", "`", "%YAML 1.1", "<<",
]


def test_hostile_env_values_round_trip(tmp_path: Path) -> None:
    env = {f"V{i:02d}": v for i, v in enumerate(HOSTILE_VALUES)}
    data = base_spec(**{**ONLINE, "env": env})
    checked = check(tmp_path, data)
    rejected = [d.dotted_path for d in checked.diagnostics if d.is_error]
    assert not rejected, rejected  # all are legitimate values: the compiler must carry them, not refuse them
    path, docs = compile_k8s(tmp_path, data)
    text = path.read_text(encoding="utf-8")
    (c,) = pod_of(by_kind(docs)["Deployment"])["spec"]["containers"]
    emitted = {e["name"]: e["value"] for e in c["env"]}
    # the kubelet, even with every variable defined, hands the process exactly the spec's value
    assert {k: kubelet_expand(v, every_var_defined) for k, v in emitted.items()} == env
    # a YAML 1.2 reader agrees with PyYAML
    ruamel = pytest.importorskip("ruamel.yaml")
    docs12 = list(ruamel.YAML(typ="safe", pure=True).load_all(io.StringIO(text)))
    (c12,) = pod_of(by_kind(docs12)["Deployment"])["spec"]["containers"]
    assert {e["name"]: kubelet_expand(e["value"], every_var_defined) for e in c12["env"]} == env
    assert validator_findings(path) == []


HOSTILE_LABELS = {
    "y": "no", "no": "yes", "on": "off", "null": "null", "true": "false", "123": "3.10", "1e3": "1e3",
    "0o755": "0o755", "a.b": "0x1F", "x_y": "1_000", "z-z": "", "n": "007",
}


def test_hostile_labels_round_trip(tmp_path: Path) -> None:
    data = base_spec(**ONLINE)
    data["project"]["labels"] = dict(HOSTILE_LABELS)
    path, docs = compile_k8s(tmp_path, data)
    text = path.read_text(encoding="utf-8")
    ruamel = pytest.importorskip("ruamel.yaml")
    docs12 = list(ruamel.YAML(typ="safe", pure=True).load_all(io.StringIO(text)))
    for loaded in (docs, docs12):
        for obj in loaded:
            labels = obj["metadata"]["labels"]
            assert {k: v for k, v in labels.items() if not k.startswith("app.kubernetes.io/")} == HOSTILE_LABELS
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    assert validator_findings(path) == []


@pytest.mark.parametrize("run", [
    "python -m demo.serve --greeting \"$(HOME)\" --price '$$5'",
    "cd /app && exec uvicorn demo.api:app --port 8080",
    "PYTHONPATH=src uvicorn demo.api:app --port \"${PORT:-8080}\"",
    "uvicorn 'demo.api:app' --root-path '/a b/$(x)' --port 8080",
    "uvicorn demo.api:app --port 8080 # comment $(HOME)",
])
def test_hostile_commands_reach_the_process_unchanged(tmp_path: Path, run: str) -> None:
    path, docs = compile_k8s(tmp_path, base_spec(**{**ONLINE, "run": run}))
    (c,) = pod_of(by_kind(docs)["Deployment"])["spec"]["containers"]
    argv = [kubelet_expand(w, every_var_defined) for w in c["command"]]
    expected = exec_argv(run)
    assert argv == (expected if expected is not None else [*BASH, run])
    if expected is not None:
        assert expected == shlex.split(run)
    assert validator_findings(path) == []


@pytest.mark.skipif(not Path("/bin/bash").exists(), reason="needs bash")
def test_shell_command_runs_as_written(tmp_path: Path) -> None:
    """The container command, after the kubelet's expansion, does what the spec's `run` does."""
    run = "cd / && X=$(printf 'a b') && exec printf '%s|' \"$PWD\" \"$X\" '$(HOME)' '$$(x)' >&2"
    _, docs = compile_k8s(tmp_path, base_spec(**{**ONLINE, "run": run}))
    (c,) = pod_of(by_kind(docs)["Deployment"])["spec"]["containers"]
    argv = [kubelet_expand(w, every_var_defined) for w in c["command"]]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    direct = subprocess.run([*BASH, run], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == direct.stderr
    assert r.stderr == "/|a b|$(HOME)|$$(x)|"


# --------------------------------------------------------------------------- exec_argv and kubelet_literal


@pytest.mark.parametrize(("command", "argv"), [
    ("uvicorn app:app --host 0.0.0.0 --port 8080", ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8080"]),
    ("python -m x --data 's3://b/k ey' --n=3", ["python", "-m", "x", "--data", "s3://b/k ey", "--n=3"]),
    ("python  x.py\t'' \"a b\"", ["python", "x.py", "", "a b"]),
    ("python x.py 'it''s'", ["python", "x.py", "its"]),
    ("python x.py a#b", ["python", "x.py", "a#b"]),
    ("serve --pattern '*.json' '$HOME' '`x`'", ["serve", "--pattern", "*.json", "$HOME", "`x`"]),
])
def test_exec_argv_simple(command: str, argv: list[str]) -> None:
    assert exec_argv(command) == argv


@pytest.mark.parametrize("command", [
    "", "   ", "a && b", "a; b", "a | b", "a > out", "a < in", "a &", "(a)", "{ a; }", "a\nb", "a $HOME",
    "a ${HOME}", "a \"$HOME\"", "a `id`", "a $(id)", "a *.py", "a ?", "a [x]", "a ~/x", "a #c", "X=1 a",
    "exec a", "cd x", "if", "! a", "a 'unterminated", "a \"unterminated", "a\\ b", "a \"\\\\\"", "a {b,c}",
    "'' x", "time a", "a dir=~/x", "a x:~/y",
])
def test_exec_argv_needs_a_shell(command: str) -> None:
    assert exec_argv(command) is None


_WORD = st.text(alphabet=st.sampled_from(list("abz09-_=./:,@%+^é")), min_size=1, max_size=6)
_ANY = st.text(alphabet=st.sampled_from(list("ab $()`\\\"'|&;<>*?[]{}!#~=\t\né😀")), max_size=8)
_SQ = _ANY.filter(lambda s: "'" not in s).map(lambda s: f"'{s}'")
_DQ = _ANY.filter(lambda s: not set(s) & set('"$`\\')).map(lambda s: f'"{s}"')
_COMMANDS = st.one_of(
    st.lists(st.one_of(_WORD, _SQ, _DQ, _ANY), min_size=1, max_size=5).map(" ".join),
    st.lists(st.one_of(_WORD, _SQ, _DQ), min_size=1, max_size=5).map(" ".join),
    _ANY,
)


@settings(max_examples=400, deadline=None)
@given(_COMMANDS)
def test_exec_argv_agrees_with_shlex(command: str) -> None:
    argv = exec_argv(command)
    if argv is not None:
        assert argv == shlex.split(command)


# dash (the /bin/sh of Debian images) and bash as the fallback runs it (BASH)
SHELLS = [s for s in (["/bin/sh", "-c"], BASH) if Path(s[0]).exists()]


@pytest.mark.skipif(not SHELLS, reason="needs a POSIX shell")
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(_COMMANDS)
def test_exec_argv_agrees_with_the_shell(command: str) -> None:
    """What a shell would run for ``command`` is exactly the argv we run without it."""
    argv = exec_argv(command)
    if argv is None:
        return
    script = f"set -- {command}\nprintf '%s\\0' \"$@\""
    for shell in SHELLS:
        with tempfile.TemporaryDirectory() as scratch:  # a wrongly accepted '>' must not write here
            r = subprocess.run([*shell, script], capture_output=True, timeout=30, cwd=scratch)
        assert r.returncode == 0, (shell, r.stderr)
        assert r.stdout.decode("utf-8").split("\0")[:-1] == argv, shell


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_kubelet_literal_is_never_expanded(s: str) -> None:
    assert kubelet_expand(kubelet_literal(s), every_var_defined) == s


def test_kubelet_expand_port_matches_documented_behaviour() -> None:
    env = {"A": "x"}.get
    lookup = lambda n: env(n) or f"$({n})"  # noqa: E731 - unresolved references stay as written
    assert kubelet_expand("$(A)-$$(A)-$(B)-$A-$", lookup) == "x-$(A)-$(B)-$A-$"


# --------------------------------------------------------------------------- determinism


def _reverse_mappings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reverse_mappings(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [_reverse_mappings(v) for v in value]
    return value


def test_deterministic_and_independent_of_key_order(tmp_path: Path) -> None:
    data = example_data("reference")
    data["targets"] = copy.deepcopy(K8S)
    data["serving"]["rollout"] = {"strategy": "rolling"}
    data["serving"]["env"] = {"Z_LAST": "1", "A_FIRST": "2"}
    bodies = []
    for i, variant in enumerate((data, data, _reverse_mappings(data))):
        folder = tmp_path / str(i)
        folder.mkdir()
        checked = check(folder, variant)
        assert checked.ok
        artifact = manifest_artifact(emit_artifacts(checked.plan, checked.options_for(["kubernetes"])))
        bodies.append(artifact.content)
    assert bodies[0] == bodies[1] == bodies[2]
    # documents are joined by a bare '---' line and nothing the dumper could alias
    assert "&id" not in bodies[0] and "*id" not in bodies[0]
    assert bodies[0].count("\n---\n") == 4


@pytest.mark.validator
def test_server_without_health_path_gets_tcp_probes(tmp_path: Path) -> None:
    path, objects = compile_k8s(tmp_path, base_spec(**{**ONLINE, "health_path": None}))
    (c,) = pod_of(by_kind(objects)["Deployment"])["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["tcpSocket"] == {"port": "http"} and "httpGet" not in c[probe]
    assert path is not None and validator_findings(path) == []


# --------------------------------------------------------------------------- ServiceMonitor


def test_service_monitor_scrapes_the_service_with_the_rules_labels(tmp_path: Path) -> None:
    """The operator's Prometheus finds the Service by its selector and port name and attaches the
    labels the SLO rules select by, exactly (a `$` in a label value is not a regex group)."""
    spec = base_spec(**{**ONLINE, "metrics": {"labels": {"project": "demo", "team": "a$1b"}}})
    path, docs = compile_k8s(tmp_path, spec)
    service = by_kind(docs)["Service"]
    (monitor,) = monitoring_docs(path)
    assert monitor["kind"] == "ServiceMonitor" and monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]} == {"project": "demo",
                                                                                      "team": "a$$1b"}
    assert all(r["action"] == "replace" for r in endpoint["relabelings"])


def test_service_monitor_option_and_batch(tmp_path: Path) -> None:
    (tmp_path / "off").mkdir()
    (tmp_path / "batch").mkdir()
    spec = base_spec(**ONLINE)
    spec["targets"]["kubernetes"]["service_monitor"] = False
    path, _ = compile_k8s(tmp_path / "off", spec)
    assert monitoring_docs(path) == []
    path, _ = compile_k8s(tmp_path / "batch", base_spec(**BATCH))
    assert monitoring_docs(path) == []     # a CronJob is not scraped; batch scoring pushes
