"""`mlspec eval` (the LLM evals) and `mlspec llm-usage` (a serving app's usage log as metrics)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec import metrics as mm
from mlspec.suggest import closest
from mlspec.runtime.common import Context, Failure, Outcome, num, push_samples, run_command, table, utc
from mlspec.runtime.cli_options import FORMAT, SPEC, push_options


# =================================================================== eval


@click.command(name="eval")
@SPEC
@click.option("--name", "names", multiple=True, metavar="NAME", help="Run only this eval (repeatable; default all).")
@click.option("--no-run", is_flag=True, help="Do not run the eval's command; score the outputs file as it is.")
@click.option("--no-cache", is_flag=True, help="Ask the judge again even for cases it has judged before.")
@push_options
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
@push_options
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
