"""The monitoring commands: `freshness`, `performance`, `retrain-trigger` (the monitoring state) and
`report-run` (how a node or a whole run ended)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec import metrics as mm
from mlspec.runtime.common import (
    Context,
    Failure,
    Outcome,
    num,
    push_samples,
    run_command,
    table,
    utc,
    write_json,
    write_state,
)
from mlspec.runtime.cli_options import FINDING_OPTION, FORMAT, SPEC, STATE_OPTION, push_options, source_of


# =================================================================== freshness


@click.command()
@click.argument("args", nargs=-1, metavar="[SPEC] [SOURCE]...")
@FINDING_OPTION
@STATE_OPTION
@push_options
@FORMAT
def freshness(args: tuple[str, ...], state_dir: str | None, pushgateway: str | None, no_push: bool,
              textfile: str | None, exit_zero_on_finding: bool, fmt: str) -> None:
    """Check that data sources are fresher than their bound; exit 1 if one is stale.

    The first argument is the spec when it ends in .yaml/.yml or names an existing file;
    with no SOURCE, every source with a `freshness` bound is checked.
    """
    spec, sources = "mlproject.yaml", list(args)
    if sources and (sources[0].endswith((".yaml", ".yml")) or os.path.isfile(sources[0])):
        spec = sources.pop(0)
    run_command("freshness", spec, fmt, lambda ctx: _freshness(ctx, sources, state_dir, pushgateway, no_push,
                                                               textfile),
                exit_zero_on_finding=exit_zero_on_finding)


def _freshness(ctx: Context, names: list[str], state_dir: str | None, pushgateway: str | None, no_push: bool,
               textfile: str | None) -> Outcome:
    from mlspec.runtime import data
    from mlspec.runtime import prometheus as prom
    from mlspec.runtime.monitor import duration_text

    if names:
        sources = [source_of(ctx, n) for n in dict.fromkeys(names)]
        for s in sources:
            if s.freshness_seconds is None:
                raise click.BadParameter(f"data source '{s.name}' has no freshness bound", param_hint="SOURCE")
    else:
        sources = [s for s in ctx.plan.data if s.freshness_seconds is not None]
    if not sources:
        return Outcome(True, {"results": [], "note": "no data source has a freshness bound"},
                       "no data source has a freshness bound\n")
    now = time.time()
    results, groups = [], []
    for s in sources:
        path = ("data", s.name, "freshness")
        entry: dict[str, Any] = {"source": s.name, "uri": s.uri, "bound": s.freshness,
                                 "bound_seconds": s.freshness_seconds, "last_updated": None,
                                 "last_updated_timestamp": None, "age_seconds": None, "fresh": None, "status": "error",
                                 "note": None}
        try:
            shown = ctx.shown(ctx.spec_path(s.uri)) if "://" not in s.uri else s.uri
            loc = data.locate(s.uri, ctx.spec_dir, declared=s.format, display=shown, pin=s.version)
            mtime = data.newest_mtime(loc)
            if mtime is None:
                raise Failure(dx.DATA_UNREADABLE, f"{shown} holds no files", file=shown)
        except Failure as exc:
            ctx.add(exc.code, f"data source '{s.name}': {exc.message}", path=path, hint=exc.hint)
            entry["note"] = exc.message
            results.append(entry)
            continue
        age = max(0.0, now - mtime)
        entry.update(last_updated=utc(mtime), last_updated_timestamp=round(mtime, 3), age_seconds=round(age, 3),
                     fresh=age <= s.freshness_seconds, status="ok" if age <= s.freshness_seconds else "stale")
        if not entry["fresh"]:
            ctx.add(dx.DATA_STALE, f"data source '{s.name}' is stale: newest data is {duration_text(age)} old "
                    f"(updated {utc(mtime)}), bound {s.freshness}", path=path)
        groups.append(([("source", s.name)], [prom.sample(mm.DATA_LAST_UPDATED, mtime, project=ctx.project,
                                                           source=s.name)]))
        results.append(entry)
    push = push_samples(ctx, [x for _, b in groups for x in b], url=pushgateway, no_push=no_push,
                        textfile=textfile, groups=groups)
    stale = [r for r in results if r["status"] == "stale"]
    errors = [r for r in results if r["status"] == "error"]
    payload = {"results": results, "push": push}
    summary = (f"{len(stale)} stale source(s): " + ", ".join(r["source"] for r in stale)) if stale else (
        f"{len(errors)} source(s) could not be checked" if errors else f"{len(results)} source(s) fresh")
    payload["state"] = ctx.shown(write_state(ctx, "freshness", ctx.state_dir(state_dir),
                                             "finding" if stale else ("error" if errors else "ok"), summary, payload,
                    pushgateway=pushgateway, no_push=no_push))
    rows = [[r["source"], r["last_updated"] or "-", duration_text(r["age_seconds"]) if r["age_seconds"] is not None
             else "-", r["bound"], {"ok": "fresh", "stale": "STALE", "error": "ERROR"}[r["status"]]] for r in results]
    text = table(["source", "last updated", "age", "bound", "result"], rows) + f"freshness: {summary}\n"
    return Outcome(not stale and not errors, payload, text)


# =================================================================== performance


@click.command()
@SPEC
@click.option("--metrics", type=click.Path(dir_okay=False),
              help="Live metrics JSON (default: monitoring.performance.metrics).")
@FINDING_OPTION
@STATE_OPTION
@push_options
@FORMAT
def performance(spec: str, metrics: str | None, state_dir: str | None, pushgateway: str | None, no_push: bool,
                textfile: str | None, exit_zero_on_finding: bool, fmt: str) -> None:
    """Check live model performance against its bounds; exit 1 when out of bounds."""
    run_command("performance", spec, fmt, lambda ctx: _performance(ctx, metrics, state_dir, pushgateway, no_push,
                                                                   textfile),
                exit_zero_on_finding=exit_zero_on_finding)


def performance_metrics_path(plan: Any) -> str:
    """monitoring.performance.metrics: from the Plan when it carries it, else the monitor node's output."""
    perf = plan.monitoring.performance
    path = getattr(perf, "metrics_path", None)
    if path:
        return path
    for n in plan.monitor_nodes:
        if n.kind == "monitor_performance" and n.outputs:
            return n.outputs[0]
    return "metrics/live.json"


