"""The `grafana` target: one classic Grafana dashboard per project.

``monitoring/grafana/<project>.dashboard.json`` (schemaVersion 39, provisioning form)
shows what the runtime pushes and the server exports, against the spec's bounds: drift
per column with its threshold, drift detected, live performance, custom checks, data age, schema
violations, gates, pipeline runs, serving latency and errors, and LLM cost, tokens and
latency. Every query selects ``project="<name>"`` and reads the data source from the
``datasource`` variable.

Built as Python data and dumped with :func:`json_dump`. Queries are built by
:mod:`mlspec.targets.toolkit.promql`, the same selectors and expressions the Prometheus rules
evaluate; label values go through :func:`promql_string` with ``$`` and ``[`` written as ``\\x24`` and ``\\x5b`` (Grafana would
otherwise expand ``$var`` and ``[[var]]`` inside the query); titles and descriptions through
:func:`html_text` with ``$`` and ``[`` as entities for the same reason. No text panels: user
text never renders as Markdown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field

from mlspec import metrics as M
from mlspec.output.artifacts import Artifact
from mlspec.compiler.plan import DriftCheck, Plan
from mlspec.targets import Target, TargetOptions
from mlspec.targets.toolkit import promql
from mlspec.targets.toolkit.promql import STATUS_LABEL, Matchers

DASHBOARD_DIR = "monitoring/grafana"
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
# Alert windows, so panels show what the alerts evaluate.
BUDGET_WINDOW = "1h"
_SEVERITY_COLOR = {"warning": "orange", "critical": "red"}

_LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")]


class GrafanaOptions(TargetOptions):
    """Options of the grafana target."""

    serving_labels: dict[_LabelName, str] | None = Field(
        None, max_length=20, description="Deprecated: set serving.metrics.labels, which the rules and the "
        "dashboard both read. When set, overrides it for the dashboard only.")
    time_from: Annotated[str, Field(pattern=r"^now-[1-9][0-9]{0,4}[mhdwy]$")] = Field(
        "now-7d", description="Default time range start.")
    refresh: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,4}[smhd]$")] = Field(
        "5m", description="Auto-refresh interval.")


# ============================================================================ encoding

def _string(s: str) -> str:
    """A PromQL string literal that Grafana's variable interpolation leaves alone."""
    from mlspec.output.encoders import promql_string

    # Grafana expands ``$var``, ``${var}`` and ``[[var]]`` anywhere in a query. ``$`` and ``[``
    # only appear as themselves in the JSON-style literal; ``\\x24`` and ``\\x5b`` are the same
    # characters to PromQL.
    return promql_string(s).replace("$", "\\x24").replace("[", "\\x5b")


def _text(s: str) -> str:
    """User text for a title or description: HTML-escaped, ``$`` and ``[`` as entities (no variable expansion)."""
    from mlspec.output.encoders import html_text

    return html_text(s).replace("$", "&#36;").replace("[", "&#91;")


def selector(metric: str, matchers: Sequence[tuple[str, str, str]]) -> str:
    return promql.selector(metric, matchers, literal=_string)


def dashboard_uid(project: str) -> str:
    """Stable across compilations and at most 40 characters (Grafana's limit)."""
    uid = f"mlspec-{project}"
    if len(uid) <= 40:
        return uid
    digest = hashlib.sha256(project.encode("utf-8")).hexdigest()[:8]
    return f"mlspec-{project[:23]}-{digest}"


def dashboard_path(project: str) -> str:
    return f"{DASHBOARD_DIR}/{project}.dashboard.json"


# ============================================================================ panels

def _steps(base: str, steps: Sequence[tuple[float, str]]) -> dict[str, Any]:
    return {"mode": "absolute",
            "steps": [{"color": base, "value": None}] + [{"color": c, "value": v} for v, c in steps]}


def _target(expr: str, legend: str | None = None, ref: str = "A") -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DATASOURCE, "refId": ref, "expr": expr}
    if legend is not None:
        t["legendFormat"] = legend
    return t


