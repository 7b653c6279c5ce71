"""`mlspec check-data` (a column contract) and `mlspec drift` (reference against current)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec import metrics as mm
from mlspec.suggest import closest
from mlspec.runtime.common import (
    Context,
    Failure,
    Outcome,
    num,
    push_samples,
    require,
    run_command,
    table,
    utc,
    write_json,
    write_state,
)
from mlspec.runtime.cli_options import (
    FINDING_OPTION, FORMAT, SPEC, STATE_OPTION, push_options, report_options, report_time, source_of,
    spec_and_name, write_outputs,
)


# =================================================================== check-data


@click.command(name="check-data")
@click.argument("args", nargs=-1, metavar="[SPEC] SOURCE")
@click.option("--file", "file_", metavar="FILE", help="Data to check (path or URI; default: the source's uri).")
@click.option("--strict", is_flag=True, help="Columns the contract does not list are errors, not warnings.")
@FINDING_OPTION
@STATE_OPTION
@push_options
@FORMAT
def check_data(args: tuple[str, ...], file_: str | None, strict: bool, state_dir: str | None,
               pushgateway: str | None, no_push: bool, textfile: str | None, exit_zero_on_finding: bool, fmt: str) -> None:
    """Check a data set against source SOURCE's column contract; exit 1 on violations."""
    spec, source = spec_and_name(args, "SOURCE")
    run_command("check-data", spec, fmt,
                lambda ctx: _check_data(ctx, source, file_, strict, state_dir, pushgateway, no_push, textfile),
                exit_zero_on_finding=exit_zero_on_finding)


def _check_data(ctx: Context, name: str, file_: str | None, strict: bool, state_dir: str | None,
                pushgateway: str | None, no_push: bool, textfile: str | None) -> Outcome:
    from mlspec.runtime import contract, data
    from mlspec.runtime import prometheus as prom

    src = source_of(ctx, name)
    if src.columns is None:
        raise click.BadParameter(f"data source '{name}' has no schema (column contract) to check",
                                 param_hint="SOURCE")
    mon = ctx.plan.monitoring
    current = ctx.plan.source_named(mon.current) if mon and mon.current else None
    # The monitoring schema check (pipeline drift): the current data against this contract.
    monitoring = current is not None and ((file_ is None and name == current.name) or
                                          (file_ is not None and file_ == current.uri))
    try:
        require("pyarrow", "numpy", command="check-data")
        named = next((d for d in ctx.plan.data if file_ is not None and d.uri == file_), None)
        if named is not None:
            # `--file <a source's uri>` (what the generated schema check runs) is that source's
            # data: found relative to the spec, in that source's format, from any working folder.
            loc = data.locate(named.uri, ctx.spec_dir, declared=named.format, pin=named.version,
                              display=ctx.shown(ctx.spec_path(named.uri)) if "://" not in named.uri else named.uri)
        elif file_:
            loc = data.locate(file_, Path.cwd(), declared=src.format, prefer_declared=False)
        else:
            loc = data.locate(src.uri, ctx.spec_dir, declared=src.format, pin=src.version,
                              display=ctx.shown(ctx.spec_path(src.uri)) if "://" not in src.uri else src.uri)
        tbl = data.read_table(loc, string_columns=contract.string_columns(src.columns))
        mtime = data.newest_mtime(loc)
    except Failure as exc:
        if monitoring:
            ctx.add(exc.code, exc.message, file=exc.file, hint=exc.hint)
            write_state(ctx, "schema", ctx.state_dir(state_dir), "error", exc.message,
                        {"source": name, "file": file_ or src.uri, "results": []},
                    pushgateway=pushgateway, no_push=no_push)
            ctx.diagnostics.pop()
        raise

    if file_ is None and not monitoring:
        payload_data = _data_read(ctx, src, loc)
    else:
        payload_data = None

    # Metrics describe the data checked: the monitoring check of current data is labelled
    # with the current source, so it never overwrites the pipeline's check of the contract's own source.
    label = current.name if (monitoring and current is not None) else name
    own_data = file_ is None or (monitoring and current is not None and file_ == current.uri)
    reports, unexpected = contract.check_table(tbl, src.columns)
    by_name = {c.name: c for c in src.columns}
    for rep in reports:
        if rep.total:
            col = by_name[rep.name]
            hint = None
            if not rep.present:
                close = closest(rep.name, unexpected)
                hint = f"the data has '{close}'" if close else None
            ctx.add(dx.DATA_VIOLATION, f"{loc.display}: column '{rep.name}': {contract.describe(rep, col)}",
                    path=("data", name, "schema", rep.name), hint=hint)
    if unexpected:
        shown = ", ".join(repr(u) for u in unexpected[:10]) + (", …" if len(unexpected) > 10 else "")
        msg = f"{loc.display}: {len(unexpected)} column(s) not in the contract: {shown}"
        if strict:
            ctx.add(dx.DATA_VIOLATION, msg, path=("data", name, "schema"))
        else:
            ctx.warn(dx.DATA_VIOLATION, msg, path=("data", name, "schema"),
                     hint="add them to the schema, or drop them upstream (--strict makes this an error)")
    total = sum(r.total for r in reports) + (len(unexpected) if strict else 0)

    violations = [prom.sample(mm.SCHEMA_VIOLATIONS, total, project=ctx.project, source=label)]
    groups = [([("command", ctx.command), ("source", label)], violations)]
    # A source's last update is one fact whoever observes it: check-data and freshness share
    # the group project/<name>/source/<source>, so there is one series per source. A --file
    # that is not the source's own data says nothing about the source's age.
    if mtime is not None and own_data:
        groups.append(([("source", label)], [prom.sample(mm.DATA_LAST_UPDATED, mtime, project=ctx.project,
                                                         source=label)]))
    push = push_samples(ctx, [s for _, b in groups for s in b], url=pushgateway, no_push=no_push,
                        textfile=textfile, groups=groups)
    ok = total == 0
    payload = {"source": name, "data_source": label, "file": loc.display, "rows": tbl.num_rows, "violations": total,
               "unexpected_columns": unexpected, "last_updated": utc(mtime) if mtime is not None else None,
               "results": [r.to_json() for r in reports], "push": push, "content": payload_data}
    if monitoring:
        summary = f"{total} violation(s) in {loc.display}" if total else f"{loc.display} meets the contract"
        payload["state"] = ctx.shown(write_state(ctx, "schema", ctx.state_dir(state_dir),
                                                 "finding" if total else "ok", summary, payload,
                    pushgateway=pushgateway, no_push=no_push))

    rows = []
    for r in reports:
        detail = contract.describe(r, by_name[r.name]) if r.total else ""
        rows.append([r.name, r.type, r.found_type or "-", str(r.rows) if r.present else "-",
                     str(r.nulls) if r.present else "-", str(r.total), detail or "ok"])
    text = table(["column", "type", "found", "rows", "nulls", "violations", "detail"], rows)
    text += f"{name}: {tbl.num_rows} rows, {total} violation(s) ({loc.display})\n"
    return Outcome(ok, payload, text)


