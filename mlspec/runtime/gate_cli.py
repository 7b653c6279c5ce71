"""`mlspec gate`: the spec's gates on a metrics file, against production."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec import metrics as mm
from mlspec.runtime.common import (
    GATE_RESULT,
    Context,
    Failure,
    Outcome,
    num,
    push_samples,
    read_json_file,
    run_command,
    table,
    utc,
    write_json,
)
from mlspec.runtime.cli_options import FORMAT, SPEC, push_options, report_options, report_time, write_outputs


# =================================================================== gate


@click.command()
@SPEC
@click.option("--metrics", type=click.Path(dir_okay=False), help="Metrics JSON (default: validation.metrics).")
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="Metrics JSON of the production model (default: the registry's production version).")
@click.option("--baseline-dir", type=click.Path(file_okay=False),
              help="Folder `mlspec ci-baseline fetch` wrote (a pull request's view of production); used when it "
                   "holds metrics.json, else the default applies.")
@click.option("--output", type=click.Path(dir_okay=False),
              help=f"Write the result JSON here (default: {GATE_RESULT.as_posix()} next to the spec).")
@report_options
@click.option("--attach", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="A file evaluation wrote (plot, table) to show in the --report page (repeatable); "
                   "validation.outputs are attached too.")
@push_options
@FORMAT
def gate(spec: str, metrics: str | None, baseline: str | None, baseline_dir: str | None, output: str | None,
         report: str | None, summary: str | None, no_summary: bool, attach: tuple[str, ...], pushgateway: str | None,
         no_push: bool, textfile: str | None, fmt: str) -> None:
    """Evaluate the spec's gates on a metrics file; exit 1 if any fails."""
    if attach and not report:
        raise click.UsageError("--attach needs --report PAGE.html (the page the files are shown in)")
    if baseline and baseline_dir:
        raise click.UsageError("--baseline and --baseline-dir are alternatives: give one")
    run_command("gate", spec, fmt, lambda ctx: _gate(ctx, metrics, baseline, output, pushgateway, no_push, textfile,
                                                     report, summary, no_summary, attach, baseline_dir))


def _attachments(ctx: Context, attach: tuple[str, ...]) -> list[Any]:
    """``--attach`` files (unreadable: MS640, error) and the spec's evaluation outputs
    (missing: MS640, warning), in that order."""
    from mlspec.runtime.reports import eval_report as er

    try:
        explicit = er.load_attachments([(Path(a), ctx.shown(Path(a))) for a in attach])
    except er.AttachmentError as exc:
        raise Failure(dx.REPORT_ATTACHMENT, str(exc), file=exc.shown) from None
    declared = []
    for rel in er.spec_outputs(ctx.plan):
        path = ctx.spec_path(rel)
        try:
            declared += er.load_attachments([(path, ctx.shown(path))])
        except er.AttachmentError as exc:
            ctx.warn(dx.REPORT_ATTACHMENT, str(exc), path=("validation", "outputs"))
    seen = {a.shown for a in explicit}
    return explicit + [a for a in declared if a.shown not in seen]


