"""The alerting and recording rules (``monitoring/prometheus/<project>.rules.yml``): data drift,
concept drift, custom checks, data freshness, schema violations, pipeline failures and staleness, serving SLOs
and LLM budgets, plus the recording rules the SLO and budget alerts read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlspec import metrics as M
from mlspec.compiler.plan import DriftCheck, Plan
from mlspec.targets.prometheus.go_templates import Label, User, Value, go_text, template
from mlspec.targets.prometheus.model import (
    RULES_DIR, AbsentProbe, AgeProbe, Alert, GaugeProbe, Record, Rules, SeriesProbe, above, below, bound_delta, dur,
    histogram_series, pct_text, per_request_series, requests_series,
)
from mlspec.targets.prometheus.runbook import runbook_url
from mlspec.targets.toolkit import promql
from mlspec.targets.toolkit.promql import Matchers, eq, num, selector

if TYPE_CHECKING:
    from mlspec.targets.prometheus import PrometheusOptions

# Severities of alerts the spec does not give one for.
FRESHNESS_SEVERITY = "warning"
SCHEMA_SEVERITY = "warning"
PIPELINE_FAILURE_SEVERITY = "critical"
STALENESS_SEVERITY = "warning"
SLO_SEVERITY = "critical"
BUDGET_SEVERITY = "warning"


def _bounds(low: float | None, high: float | None) -> list[tuple[str, str, float, float, float, str]]:
    """``(bound, op, threshold, fire, quiet, words)`` for each side of a min/max range that is set:
    the expression's comparison, and the probe values its generated test fires and stays quiet on."""
    out = []
    for bound, op, t in (("min", "<", low), ("max", ">", high)):
        if t is None:
            continue
        d = bound_delta(t)
        fire, quiet = (t - d, t + d) if op == "<" else (t + d, t - d)
        out.append((bound, op, t, fire, quiet, "below the minimum" if op == "<" else "above the maximum"))
    return out


