"""`mlspec custom-check [SPEC] NAME`: judge the metrics JSON a `monitoring.checks` command
wrote against the check's bounds, like the built-in checks: push ``mlspec_check_value``,
record the outcome for `retrain-trigger` (``custom.NAME.json``) and exit 1 on a finding.

The check's own command runs before it (the generated DAGs and `mlspec run` chain the two);
this command only reads the file, so a team's check is any program that writes JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec import metrics as mm
from mlspec.runtime.cli_options import FINDING_OPTION, FORMAT, STATE_OPTION, push_options, spec_and_name
from mlspec.runtime.common import Context, Failure, Outcome, num, push_samples, run_command, table, write_state
from mlspec.suggest import closest


@click.command(name="custom-check")
@click.argument("args", nargs=-1, metavar="[SPEC] NAME")
@click.option("--metrics", type=click.Path(dir_okay=False),
              help="Metrics JSON to judge (default: the check's `metrics`, relative to the spec).")
@FINDING_OPTION
@STATE_OPTION
@push_options
@FORMAT
def custom_check(args: tuple[str, ...], metrics: str | None, state_dir: str | None, pushgateway: str | None,
                 no_push: bool, textfile: str | None, exit_zero_on_finding: bool, fmt: str) -> None:
    """Judge custom check NAME's metrics against its bounds; exit 1 when one is out of bounds."""
    spec, name = spec_and_name(args, "NAME")
    run_command("custom-check", spec, fmt,
                lambda ctx: _custom_check(ctx, name, metrics, state_dir, pushgateway, no_push, textfile),
                exit_zero_on_finding=exit_zero_on_finding)


def _check(ctx: Context, name: str) -> Any:
    mon = ctx.plan.monitoring
    checks = mon.checks if mon else ()
    found = mon.check(name) if mon else None
    if found is None:
        known = [c.name for c in checks]
        close = closest(name, known)
        hint = f"; did you mean '{close}'?" if close else (f"; known: {', '.join(known)}" if known else
                                                              "; the spec has no monitoring.checks")
        raise click.BadParameter(f"no check '{name}' in {ctx.checked.file}{hint}", param_hint="NAME")
    return found


def _custom_check(ctx: Context, name: str, metrics_opt: str | None, state_dir: str | None,
                  pushgateway: str | None, no_push: bool, textfile: str | None) -> Outcome:
    from mlspec.runtime import gates as g
    from mlspec.runtime import prometheus as prom

    check = _check(ctx, name)
    state = ctx.state_dir(state_dir)
    mpath = Path(metrics_opt) if metrics_opt else ctx.spec_path(check.metrics_path)
    mshown = ctx.shown(mpath)

    def record(status: str, summary: str, payload: dict[str, Any]) -> Path:
        return write_state(ctx, check.state_kind, state, status, summary, {"check": check.name, **payload},
                           pushgateway=pushgateway, no_push=no_push, event=check.event)

    try:
        values = g.read_metrics(mpath, mshown, f"metrics file of check '{check.name}'")
    except Failure as exc:
        # Could not check: an error, never a finding (no retrain on a crashed check).
        ctx.add(exc.code, exc.message, file=exc.file, hint=exc.hint or "the check's `run` command writes it")
        record("error", exc.message, {"results": []})
        ctx.diagnostics.pop()
        raise
    results: list[dict[str, Any]] = []
    samples = []
    for b in check.bounds:
        value, problem = g.metric_value(values, b.metric)
        entry = {"metric": b.metric, "value": value, "min": b.min, "max": b.max, "description": b.description,
                 "problem": problem, "within_bounds": None}
        if problem:
            ctx.add(dx.CHECK_METRIC_MISSING, f"check '{check.name}': metric '{b.metric}' {problem} in {mshown}",
                    path=(*b.spec_path, "metric"), hint="the check's `run` command must write every bounded metric")
        else:
            assert value is not None
            samples.append(prom.sample(mm.CHECK_VALUE, value, project=ctx.project, check=check.name, metric=b.metric))
            low = b.min is not None and value < b.min
            high = b.max is not None and value > b.max
            entry["within_bounds"] = not (low or high)
            if low or high:
                side, bound = ("below min", b.min) if low else ("above max", b.max)
                why = f": {b.description}" if b.description else ""
                ctx.add(dx.CHECK_OUT_OF_BOUNDS, f"check '{check.name}': {b.metric} = {num(value)} is {side} "
                        f"{num(bound)}{why}", path=(*b.spec_path, "min" if low else "max"))
        results.append(entry)
    errors = [r for r in results if r["problem"]]
    out = [r for r in results if r["within_bounds"] is False]
    # A metric that could not be read makes the whole run an error: a half-judged check must
    # neither raise its event nor report "ok".
    status = "error" if errors else ("finding" if out else "ok")
    mon = ctx.plan.monitoring
    if not textfile and mon is not None and mon.textfile_dir:
        # One file per check: the checks of a project must not overwrite each other's series.
        textfile = str(ctx.spec_path(mon.textfile_dir) / f"{ctx.project}_custom-check_{check.name}.prom")
    push = push_samples(ctx, samples, url=pushgateway, no_push=no_push, textfile=textfile,
                        grouping=[("check", check.name)]) if samples else {
        "pushgateway": None, "pushed": False, "textfile": None}
    summary = {"ok": f"{len(results)} metric(s) within bounds",
               "finding": "out of bounds: " + ", ".join(f"{r['metric']} {num(r['value'])}" for r in out),
               "error": "unreadable: " + ", ".join(f"{r['metric']} {r['problem']}" for r in errors)}[status]
    payload: dict[str, Any] = {"metrics_file": mshown, "event": check.event, "severity": check.severity,
                               "results": results, "push": push}
    payload["state"] = ctx.shown(record(status, summary, payload))

    def bound_text(r: dict[str, Any]) -> str:
        return " and ".join(([f">= {num(r['min'])}"] if r["min"] is not None else []) +
                            ([f"<= {num(r['max'])}"] if r["max"] is not None else []))

    rows = [[r["metric"], num(r["value"]) if r["value"] is not None else "-", bound_text(r),
             "ERROR" if r["problem"] else ("ok" if r["within_bounds"] else "OUT OF BOUNDS")] for r in results]
    text = table(["metric", "value", "bound", "result"], rows) + f"check {check.name} ({check.event}): {summary}\n"
    return Outcome(status == "ok", payload, text)