def _data_read(ctx: Context, src: Any, loc: Any) -> dict[str, Any]:
    """The content of the data the pipeline read: checked against its pin, and recorded in the
    store under this run for the audit record `mlspec register` writes."""
    from mlspec.runtime import audit
    from mlspec.runtime.store import StoreError, open_store, run_id_from_env

    digest = audit.content_hash(loc)
    verified, how = audit.pin_verdict(src.version, digest, Path(loc.path) if loc.local else None)
    info = {"source": src.name, "uri": src.uri, "sha256": digest, "pin": src.version, "pin_verified": verified,
            "pin_check": how, "read_at": utc(time.time())}
    if verified is False:
        ctx.add(dx.DATA_PIN_MISMATCH, f"data.{src.name}: {loc.display} is not the data pinned by version "
                f"{src.version!r} (its content is {digest or 'another md5'}; checked: {how})",
                path=("data", src.name, "version"), hint="restore the pinned data, or pin the data you mean to use")
    run = run_id_from_env()
    if run != "local":      # inside a pipeline run: keep the evidence where `register` finds it
        try:
            audit.record_data_read(open_store(ctx.plan, ctx.spec_dir), run, src.name, info)
        except StoreError as exc:
            ctx.warn(dx.STORE_ERROR, f"the content hash of data.{src.name} was not recorded in the store: "
                     f"{exc.message}", path=("storage",))
    return info


# =================================================================== drift


