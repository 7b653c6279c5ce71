"""The runtime commands as click commands; ``mlspec.cli`` loads this module lazily.

Each command: ``[SPEC]`` (default ``./mlproject.yaml``), ``--format text|json``; paths in
the spec are relative to the spec's folder, paths given on the command line to the working
folder. Exit codes: 0 ok, 1 a check failed or the input is wrong (invalid spec, unreadable
data), 2 usage. ``retrain-trigger --exit-code`` uses 0 (trigger) and 99 (do not trigger).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec import metrics as mm
from mlspec.suggest import closest
from mlspec.runtime.common import (
    GATE_RESULT,
    Context,
    Failure,
    Outcome,
    num,
    push_samples,
    read_json_file,
    require,
    run_command,
    table,
    utc,
    write_json,
    write_state,
)

SPEC = click.argument("spec", required=False, default="mlproject.yaml", type=click.Path(dir_okay=False))
FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="Output format.")


def _push_options(f: Any) -> Any:
    f = click.option("--textfile", type=click.Path(dir_okay=False),
                     help="Also write the metrics to this file (node_exporter textfile collector; name it *.prom).")(f)
    f = click.option("--no-push", is_flag=True, help="Do not push to the Pushgateway.")(f)
    f = click.option("--pushgateway", metavar="URL",
                     help="Pushgateway to push to (default: $MLSPEC_PUSHGATEWAY, else monitoring.pushgateway).")(f)
    return f


def _report_options(f: Any) -> Any:
    f = click.option("--no-summary", is_flag=True,
                     help="Do not append the Markdown summary to $GITHUB_STEP_SUMMARY.")(f)
    f = click.option("--summary", type=click.Path(dir_okay=False), metavar="FILE.md",
                     help="Write a GitHub Markdown summary with Mermaid charts (default inside GitHub "
                          "Actions: append it to $GITHUB_STEP_SUMMARY).")(f)
    f = click.option("--report", type=click.Path(dir_okay=False), metavar="PAGE.html",
                     help="Also write a self-contained HTML report (no script, loads nothing).")(f)
    return f


def _report_time(ctx: Context, fallback: Any, what: str) -> Any:
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


def _write_outputs(ctx: Context, payload: dict[str, Any], report: str | None, page: str | None,
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


def _source(ctx: Context, name: str, what: str = "SOURCE") -> Any:
    try:
        return ctx.plan.source_named(name)
    except KeyError:
        known = [d.name for d in ctx.plan.data]
        close = closest(name, known)
        hint = f"; did you mean '{close}'?" if close else (f"; known: {', '.join(known)}" if known else
                                                              "; the spec has no data sources")
        raise click.BadParameter(f"no data source '{name}' in {ctx.checked.file}{hint}", param_hint=what) from None


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
@_report_options
@click.option("--attach", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="A file evaluation wrote (plot, table) to show in the --report page (repeatable); "
                   "validation.outputs are attached too.")
@_push_options
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

    when = _report_time(ctx, lambda: mpath.stat().st_mtime, "metrics file written") if report else None
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
    _write_outputs(ctx, payload, report, page, summary_to, summary)

    rows = [[r.gate.id, r.gate.metric, num(r.value), r.bound, "pass" if r.passed else "FAIL"] for r in results]
    text = table(["gate", "metric", "value", "bound", "result"], rows)
    for r in results:
        if r.note:
            text += f"note: {r.gate.id}: {r.note}\n"
    failed = sum(not r.passed for r in results)
    text += (f"gates: {len(results) - failed} passed, {failed} failed ({mshown})\n")
    return Outcome(ok, payload, text)


# =================================================================== eval


@click.command(name="eval")
@SPEC
@click.option("--name", "names", multiple=True, metavar="NAME", help="Run only this eval (repeatable; default all).")
@click.option("--no-run", is_flag=True, help="Do not run the eval's command; score the outputs file as it is.")
@click.option("--no-cache", is_flag=True, help="Ask the judge again even for cases it has judged before.")
@_push_options
@FORMAT
def eval_(spec: str, names: tuple[str, ...], no_run: bool, no_cache: bool, pushgateway: str | None, no_push: bool,
          textfile: str | None, fmt: str) -> None:
    """Run and score the spec's LLM evals; exit 1 when a score is out of bounds or over a budget."""
    run_command("eval", spec, fmt, lambda ctx: _eval(ctx, names, no_run, no_cache, pushgateway, no_push, textfile))