def _performance(ctx: Context, metrics_opt: str | None, state_dir: str | None, pushgateway: str | None,
                 no_push: bool, textfile: str | None) -> Outcome:
    from mlspec.runtime import gates as g
    from mlspec.runtime import prometheus as prom

    mon = ctx.plan.monitoring
    perf = mon.performance if mon else None
    if perf is None:
        raise click.UsageError("the spec has no monitoring.performance section")
    state = ctx.state_dir(state_dir)
    mpath = Path(metrics_opt) if metrics_opt else ctx.spec_path(performance_metrics_path(ctx.plan))
    mshown = ctx.shown(mpath)
    try:
        metrics = g.read_metrics(mpath, mshown, "live metrics file")
    except Failure as exc:
        ctx.add(exc.code, exc.message, file=exc.file, hint=exc.hint)
        write_state(ctx, "performance", state, "error", exc.message, {"results": []},
                    pushgateway=pushgateway, no_push=no_push)
        ctx.diagnostics.pop()
        raise
    value, problem = g.metric_value(metrics, perf.metric)
    status = "ok"
    if problem:
        ctx.add(dx.METRIC_MISSING, f"live metric '{perf.metric}' {problem} in {mshown}",
                path=("monitoring", "performance", "metric"))
        status = "error"
    else:
        assert value is not None
        if perf.min is not None and value < perf.min:
            ctx.add(dx.PERFORMANCE_OUT_OF_BOUNDS, f"live {perf.metric} = {num(value)} is below min {num(perf.min)} "
                    f"(window {perf.window})", path=("monitoring", "performance", "min"))
            status = "finding"
        if perf.max is not None and value > perf.max:
            ctx.add(dx.PERFORMANCE_OUT_OF_BOUNDS, f"live {perf.metric} = {num(value)} is above max {num(perf.max)} "
                    f"(window {perf.window})", path=("monitoring", "performance", "max"))
            status = "finding"
    samples = [prom.sample(mm.PERFORMANCE, value, project=ctx.project, metric=perf.metric)] if value is not None else []
    push = push_samples(ctx, samples, url=pushgateway, no_push=no_push, textfile=textfile) if samples else {
        "pushgateway": None, "pushed": False, "textfile": None}
    bound = " and ".join(([f">= {num(perf.min)}"] if perf.min is not None else []) +
                         ([f"<= {num(perf.max)}"] if perf.max is not None else [])) or "(none)"
    result = {"metric": perf.metric, "value": value, "min": perf.min, "max": perf.max, "window": perf.window,
              "severity": perf.severity, "within_bounds": status == "ok", "problem": problem}
    payload = {"metrics_file": mshown, "results": [result], "push": push}
    summary = {"ok": f"{perf.metric} {num(value)} within {bound}",
               "finding": f"{perf.metric} {num(value)} outside {bound}",
               "error": f"{perf.metric} {problem}"}[status]
    payload["state"] = ctx.shown(write_state(ctx, "performance", state, status, summary, payload,
                    pushgateway=pushgateway, no_push=no_push))
    text = table(["metric", "value", "bound", "window", "result"],
                 [[perf.metric, num(value), bound, perf.window,
                   {"ok": "ok", "finding": "OUT OF BOUNDS", "error": "ERROR"}[status]]])
    return Outcome(status == "ok", payload, text)


