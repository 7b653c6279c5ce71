"""Kubernetes pod pieces for every target that starts pods (manifests, KubernetesPodOperator),
so a pod asks for the same resources and runs as the same user whoever generated it."""

from __future__ import annotations

from typing import Any

from mlspec.compiler.plan import ResourceRequest

GPU_RESOURCE = "nvidia.com/gpu"

CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def kubelet_literal(s: str) -> str:
    """``s`` as a container ``command``/``args``/``env`` value that the kubelet passes on unchanged.

    The kubelet expands ``$(NAME)`` from the container's environment and turns ``$$`` into
    ``$``; doubling every ``$`` makes the whole string literal (``$HOME`` is then left for
    the shell, as in the spec).
    """
    return s.replace("$", "$$")


def pod_resources(r: ResourceRequest, *, guaranteed: bool) -> dict[str, dict[str, str]]:
    """Requests and limits from the Plan's one resource form.

    Memory is not compressible, so its limit always equals the request. CPU is limited only
    for ``guaranteed`` pods (an online server, Guaranteed QoS: predictable latency); batch
    tasks may burst. GPUs are extended resources, set as limits. Quantities are strings.
    """
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if r.cpu_text is not None:
        requests["cpu"] = r.cpu_text
        if guaranteed:
            limits["cpu"] = r.cpu_text
    if r.memory is not None:
        requests["memory"] = limits["memory"] = r.memory
    if r.gpu:
        limits[GPU_RESOURCE] = str(r.gpu)
    out: dict[str, dict[str, str]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def pod_security_context(uid: int, *, port: int | None = None, shared_volume: bool = False) -> dict[str, Any]:
    """Non-root pods as the images' user; with a shared volume, files belong to its group."""
    ctx: dict[str, Any] = {
        "runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if shared_volume:
        ctx["fsGroup"] = uid
    if port is not None and port < 1024:
        # Without capabilities a non-root process may bind a low port only when the node allows it.
        ctx["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": str(port)}]
    return ctx