# The CLI's LazyGroup finds a command by its name.
eval = eval_  # noqa: A001


def _eval(ctx: Context, names: tuple[str, ...], no_run: bool, no_cache: bool, pushgateway: str | None,
          no_push: bool, textfile: str | None) -> Outcome:
    from mlspec.runtime import evals as E
    from mlspec.runtime import prometheus as prom

    plan = ctx.plan
    if plan.llm is None or not plan.llm.evals:
        return Outcome(True, {"results": [], "note": "the spec has no llm.evals"}, "no evals to run\n")
    known = [e.name for e in plan.llm.evals]
    for n in names:
        if n not in known:
            close = closest(n, known)
            raise click.BadParameter(f"no eval {n!r} in {ctx.checked.file}"
                                     + (f"; did you mean '{close}'?" if close else f"; evals: {', '.join(known)}"),
                                     param_hint="--name")
    selected = [e for e in plan.llm.evals if not names or e.name in names]
    env = E.Env(ctx.spec_dir, ctx.shown, run=not no_run, use_cache=not no_cache)
    results, rows, groups = [], [], []
    for ev in selected:
        def warn(code: str, message: str, ev: Any = ev) -> None:
            ctx.warn(code, message, path=ev.spec_path)
        try:
            r = E.evaluate(plan, ev, env, warn)
        except Failure as exc:
            ctx.add(exc.code, exc.message, path=exc.path if exc.file is None else (), file=exc.file, hint=exc.hint)
            rows.append([ev.name, ev.scorer, "-", "-", "-", "n/a", E.EvalResult(ev.name, ev.scorer, min=ev.min,
                         max=ev.max).bound_text(), "ERROR"])
            results.append({"eval": ev.name, "ok": False, "error": exc.message})
            continue
        where = ev.spec_path
        if r.gave_up:
            ctx.add(dx.JUDGE_UNAVAILABLE, f"eval {ev.name}: {r.gave_up}", path=where,
                    hint="check llm.judge.base_url and the API key; raise llm.judge.retries or timeout")
        reply_errors = [c for c in r.cases if c.error and c.error.startswith("judge reply")]
        if reply_errors:
            ctx.warn(dx.JUDGE_REPLY, f"eval {ev.name}: {len(reply_errors)} judge repl"
                     f"{'y was' if len(reply_errors) == 1 else 'ies were'} unusable (first, case "
                     f"{reply_errors[0].id!r}: {reply_errors[0].error.removeprefix('judge reply unusable: ')}); "
                     "those cases count as errors", path=where)
        if r.pending:
            rpath = ctx.spec_dir / E.REVIEWS_DIR / f"{ev.name}.jsonl"
            ctx.add(dx.REVIEW_PENDING, f"eval {ev.name}: {r.pending} of {len(r.cases)} case(s) await a verdict in "
                    f"{ctx.shown(rpath)}", path=where,
                    hint="set each line's \"verdict\" to true/false (or a score 0-1) and run mlspec eval again")
        elif r.score is not None and not r.in_bounds and not r.gave_up:
            ctx.add(dx.EVAL_FAILED, f"eval {ev.name}: score {num(r.score, 4)} is not {r.bound_text()} "
                    f"({r.passed_count} of {len(r.cases)} cases passed)", path=where)
        elif r.score is None:
            ctx.add(dx.EVAL_DATASET, f"eval {ev.name}: the dataset has no cases", path=where)
        for b in r.budgets:
            if b.exceeded:
                ctx.add(dx.BUDGET_EXCEEDED, f"eval {ev.name}: {b.name} is {num(b.value, 4)}, over the budget "
                        f"{num(b.bound, 4)}", path=("llm", "budgets", b.name))
        cases_path, summary_path = E.write_results(ctx.spec_dir, r, {
            "project": ctx.project, "spec_sha256": plan.spec_sha256, "finished": utc(time.time()),
            "prompts": {p.name: p.sha256 for p in plan.llm.prompts if p.name in ev.prompts}})
        rows.append([ev.name, ev.scorer, str(len(r.cases)), str(r.passed_count), str(r.errors), num(r.score, 4),
                     r.bound_text(), "pass" if r.ok else ("PENDING" if r.pending else "FAIL")])
        results.append({**r.summary(), "results_file": ctx.shown(cases_path), "summary_file": ctx.shown(summary_path)})
        labels = dict(project=ctx.project)
        usage = r.usage()
        samples = [prom.sample(mm.LLM_EVAL_PASSED, 1 if r.ok else 0, eval=ev.name, **labels),
                   prom.sample(mm.LLM_EVAL_ERRORS, r.errors, eval=ev.name, **labels),
                   prom.sample(mm.LLM_REQUESTS, usage["requests"], **labels),
                   prom.sample(mm.LLM_TOKENS, usage["input_tokens"], kind="input", **labels),
                   prom.sample(mm.LLM_TOKENS, usage["output_tokens"], kind="output", **labels),
                   prom.sample(mm.LLM_COST, usage["cost_usd"], **labels)]
        if r.score is not None:
            samples.append(prom.sample(mm.LLM_EVAL_SCORE, r.score, eval=ev.name, scorer=ev.scorer, **labels))
        # Per-run figures as gauges: the usage counters restart with every eval run, so a rate
        # over them cannot judge a budget; these are what the eval-budget alerts compare.
        samples += [prom.sample(mm.LLM_EVAL_BUDGET, b.value, eval=ev.name, budget=b.name, **labels)
                    for b in r.budgets]
        groups.append(([("command", "eval"), ("eval", ev.name)], samples))
    # The textfile gets the per-eval series (the usage counters carry no eval label, so only the push groups them).
    per_eval = [x for _, batch in groups for x in batch if "eval" in x.metric.labels]
    push = push_samples(ctx, per_eval, url=pushgateway, no_push=no_push, textfile=textfile, groups=groups)
    ok = not ctx.failed
    text = table(["eval", "scorer", "cases", "passed", "errors", "score", "bound", "result"], rows)
    text += f"evals: {sum(r[-1] == 'pass' for r in rows)} passed, {sum(r[-1] != 'pass' for r in rows)} failed\n"
    return Outcome(ok, {"results": results, "push": push}, text)