def _gate(ctx: Context, metrics_opt: str | None, baseline_opt: str | None, output: str | None,
          pushgateway: str | None, no_push: bool, textfile: str | None, report: str | None = None,
          summary_opt: str | None = None, no_summary: bool = False, attach: tuple[str, ...] = (),
          baseline_dir: str | None = None) -> Outcome:
    from mlspec.runtime import gates as g
    from mlspec.runtime import prometheus as prom
    from mlspec.runtime import registry
    from mlspec.runtime.reports import markdown as md

    plan = ctx.plan
    if not plan.gates:
        return Outcome(True, {"results": [], "note": "the spec has no gates"}, "no gates to evaluate\n")
    summary_to = md.summary_target(summary_opt, no_summary)
    if metrics_opt:
        mpath = Path(metrics_opt)
    elif plan.eval_metrics_path:
        mpath = ctx.spec_path(plan.eval_metrics_path)
    else:
        raise click.UsageError("no metrics file: pass --metrics (the spec has no validation.metrics)")
    mshown = ctx.shown(mpath)
    metrics = g.read_metrics(mpath, mshown)
    if any(x.metric.startswith("evals.") for x in plan.gates) and "evals" not in metrics:
        # Eval scores are gate metrics by convention: `evals.NAME.FIELD` reads .mlspec/evals/NAME/summary.json.
        from mlspec.runtime.evals import read_summaries

        metrics = {**metrics, "evals": read_summaries(ctx.spec_dir, plan)}

    base = None
    if baseline_opt:
        # Read even when no gate compares with production: the report and summary show deltas.
        bpath = Path(baseline_opt)
        base = g.Baseline(ctx.shown(bpath), g.read_metrics(bpath, ctx.shown(bpath), "baseline file"), True)
    elif baseline_dir and (Path(baseline_dir) / "metrics.json").is_file():
        # A pull request's copy of production (`mlspec ci-baseline fetch`): data from another
        # run, so a metric it lacks is noted, not an error of this change.
        folder = Path(baseline_dir)
        try:
            info = read_json_file(folder / "baseline.json", "baseline info", ctx.shown(folder / "baseline.json"))
        except Failure:
            info = None
        version = info.get("version") if isinstance(info, dict) else None
        label = f"production {version} (train workflow)" if isinstance(version, str) else "production (train workflow)"
        base = g.Baseline(label, g.read_metrics(folder / "metrics.json", ctx.shown(folder / "metrics.json"),
                                                "baseline file"), False)
    elif any(x.baseline for x in plan.gates):
        prod = registry.production(ctx)
        if prod is not None:
            base = g.Baseline(f"production {prod[0]}", prod[1], False)

    when = report_time(ctx, lambda: mpath.stat().st_mtime, "metrics file written") if report else None
    attachments = _attachments(ctx, attach) if report else []

    results = [g.evaluate(gate, i, metrics, base) for i, gate in enumerate(plan.gates)]
    for r in results:
        path = ("validation", "gates", r.index)
        if r.problem:
            ctx.add(dx.METRIC_MISSING, f"gate {r.gate.id}: {r.problem}"
                    + ("" if "baseline" in r.problem else f" in {mshown}"), path=path,
                    hint="the evaluation step writes the metric as {\"name\": number}, or nested: "
                         "{\"roc_auc\": {\"test\": 0.9}} for 'roc_auc.test'")
        elif not r.passed:
            ctx.add(dx.GATE_FAILED, g.failure_text(r), path=path)

    samples = []
    for r in results:
        if r.value is not None:
            samples.append(prom.sample(mm.GATE_VALUE, r.value, project=ctx.project, gate=r.gate.id, metric=r.gate.metric))
        samples.append(prom.sample(mm.GATE_PASSED, 1 if r.passed else 0, project=ctx.project, gate=r.gate.id,
                                   metric=r.gate.metric))
    push = push_samples(ctx, samples, url=pushgateway, no_push=no_push, textfile=textfile)

    ok = all(r.passed for r in results)
    payload = {"passed": ok, "metrics_file": mshown, "baseline": base.label if base else None,
               "results": [r.to_json() for r in results], "push": push}
    out = Path(output) if output else ctx.spec_dir / GATE_RESULT
    now = time.time()
    try:
        write_json(out, {"command": "gate", "project": ctx.project, "spec_sha256": ctx.plan.spec_sha256,
                         "finished": utc(now), **payload,
                         "diagnostics": [d.to_json() for d in ctx.diagnostics]})
        payload["output"] = ctx.shown(out)
    except OSError as exc:
        ctx.add(dx.DATA_UNREADABLE, f"cannot write the gate result {ctx.shown(out)}: {exc.strerror or exc}",
                file=ctx.shown(out))

    page = summary = None
    if report:
        from mlspec.runtime.reports import eval_report

        page = eval_report.render(project=ctx.project, spec=ctx.checked.file, metrics_file=mshown,
                                  baseline_label=base.label if base else None, results=results, metrics=metrics,
                                  baseline=base.metrics if base else None, attachments=attachments, when=when)
    if summary_to is not None:
        summary = md.gate_summary(project=ctx.project, metrics_file=mshown, baseline_label=base.label if base else None,
                                  results=results, baseline=base.metrics if base else None,
                                  attachments=[a.shown for a in attachments],
                                  report=ctx.shown(Path(report)) if report else None)
    write_outputs(ctx, payload, report, page, summary_to, summary)

    rows = [[r.gate.id, r.gate.metric, num(r.value), r.bound, "pass" if r.passed else "FAIL"] for r in results]
    text = table(["gate", "metric", "value", "bound", "result"], rows)
    for r in results:
        if r.note:
            text += f"note: {r.gate.id}: {r.note}\n"
    failed = sum(not r.passed for r in results)
    text += (f"gates: {len(results) - failed} passed, {failed} failed ({mshown})\n")
    return Outcome(ok, payload, text)