@click.command()
@SPEC
@click.option("--reference", type=str, metavar="FILE", help="Reference data (default: monitoring.reference's uri).")
@click.option("--current", type=str, metavar="FILE", help="Current data (default: monitoring.current's uri).")
@click.option("--output", type=click.Path(dir_okay=False), help="Also write the JSON report here.")
@FINDING_OPTION
@report_options
@STATE_OPTION
@push_options
@FORMAT
def drift(spec: str, reference: str | None, current: str | None, output: str | None, report: str | None,
          summary: str | None, no_summary: bool, state_dir: str | None, pushgateway: str | None, no_push: bool,
          textfile: str | None, exit_zero_on_finding: bool, fmt: str) -> None:
    """Measure drift between reference and current data; exit 1 if drift is found."""
    run_command("drift", spec, fmt, lambda ctx: _drift(ctx, reference, current, output, state_dir, pushgateway,
                                                       no_push, textfile, report, summary, no_summary),
                exit_zero_on_finding=exit_zero_on_finding)


def _drift_location(ctx: Context, opt: str | None, source_name: str | None, role: str) -> tuple[Any, Any]:
    from mlspec.runtime import data

    src = ctx.plan.source_named(source_name) if source_name else None
    if opt:
        return data.locate(opt, Path.cwd(), declared=src.format if src else None, prefer_declared=False), src
    if src is None:
        raise click.UsageError(f"no {role} data: pass --{role} FILE (the spec has no monitoring.{role})")
    shown = ctx.shown(ctx.spec_path(src.uri)) if "://" not in src.uri else src.uri
    return data.locate(src.uri, ctx.spec_dir, declared=src.format, display=shown, pin=src.version), src