# =================================================================== llm-usage

# Request-latency buckets (seconds) of mlspec_llm_request_duration_seconds: hosted-model calls
# take from a tenth of a second to tens of seconds.
LLM_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
USAGE_FIELDS = ("input_tokens", "output_tokens", "latency_ms", "cost_usd")


@click.command(name="llm-usage")
@SPEC
@click.option("--log", "log", required=True, type=click.Path(dir_okay=False), metavar="FILE.jsonl",
              help="The serving app's usage log: one JSON object per hosted-model request with "
                   "input_tokens, output_tokens, latency_ms and cost_usd (each optional).")
@_push_options
@FORMAT
def llm_usage(spec: str, log: str, pushgateway: str | None, no_push: bool, textfile: str | None, fmt: str) -> None:
    """Turn the serving app's LLM usage log into the mlspec_llm_* counters and latency histogram."""
    run_command("llm-usage", spec, fmt, lambda ctx: _llm_usage(ctx, Path(log), pushgateway, no_push, textfile))


def read_usage_log(path: Path, shown: str) -> list[dict[str, float]]:
    """The requests of a usage log; a line that is not a JSON object of finite, non-negative
    numbers is MS605 with its line number."""
    import json
    import math

    from mlspec.runtime.data import DEFAULT_MAX_DATA_BYTES, MAX_DATA_BYTES_ENV

    try:
        limit = int(os.environ.get(MAX_DATA_BYTES_ENV) or DEFAULT_MAX_DATA_BYTES)
    except ValueError:
        limit = DEFAULT_MAX_DATA_BYTES
    try:
        if path.stat().st_size > limit:
            raise Failure(dx.DATA_UNREADABLE, f"{shown} is larger than the {limit} byte limit", file=shown)
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Failure(dx.DATA_UNREADABLE, f"cannot read the usage log {shown}: "
                      f"{getattr(exc, 'strerror', None) or exc}", file=shown) from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            raise Failure(dx.DATA_UNREADABLE, f"{shown}:{n}: not a JSON object", file=shown,
                          hint='one request a line: {"input_tokens": 812, "output_tokens": 95, '
                               '"latency_ms": 640, "cost_usd": 0.0011}')
        request: dict[str, float] = {}
        for field in USAGE_FIELDS:
            v = row.get(field)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise Failure(dx.DATA_UNREADABLE, f"{shown}:{n}: {field} must be a non-negative number, "
                              f"not {v!r}"[:300], file=shown)
            request[field] = float(v)
        out.append(request)
    return out