# =================================================================== retrain-trigger


@click.command(name="retrain-trigger")
@SPEC
@STATE_OPTION
@click.option("--exit-code", "exit_code", is_flag=True,
              help="Exit 0 when a retrain should start and 99 when not (Airflow's BashOperator skips on 99).")
@click.option("--dry-run", is_flag=True, help="Decide, but do not record the trigger (the cooldown does not start).")
@click.option("--github-output", is_flag=True, help="Append trigger=true|false to the file named by $GITHUB_OUTPUT.")
@push_options
@FORMAT
def retrain_trigger(spec: str, state_dir: str | None, exit_code: bool, dry_run: bool, github_output: bool,
                    pushgateway: str | None, no_push: bool, textfile: str | None, fmt: str) -> None:
    """Decide whether monitoring should start a retrain (exit 0 unless --exit-code)."""
    run_command("retrain-trigger", spec, fmt, lambda ctx: _retrain(ctx, state_dir, exit_code, dry_run, github_output,
                                                                   pushgateway, no_push, textfile))


def _retrain(ctx: Context, state_dir: str | None, exit_code: bool, dry_run: bool, github_output: bool,
             pushgateway: str | None, no_push: bool, textfile: str | None) -> Outcome:
    from mlspec.runtime import monitor
    from mlspec.runtime import prometheus as prom

    state = ctx.state_dir(state_dir)
    r = ctx.plan.retraining
    events = r.on if r else ()
    if not events:
        decision = {"trigger": False, "reasons": [], "blocked_by_cooldown": False, "events": [],
                    "notes": ["retraining.on lists no events"], "invalid": [], "last_triggered_timestamp": None,
                    "cooldown_until_timestamp": None}
    else:
        decision = monitor.decide(tuple(events), r.cooldown_seconds, state, sources=monitor.event_sources(ctx.plan))
    for name, problem in decision.get("invalid", ()):
        ctx.add(dx.STATE_INVALID, f"monitoring state {ctx.shown(state / name)}: {problem}; no retrain decided",
                file=ctx.shown(state / name),
                hint="delete the file (the check that writes it records a fresh result on its next run)")
    now = time.time()
    if decision["trigger"] and not dry_run:
        try:
            write_json(state / monitor.TRIGGER_FILE, {
                "project": ctx.project, "last_triggered": utc(now), "last_triggered_timestamp": round(now, 3),
                "reasons": decision["reasons"], "cooldown": r.cooldown if r else None})
            decision["last_triggered_timestamp"] = round(now, 3)
        except OSError as exc:
            ctx.add(dx.DATA_UNREADABLE, f"cannot record the trigger in {ctx.shown(state)}: {exc.strerror or exc}",
                    file=ctx.shown(state / monitor.TRIGGER_FILE))
    last = decision["last_triggered_timestamp"]
    samples = [prom.sample(mm.RETRAIN_TRIGGERED, last, project=ctx.project)] if last is not None else []
    push = push_samples(ctx, samples, url=pushgateway, no_push=no_push, textfile=textfile) if samples else {
        "pushgateway": None, "pushed": False, "textfile": None}
    if github_output:
        target = os.environ.get("GITHUB_OUTPUT")
        if not target:
            raise click.UsageError("--github-output: $GITHUB_OUTPUT is not set")
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(f"trigger={'true' if decision['trigger'] else 'false'}\n")
    payload = {"trigger": decision["trigger"], "reasons": decision["reasons"],
               "blocked_by_cooldown": decision["blocked_by_cooldown"], "dry_run": dry_run,
               "notes": decision["notes"], "results": decision["events"], "state_dir": ctx.shown(state),
               "last_triggered": utc(last) if last is not None else None,
               "cooldown_until": utc(decision["cooldown_until_timestamp"])
               if decision["cooldown_until_timestamp"] is not None else None, "push": push}
    verdict = "TRIGGER retrain" if decision["trigger"] else "no retrain"
    lines = [f"{verdict}{' (dry run: not recorded)' if dry_run and decision['trigger'] else ''}"]
    # State files are data, not trusted text: escape what could drive a terminal or, in CI,
    # start a workflow command (a newline followed by `::error::`).
    from mlspec.reporters import clean

    for e in decision["events"]:
        mark = "raised" if e["raised"] else (e["status"] or "no result")
        check = f" [{e['check']}]" if e["check"].startswith("custom.") else ""
        lines.append(clean(f"  {e['event']:<15} {mark:<9} {e['summary'] or ''}{check}".rstrip()))
    lines += [clean(f"  note: {n}") for n in decision["notes"]]
    code = (0 if decision["trigger"] else 99) if exit_code else 0
    return Outcome(True, payload, "\n".join(lines) + "\n", exit_code=None if ctx.failed else code)


