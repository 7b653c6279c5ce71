"""What the runtime commands share: their click arguments and options, the report outputs,
and a data source named on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec.suggest import closest
from mlspec.runtime.common import Context, Failure

SPEC = click.argument("spec", required=False, default="mlproject.yaml", type=click.Path(dir_okay=False))
FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="Output format.")


def push_options(f: Any) -> Any:
    f = click.option("--textfile", type=click.Path(dir_okay=False),
                     help="Also write the metrics to this file (node_exporter textfile collector; name it *.prom).")(f)
    f = click.option("--no-push", is_flag=True, help="Do not push to the Pushgateway.")(f)
    f = click.option("--pushgateway", metavar="URL",
                     help="Pushgateway to push to (default: $MLSPEC_PUSHGATEWAY, else monitoring.pushgateway).")(f)
    return f


def report_options(f: Any) -> Any:
    f = click.option("--no-summary", is_flag=True,
                     help="Do not append the Markdown summary to $GITHUB_STEP_SUMMARY.")(f)
    f = click.option("--summary", type=click.Path(dir_okay=False), metavar="FILE.md",
                     help="Write a GitHub Markdown summary with Mermaid charts (default inside GitHub "
                          "Actions: append it to $GITHUB_STEP_SUMMARY).")(f)
    f = click.option("--report", type=click.Path(dir_okay=False), metavar="PAGE.html",
                     help="Also write a self-contained HTML report (no script, loads nothing).")(f)
    return f


def report_time(ctx: Context, fallback: Any, what: str) -> Any:
    """The time a report names: $SOURCE_DATE_EPOCH, else ``fallback()`` (a time from the inputs)."""
    from mlspec.runtime.reports import html as H

    try:
        epoch = H.source_date_epoch()
    except H.BadEpoch as exc:
        raise Failure(dx.BAD_SOURCE_DATE_EPOCH, str(exc), hint="unset it, or give whole seconds since 1970") from None
    if epoch is not None:
        return H.ReportTime(float(epoch), "SOURCE_DATE_EPOCH")
    try:
        ts = fallback()
    except (Failure, OSError):
        ts = None
    return H.report_time(ts, what)


def write_outputs(ctx: Context, payload: dict[str, Any], report: str | None, page: str | None,
                   summary_target: Any, summary: str | None) -> None:
    """Write the HTML page and the Markdown summary; failures are MS641 (a warning for the
    default $GITHUB_STEP_SUMMARY, whose failure must not change the check's verdict)."""
    from mlspec.runtime.reports import html as H
    from mlspec.runtime.reports import markdown as md

    if report and page is not None:
        path = Path(report)
        try:
            size = H.write(path, page)
            payload["report"] = {"path": ctx.shown(path), "bytes": size}
        except OSError as exc:
            ctx.add(dx.REPORT_NOT_WRITTEN, f"cannot write the report {ctx.shown(path)}: {exc.strerror or exc}",
                    file=ctx.shown(path))
    if summary_target is not None and summary is not None:
        path, append = summary_target
        try:
            md.write_summary(summary_target, summary)
            payload["summary"] = ctx.shown(path)
        except OSError as exc:
            message = f"cannot write the Markdown summary {ctx.shown(path)}: {exc.strerror or exc}"
            if append:
                ctx.warn(dx.REPORT_NOT_WRITTEN, message, file=ctx.shown(path))
            else:
                ctx.add(dx.REPORT_NOT_WRITTEN, message, file=ctx.shown(path))


STATE_OPTION = click.option("--state-dir", type=click.Path(file_okay=False),
                            help="Monitoring state folder (default: $MLSPEC_STATE_DIR, else .mlspec/monitoring "
                                 "next to the spec).")


FINDING_OPTION = click.option(
    "--exit-zero-on-finding", "exit_zero_on_finding", is_flag=True,
    help="Exit 0 when the check ran and recorded a finding (the generated DAGs use it so a finding is not a "
         "failed task; retrain-trigger reads the recorded state). A check that could not run still exits 1.")


def source_of(ctx: Context, name: str, what: str = "SOURCE") -> Any:
    try:
        return ctx.plan.source_named(name)
    except KeyError:
        known = [d.name for d in ctx.plan.data]
        close = closest(name, known)
        hint = f"; did you mean '{close}'?" if close else (f"; known: {', '.join(known)}" if known else
                                                              "; the spec has no data sources")
        raise click.BadParameter(f"no data source '{name}' in {ctx.checked.file}{hint}", param_hint=what) from None


def spec_and_name(args: tuple[str, ...], what: str) -> tuple[str, str]:
    """``[SPEC] NAME`` arguments (the spec defaults to ./mlproject.yaml); usage error otherwise."""
    if len(args) == 1:
        return "mlproject.yaml", args[0]
    if len(args) == 2:
        return args[0], args[1]
    raise click.UsageError(f"expected [SPEC] {what}" if not args else f"too many arguments: {' '.join(args)}")
