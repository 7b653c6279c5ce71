"""`mlspec audit`, `mlspec registry prune` and `mlspec registry card`: reading the audit log
(see :mod:`mlspec.runtime.audit`) for people, enforcing the retention it promises, and the model
card of a registered version rendered from its record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec.output.encoders import markdown_block, markdown_text
from mlspec.runtime.common import Context, Failure, Outcome, num, run_command, table, utc

SPEC = click.argument("spec", required=False, default="mlproject.yaml", type=click.Path(dir_okay=False))
VERSION = click.option("--version", "version", type=click.IntRange(min=1),
                       help="This version number (default: the production version).")


def _need_registry(ctx: Context) -> None:
    if ctx.plan.registry is None:
        raise Failure(dx.REGISTRY_ERROR, "the spec has no `registry` section", hint="add registry: {backend: local}")


# ------------------------------------------------------------------ verification


class Audit:
    """The log read and checked against the registry it describes."""

    def __init__(self, ctx: Context) -> None:
        from mlspec.runtime import audit, registry

        _need_registry(ctx)
        self.ctx = ctx
        self.log = audit.AuditLog(audit.audit_store(ctx))
        self.records, self.problems = self.log.read()
        self.model = ctx.plan.registry.model_name
        self.stages: dict[str, str | None] = {}
        self.local = ctx.plan.registry.backend != "mlflow"
        if self.local:
            self.reg = registry.local_registry(ctx)
            self._cross_check(registry)
        else:
            prod = registry.production(ctx)
            self.stages = {"production": prod[0] if prod else None}

    def _cross_check(self, registry: Any) -> None:
        """Versions and stage pointers against the log: what happened without a record."""
        from mlspec.runtime import audit

        audited: set[str] = set()
        for n in self.reg.versions():
            raw = self.reg.store.read(f"versions/{n}/metadata.json") or b""
            try:
                meta = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                meta = None
            if not isinstance(meta, dict) or "audit" not in meta:
                continue                 # registered before audit records existed
            audited.add(f"v{n}")
            rec = audit.registration(self.records, f"v{n}")
            if rec is None:
                self.problems.append(f"v{n} is registered (its metadata says it was audited) but the audit log has "
                                     "no record of its registration")
            elif rec.get("metadata_sha256") != registry._digest(raw):
                self.problems.append(f"the metadata.json of v{n} was changed after its audit record "
                                     f"{rec.get('seq', 0):08d} was written")
        for stage in registry.STAGES:
            try:
                actual = self.reg.stage_version(stage)
            except Failure as exc:
                self.problems.append(exc.message)
                actual = None
            self.stages[stage] = actual
            expected = audit.stage_from_log(self.records, stage)
            if actual is not None and actual in audited and expected != actual:
                self.problems.append(f"{stage} points at {actual}, but the audit log's last change of {stage} "
                                     f"put {expected or 'nothing'} there: the pointer moved without a record")

    def report_problems(self) -> None:
        for p in self.problems:
            self.ctx.add(dx.AUDIT_TAMPERED, p, file=self.log.shown,
                         hint="the log is append-only: restore it from the store's versioning and find out who "
                              "changed it")

    def chosen(self, version: int | None) -> dict[str, Any]:
        from mlspec.runtime import audit

        if version is not None:
            name = f"v{version}"
        elif self.stages.get("production"):
            name = str(self.stages["production"])
        else:
            regs = [r for r in self.records if r.get("kind") == "register"]
            if not regs:
                raise Failure(dx.REGISTRY_NO_VERSION, f"the audit log {self.log.shown} has no registration yet",
                              hint="register a model first: mlspec register")
            name = str(regs[-1].get("version"))
        rec = audit.registration(self.records, name)
        if rec is None:
            raise Failure(dx.REGISTRY_NO_VERSION, f"the audit log {self.log.shown} has no registration of {name}",
                          hint="versions registered before audit records existed, or pruned, have none")
        return rec


# ------------------------------------------------------------------ mlspec audit


@click.command()
@SPEC
@VERSION
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Output format (markdown: GitHub Markdown, e.g. for a step summary).")
def audit(spec: str, version: int | None, fmt: str) -> None:
    """Which data trained a model, who approved it and when, how it scored against which bar;
    every promotion and rollback. Exit 1 when the audit log was tampered with."""
    run_command("audit", spec, "json" if fmt == "json" else "text", lambda ctx: _audit(ctx, version, fmt))


def _audit(ctx: Context, version: int | None, fmt: str) -> Outcome:
    from mlspec.runtime import audit as al

    a = Audit(ctx)
    a.report_problems()
    try:
        rec: dict[str, Any] | None = a.chosen(version)
    except Failure:
        if not a.problems:
            raise
        rec = None                  # the log lost the registration: the problems say so
    history = al.events(a.records)
    payload = {"model_name": a.model, "stages": a.stages, "log": a.log.shown,
               "verified": not a.problems, "problems": a.problems, "version": rec, "events": history}
    if rec is None:
        text = (f"{a.model}: no audit record of {f'v{version}' if version else 'the production version'}; "
                f"log {a.log.shown}: {len(a.records)} record(s), {len(a.problems)} PROBLEM(S)\n")
    else:
        text = markdown(a, rec, history) if fmt == "markdown" else plain(a, rec, history)
    return Outcome(not a.problems, payload, text)


def _approval_text(rec: dict[str, Any]) -> str:
    appr = rec.get("approval")
    if not appr:
        why = rec.get("approval_problem")
        return "unknown" + (f" ({why})" if why else "") if rec.get("approval_required") else "no approval required"
    when = appr.get("time") or "?"
    how = f"{appr.get('source')}" + (f", environment {', '.join(appr['environments'])}" if appr.get("environments") else "")
    return f"{', '.join(appr.get('by') or [])} at {when} ({how})"


def _stage_of(a: Audit, version: str) -> str:
    stages = [s for s, v in a.stages.items() if v == version]
    return ", ".join(stages) or "no stage"


def _commit(rec: dict[str, Any]) -> str:
    code = rec.get("code") or {}
    c = code.get("commit")
    if not c:
        return "unknown"
    dirty = (rec.get("git") or {}).get("dirty")
    return f"{c} ({code.get('source')}{', uncommitted changes' if dirty else ''})"


def plain(a: Audit, rec: dict[str, Any], history: list[dict[str, Any]]) -> str:
    v = rec.get("version")
    out = [f"{a.model} {v} ({_stage_of(a, str(v))}), registered {rec.get('time')} — audit record "
           f"{rec.get('seq', 0):08d} sha256 {rec.get('record_sha256')}",
           f"log: {a.log.shown}: {len(a.records)} record(s), " + ("chain verified" if not a.problems else
                                                                 f"{len(a.problems)} PROBLEM(S)"), ""]
    out.append(f"approved by  {_approval_text(rec)}")
    out.append(f"code commit  {_commit(rec)}")
    run = rec.get("run") or {}
    out.append(f"run          {run.get('id')}" + (f"  {run['url']}" if run.get("url") else ""))
    model = rec.get("model") or {}
    out.append(f"model        {model.get('file')} sha256 {model.get('sha256')}")
    out.append(f"spec         {(rec.get('spec') or {}).get('file')} sha256 {(rec.get('spec') or {}).get('sha256')}")
    out += ["", "data it was trained and judged on:"]
    rows = []
    for name, d in (rec.get("data") or {}).items():
        verdict = {True: "matches pin", False: "DIFFERS from pin", None: d.get("pin_check") or ""}[d.get("pin_verified")]
        rows.append([name, d.get("uri") or "", d.get("pin") or "-", d.get("sha256") or "-", d.get("hashed") or "",
                     verdict])
    out.append(table(["source", "uri", "pin", "content", "hashed", "pin check"], rows).rstrip("\n") if rows
               else "  (no data sources)")
    if rec.get("prompts"):
        out += ["", "prompts:"]
        out.append(table(["prompt", "file", "sha256"], [[n, p.get("file") or "", p.get("sha256") or "-"]
                                                      for n, p in rec["prompts"].items()]).rstrip("\n"))
    out += ["", "gates (the bar it was held to):"]
    gates = rec.get("gates") or []
    out.append(table(["gate", "metric", "value", "bound", "result"],
                     [[x["gate"], x["metric"], num(x.get("value")), x.get("bound") or "",
                       "pass" if x.get("passed") else "FAIL"] for x in gates]).rstrip("\n") if gates
               else "  (no gates evaluated)")
    files = rec.get("files") or {}
    if files:
        out += ["", f"files the run used ({rec.get('files_source')}):"]
        out.append(table(["file", "sha256", "written by"], [[p, f.get("sha256") or "", f.get("written_by") or "source"]
                                                          for p, f in files.items()]).rstrip("\n"))
    out += ["", "every change of the registry:"]
    out.append(table(["#", "time", "action", "version", "stage", "previous", "by", "why"],
                     [[f"{e['seq']}", e.get("time") or "", e.get("action") or "", e.get("version") or "",
                       e.get("stage") or "", e.get("previous") or "", e.get("by") or "", e.get("reason") or ""]
                      for e in history]).rstrip("\n"))
    return "\n".join(out) + "\n"


def _md(value: Any) -> str:
    return markdown_text(str(value)) if value not in (None, "") else "—"


def _md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(markdown_text(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return out


def _data_rows(rec: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name, d in (rec.get("data") or {}).items():
        verdict = {True: "✅ matches", False: "❌ differs", None: d.get("pin_check")}[d.get("pin_verified")]
        rows.append([name, d.get("role"), d.get("uri"), d.get("pin"), d.get("sha256"), d.get("hashed"), verdict])
    return rows


def _gate_rows(rec: dict[str, Any]) -> list[list[Any]]:
    return [[x.get("metric"), num(x.get("value")), x.get("bound"), "✅ pass" if x.get("passed") else "❌ fail"]
            for x in rec.get("gates") or []]


def markdown(a: Audit, rec: dict[str, Any], history: list[dict[str, Any]]) -> str:
    v = rec.get("version")
    out = [f"# Audit: {_md(a.model)} {_md(v)}", ""]
    if a.problems:
        out += ["> [!CAUTION]", "> The audit log was tampered with or is incomplete:"]
        out += [f"> - {_md(p)}" for p in a.problems]
        out.append("")
    out += _md_table(["", ""], [
        ["Stage", _stage_of(a, str(v))], ["Registered", rec.get("time")],
        ["Approved by", _approval_text(rec)], ["Code commit", _commit(rec)],
        ["Run", (rec.get("run") or {}).get("url") or (rec.get("run") or {}).get("id")],
        ["Model sha256", (rec.get("model") or {}).get("sha256")],
        ["Audit record", f"{rec.get('seq', 0):08d} (sha256 {rec.get('record_sha256')})"]])
    out += ["", "## Data", ""]
    out += _md_table(["Source", "Role", "URI", "Pin", "Content", "Hashed", "Pin check"], _data_rows(rec)) \
        if rec.get("data") else ["No data sources."]
    out += ["", "## Gates", ""]
    out += _md_table(["Metric", "Value", "Bound", "Verdict"], _gate_rows(rec)) if rec.get("gates") \
        else ["No gates were evaluated."]
    out += ["", "## Every change", ""]
    out += _md_table(["#", "Time", "Action", "Version", "Stage", "Previous", "By", "Why"],
                     [[e["seq"], e.get("time"), e.get("action"), e.get("version"), e.get("stage"), e.get("previous"),
                       e.get("by"), e.get("reason")] for e in history])
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ mlspec registry card


@click.command()
@SPEC
@VERSION
@click.option("--out", type=click.Path(dir_okay=False), help="Write the card here (default: print it).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text prints the Markdown card; json wraps it with the record it came from.")
def card(spec: str, version: int | None, out: str | None, fmt: str) -> None:
    """The model card of a registered version, from its audit record: real metrics, gate verdicts,
    data hashes and approval (GitHub Markdown)."""
    run_command("registry card", spec, fmt, lambda ctx: _card(ctx, version, out))


def _card(ctx: Context, version: int | None, out: str | None) -> Outcome:
    a = Audit(ctx)
    if a.problems:
        a.report_problems()
        raise Failure(dx.AUDIT_TAMPERED, "no model card from a tampered audit log", file=a.log.shown,
                      hint="run `mlspec audit` for the details")
    rec = a.chosen(version)
    text = model_card(a, rec, ctx.plan)
    payload: dict[str, Any] = {"version": rec.get("version"), "record_seq": rec.get("seq"),
                               "record_sha256": rec.get("record_sha256"), "card": text}
    if out:
        from mlspec.runtime.common import write_atomic

        path = Path(out)
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise Failure(dx.REPORT_NOT_WRITTEN, f"cannot write {ctx.shown(path)}: {exc.strerror or exc}",
                          file=ctx.shown(path)) from None
        payload["out"] = ctx.shown(path)
        return Outcome(True, payload, f"model card of {a.model} {rec.get('version')} written to {ctx.shown(path)}\n")
    return Outcome(True, payload, text)


def model_card(a: Audit, rec: dict[str, Any], plan: Any) -> str:
    """GitHub Markdown; every value from the record or the spec goes through the Markdown encoders."""
    v = rec.get("version")
    desc = rec.get("card") or {}
    gov = plan.governance

    def field(name: str) -> Any:
        return desc.get(name) if name in desc else getattr(gov, name)

    out = [f"# Model card: {_md(a.model)} {_md(v)}", "",
           f"Rendered from audit record {rec.get('seq', 0):08d} (sha256 `{rec.get('record_sha256')}`), "
           "verified against the registry's hash-chained audit log. The repository's compile-time model card is "
           "the template; this card is what was actually registered.", ""]
    project = desc.get("project") or plan.project.name
    description = desc.get("description", plan.project.description)
    if description:
        out += [markdown_block(description), ""]
    model = rec.get("model") or {}
    out += _md_table(["", ""], [
        ["Project", project], ["Version", f"{v} ({_stage_of(a, str(v))})"], ["Registered", rec.get("time")],
        ["Risk level", desc.get("risk_level", gov.risk_level)],
        ["Owners", ", ".join(desc.get("owners", plan.project.owners)) or None],
        ["Model file", f"{model.get('file')} (sha256 {model.get('sha256')})"],
        ["Code commit", _commit(rec)],
        ["Run", (rec.get("run") or {}).get("url") or (rec.get("run") or {}).get("id")],
        ["Spec", f"{(rec.get('spec') or {}).get('file')} (sha256 {(rec.get('spec') or {}).get('sha256')})"]])
    for title, name in (("Intended use", "intended_use"), ("Limitations", "limitations"),
                        ("Ethical considerations", "ethical_considerations")):
        value = field(name)
        out += ["", f"## {title}", "", markdown_block(value) if value else "_Not stated in the spec._"]
    scope = field("out_of_scope_uses")
    out += ["", "## Out-of-scope uses", ""]
    out += [f"- {_md(s)}" for s in scope] if scope else ["_Not stated in the spec._"]
    out += ["", "## Training and evaluation data", ""]
    out += _md_table(["Source", "Role", "URI", "Pin", "Content", "Hashed", "Pin check"], _data_rows(rec)) \
        if rec.get("data") else ["No data sources are declared."]
    out += ["", "## Evaluation", ""]
    if rec.get("gates"):
        passed = rec.get("gates_passed")
        out += [("Every gate passed." if passed else "**Not every gate passed.**") + " Values are the registered "
                "model's own, bounds as they stood when it was registered.", ""]
        out += _md_table(["Metric", "Value", "Bound", "Verdict"], _gate_rows(rec))
    else:
        out.append("No gates were evaluated.")
    metrics = _flat(rec.get("metrics") or {})
    if metrics:
        out += ["", "| Metric | Value |", "|---|---:|"]
        out += [f"| {_md(k)} | {_md(num(val) if isinstance(val, (int, float)) else val)} |" for k, val in metrics]
    out += ["", "## Approval", "", markdown_text(_approval_text(rec))]
    appr = rec.get("approval") or {}
    if appr.get("comment"):
        out += ["", markdown_block(appr["comment"])]
    if rec.get("prompts"):
        out += ["", "## Prompts", ""]
        out += _md_table(["Prompt", "File", "sha256"], [[n, p.get("file"), p.get("sha256")]
                                                       for n, p in rec["prompts"].items()])
    return "\n".join(out) + "\n"


def _flat(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in metrics.items():
        if isinstance(v, dict):
            out += _flat(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


# ------------------------------------------------------------------ mlspec registry prune


@click.command()
@SPEC
@click.option("--version", "versions", multiple=True, type=click.IntRange(min=1), metavar="N",
              help="Remove only this version (repeatable); refused when it is within retention or in a stage.")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--by", "by", metavar="NAME", help="Who prunes, for the audit log (default: $GITHUB_ACTOR, else "
              "the user running the command).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def prune(spec: str, versions: tuple[int, ...], dry_run: bool, by: str | None, fmt: str) -> None:
    """Remove registered versions and audit records older than governance.audit_retention_days
    (never the production or staging version); lists exactly what it removes."""
    run_command("registry prune", spec, fmt, lambda ctx: _prune(ctx, versions, dry_run, by))


def _prune(ctx: Context, wanted: tuple[int, ...], dry_run: bool, by: str | None) -> Outcome:
    from mlspec.runtime import audit as al

    _need_registry(ctx)
    if ctx.plan.registry.backend == "mlflow":
        raise Failure(dx.PRUNE_REFUSED, "`mlspec registry prune` prunes the local/store registry; an MLflow "
                      "registry keeps its versions under MLflow's own retention", path=("registry", "backend"))
    a = Audit(ctx)
    if a.problems:
        a.report_problems()
        raise Failure(dx.PRUNE_REFUSED, "the audit log has problems; nothing is pruned from a log that cannot be "
                      "verified", file=a.log.shown, hint="run `mlspec audit` for the details")
    days = ctx.plan.governance.audit_retention_days
    now = al.now()
    cutoff = now - days * al.DAY
    staged = {v for v in a.stages.values() if v}
    present = a.reg.versions()
    why_kept: dict[int, str] = {}
    created: dict[int, float] = {}
    for n in present:
        meta = a.reg.metadata(n)
        ts = meta.get("created_timestamp")
        created[n] = float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else now
        if f"v{n}" in staged:
            why_kept[n] = f"v{n} is the {', '.join(s for s, v in a.stages.items() if v == f'v{n}')} version"
        elif created[n] >= cutoff:
            why_kept[n] = (f"v{n} was registered {utc(created[n])}, within the {days}-day retention "
                           f"(governance.audit_retention_days) until {utc(created[n] + days * al.DAY)}")
    if wanted:
        unknown = [n for n in wanted if n not in present]
        if unknown:
            raise Failure(dx.REGISTRY_NO_VERSION, f"{a.model} has no version {', '.join(f'v{n}' for n in unknown)}",
                          hint=f"versions: {', '.join(f'v{n}' for n in present) or 'none'}")
        refused = [why_kept[n] for n in sorted(set(wanted)) if n in why_kept]
        if refused:
            for why in refused:
                ctx.add(dx.PRUNE_REFUSED, f"not pruned: {why}", path=("governance", "audit_retention_days"))
            return Outcome(False, {"removed_versions": [], "removed_records": [], "refused": refused},
                           "nothing removed\n")
        remove = sorted(set(wanted))
    else:
        remove = [n for n in present if n not in why_kept]
    gone = {f"v{n}" for n in remove} | {r.get("version") for r in a.records if r.get("kind") == "register"
                                        and r.get("version") not in {f"v{n}" for n in present}}
    records: list[dict[str, Any]] = []
    for r in a.records:   # a prefix of the chain: the log keeps one unbroken run of records
        ts = r.get("timestamp")
        old = isinstance(ts, (int, float)) and ts < cutoff
        about = r.get("version")
        if not old or (r.get("kind") in ("register", "promote", "rollback") and (about not in gone or about in staged)):
            break
        records.append(r)
    removed_versions = [f"v{n}" for n in remove]
    removed_records = [f"{r['seq']:08d}" for r in records]
    payload: dict[str, Any] = {"dry_run": dry_run, "retention_days": days, "cutoff": utc(cutoff),
                               "removed_versions": removed_versions, "removed_records": removed_records,
                               "kept": [why_kept[n] for n in sorted(why_kept)]}
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {len(removed_versions)} version(s): {', '.join(removed_versions) or 'none'}",
             f"{verb} {len(removed_records)} audit record(s): {', '.join(removed_records) or 'none'}"]
    lines += [f"kept: {w}" for w in payload["kept"]]
    if dry_run or (not remove and not records):
        return Outcome(True, payload, "\n".join(lines) + "\n")
    anchor = {"seq": records[-1]["seq"], "record_sha256": records[-1]["record_sha256"]} if records else None
    rec = a.log.append("prune", {"model_name": a.model, "by": (by or al.operator())[:100],
                                 "reason": f"older than the {days}-day retention",
                                 "removed_versions": removed_versions, "removed_records": removed_records,
                                 "anchor": anchor, "retention_days": days, "cutoff": utc(cutoff)})
    store = a.reg.store
    if anchor is not None:    # first the new start of the chain, then the records before it
        from mlspec.runtime.common import json_text

        store.write("audit/anchor.json", json_text(anchor).encode("utf-8"))
    for n in remove:
        store.remove(f"versions/{n}")      # its claim stays: a number is never given out twice
    for r in records:
        store.remove(f"audit/{r['seq']:08d}.json")
    payload["audit"] = {"seq": rec["seq"], "record_sha256": rec["record_sha256"]}
    lines.append(f"recorded as audit record {rec['seq']:08d}")
    return Outcome(True, payload, "\n".join(lines) + "\n")