# =================================================================== report-run

# Whole runs report under these node names: the pipeline DAG/workflow and the monitoring one.
RUN_NODES = ("pipeline", "monitoring")


def run_node_id(plan: Any, name: str) -> str | None:
    """A node id of the plan from its id or slug (Airflow task id), or a whole-run name."""
    if name in RUN_NODES:
        return name
    for n in (*plan.nodes, *plan.monitor_nodes):
        if name in (n.id, n.slug):
            return n.id
    return None


def run_samples(project: str, node: str, success: bool, timestamp: float) -> list[Any]:
    from mlspec.runtime import prometheus as prom

    samples = [prom.sample(mm.RUN_SUCCESS, int(success), project=project, node=node),
               prom.sample(mm.RUN_TIMESTAMP, timestamp, project=project, node=node)]
    if success:
        samples.append(prom.sample(mm.RUN_LAST_SUCCESS, timestamp, project=project, node=node))
    return samples


@click.command(name="report-run")
@SPEC
@click.option("--node", "node", required=True, metavar="NODE",
              help="Node id (train, monitor.drift), its slug (the Airflow task id), or 'pipeline' / "
                   "'monitoring' for a whole run.")
@click.option("--status", type=click.Choice(["success", "failure"]), required=True, help="How the run ended.")
@click.option("--timestamp", type=float, metavar="SECONDS", help="Unix time the run finished (default: now).")
@push_options
@FORMAT
def report_run(spec: str, node: str, status: str, timestamp: float | None, pushgateway: str | None, no_push: bool,
               textfile: str | None, fmt: str) -> None:
    """Report how a node or a whole run ended: mlspec_run_success and mlspec_run_timestamp_seconds."""
    run_command("report-run", spec, fmt, lambda ctx: _report_run(ctx, node, status, timestamp, pushgateway,
                                                                 no_push, textfile))


def _report_run(ctx: Context, name: str, status: str, timestamp: float | None, pushgateway: str | None,
                no_push: bool, textfile: str | None) -> Outcome:
    node = run_node_id(ctx.plan, name)
    if node is None:
        from mlspec.suggest import did_you_mean

        names = [*RUN_NODES, *(n.id for n in (*ctx.plan.nodes, *ctx.plan.monitor_nodes))]
        hint = did_you_mean(name, names) or "one of: " + ", ".join(names)
        raise Failure(dx.UNKNOWN_RUN_NODE, f"no node {name!r} in the plan", hint=hint)
    ts = time.time() if timestamp is None else timestamp
    samples = run_samples(ctx.project, node, status == "success", ts)
    mon = ctx.plan.monitoring
    if not textfile and mon is not None and mon.textfile_dir:
        # One file per node: the collector reads them all, a later node never erases an earlier one.
        textfile = str(ctx.spec_path(mon.textfile_dir) / f"{ctx.project}_run_{node.replace('.', '_')}.prom")
    if textfile and status != "success":
        # The textfile is rewritten whole: a failure carries the last success time over, as the
        # Pushgateway's POST does, so "training has not succeeded since ..." keeps its anchor.
        from mlspec.runtime import prometheus as prom

        last = prom.sample(mm.RUN_LAST_SUCCESS, 0, project=ctx.project, node=node)
        kept = prom.textfile_value(Path(textfile), last)
        if kept is not None:
            samples.append(prom.sample(mm.RUN_LAST_SUCCESS, kept, project=ctx.project, node=node))
    # POST: a failure replaces success and timestamp but keeps the last success time.
    push = push_samples(ctx, samples, url=pushgateway, no_push=no_push, textfile=textfile,
                        groups=[([("node", node)], samples)], method="POST")
    where = [x for x in (push["pushgateway"] if push["pushed"] else None, push["textfile"]) if x]
    payload = {"node": node, "status": status, "timestamp": ts, "push": push}
    text = f"{node}: {status} at {utc(ts)}" + (f" -> {', '.join(where)}" if where else
                                              " (no metrics destination: nothing reported)") + "\n"
    return Outcome(True, payload, text)