class _Builder:
    def __init__(self, plan: Plan, options: PrometheusOptions) -> None:
        self.plan = plan
        self.options = options
        self.project = plan.project.name
        self.rules = Rules(self.project)
        self.p = (("project", plan.project.name),)

    def group(self, area: str) -> str:
        name = f"mlspec-{self.project}-{area}"
        if name not in self.rules.groups:
            self.rules.groups.append(name)
        return name

    def build(self) -> Rules:
        self.data_drift()
        self.concept_drift()
        self.custom_checks()
        self.freshness()
        self.schema()
        self.pipeline()
        self.serving()
        self.llm()
        return self.rules

    # ------------------------------------------------------------------ monitoring

    def data_drift(self) -> None:
        mon = self.plan.monitoring
        if not mon or not mon.drift:
            return
        group = self.group("data")
        # One rule per column, method and severity: of checks that differ only in the
        # threshold, the most sensitive one fires first anyway.
        strictest: dict[tuple[str, str, str], DriftCheck] = {}
        for check in mon.drift:
            key = (check.column, check.method, check.severity)
            kept = strictest.get(key)
            if kept is None or (check.threshold > kept.threshold if check.is_test else check.threshold < kept.threshold):
                strictest[key] = check
        for check in strictest.values():
            labels = (*self.p, ("column", check.column), ("method", check.method))
            t = check.threshold
            if check.is_test:
                metric, op = M.DRIFT_PVALUE.name, "<"
                probe = GaugeProbe(metric, labels, op, t, fire=t / 10, quiet=min(1.0, t * 5))
                description = ("The ", Label("method"), " p-value is ", Value("g4"), ", below ", num(t),
                               ": the distributions differ.")
            else:
                metric, op = M.DRIFT_SCORE.name, ">"
                probe = GaugeProbe(metric, labels, op, t, fire=t * 2, quiet=t / 2)
                description = ("The ", Label("method"), " drift score is ", Value("g4"), ", above ", num(t), ".")
            self.rules.alerts.append(Alert(
                "MlspecDataDrift", group, f"{selector(metric, eq(labels))} {op} {num(t)}", 300,
                check.severity, "data_drift",
                ("Data drift in column ", Label("column"), " (", Label("method"), ") of ",
                 User(self.project)), description, probe,
                labels=(("column", check.column), ("method", check.method)), alert_labels=labels))

    def concept_drift(self) -> None:
        mon = self.plan.monitoring
        perf = mon.performance if mon else None
        if not perf or (perf.min is None and perf.max is None):
            return
        group = self.group("data")
        labels = (*self.p, ("metric", perf.metric))
        sel = selector(M.PERFORMANCE.name, eq(labels))
        truth = [" (ground truth: data.", User(perf.labels), ")"] if perf.labels else []
        for bound, op, t, fire, quiet, word in _bounds(perf.min, perf.max):
            self.rules.alerts.append(Alert(
                "MlspecConceptDrift", group, f"{sel} {op} {num(t)}", 300, perf.severity, "concept_drift",
                ("Live ", User(perf.metric), " of ", User(self.project), " is ", word, " ", num(t)),
                ("Live ", User(perf.metric), " over ", User(perf.window), " is ", Value("g4"), ", ", word,
                 " ", num(t), *truth, "."),
                GaugeProbe(M.PERFORMANCE.name, labels, op, t, fire, quiet),
                labels=(("bound", bound),), alert_labels=labels))

    def custom_checks(self) -> None:
        mon = self.plan.monitoring
        if not mon or not mon.checks:
            return
        group = self.group("checks")
        for check in mon.checks:
            for b in check.bounds:
                labels = (*self.p, ("check", check.name), ("metric", b.metric))
                sel = selector(M.CHECK_VALUE.name, eq(labels))
                why = (": ", User(b.description)) if b.description else ()
                for bound, op, t, fire, quiet, word in _bounds(b.min, b.max):
                    self.rules.alerts.append(Alert(
                        "MlspecCheckOutOfBounds", group, f"{sel} {op} {num(t)}", 300, check.severity, check.event,
                        ("Check ", User(check.name), " of ", User(self.project), ": ", User(b.metric), " is ",
                         word, " ", num(t)),
                        (User(b.metric), " = ", Value("g4"), ", ", word, " ", num(t), *why, "."),
                        GaugeProbe(M.CHECK_VALUE.name, labels, op, t, fire, quiet),
                        labels=(("check", check.name), ("metric", b.metric), ("bound", bound)), alert_labels=labels))

    def freshness(self) -> None:
        sources = [d for d in self.plan.data if d.freshness_seconds]
        if not sources:
            return
        group = self.group("data")
        for src in sources:
            labels = (*self.p, ("source", src.name))
            f = src.freshness_seconds
            assert f is not None
            self.rules.alerts.append(Alert(
                "MlspecDataStale", group,
                f"time() - {selector(M.DATA_LAST_UPDATED.name, eq(labels))} > {num(f)}", 600,
                FRESHNESS_SEVERITY, "freshness",
                ("Data source ", User(src.name), " of ", User(self.project), " is stale"),
                ("The newest data in ", User(src.name), " is ", Value("duration"), " old; it may be at most ",
                 User(src.freshness or dur(f)), " old."),
                AgeProbe(M.DATA_LAST_UPDATED.name, labels, f, fire=2 * f, quiet=f / 2),
                labels=(("source", src.name),), alert_labels=labels))

    def schema(self) -> None:
        checked = [n for n in self.plan.nodes + self.plan.monitor_nodes if n.kind in ("data_check", "monitor_schema")]
        if not checked:
            return
        mon = self.plan.monitoring
        source = (mon.current if mon and mon.current else None) or (checked[0].data[0] if checked[0].data else "data")
        series = (*self.p, ("source", source))
        self.rules.alerts.append(Alert(
            "MlspecSchemaViolations", self.group("data"),
            f"{selector(M.SCHEMA_VIOLATIONS.name, eq(self.p))} > 0", 300,
            SCHEMA_SEVERITY, "pipeline_drift",
            ("Schema violations in ", Label("source"), " (", User(self.project), ")"),
            (Value("int"), " values in ", Label("source"),
             " broke its column contract in the last check."),
            GaugeProbe(M.SCHEMA_VIOLATIONS.name, series, ">", 0, fire=3, quiet=0),
            alert_labels=series))

    def pipeline(self) -> None:
        nodes = self.plan.nodes + self.plan.monitor_nodes
        if not nodes:
            return
        series = (*self.p, ("node", nodes[0].id))
        self.rules.alerts.append(Alert(
            "MlspecPipelineFailed", self.group("pipeline"),
            f"{selector(M.RUN_SUCCESS.name, eq(self.p))} == 0", 0,
            PIPELINE_FAILURE_SEVERITY, "pipeline_failure",
            ("Node ", Label("node"), " of ", User(self.project), " failed"),
            ("The last run of node ", Label("node"), " reported failure (",
             M.RUN_SUCCESS.name, " is 0)."),
            GaugeProbe(M.RUN_SUCCESS.name, series, "==", 0, fire=0, quiet=1),
            alert_labels=series))
        self.staleness()

    def staleness(self) -> None:
        """A schedule that stopped running raises no failure: its timestamps say it. Bounds are
        twice the longest gap between two scheduled runs (computed from the normalised cron)."""
        group = self.group("pipeline")
        mon, retrain = self.plan.monitoring, self.plan.retraining
        if mon is not None and self.plan.monitor_nodes:
            labels = (*self.p, ("node", "monitoring"))
            bound = 2 * mon.period_seconds
            self.rules.alerts.append(Alert(
                "MlspecMonitoringStale", group,
                f"time() - {selector(M.RUN_TIMESTAMP.name, eq(labels))} > {num(bound)}", 300,
                STALENESS_SEVERITY, "pipeline_failure",
                ("Monitoring of ", User(self.project), " has not run on schedule"),
                ("The last monitoring run finished ", Value("duration"), " ago; the schedule ",
                 User(mon.schedule_text), " runs at least every ", dur(mon.period_seconds), "."),
                AgeProbe(M.RUN_TIMESTAMP.name, labels, bound, fire=2 * bound, quiet=bound / 2),
                labels=(("node", "monitoring"),), alert_labels=labels))
            self.rules.alerts.append(Alert(
                "MlspecRunsMissing", group, f"absent({selector(M.RUN_TIMESTAMP.name, eq(labels))})", bound,
                STALENESS_SEVERITY, "pipeline_failure",
                ("No monitoring run of ", User(self.project), " has been reported"),
                ("No monitoring run reported for ", dur(bound), ": no metrics destination, or the series "
                 "was deleted."),
                AbsentProbe(M.RUN_TIMESTAMP.name, labels),
                labels=(("node", "monitoring"),), alert_labels=labels))
        if retrain is not None and retrain.period_seconds and self.plan.nodes:
            labels = (*self.p, ("node", "pipeline"))
            bound = 2 * retrain.period_seconds
            self.rules.alerts.append(Alert(
                "MlspecTrainingStale", group,
                f"time() - {selector(M.RUN_LAST_SUCCESS.name, eq(labels))} > {num(bound)}", 300,
                STALENESS_SEVERITY, "pipeline_failure",
                ("Training of ", User(self.project), " has not succeeded on schedule"),
                ("The training pipeline last succeeded ", Value("duration"), " ago; the schedule ",
                 User(retrain.schedule_text or ""), " runs at least every ", dur(retrain.period_seconds), "."),
                AgeProbe(M.RUN_LAST_SUCCESS.name, labels, bound, fire=2 * bound, quiet=bound / 2),
                labels=(("node", "pipeline"),), alert_labels=labels))

    # ------------------------------------------------------------------ serving SLOs

    def serving_matchers(self) -> Matchers:
        assert self.plan.serving is not None
        return eq(promql.serving_labels(self.plan.serving, self.options.serving_labels))

    def record(self, name: str, group: str, expr: str) -> str:
        self.rules.records.append(Record(name, group, expr, self.project))
        return f"{name}{{project={promql.string(self.project)}}}"

    def serving(self) -> None:
        sv = self.plan.serving
        if not sv or sv.mode != "online" or not sv.slo:
            return
        slo = sv.slo
        group = self.group("serving")
        sel = self.serving_matchers()
        series_labels = tuple((k, v) for k, _, v in sel)
        requests = promql.name(sv.requests_total)
        if slo.latency_p95_ms is not None:
            bucket = promql.name(sv.latency_histogram + "_bucket")
            bound = slo.latency_p95_ms / 1000
            rec = self.record(
                "project:mlspec_serving_latency_seconds:p95_rate5m", group,
                promql.p95(bucket, sel, "5m"))
            self.rules.alerts.append(Alert(
                "MlspecServingLatencyHigh", group, f"{rec} > {num(bound)}", 600, SLO_SEVERITY, "slo",
                ("p95 latency of ", User(self.project), " is above ", num(slo.latency_p95_ms), " ms"),
                ("The 95th percentile of ", User(sv.latency_histogram), " over 5m is ", Value("g4"),
                 " s; the SLO is ", num(bound), " s."),
                SeriesProbe(("latency",), histogram_series(bucket, series_labels), bound, ">",
                            above(bound), below(bound), 300),
                alert_labels=self.p))
        if slo.error_rate is not None and slo.error_rate < 1:
            t = slo.error_rate
            rec = self.record("project:mlspec_serving_error_ratio:rate5m", group,
                              promql.error_ratio(requests, sel, "5m"))
            self.rules.alerts.append(Alert(
                "MlspecServingErrorRateHigh", group, f"{rec} > {num(t)}", 600, SLO_SEVERITY, "slo",
                ("Error rate of ", User(self.project), " is above ", pct_text(t)),
                ("", Value("pct"), " of requests (", User(sv.requests_total),
                 ") failed with a 5xx status over 5m; the SLO allows ", pct_text(t), "."),
                SeriesProbe(("errors",), requests_series(requests, series_labels), t, ">",
                            min(above(t), 1.0), below(t), 300),
                alert_labels=self.p))
        if slo.availability is not None:
            a = slo.availability
            rec = self.record("project:mlspec_serving_availability:ratio_rate1h", group,
                              promql.success_ratio(requests, sel, "1h"))
            allowed = 1 - a
            fire_errors = min(above(allowed), 1.0) if allowed > 0 else 0.5
            self.rules.alerts.append(Alert(
                "MlspecServingAvailabilityLow", group, f"{rec} < {num(a)}", 900, SLO_SEVERITY, "slo",
                ("Availability of ", User(self.project), " is below ", pct_text(a)),
                ("", Value("pct"), " of requests (", User(sv.requests_total),
                 ") succeeded over 1h; the SLO is ", pct_text(a), "."),
                SeriesProbe(("availability",), requests_series(requests, series_labels, invert=True), a, "<",
                            1 - fire_errors, 1 - below(allowed), 3600),
                alert_labels=self.p))

    # ------------------------------------------------------------------ LLM budgets

    def llm(self) -> None:
        llm = self.plan.llm
        if not llm:
            return
        group = self.group("llm")
        sel = eq(self.p)
        if llm.cost_per_1k_requests_usd is not None:
            t = llm.cost_per_1k_requests_usd
            rec = self.record("project:mlspec_llm_cost_per_1k_requests_usd:rate1h", group,
                              promql.per_request(M.LLM_COST.name, M.LLM_REQUESTS.name, sel, "1h", 1000))
            self.rules.alerts.append(Alert(
                "MlspecLlmCostOverBudget", group, f"{rec} > {num(t)}", 900, BUDGET_SEVERITY, "budget",
                ("LLM spend of ", User(self.project), " is above ", num(t), " USD per 1000 requests"),
                ("Requests to ", User(llm.provider), " ", User(llm.model), " cost ", Value("g4"),
                 " USD per 1000 over 1h; the budget is ", num(t), " USD."),
                SeriesProbe(("cost",), per_request_series(M.LLM_COST.name, self.p, 1000), t, ">",
                            above(t), below(t), 3600),
                alert_labels=self.p))
        if llm.max_tokens_per_request is not None:
            t = llm.max_tokens_per_request
            rec = self.record("project:mlspec_llm_tokens_per_request:rate1h", group,
                              promql.per_request(M.LLM_TOKENS.name, M.LLM_REQUESTS.name, sel, "1h"))
            self.rules.alerts.append(Alert(
                "MlspecLlmTokensOverBudget", group, f"{rec} > {num(t)}", 900, BUDGET_SEVERITY, "budget",
                ("LLM tokens per request of ", User(self.project), " are above ", num(t)),
                ("Requests used ", Value("g4"), " tokens on average over 1h (input and output); the budget is ",
                 num(t), " per request."),
                SeriesProbe(("tokens",), per_request_series(M.LLM_TOKENS.name, self.p, 1, (("kind", "input"),)),
                            t, ">", above(t), below(t), 3600),
                alert_labels=self.p))
        if llm.latency_p95_ms is not None:
            bound = llm.latency_p95_ms / 1000
            bucket = M.LLM_LATENCY.name + "_bucket"
            rec = self.record("project:mlspec_llm_latency_seconds:p95_rate5m", group,
                              promql.p95(bucket, sel, "5m"))
            self.rules.alerts.append(Alert(
                "MlspecLlmLatencyOverBudget", group, f"{rec} > {num(bound)}", 600, BUDGET_SEVERITY, "budget",
                ("LLM p95 latency of ", User(self.project), " is above ", num(llm.latency_p95_ms), " ms"),
                ("The 95th percentile latency of requests to ", User(llm.provider), " ", User(llm.model),
                 " over 5m is ", Value("g4"), " s; the budget is ", num(bound), " s."),
                SeriesProbe(("llm_latency",), histogram_series(bucket, self.p), bound, ">",
                            above(bound), below(bound), 300),
                alert_labels=self.p))
        self.eval_budgets(group)


    def eval_budgets(self, group: str) -> None:
        """An eval run's own figures (``mlspec eval`` pushes one gauge per budget) against
        ``llm.budgets``: the release candidate's cost, tokens and latency, before any traffic."""
        llm = self.plan.llm
        assert llm is not None
        if not llm.evals:
            return
        units = {"max_tokens_per_request": (llm.max_tokens_per_request, " tokens"),
                 "latency_p95_ms": (llm.latency_p95_ms, " ms"),
                 "cost_per_1k_requests_usd": (llm.cost_per_1k_requests_usd, " USD per 1000 requests")}
        for budget, (bound, unit) in units.items():
            if bound is None:
                continue
            t = float(bound)
            labels = (*self.p, ("budget", budget))
            series = (*labels, ("eval", llm.evals[0].name))
            self.rules.alerts.append(Alert(
                "MlspecLlmEvalOverBudget", group, f"{selector(M.LLM_EVAL_BUDGET.name, eq(labels))} > {num(t)}", 0,
                BUDGET_SEVERITY, "budget",
                ("An LLM eval of ", User(self.project), " is over its ", Label("budget"), " budget"),
                ("Eval ", Label("eval"), " measured ", Value("g4"), unit, "; the budget is ", num(t), unit, "."),
                # The tests' series carry an eval label, as every pushed series does.
                GaugeProbe(M.LLM_EVAL_BUDGET.name, series, ">", t, fire=above(t), quiet=below(t)),
                labels=(("budget", budget),), alert_labels=series))


def build_rules(plan: Plan, options: PrometheusOptions) -> Rules:
    """Every alert and recording rule of the plan, in emission order."""
    return _Builder(plan, options).build()


def rules_path(project: str) -> str:
    return f"{RULES_DIR}/{project}.rules.yml"


def rules_document(rules: Rules, options: PrometheusOptions) -> dict[str, Any]:
    groups = []
    for name in rules.groups:
        entries: list[dict[str, Any]] = []
        for r in rules.records:
            if r.group == name:
                # Recording rule labels are not templates: the value is stored as written.
                entries.append({"record": r.record, "expr": r.expr, "labels": {"project": r.project}})
        for a in rules.alerts:
            if a.group != name:
                continue
            entry: dict[str, Any] = {"alert": a.name, "expr": a.expr}
            if a.for_seconds:
                entry["for"] = dur(a.for_seconds)
            entry["labels"] = {k: go_text(v) for k, v in a.rule_labels(rules.project).items()}
            entry["annotations"] = {
                "summary": template(a.summary),
                "description": template(a.description),
                "runbook_url": go_text(runbook_url(options, rules.project, a.name)),
            }
            entries.append(entry)
        groups.append({"name": name, "rules": entries})
    return {"groups": groups}


