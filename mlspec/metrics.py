"""Every ``mlspec_*`` metric, defined once.

The runtime commands push these; the Prometheus rules, their unit tests and the Grafana
dashboard query exactly these names, so the two sides cannot drift apart. Every metric
carries the ``project`` label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class MetricDef:
    """A metric the runtime commands push and the rules and dashboards read."""

    name: str
    type: Literal["gauge", "counter", "histogram"]
    help: str
    labels: tuple[str, ...]


def _m(name: str, type_: Literal["gauge", "counter", "histogram"], help_: str, *labels: str) -> MetricDef:
    return MetricDef(name, type_, help_, ("project", *labels))


DRIFT_SCORE = _m("mlspec_drift_score", "gauge",
                 "Drift statistic of a column between reference and current data (PSI, KS D, "
                 "Wasserstein distance, chi-squared statistic or Jensen-Shannon distance).", "column", "method")
DRIFT_PVALUE = _m("mlspec_drift_pvalue", "gauge",
                  "p-value of a drift test (ks, chi2); drift when below the threshold.", "column", "method")
DRIFT_DETECTED = _m("mlspec_drift_detected", "gauge",
                    "1 when the column drifted past its threshold in the last check, else 0.",
                    "column", "method", "severity")
PERFORMANCE = _m("mlspec_performance", "gauge", "Live model performance on labelled data.", "metric")
CHECK_VALUE = _m("mlspec_check_value", "gauge",
                 "A bounded metric of a custom monitoring check (monitoring.checks) from its last run.",
                 "check", "metric")
DATA_LAST_UPDATED = _m("mlspec_data_last_updated_timestamp_seconds", "gauge",
                       "Unix time of the newest data in a source.", "source")
SCHEMA_VIOLATIONS = _m("mlspec_schema_violations", "gauge",
                       "Values breaking the source's column contract in the last check.", "source")
GATE_VALUE = _m("mlspec_gate_value", "gauge", "Metric value a gate evaluated.", "gate", "metric")
GATE_PASSED = _m("mlspec_gate_passed", "gauge", "1 when the gate passed, 0 when it failed.", "gate", "metric")
RUN_SUCCESS = _m("mlspec_run_success", "gauge", "1 when the node's last run succeeded, 0 when it failed.", "node")
RUN_TIMESTAMP = _m("mlspec_run_timestamp_seconds", "gauge", "Unix time the node last finished.", "node")
RUN_LAST_SUCCESS = _m("mlspec_run_last_success_timestamp_seconds", "gauge",
                      "Unix time the node (or the whole run: node pipeline, monitoring) last succeeded.", "node")
CHECK_OUTCOME = _m("mlspec_check_outcome", "gauge",
                   "1 for the outcome of the check's last run (finding, ok, error), 0 for the others.",
                   "check", "outcome")
RETRAIN_TRIGGERED = _m("mlspec_retrain_triggered_timestamp_seconds", "gauge",
                       "Unix time monitoring last triggered a retrain.")
LLM_REQUESTS = _m("mlspec_llm_requests_total", "counter", "Requests sent to the hosted model.")
LLM_COST = _m("mlspec_llm_cost_usd_total", "counter", "Spend on the hosted model in US dollars.")
LLM_TOKENS = _m("mlspec_llm_tokens_total", "counter", "Tokens used, by kind (input, output).", "kind")
LLM_LATENCY = _m("mlspec_llm_request_duration_seconds", "histogram", "Latency of hosted-model requests.")
LLM_EVAL_SCORE = _m("mlspec_llm_eval_score", "gauge", "Share of an LLM eval's cases that passed (0-1).",
                    "eval", "scorer")
LLM_EVAL_PASSED = _m("mlspec_llm_eval_passed", "gauge",
                     "1 when the eval's score was within its bounds and budgets, 0 when not.", "eval")
LLM_EVAL_ERRORS = _m("mlspec_llm_eval_errors", "gauge",
                     "Cases of an LLM eval that could not be scored (no output, unusable judge reply).", "eval")
LLM_EVAL_BUDGET = _m("mlspec_llm_eval_budget_value", "gauge",
                     "An LLM eval's figure for one llm.budgets entry, in that budget's unit (tokens, ms, USD "
                     "per 1000 requests).", "eval", "budget")

ALL: tuple[MetricDef, ...] = (
    DRIFT_SCORE, DRIFT_PVALUE, DRIFT_DETECTED, PERFORMANCE, CHECK_VALUE, DATA_LAST_UPDATED, SCHEMA_VIOLATIONS,
    GATE_VALUE, GATE_PASSED, RUN_SUCCESS, RUN_TIMESTAMP, RUN_LAST_SUCCESS, CHECK_OUTCOME, RETRAIN_TRIGGERED,
    LLM_REQUESTS, LLM_COST, LLM_TOKENS, LLM_LATENCY, LLM_EVAL_SCORE, LLM_EVAL_PASSED, LLM_EVAL_ERRORS, LLM_EVAL_BUDGET,
)
BY_NAME = {m.name: m for m in ALL}

# Pushgateway grouping: one group per project and command, so commands never overwrite each other.
JOB_LABEL = "mlspec"