def _llm_usage(ctx: Context, log: Path, pushgateway: str | None, no_push: bool, textfile: str | None) -> Outcome:
    from mlspec.runtime import prometheus as prom

    shown = ctx.shown(log)
    requests = read_usage_log(log, shown)
    labels = dict(project=ctx.project)
    totals = {f: sum(r.get(f, 0.0) for r in requests) for f in USAGE_FIELDS}
    latencies = [r["latency_ms"] / 1000 for r in requests if "latency_ms" in r]
    # Totals over the whole log: counters that grow with it (a rotated log is a counter reset,
    # which rate() handles), so the rate-based budget rules and panels read them directly.
    samples = [prom.sample(mm.LLM_REQUESTS, len(requests), **labels),
               prom.sample(mm.LLM_TOKENS, totals["input_tokens"], kind="input", **labels),
               prom.sample(mm.LLM_TOKENS, totals["output_tokens"], kind="output", **labels),
               prom.sample(mm.LLM_COST, totals["cost_usd"], **labels),
               *prom.histogram(mm.LLM_LATENCY, LLM_LATENCY_BUCKETS, latencies, **labels)]
    push = push_samples(ctx, samples, url=pushgateway, no_push=no_push, textfile=textfile,
                        groups=[([("command", "llm-usage")], samples)])
    payload = {"log": shown, "requests": len(requests), "input_tokens": totals["input_tokens"],
               "output_tokens": totals["output_tokens"], "cost_usd": round(totals["cost_usd"], 6),
               "latency_observations": len(latencies), "push": push}
    text = (f"{shown}: {len(requests)} request(s), {int(totals['input_tokens'])} input and "
            f"{int(totals['output_tokens'])} output tokens, {totals['cost_usd']:.4f} USD\n")
    return Outcome(True, payload, text)


# =================================================================== check-data


@click.command(name="check-data")
@click.argument("args", nargs=-1, metavar="[SPEC] SOURCE")
@click.option("--file", "file_", metavar="FILE", help="Data to check (path or URI; default: the source's uri).")
@click.option("--strict", is_flag=True, help="Columns the contract does not list are errors, not warnings.")
@FINDING_OPTION
@STATE_OPTION
@_push_options
@FORMAT
def check_data(args: tuple[str, ...], file_: str | None, strict: bool, state_dir: str | None,
               pushgateway: str | None, no_push: bool, textfile: str | None, exit_zero_on_finding: bool, fmt: str) -> None:
    """Check a data set against source SOURCE's column contract; exit 1 on violations."""
    if len(args) == 1:
        spec, source = "mlproject.yaml", args[0]
    elif len(args) == 2:
        spec, source = args
    else:
        raise click.UsageError("expected [SPEC] SOURCE" if not args else f"too many arguments: {' '.join(args)}")
    run_command("check-data", spec, fmt,
                lambda ctx: _check_data(ctx, source, file_, strict, state_dir, pushgateway, no_push, textfile),
                exit_zero_on_finding=exit_zero_on_finding)


def _check_data(ctx: Context, name: str, file_: str | None, strict: bool, state_dir: str | None,
                pushgateway: str | None, no_push: bool, textfile: str | None) -> Outcome:
    from mlspec.runtime import contract, data
    from mlspec.runtime import prometheus as prom

    src = _source(ctx, name)
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
@_report_options
@STATE_OPTION
@_push_options
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
        _report_time(ctx, lambda: None, "")          # a bad SOURCE_DATE_EPOCH fails before any work
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
                                   when=_report_time(ctx, newest, "newest data file modified"))
    if summary_to is not None:
        summary = md.drift_summary(project=ctx.project, reference=ref_loc.display, current=cur_loc.display,
                                   results=results, report=ctx.shown(Path(report)) if report else None)
    _write_outputs(ctx, payload, report, page, summary_to, summary)

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
    record = audit.AuditLog(audit.audit_store(ctx)).append("register", {
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
    })
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


# =================================================================== freshness


@click.command()
@click.argument("args", nargs=-1, metavar="[SPEC] [SOURCE]...")
@FINDING_OPTION
@STATE_OPTION
@_push_options
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
        sources = [_source(ctx, n) for n in dict.fromkeys(names)]
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
@_push_options
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
@_push_options
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
@_push_options
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