def _drift(ctx: Context, reference: str | None, current: str | None, output: str | None, state_dir: str | None,
           pushgateway: str | None, no_push: bool, textfile: str | None, report: str | None = None,
           summary_opt: str | None = None, no_summary: bool = False) -> Outcome:
    from mlspec.runtime import data
    from mlspec.runtime import drift as dr
    from mlspec.runtime import prometheus as prom
    from mlspec.runtime.reports import markdown as md

    mon = ctx.plan.monitoring
    checks = mon.drift if mon else ()
    if not checks:
        return Outcome(True, {"results": [], "note": "the spec has no monitoring.drift checks"},
                       "no drift checks in the spec\n")
    state = ctx.state_dir(state_dir)
    summary_to = md.summary_target(summary_opt, no_summary)
    if report:
        report_time(ctx, lambda: None, "")          # a bad SOURCE_DATE_EPOCH fails before any work
    try:
        require("numpy", "scipy", "pyarrow", command="drift")
        ref_loc, ref_src = _drift_location(ctx, reference, mon.reference, "reference")
        cur_loc, cur_src = _drift_location(ctx, current, mon.current, "current")
        wanted = list(dict.fromkeys(c.column for c in checks))
        ref = data.read_table(ref_loc, columns=wanted)
        cur = data.read_table(cur_loc, columns=wanted)
    except Failure as exc:
        ctx.add(exc.code, exc.message, file=exc.file, hint=exc.hint)
        write_state(ctx, "drift", state, "error", exc.message, {"results": []},
                    pushgateway=pushgateway, no_push=no_push)
        ctx.diagnostics.pop()
        raise

    types: dict[str, str] = {}
    for src in (cur_src, ref_src):
        for col in (src.columns or ()) if src else ():
            types[col.name] = col.type
    results = []
    distributions: dict[str, Any] = {}
    for check in checks:
        path = check.spec_path
        missing = [loc.display for loc, t in ((ref_loc, ref), (cur_loc, cur)) if check.column not in t.column_names]
        if missing:
            r = {"column": check.column, "method": check.method, "threshold": check.threshold,
                 "test": check.is_test, "severity": check.severity, "status": "error", "drift": None,
                 "statistic": None, "p_value": None, "note": f"column not in {' and '.join(missing)}"}
            ctx.add(dx.DATA_UNREADABLE, f"drift column '{check.column}' is not in {' and '.join(missing)}", path=path)
        else:
            r, dist = dr.measure(check, ref.column(check.column), cur.column(check.column), types.get(check.column))
            if dist is not None:
                distributions.setdefault(check.column, dist)
            if r["status"] == "error":
                ctx.add(dx.DATA_UNREADABLE, f"drift of '{check.column}': {r['note']}", path=path)
        if r["drift"]:
            ctx.add(dx.DRIFT_DETECTED, f"column '{check.column}' drifted: {_drift_text(r)}", path=path,
                    hint=f"severity {check.severity}; compared {ref_loc.display} with {cur_loc.display}")
        results.append(r)

    samples = []
    for r in results:
        labels = {"project": ctx.project, "column": r["column"], "method": r["method"]}
        if r["statistic"] is not None:
            samples.append(prom.sample(mm.DRIFT_SCORE, r["statistic"], **labels))
        if r["p_value"] is not None:
            samples.append(prom.sample(mm.DRIFT_PVALUE, r["p_value"], **labels))
    detected: dict[tuple[str, str, str], int] = {}
    for r in results:
        if r["drift"] is not None:
            key = (r["column"], r["method"], r["severity"])
            detected[key] = max(detected.get(key, 0), int(r["drift"]))
    samples += [prom.sample(mm.DRIFT_DETECTED, v, project=ctx.project, column=c, method=m, severity=s)
                for (c, m, s), v in detected.items()]
    push = push_samples(ctx, samples, url=pushgateway, no_push=no_push, textfile=textfile)

    drifted = [r for r in results if r["drift"]]
    errors = [r for r in results if r["status"] == "error"]
    payload = {"reference": ref_loc.display, "current": cur_loc.display,
               "rows": {"reference": ref.num_rows, "current": cur.num_rows},
               "drift": bool(drifted), "results": results, "push": push}
    if drifted:
        summary = f"{len(drifted)} of {len(results)} check(s) drifted: " + ", ".join(
            f"{r['column']} ({_drift_text(r)})" for r in drifted[:5])
    else:
        summary = f"no drift in {len(results)} check(s)"
    status = "finding" if drifted else ("error" if errors else "ok")
    payload["state"] = ctx.shown(write_state(ctx, "drift", state, status, summary, payload,
                    pushgateway=pushgateway, no_push=no_push))
    if output:
        try:
            write_json(Path(output), {"command": "drift", "project": ctx.project, **payload,
                                      "diagnostics": [d.to_json() for d in ctx.diagnostics]})
            payload["output"] = output
        except OSError as exc:
            ctx.add(dx.DATA_UNREADABLE, f"cannot write {output}: {exc.strerror or exc}", file=output)

    page = summary = None
    if report:
        from mlspec.runtime.reports import drift_report

        def side(loc: Any, src: Any, opt: str | None, tbl: Any) -> Any:
            own = src if opt is None else None       # --reference/--current FILE is not the source's data
            return drift_report.DataSide(loc.display, own.name if own else None, own.version if own else None,
                                         tbl.num_rows)

        def newest() -> float | None:
            return max([t for t in (data.newest_mtime(ref_loc), data.newest_mtime(cur_loc)) if t is not None],
                       default=None)

        page = drift_report.render(project=ctx.project, spec=ctx.checked.file,
                                   reference=side(ref_loc, ref_src, reference, ref),
                                   current=side(cur_loc, cur_src, current, cur), results=results,
                                   distributions=distributions,
                                   when=report_time(ctx, newest, "newest data file modified"))
    if summary_to is not None:
        summary = md.drift_summary(project=ctx.project, reference=ref_loc.display, current=cur_loc.display,
                                   results=results, report=ctx.shown(Path(report)) if report else None)
    write_outputs(ctx, payload, report, page, summary_to, summary)

    rows = []
    for r in results:
        bound = f"p < {num(r['threshold'])}" if r["test"] else f"> {num(r['threshold'])}"
        verdict = {"drift": "DRIFT", "ok": "ok", "skipped": "n/a", "error": "ERROR"}[r["status"]]
        rows.append([r["column"], r["method"], num(r["statistic"], 4), num(r["p_value"], 4), bound, verdict,
                     r.get("note") or ""])
    text = table(["column", "method", "statistic", "p-value", "drift when", "result", "note"], rows)
    text += (f"drift: {len(drifted)} of {len(results)} check(s) drifted "
             f"({ref_loc.display}: {ref.num_rows} rows, {cur_loc.display}: {cur.num_rows} rows)\n")
    return Outcome(not drifted and not errors, payload, text)


def _drift_text(r: dict[str, Any]) -> str:
    if r["test"]:
        return f"{r['method']} p-value {num(r['p_value'], 4)} < {num(r['threshold'])}"
    return f"{r['method']} {num(r['statistic'], 4)} > {num(r['threshold'])}"
