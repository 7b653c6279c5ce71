"""`mlspec register` and `mlspec registry describe|fetch|promote` (with the audit's card and prune)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec.runtime.common import Context, Failure, Outcome, run_command, table
from mlspec.runtime.cli_options import FORMAT, SPEC


# =================================================================== register


@click.command()
@SPEC
@click.option("--model", type=click.Path(), help="Model file or folder (default: training.outputs.model).")
@click.option("--metrics", type=click.Path(dir_okay=False), help="Metrics JSON (default: validation.metrics).")
@click.option("--stage", type=click.Choice(["production", "staging", "none"]), default="production",
              show_default=True, help="Point this stage at the new version.")
@click.option("--approver", metavar="NAME",
              help="Who approved this model, for the audit record (default: the GitHub environment's reviewer, "
                   "else $MLSPEC_APPROVER, which `mlspec run` and the Airflow DAG set).")
@FORMAT
def register(spec: str, model: str | None, metrics: str | None, stage: str, approver: str | None, fmt: str) -> None:
    """Version an approved model with its lineage in the registry, and append its audit record."""
    run_command("register", spec, fmt, lambda ctx: _register(ctx, model, metrics, stage, approver))


def _register(ctx: Context, model_opt: str | None, metrics_opt: str | None, stage: str,
              approver: str | None = None) -> Outcome:
    from mlspec.runtime import audit
    from mlspec.runtime import gates as g
    from mlspec.runtime import registry

    plan = ctx.plan
    if plan.registry is None:
        raise Failure(dx.REGISTRY_ERROR, "the spec has no `registry` section", hint="add registry: {backend: local}")
    if model_opt:
        model = Path(model_opt)
    elif plan.model_path:
        model = ctx.spec_path(plan.model_path)
    else:
        raise click.UsageError("no model: pass --model (the spec has no training.outputs.model)")
    mshown = ctx.shown(model)
    if not model.exists():
        raise Failure(dx.DATA_UNREADABLE, f"model {mshown} does not exist", file=mshown,
                      hint="run training first, or pass --model")
    metrics: dict[str, Any] = {}
    metrics_source = None
    if metrics_opt:
        mpath = Path(metrics_opt)
        metrics, metrics_source = g.read_metrics(mpath, ctx.shown(mpath)), ctx.shown(mpath)
    elif plan.eval_metrics_path:
        mpath = ctx.spec_path(plan.eval_metrics_path)
        if mpath.exists():
            metrics, metrics_source = g.read_metrics(mpath, ctx.shown(mpath)), ctx.shown(mpath)
        else:
            ctx.warn(dx.DATA_UNREADABLE, f"metrics file {ctx.shown(mpath)} does not exist; registering without "
                     f"metrics (a later baseline gate will have nothing to compare with)", file=ctx.shown(mpath))

    # The evidence, gathered before anything is written: a pin the data does not match stops here.
    run = audit.run_info(ctx.spec_dir)
    files, from_store, store_problem = audit.store_evidence(ctx, run["id"])
    data = audit.data_evidence(ctx, from_store)
    for name, entry in data.items():
        if entry["pin_verified"] is False:
            raise Failure(dx.DATA_PIN_MISMATCH, f"data.{name}: the data read ({entry['sha256'] or 'its .dvc md5'}, "
                          f"hashed {entry['hashed']}) is not the data pinned by version {entry['pin']!r}",
                          path=("data", name, "version"),
                          hint="restore the pinned data, or pin the data that was used")
    gate_results: list[Any] = []
    if plan.gates and metrics:
        base = None
        if any(x.baseline for x in plan.gates):
            try:
                prod = registry.production(ctx)
            except Failure as exc:      # a damaged pointer: registering repairs it; the record says so
                if exc.code != dx.REGISTRY_DAMAGED:
                    raise
                prod = None
                ctx.warn(exc.code, f"the gate table of the audit record has no production baseline: {exc.message}")
            base = g.Baseline(f"production {prod[0]}", prod[1], False) if prod is not None else None
        gate_results = [g.evaluate(gate, i, metrics, base) for i, gate in enumerate(plan.gates)]
    who, approval_problem = audit.approval(plan, approver)
    if who is None and approval_problem:
        ctx.warn(dx.APPROVAL_UNKNOWN, f"the approver is not recorded: {approval_problem}",
                 path=("validation", "approval"),
                 hint="in GitHub Actions the register job needs `actions: read`; elsewhere pass --approver NAME")

    # The log must be readable before anything is committed: a version is never registered
    # next to an audit log that cannot take its record.
    log = audit.AuditLog(audit.audit_store(ctx))
    log.anchor()
    log.numbers()
    reg = None
    if plan.registry.backend == "mlflow":
        result = registry.mlflow_register(ctx, model, mshown, metrics, metrics_source, stage)
        meta_sha = registry._digest(registry.json_text(result["metadata"]).encode("utf-8"))
        moved = stage != "none"
    else:
        reg = registry.local_registry(ctx)
        result = reg.register(plan, model, mshown, metrics, metrics_source, stage, ctx.spec_dir)
        number = int(result["version"][1:])
        meta_sha = registry._digest(reg.store.read(f"versions/{number}/metadata.json") or b"")
        moved = stage != "none" and reg.stage_version(stage) == result["version"]
    meta = result.pop("metadata")
    body = {
        "model_name": result["model_name"], "version": result["version"], "backend": result["backend"],
        "stage": stage, "moved": moved, "previous": result.get("previous"), "path": result["path"],
        "model": {"file": meta["model"]["file"], "sha256": result["model_sha256"], "kind": meta["model"]["kind"],
                  "size_bytes": meta["model"]["size_bytes"]},
        "metadata_sha256": meta_sha, "metrics": meta["metrics"], "metrics_source": metrics_source,
        "gates": audit.gate_table(gate_results), "gates_passed": all(r.passed for r in gate_results),
        "approval": who, "approval_required": plan.approval is not None, "approval_problem": approval_problem,
        "data": data, "files": files, "files_source": store_problem or f"store run records of run {run['id']}",
        "prompts": audit.prompt_evidence(ctx, files), "code": audit.code_commit(ctx.spec_dir),
        "git": meta["git"], "run": run, "spec": meta["spec"], "params": meta["params"],
        "registered_by": audit.operator(), "mlspec_version": meta["mlspec_version"],
        "card": {"project": plan.project.name, "description": plan.project.description,
                 "owners": list(plan.project.owners), "risk_level": plan.governance.risk_level,
                 "intended_use": plan.governance.intended_use, "limitations": plan.governance.limitations,
                 "ethical_considerations": plan.governance.ethical_considerations,
                 "out_of_scope_uses": list(plan.governance.out_of_scope_uses)},
    }
    try:
        record = log.append("register", body)
    except Failure as exc:
        raise _unaudited(ctx, exc, result, stage, moved, reg) from None
    payload = {"results": [result], "lineage": {"spec_sha256": meta["spec"]["sha256"], "git": meta["git"],
                                                 "data": meta["data"]},
               "audit": {"seq": record["seq"], "record_sha256": record["record_sha256"]}}
    was = f"; was {result['previous']}" if result.get("previous") else ""
    where = f" ({stage}{was})" if stage != "none" else " (no stage)"
    text = (f"registered {result['model_name']} {result['version']}{where} at {result['path']}\n"
            f"  model sha256 {result['model_sha256']}\n  spec sha256  {meta['spec']['sha256']}\n")
    if meta["git"]:
        text += f"  git commit   {meta['git']['commit']}{' (dirty)' if meta['git']['dirty'] else ''}\n"
    approved = ", ".join(who["by"]) if who else "unknown"
    text += (f"  approved by  {approved}\n"
             f"  audit record {record['seq']:08d} sha256 {record['record_sha256']}\n")
    return Outcome(True, payload, text)


def _unaudited(ctx: Context, exc: Failure, result: dict[str, Any], stage: str, moved: bool, reg: Any) -> Failure:
    """The version was committed but its audit record was not: the stage goes back to the
    version before it (local registry), so the registry never serves an unaudited version."""
    version, previous = result["version"], result.get("previous")
    back = ""
    if moved and reg is not None and previous:
        try:
            reg.promote(int(previous[1:]), stage)
            back = f"; {stage} is back at {previous}"
        except Failure as again:
            back = f"; moving {stage} back to {previous} failed too ({again.message})"
    elif moved:
        why = "MLflow" if reg is None else "no version was there before it"
        back = f"; {stage} still points at it ({why}): `mlspec audit` reports the missing record"
    return Failure(exc.code, f"{result['model_name']} {version} was registered but its audit record could not be "
                   f"written: {exc.message}{back}",
                   hint=(exc.hint or "fix the registry's store") + f"; then register again (a new version with its "
                        f"record); {version} stays without a record, and `mlspec audit` lists it",
                   file=exc.file, path=exc.path or ("registry",))


# =================================================================== registry


@click.group(name="registry")
def registry() -> None:
    """The model registry: describe, fetch, promote (a rollback is a promotion), prune, card."""


def _need_registry(ctx: Context) -> None:
    if ctx.plan.registry is None:
        raise Failure(dx.REGISTRY_ERROR, "the spec has no `registry` section", hint="add registry: {backend: local}")


@registry.command()
@SPEC
@FORMAT
def describe(spec: str, fmt: str) -> None:
    """Print the registered versions and the version each stage points at."""
    run_command("registry describe", spec, fmt, _describe)


def _describe(ctx: Context) -> Outcome:
    from mlspec.runtime import registry as reg

    _need_registry(ctx)
    info = reg.describe(ctx)
    stages = ", ".join(f"{s} {v or '(none)'}" for s, v in info["stages"].items())
    rows = [[v["version"], ", ".join(v["stages"]), (v.get("model_sha256") or "")[:12], v.get("created") or ""]
            for v in info["versions"]]
    text = f"{info['model_name']} at {info['location']}: {stages}\n"
    if rows:
        text += table(["version", "stages", "model sha256", "created"], rows)
    return Outcome(True, {"results": [info]}, text)


@registry.command()
@SPEC
@click.option("--alias", type=click.Choice(["production", "staging"]), default="production", show_default=True,
              help="Fetch the version this stage points at.")
@click.option("--version", "version", type=click.IntRange(min=1), help="Fetch this version number instead.")
@click.option("--out", type=click.Path(), help="Where to write the model (default: the path "
              "${registry.production.model} expands to).")
@FORMAT
def fetch(spec: str, alias: str, version: int | None, out: str | None, fmt: str) -> None:
    """Download a registered model (default: production), checking its sha256."""
    run_command("registry fetch", spec, fmt, lambda ctx: _fetch(ctx, alias, version, out))


def _fetch(ctx: Context, alias: str, version: int | None, out_opt: str | None) -> Outcome:
    from mlspec.compiler.plan import production_model_path
    from mlspec.runtime import registry as reg

    _need_registry(ctx)
    out = Path(out_opt) if out_opt else ctx.spec_path(production_model_path(ctx.plan.model_path))
    info = reg.fetch(ctx, alias, version, out)
    text = f"fetched {info['model_name']} {info['version']} ({alias if version is None else 'by number'}) " \
           f"to {info['out']}\n  model sha256 {info['model_sha256']}\n"
    return Outcome(True, {"results": [info]}, text)


@registry.command()
@SPEC
@click.option("--version", "version", type=click.IntRange(min=1), required=True, help="The version number.")
@click.option("--stage", type=click.Choice(["production", "staging"]), default="production", show_default=True)
@click.option("--reason", metavar="TEXT", help="Why, for the audit log (a rollback should say what went wrong).")
@click.option("--by", "by", metavar="NAME", help="Who decided, for the audit log (default: $GITHUB_ACTOR, else "
              "the user running the command).")
@FORMAT
def promote(spec: str, version: int, stage: str, reason: str | None, by: str | None, fmt: str) -> None:
    """Point a stage at a registered version (roll back by promoting an older one); recorded in the audit log."""
    run_command("registry promote", spec, fmt, lambda ctx: _promote(ctx, version, stage, reason, by))


def _promote(ctx: Context, version: int, stage: str, reason: str | None = None, by: str | None = None) -> Outcome:
    from mlspec.runtime import audit
    from mlspec.runtime import registry as reg

    _need_registry(ctx)
    info = reg.promote(ctx, version, stage)
    previous = info["previous"]
    # A rollback: the stage goes back to an older version than the one it had.
    kind = "rollback" if previous and int(previous[1:]) > version else "promote"
    record = audit.AuditLog(audit.audit_store(ctx)).append(kind, {
        "model_name": info["model_name"], "version": info["version"], "stage": stage, "previous": previous,
        "by": (by or audit.operator())[:100], "reason": (reason or "")[:2000] or None,
        "run": audit.run_info(ctx.spec_dir), "code": audit.code_commit(ctx.spec_dir)})
    info["audit"] = {"seq": record["seq"], "record_sha256": record["record_sha256"], "action": kind}
    was = f" (was {previous})" if previous else ""
    return Outcome(True, {"results": [info]}, f"{info['model_name']} {stage} -> {info['version']}{was}; "
                   f"{kind} recorded as audit record {record['seq']:08d}\n")


from mlspec.runtime.audit_cli import card, prune  # noqa: E402 - the registry group's governance commands

registry.add_command(prune)
registry.add_command(card)