class _Layout:
    """Stable ids in emission order and a left-to-right, top-to-bottom grid of 24 columns."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_h = 0

    def _id(self) -> int:
        return len(self.panels) + 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"type": "row", "id": self._id(), "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel: dict[str, Any], w: int = 8, h: int = 8) -> None:
        if self.x + w > 24:
            self._newline()
        ordered = {"type": panel.pop("type"), "id": self._id(), "title": panel.pop("title"),
                   "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y}, **panel}
        self.panels.append(ordered)
        self.x += w
        self.row_h = max(self.row_h, h)


def _timeseries(title: str, description: str, targets: list[dict[str, Any]], *, unit: str | None = None,
                thresholds: dict[str, Any] | None = None, overrides: list[dict[str, Any]] | None = None,
                minimum: float | None = None, maximum: float | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {"custom": {"thresholdsStyle": {"mode": "line" if thresholds else "off"}}}
    if unit:
        defaults["unit"] = unit
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    defaults["thresholds"] = thresholds or _steps("green", [])
    return {"type": "timeseries", "title": title, "description": description, "datasource": DATASOURCE,
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "none"}},
            "targets": targets}


def _status(title: str, description: str, targets: list[dict[str, Any]], bad: int, labels: tuple[str, str]
            ) -> dict[str, Any]:
    """A state timeline of a 0/1 gauge: ``bad`` is red, the other value green."""
    good = 1 - bad
    mapping = {"type": "value", "options": {
        str(bad): {"text": labels[0], "color": "red", "index": 0},
        str(good): {"text": labels[1], "color": "green", "index": 1}}}
    return {"type": "state-timeline", "title": title, "description": description, "datasource": DATASOURCE,
            "fieldConfig": {"defaults": {"mappings": [mapping], "color": {"mode": "thresholds"},
                                         "thresholds": _steps("red" if bad == 0 else "green",
                                                              [(1, "green" if bad == 0 else "red")])},
                            "overrides": []},
            "options": {"showValue": "never", "mergeValues": True, "rowHeight": 0.9,
                        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False}},
            "targets": targets}


def _stat(title: str, description: str, targets: list[dict[str, Any]], *, thresholds: dict[str, Any],
          mappings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "stat", "title": title, "description": description, "datasource": DATASOURCE,
            "fieldConfig": {"defaults": {"mappings": mappings or [], "color": {"mode": "thresholds"},
                                         "thresholds": thresholds}, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
                        "justifyMode": "auto", "orientation": "auto"},
            "targets": targets}


class _Dashboard:
    def __init__(self, plan: Plan, options: GrafanaOptions) -> None:
        self.plan = plan
        self.options = options
        self.project = plan.project.name
        self.p = (("project", "=", self.project),)
        self.layout = _Layout()

    # ------------------------------------------------------------------ sections

    def drift(self) -> None:
        mon = self.plan.monitoring
        if not mon or not mon.drift:
            return
        self.layout.row("Data drift")
        groups: dict[tuple[str, str], list[DriftCheck]] = {}
        for check in mon.drift:
            groups.setdefault((check.column, check.method), []).append(check)
        between = (f" between data.{mon.reference} and data.{mon.current}"
                   if mon.reference and mon.current else "")
        for (column, method), checks in groups.items():
            is_test = checks[0].is_test
            metric = M.DRIFT_PVALUE.name if is_test else M.DRIFT_SCORE.name
            expr = selector(metric, (*self.p, ("column", "=", column), ("method", "=", method)))
            bounds = sorted({(c.threshold, c.severity) for c in checks})
            if is_test:
                # Low p-values are bad: below the lowest threshold is the most severe colour.
                colors = [_SEVERITY_COLOR[s] for _, s in bounds] + ["green"]
                thresholds = _steps(colors[0], [(t, colors[i + 1]) for i, (t, _) in enumerate(bounds)])
                what = f"p-value of the {method} test; drift below " + ", ".join(
                    f"{promql.num(t)} ({s})" for t, s in bounds)
            else:
                thresholds = _steps("green", [(t, _SEVERITY_COLOR[s]) for t, s in bounds])
                what = f"{method} drift score; drift above " + ", ".join(f"{promql.num(t)} ({s})" for t, s in bounds)
            self.layout.add(_timeseries(
                _text(f"Drift: {column} ({method})"),
                _text(f"Column {column!s}{between}: {what}. Metric {metric}."),
                [_target(expr, method)], thresholds=thresholds,
                minimum=0, maximum=1 if is_test else None))
        self.layout.add(_status(
            "Drift detected", _text(f"{M.DRIFT_DETECTED.name}: 1 when a column drifted past its threshold in the "
                                    "last check."),
            [_target(selector(M.DRIFT_DETECTED.name, self.p), "{{column}} ({{method}})")], bad=1,
            labels=("drift", "ok")), w=24, h=max(6, min(20, 2 + len(groups))))

    def performance(self) -> None:
        mon = self.plan.monitoring
        perf = mon.performance if mon else None
        gates = self.plan.gates
        if not perf and not gates:
            return
        self.layout.row("Model quality")
        if perf:
            steps: list[tuple[float, str]] = []
            base = "green"
            if perf.min is not None:
                base = "red"
                steps.append((perf.min, "green"))
            if perf.max is not None:
                steps.append((perf.max, "red"))
            bounds = " and ".join(x for x in (
                f"minimum {promql.num(perf.min)}" if perf.min is not None else "",
                f"maximum {promql.num(perf.max)}" if perf.max is not None else "") if x)
            truth = f" against data.{perf.labels}" if perf.labels else ""
            self.layout.add(_timeseries(
                _text(f"Live {perf.metric} vs bounds"),
                _text(f"{perf.metric} on labelled live data over {perf.window}{truth}; "
                      f"{bounds or 'no bounds'} ({perf.severity})."),
                [_target(selector(M.PERFORMANCE.name, (*self.p, ("metric", "=", perf.metric))), perf.metric)],
                thresholds=_steps(base, steps)), w=12)
        if gates:
            self.layout.add(_stat(
                "Gate values", _text(f"{M.GATE_VALUE.name}: the metric value each gate evaluated."),
                [_target(selector(M.GATE_VALUE.name, self.p), "{{gate}}")],
                thresholds=_steps("blue", [])), w=6)
            passed = {"type": "value", "options": {
                "0": {"text": "failed", "color": "red", "index": 0},
                "1": {"text": "passed", "color": "green", "index": 1}}}
            self.layout.add(_stat(
                "Gates passed", _text(f"{M.GATE_PASSED.name}: 1 when the gate passed, 0 when it failed."),
                [_target(selector(M.GATE_PASSED.name, self.p), "{{gate}}")],
                thresholds=_steps("red", [(1, "green")]), mappings=[passed]), w=6)

    def checks(self) -> None:
        mon = self.plan.monitoring
        if not mon or not mon.checks:
            return
        self.layout.row("Custom checks")
        for check in mon.checks:
            color = _SEVERITY_COLOR[check.severity]
            for b in check.bounds:
                steps: list[tuple[float, str]] = []
                base = "green"
                if b.min is not None:
                    base = color
                    steps.append((b.min, "green"))
                if b.max is not None:
                    steps.append((b.max, color))
                bounds = " and ".join(x for x in (
                    f"minimum {promql.num(b.min)}" if b.min is not None else "",
                    f"maximum {promql.num(b.max)}" if b.max is not None else "") if x)
                about = f" {check.description}." if check.description else ""
                why = f" Out of bounds: {b.description}." if b.description else ""
                expr = selector(M.CHECK_VALUE.name, (*self.p, ("check", "=", check.name), ("metric", "=", b.metric)))
                self.layout.add(_timeseries(
                    _text(f"Check {check.name}: {b.metric}"),
                    _text(f"{b.metric} from check {check.name} ({M.CHECK_VALUE.name});{about} {bounds}, raises "
                          f"{check.event} ({check.severity}).{why}"),
                    [_target(expr, b.metric)], thresholds=_steps(base, steps)), w=12)

    def data(self) -> None:
        fresh = [d for d in self.plan.data if d.freshness_seconds]
        checked = [n for n in self.plan.nodes + self.plan.monitor_nodes
                   if n.kind in ("data_check", "monitor_schema")]
        if not fresh and not checked:
            return
        self.layout.row("Data")
        if fresh:
            overrides = [{
                "matcher": {"id": "byName", "options": d.name},
                "properties": [{"id": "thresholds", "value": _steps("green", [(d.freshness_seconds or 0, "orange")])},
                               {"id": "custom.thresholdsStyle", "value": {"mode": "line"}}],
            } for d in fresh]
            self.layout.add(_timeseries(
                "Data age",
                _text("Seconds since the newest data of each source; stale beyond " + ", ".join(
                    f"{d.freshness} ({d.name})" for d in fresh) + "."),
                [_target(f"time() - {selector(M.DATA_LAST_UPDATED.name, self.p)}", "{{source}}")],
                unit="s", overrides=overrides, minimum=0), w=12)
        if checked:
            self.layout.add(_timeseries(
                "Schema violations",
                _text(f"{M.SCHEMA_VIOLATIONS.name}: values breaking the column contract in the last check."),
                [_target(selector(M.SCHEMA_VIOLATIONS.name, self.p), "{{source}}")],
                thresholds=_steps("green", [(1, "red")]), minimum=0), w=12)

    def pipeline(self) -> None:
        nodes = self.plan.nodes + self.plan.monitor_nodes
        if not nodes:
            return
        self.layout.row("Pipeline")
        self.layout.add(_status(
            "Pipeline run success", _text(f"{M.RUN_SUCCESS.name}: 1 when the node's last run succeeded."),
            [_target(selector(M.RUN_SUCCESS.name, self.p), "{{node}}")], bad=0, labels=("failed", "ok")),
            w=16, h=max(6, min(20, 2 + len(nodes))))
        self.layout.add(_timeseries(
            "Time since last run", _text(f"Seconds since each node last finished ({M.RUN_TIMESTAMP.name})."),
            [_target(f"time() - {selector(M.RUN_TIMESTAMP.name, self.p)}", "{{node}}")], unit="s", minimum=0),
            w=8, h=max(6, min(20, 2 + len(nodes))))

    def serving_matchers(self) -> Matchers:
        assert self.plan.serving is not None
        return promql.eq(promql.serving_labels(self.plan.serving, self.options.serving_labels))

    def serving(self) -> None:
        sv = self.plan.serving
        if not sv or sv.mode != "online":
            return
        self.layout.row("Serving")
        sel = self.serving_matchers()
        slo = sv.slo
        bucket = sv.latency_histogram + "_bucket"
        latency = promql.p95(bucket, sel, RATE, literal=_string)
        bound = slo.latency_p95_ms / 1000 if slo and slo.latency_p95_ms is not None else None
        self.layout.add(_timeseries(
            "Serving latency p95",
            _text(f"95th percentile of {sv.latency_histogram}" + (f"; SLO {promql.num(bound)} s." if bound else ".")),
            [_target(latency, "p95")], unit="s", minimum=0,
            thresholds=_steps("green", [(bound, "red")]) if bound is not None else None))
        ratio = promql.error_ratio(sv.requests_total, sel, RATE, literal=_string)
        limit = slo.error_rate if slo else None
        self.layout.add(_timeseries(
            "Serving error rate",
            _text(f"Share of {sv.requests_total} with a 5xx {STATUS_LABEL}"
                  + (f"; SLO {promql.num(limit)}." if limit is not None else ".")),
            [_target(ratio, "errors")], unit="percentunit", minimum=0,
            thresholds=_steps("green", [(limit, "red")]) if limit is not None else None))
        self.layout.add(_timeseries(
            "Serving requests", _text(f"Requests per second by {STATUS_LABEL} ({sv.requests_total})."),
            [_target(f"sum by ({STATUS_LABEL}) (rate({selector(sv.requests_total, sel)}[{RATE}]))",
                     "{{" + STATUS_LABEL + "}}")], unit="reqps", minimum=0))

    def llm(self) -> None:
        llm = self.plan.llm
        if not llm:
            return
        self.layout.row("LLM")
        cost = llm.cost_per_1k_requests_usd
        self.layout.add(_timeseries(
            "LLM cost per 1000 requests",
            _text(f"Spend on {llm.provider} {llm.model} per 1000 requests over {BUDGET_WINDOW}"
                  + (f"; budget {promql.num(cost)} USD." if cost is not None else ".")),
            [_target(promql.per_request(M.LLM_COST.name, M.LLM_REQUESTS.name, self.p, BUDGET_WINDOW, 1000,
                                        literal=_string), "per 1000 requests")],
            unit="currencyUSD", minimum=0,
            thresholds=_steps("green", [(cost, "orange")]) if cost is not None else None))
        self.layout.add(_timeseries(
            "LLM spend per hour", _text(f"US dollars spent on {llm.provider} {llm.model} in the last hour."),
            [_target(f"sum(increase({selector(M.LLM_COST.name, self.p)}[1h]))", "USD per hour")],
            unit="currencyUSD", minimum=0))
        tokens = llm.max_tokens_per_request
        self.layout.add(_timeseries(
            "LLM tokens per request",
            _text(f"Average tokens (input and output) per request over {BUDGET_WINDOW}"
                  + (f"; budget {tokens}." if tokens is not None else ".")),
            [_target(promql.per_request(M.LLM_TOKENS.name, M.LLM_REQUESTS.name, self.p, BUDGET_WINDOW,
                                        literal=_string), "per request")],
            minimum=0, thresholds=_steps("green", [(tokens, "orange")]) if tokens is not None else None))
        self.layout.add(_timeseries(
            "LLM tokens per second", _text("Tokens per second by kind (input, output)."),
            [_target(f"sum by (kind) (rate({selector(M.LLM_TOKENS.name, self.p)}[{RATE}]))", "{{kind}}")],
            minimum=0), w=12)
        bound = llm.latency_p95_ms / 1000 if llm.latency_p95_ms is not None else None
        bucket = M.LLM_LATENCY.name + "_bucket"
        self.layout.add(_timeseries(
            "LLM latency p95",
            _text(f"95th percentile latency of requests to {llm.provider} {llm.model}"
                  + (f"; budget {promql.num(bound)} s." if bound is not None else ".")),
            [_target(promql.p95(bucket, self.p, RATE, literal=_string), "p95")],
            unit="s", minimum=0, thresholds=_steps("green", [(bound, "orange")]) if bound is not None else None),
            w=12)

    # ------------------------------------------------------------------ the dashboard

    def build(self) -> dict[str, Any]:
        self.drift()
        self.performance()
        self.checks()
        self.data()
        self.pipeline()
        self.serving()
        self.llm()
        plan = self.plan
        return {
            "uid": dashboard_uid(self.project),
            "title": _text(f"{self.project} (mlspec)"),
            "description": _text(f"Generated by mlspec from {plan.source} (sha256 {plan.spec_sha256[:12]}); "
                                 "do not edit: change the spec and compile again."),
            "tags": ["mlspec", _text(self.project)],
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "time": {"from": self.options.time_from, "to": "now"},
            "refresh": self.options.refresh,
            "templating": {"list": [{
                "name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
                "hide": 0, "refresh": 1, "regex": "", "includeAll": False, "multi": False, "options": [],
            }]},
            "annotations": {"list": []},
            "links": [],
            "panels": self.layout.panels,
        }


class GrafanaTarget(Target):
    name = "grafana"
    description = "A Grafana dashboard of the project's drift, quality, data, pipeline, serving and LLM metrics."
    options_model = GrafanaOptions

    def emit(self, plan: Plan) -> list[Artifact]:
        from mlspec.output.encoders import json_dump

        options: GrafanaOptions = self.options
        dashboard = _Dashboard(plan, options).build()
        if not dashboard["panels"]:
            return []
        return [Artifact(dashboard_path(plan.project.name), json_dump(dashboard), self.name, "grafana-dashboard",
                         comment=None)]
