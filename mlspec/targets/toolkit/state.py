"""Where a run's state lives, for targets whose nodes run on throw-away machines."""

from __future__ import annotations

from mlspec import diagnostics as dx
from mlspec.compiler.plan import Plan
from mlspec.diagnostics import Diagnostic, Severity


def _registry_is_local(plan: Plan) -> bool:
    """A registry that lives on the machine: a local folder outside a remote store, or an MLflow
    server backed by a SQLite file or a folder on the machine."""
    r = plan.registry
    if r is None:
        return False
    if r.backend == "local":
        return plan.storage.local   # with a remote store, the local registry is kept in the store
    return r.uri.startswith(("sqlite:", "file:")) or "://" not in r.uri


def ephemeral_state(plan: Plan, target: str, machines: str) -> list[Diagnostic]:
    """MS410 when outputs that other nodes read, or the registry, would stay on ``machines`` that
    are thrown away after each job: an error when a gate compares with production (it could never see the production
    model), else a warning (every run starts from nothing)."""
    lost: list[str] = []
    written = {o for n in plan.nodes for o in n.outputs}
    shared = any(i in written for n in plan.nodes for i in n.inputs)   # files cross machines
    if plan.storage.local and shared:
        lost.append(f"the artifact store ({plan.storage.uri!r})")
    if _registry_is_local(plan):
        assert plan.registry is not None
        lost.append(f"the {plan.registry.backend} registry ({plan.registry.uri!r})")
    if not lost:
        return []
    baseline = next((g for g in plan.gates if g.baseline == "production"), None)
    what = " and ".join(lost)
    message = f"{target}: {machines} are thrown away after each job, and {what} would be kept on them"
    if baseline is not None:
        message += f"; the gate on {baseline.metric!r} compares with a production model no job can see"
    # The place to fix: the storage (the spec's line, or the top when it has no storage section),
    # else the registry's URI.
    path: tuple[str, ...] = ("storage", "uri") if plan.storage.local else ("registry", "uri")
    return [Diagnostic(dx.EPHEMERAL_STATE, message,
                       severity=Severity.ERROR if baseline is not None else Severity.WARNING, path=path,
                       hint="set storage: {uri: s3://…} (or gs://, az://) so that outputs and the registry "
                            "outlive the machines")]
