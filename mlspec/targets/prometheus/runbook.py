"""The runbook (``monitoring/prometheus/<project>.runbook.md``): what each alert means and what
to do; every alert's ``runbook_url`` points at its section.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlspec.compiler.plan import Plan
from mlspec.targets.prometheus.model import RULES_DIR, Rules, dur

if TYPE_CHECKING:
    from mlspec.targets.prometheus import PrometheusOptions

def runbook_path(project: str) -> str:
    return f"{RULES_DIR}/{project}.runbook.md"


def runbook_url(options: PrometheusOptions, project: str, alert: str) -> str:
    base = options.runbook_url or ""
    if base and not base.endswith("/"):
        base += "/"
    return f"{base}{runbook_path(project)}#{alert.lower()}"


# ------------------------------------------------------------------ runbook

_RUNBOOK = {
    "MlspecDataDrift": (
        "The distribution of a column in the current data moved away from the reference data.",
        ["Run `mlspec drift -- {spec}` to recompute the statistics and see every column.",
         "Check upstream changes to the column (new categories, units, a broken join, missing values).",
         "If the shift is real and lasting, retrain on recent data; if it is a data bug, fix the source."]),
    "MlspecConceptDrift": (
        "The model's live quality on labelled data crossed its bound: predictions got worse.",
        ["Check that labels arrived completely for the window (late labels look like bad quality).",
         "Compare with data drift alerts of the same period.",
         "Retrain, or roll back to the previous registered model."]),
    "MlspecCheckOutOfBounds": (
        "A metric of one of the team's own monitoring checks (`monitoring.checks`) left its bound.",
        ["Run the check again with `mlspec run --only monitor.check.CHECK -- {spec}` (the alert's `check` "
         "label names it): it prints every bounded metric with its value and bound.",
         "Read the bound's description in the spec: it says what leaving the range means.",
         "If the change is real and lasting, retrain (the check's event may trigger it); if it is a "
         "data or check bug, fix the producer or the check."]),
    "MlspecDataStale": (
        "A data source was not updated within its freshness bound.",
        ["Check the job that produces the source and its last run.",
         "Models trained or monitored on stale data silently degrade: pause retraining until it is fresh."]),
    "MlspecSchemaViolations": (
        "Values in a data source broke its column contract (type, range, allowed values, nulls).",
        ["Run `mlspec check-data -- {spec} SOURCE` to list the violations.",
         "Fix the producer, or update the contract in the spec if the change is intended."]),
    "MlspecPipelineFailed": (
        "A pipeline or monitoring node reported a failed run (`mlspec_run_success` is 0).",
        ["Open the logs of the node's last run in the scheduler (GitHub Actions or Airflow).",
         "Re-run the node once the cause is fixed; the alert resolves when it reports success."]),
    "MlspecMonitoringStale": (
        "Monitoring has not reported a run for twice its schedule: the scheduler, the DAG or its "
        "reporting stopped, so drift would go unnoticed.",
        ["Check that the monitoring DAG or workflow is enabled and its last runs started.",
         "Check the run's final report task (`mlspec report-run`) reached the Pushgateway."]),
    "MlspecRunsMissing": (
        "Prometheus holds no run timestamp of the monitoring runs at all.",
        ["Check `monitoring.pushgateway` (or `$MLSPEC_PUSHGATEWAY`) and that Prometheus scrapes the "
         "Pushgateway with `honor_labels: true`.",
         "Run the monitoring once by hand: `mlspec run {spec}`."]),
    "MlspecTrainingStale": (
        "The training pipeline has not succeeded for twice its retraining schedule.",
        ["Look for failed pipeline runs (`MlspecPipelineFailed`) and their logs.",
         "Check that the scheduled pipeline is enabled."]),
    "MlspecServingLatencyHigh": (
        "The server's 95th percentile request latency is above the SLO.",
        ["Check saturation (CPU, memory, replicas) and recent deployments.",
         "Scale out or roll back the last release."]),
    "MlspecServingErrorRateHigh": (
        "The share of requests answered with a 5xx status is above the SLO.",
        ["Check the server logs and the health endpoint; check recent deployments.",
         "Roll back the last release if it correlates."]),
    "MlspecServingAvailabilityLow": (
        "The share of successful (non-5xx) requests over the last hour is below the SLO.",
        ["Follow the error-rate runbook; check for crash loops and failing health checks."]),
    "MlspecLlmCostOverBudget": (
        "Spend on the hosted model per 1000 requests is above the budget.",
        ["Look for longer prompts or outputs, retries and loops, or a model change.",
         "Cap output tokens or cache frequent requests."]),
    "MlspecLlmTokensOverBudget": (
        "The average number of tokens per request over the last hour is above the budget.",
        ["Look for prompt growth (context, retrieved documents) and long outputs."]),
    "MlspecLlmEvalOverBudget": (
        "An eval run of the release candidate measured tokens, latency or cost above a budget, "
        "before any user traffic.",
        ["Open the eval's summary (.mlspec/evals/<eval>/summary.json): which cases are the largest or slowest?",
         "Compare the prompts' sha256 with the production version's (`mlspec registry describe`)."]),
    "MlspecLlmLatencyOverBudget": (
        "The 95th percentile latency of hosted-model requests is above the budget.",
        ["Check the provider's status page, output lengths and rate limiting."]),
}


def _table_code(s: str) -> str:
    """``s`` as a code span inside a GFM table cell: a fence longer than any backtick run, pipes escaped."""
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    return f"{fence} {s.replace('|', chr(92) + '|')} {fence}"


def runbook_markdown(plan: Plan, rules: Rules) -> str:
    from mlspec.output.encoders import markdown_text

    intro = (f"Generated by mlspec from {markdown_text(plan.source)}. Each alert's `runbook_url` points at "
             "its section. Alerts carry the labels `project`, `event` and `severity`; "
             "`monitoring/alertmanager/` routes them by `event` and `severity`.")
    lines = [f"# Runbook: alerts of {markdown_text(plan.project.name)}", "", intro, ""]
    # The spec argument of the commands, when it is plain enough for a code span.
    spec = plan.spec_file if re.fullmatch(r"[A-Za-z0-9._/-]+", plan.spec_file) else "SPEC"
    names = list(dict.fromkeys(a.name for a in rules.alerts))
    for name in names:
        meaning, steps = _RUNBOOK[name]
        alerts = [a for a in rules.alerts if a.name == name]
        lines += [f"## {name}", "", meaning, "", "| condition | for | severity | event |", "|---|---|---|---|"]
        for a in alerts:
            cond = _table_code(a.expr)
            lines.append(f"| {cond} | {dur(a.for_seconds) if a.for_seconds else '0s'} | {a.severity} | {a.event} |")
        lines += ["", "What to do:", ""]
        lines += [f"1. {s.format(spec=spec)}" for s in steps]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


