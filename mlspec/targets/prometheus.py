"""The `prometheus` target: alerting and recording rules, their promtool unit tests,
an Alertmanager routing config and a runbook.

Emitted, per project (``<p>`` = ``project.name``):

* ``monitoring/prometheus/<p>.rules.yml`` — alerts for data drift, concept drift, data
  freshness, schema violations, pipeline failures, serving SLOs and LLM budgets, plus the
  recording rules the SLO and budget alerts read.
* ``monitoring/prometheus/<p>.rules.test.yml`` — ``promtool test rules`` cases generated
  from the same thresholds: for every alert, series that fire it (exact labels and
  annotations after ``for:``, and still pending before) and series that keep it quiet.
* ``monitoring/prometheus/<p>.runbook.md`` — what each alert means and what to do; every
  alert's ``runbook_url`` points at its section.
* ``monitoring/alertmanager/<p>.yml`` — routes per ``monitoring.alerts`` entry (channel,
  events, lowest severity), when there are any. Secrets come from files only.

Every rule and test is built as Python data and dumped with :func:`yaml_dump`. PromQL
label values go through :func:`promql_string`, metric and label names through
:func:`promql_name`. Prometheus executes annotations and labels (and Alertmanager its
notifier fields) as Go templates: user text never sits next to template actions, and any
user text holding a brace is emitted as a Go string constant (``{{ "..." }}``), which
prints it verbatim. Series values (column names, sources) reach annotations only through
``{{ $labels.x }}``, which prints data and never executes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import Field

from mlspec import diagnostics as dx
from mlspec import metrics as M
from mlspec.events import EVENT_NAMES
from mlspec.output.artifacts import Artifact
from mlspec.diagnostics import Diagnostic, Severity
from mlspec.compiler.plan import DriftCheck, Plan
from mlspec.targets import Target, TargetOptions

RULES_DIR = "monitoring/prometheus"
ALERTMANAGER_DIR = "monitoring/alertmanager"

# Events an alert is routed by (SPEC §3 monitoring.alerts[].on).
SEVERITIES = ("warning", "critical")
# Severities of alerts the spec does not give one for.
FRESHNESS_SEVERITY = "warning"
SCHEMA_SEVERITY = "warning"
PIPELINE_FAILURE_SEVERITY = "critical"
STALENESS_SEVERITY = "warning"
SLO_SEVERITY = "critical"
BUDGET_SEVERITY = "warning"

# The requests counter must carry the HTTP status code in this label (ServingMetrics doc).
STATUS_LABEL = "status"
SERVER_ERROR_REGEX = "5.."

_LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")]
_HttpsPrefix = Annotated[str, Field(pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/#-]*)?$",
                                    max_length=500)]
_AbsDir = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._/-]{0,300}$")]
_HostPort = Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$")]
_Mailbox = Annotated[str, Field(pattern=r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}$")]


class PrometheusOptions(TargetOptions):
    """Options of the prometheus target."""

    alertmanager: bool = Field(True, description="Emit an Alertmanager config routing monitoring.alerts.")
    runbook_url: _HttpsPrefix | None = Field(
        None, description="https URL under which the output folder is browsable (e.g. "
        "'https://github.com/example/churn/blob/main/'); alerts link to the generated runbook "
        "there. Default: the runbook's path relative to the output folder.")
    serving_labels: dict[_LabelName, str] | None = Field(
        None, max_length=20, description="Deprecated: set serving.metrics.labels, which the rules and the "
        "dashboard both read. When set, overrides it for the rules only.")
    serving_target: _HostPort | None = Field(
        None, description="host:port Prometheus scrapes the server at, in the generated scrape config "
        "(default: <project>:<serving.port>, the Kubernetes Service name).")
    secrets_dir: _AbsDir = Field(
        "/etc/alertmanager/secrets", description="Folder on the Alertmanager host holding the "
        "secret files (Slack webhook URL, PagerDuty routing keys, SMTP password).")
    smtp_smarthost: _HostPort = Field("localhost:25", description="SMTP server for email alerts.")
    smtp_from: _Mailbox = Field("alertmanager@localhost", description="Sender of email alerts.")
    smtp_auth_username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._%+@-]{1,200}$")] | None = Field(
        None, description="SMTP user; its password is read from <secrets_dir>/smtp_password.")


# ============================================================================ Go templates

def _go_text(s: str) -> str:
    """User text for a Go-template field: verbatim, or a string constant when it holds a brace.

    ``{{ "..." }}`` prints the constant as is; JSON escapes are a subset of Go's and
    ``ensure_ascii=False`` keeps non-BMP characters whole.
    """
    if "{" in s or "}" in s:
        return "{{ " + json.dumps(s, ensure_ascii=False) + " }}"
    return s


@dataclass(frozen=True)
class _User:
    """User-derived text: encoded by :func:`_go_text`, expands to itself."""

    text: str


@dataclass(frozen=True)
class _Label:
    """``{{ $labels.NAME }}``: a label value of the alerting series."""

    name: str


@dataclass(frozen=True)
class _Value:
    """``$value`` printed one of a few ways whose Go output Python reproduces exactly."""

    style: Literal["g4", "pct", "duration", "int"]


_Part = str | _User | _Label | _Value
_GO_VALUE = {
    "g4": '{{ printf "%.4g" $value }}',
    "pct": "{{ humanizePercentage $value }}",
    "duration": "{{ humanizeDuration $value }}",
    "int": '{{ printf "%.0f" $value }}',
}


def _template(parts: Sequence[_Part]) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            if "{" in part or "}" in part:  # pragma: no cover - a bug in this module
                raise ValueError(f"static annotation text must not hold braces: {part!r}")
            out.append(part)
        elif isinstance(part, _User):
            out.append(_go_text(part.text))
        elif isinstance(part, _Label):
            out.append("{{ $labels." + _name(part.name, label=True) + " }}")
        else:
            out.append(_GO_VALUE[part.style])
    return "".join(out)


def _humanize_duration(v: float) -> str:
    """Prometheus' ``humanizeDuration`` for |v| >= 1 (what the tests produce)."""
    if abs(v) < 1:  # pragma: no cover - generated tests never get here
        raise ValueError("only durations of at least a second are reproduced")
    sign = "-" if v < 0 else ""
    v = abs(v)
    total = int(v)
    seconds, minutes, hours, days = total % 60, total // 60 % 60, total // 3600 % 24, total // 86400
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{sign}{minutes}m {seconds}s"
    return f"{sign}{v:.4g}s"


def _expand(parts: Sequence[_Part], labels: dict[str, str], value: float) -> str:
    """What Prometheus prints for ``_template(parts)`` (Go's %g equals C's for a given precision)."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, _User):
            out.append(part.text)
        elif isinstance(part, _Label):
            out.append(labels.get(part.name, "<no value>"))
        elif part.style == "g4":
            out.append(f"{value:.4g}")
        elif part.style == "pct":
            out.append(f"{value * 100:.4g}%")
        elif part.style == "duration":
            out.append(_humanize_duration(value))
        else:
            out.append(f"{value:.0f}")
    return "".join(out)


# ============================================================================ PromQL text

def _name(s: str, *, label: bool = False) -> str:
    from mlspec.output.encoders import promql_name

    return promql_name(s, label=label)


def _string(s: str) -> str:
    from mlspec.output.encoders import promql_string

    return promql_string(s)


def _num(x: float) -> str:
    """A number as PromQL and people read it; ``float(_num(x)) == x``."""
    if isinstance(x, bool):  # pragma: no cover - a bug in this module
        raise TypeError("bool is not a number here")
    if isinstance(x, int):
        return str(x)
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _pct_text(x: float) -> str:
    return f"{x * 100:.4g}%"


def _dur(seconds: int) -> str:
    """A Prometheus duration: ``90s``, ``5m``, ``1h``, ``7d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Matchers = tuple[tuple[str, str, str], ...]   # (label, op, value)


def selector(metric: str, matchers: Matchers) -> str:
    """``metric{label="value", ...}`` with every name whitelisted and every value a string literal."""
    inner = ", ".join(f"{_name(k, label=True)}{op}{_string(v)}" for k, op, v in matchers)
    return f"{_name(metric)}{{{inner}}}"


def _eq(labels: Sequence[tuple[str, str]]) -> Matchers:
    return tuple((k, "=", v) for k, v in labels)


# ============================================================================ the rule model

@dataclass(frozen=True)
class _GaugeProbe:
    """An alert of the form ``<gauge selector> OP threshold``: the tests set the gauge."""

    metric: str
    labels: tuple[tuple[str, str], ...]       # the series' labels: the matchers plus test-only ones
    op: Literal[">", "<", "=="]
    threshold: float
    fire: float
    quiet: float
    window_seconds: int = 0

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.metric, self.labels)

    def fires(self, v: float) -> bool:
        return v > self.threshold if self.op == ">" else v < self.threshold if self.op == "<" else v == self.threshold

    def series(self, value: float, points: int) -> list[tuple[str, str]]:
        return [(selector(self.metric, _eq(self.labels)), f"{_num(value)}+0x{points}")]

    def value(self, v: float) -> float:
        return v


@dataclass(frozen=True)
class _AgeProbe:
    """``time() - <timestamp gauge> > bound``: the timestamp advances with time, the age stays put."""

    metric: str
    labels: tuple[tuple[str, str], ...]
    threshold: float
    fire: float
    quiet: float
    op: Literal[">"] = ">"
    window_seconds: int = 0
    step_seconds: int = 60

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.metric, self.labels)

    def fires(self, v: float) -> bool:
        return v > self.threshold

    def series(self, age: float, points: int) -> list[tuple[str, str]]:
        return [(selector(self.metric, _eq(self.labels)), f"{_num(-age)}+{self.step_seconds}x{points}")]

    def value(self, v: float) -> float:
        return v


@dataclass(frozen=True)
class _SeriesProbe:
    """A computed expression (ratio, quantile): each case builds its own input series."""

    key: tuple[Any, ...]
    build: Callable[[float, int], list[tuple[str, str]]]
    threshold: float
    op: Literal[">", "<"]
    fire: float | None             # the ideal value of the expression in each case; None: no case
    quiet: float | None
    window_seconds: int = 0

    def fires(self, v: float) -> bool:
        return v > self.threshold if self.op == ">" else v < self.threshold

    def series(self, value: float, points: int) -> list[tuple[str, str]]:
        return self.build(value, points)

    def value(self, v: float) -> float:
        return v


@dataclass(frozen=True)
class _AbsentProbe:
    """``absent(<selector>)``: fires (value 1) while the series does not exist at all."""

    metric: str
    labels: tuple[tuple[str, str], ...]
    threshold: float = 0.5
    fire: float = 1.0
    quiet: float = 0.0
    op: Literal[">"] = ">"
    window_seconds: int = 0

    @property
    def key(self) -> tuple[Any, ...]:
        return ("absent", self.metric, self.labels)

    def fires(self, v: float) -> bool:
        return v > self.threshold

    def series(self, value: float, points: int) -> list[tuple[str, str]]:
        # Firing: only another node's series exists; quiet: the watched one does.
        other = tuple((k, v if k != "node" else v + "-other") for k, v in self.labels)
        return [(selector(self.metric, _eq(self.labels if not self.fires(value) else other)), f"1+0x{points}")]

    def value(self, v: float) -> float:
        return v


_Probe = _GaugeProbe | _AgeProbe | _SeriesProbe | _AbsentProbe


@dataclass(frozen=True)
class _Alert:
    name: str
    group: str
    expr: str
    for_seconds: int
    severity: str
    event: str
    summary: tuple[_Part, ...]
    description: tuple[_Part, ...]
    probe: _Probe
    # Extra static labels: they tell rules of one alert apart (promtool's duplicate-rules lint)
    # and may hold user text, encoded by _go_text because Prometheus expands labels as templates.
    labels: tuple[tuple[str, str], ...] = ()
    alert_labels: tuple[tuple[str, str], ...] = ()  # labels the expression's result carries

    def rule_labels(self, project: str) -> dict[str, str]:
        return {"project": project, "event": self.event, "severity": self.severity, **dict(self.labels)}


@dataclass(frozen=True)
class _Record:
    record: str
    group: str
    expr: str
    project: str


@dataclass
class _Rules:
    """Everything the rules file, its tests and the runbook are made from."""

    project: str
    records: list[_Record] = field(default_factory=list)
    alerts: list[_Alert] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


# ============================================================================ values for tests

def _nice(x: float) -> float:
    """``x`` rounded to two significant digits, so '%.4g' of a computed value is stable."""
    return float(f"{x:.2g}")


def _stable(v: float) -> bool:
    return all(f"{v * f:.4g}" == f"{v:.4g}" and f"{v * f * 100:.4g}" == f"{v * 100:.4g}"
               for f in (1 - 1e-9, 1 + 1e-9))


def _above(t: float) -> float:
    v = _nice(2 * t) if t > 0 else 1.0
    return v if v > t and _stable(v) else 2 * t + 1


def _below(t: float) -> float:
    v = _nice(t / 2) if t > 0 else 0.0
    return v if v < t and (v == 0 or _stable(v)) else t / 2


def _bound_delta(t: float) -> float:
    return abs(t) / 10 if t else 1.0


# ============================================================================ building the rules

class _Builder:
    def __init__(self, plan: Plan, options: PrometheusOptions) -> None:
        self.plan = plan
        self.options = options
        self.project = plan.project.name
        self.rules = _Rules(self.project)
        self.p = (("project", plan.project.name),)

    def group(self, area: str) -> str:
        name = f"mlspec-{self.project}-{area}"
        if name not in self.rules.groups:
            self.rules.groups.append(name)
        return name

    def build(self) -> _Rules:
        self.data_drift()
        self.concept_drift()
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
                probe = _GaugeProbe(metric, labels, op, t, fire=t / 10, quiet=min(1.0, t * 5))
                description = ("The ", _Label("method"), " p-value is ", _Value("g4"), ", below ", _num(t),
                               ": the distributions differ.")
            else:
                metric, op = M.DRIFT_SCORE.name, ">"
                probe = _GaugeProbe(metric, labels, op, t, fire=t * 2, quiet=t / 2)
                description = ("The ", _Label("method"), " drift score is ", _Value("g4"), ", above ", _num(t), ".")
            self.rules.alerts.append(_Alert(
                "MlspecDataDrift", group, f"{selector(metric, _eq(labels))} {op} {_num(t)}", 300,
                check.severity, "data_drift",
                ("Data drift in column ", _Label("column"), " (", _Label("method"), ") of ",
                 _User(self.project)), description, probe,
                labels=(("column", check.column), ("method", check.method)), alert_labels=labels))

    def concept_drift(self) -> None:
        mon = self.plan.monitoring
        perf = mon.performance if mon else None
        if not perf or (perf.min is None and perf.max is None):
            return
        group = self.group("data")
        labels = (*self.p, ("metric", perf.metric))
        sel = selector(M.PERFORMANCE.name, _eq(labels))
        truth = [" (ground truth: data.", _User(perf.labels), ")"] if perf.labels else []
        for bound, op, t in (("min", "<", perf.min), ("max", ">", perf.max)):
            if t is None:
                continue
            d = _bound_delta(t)
            fire, quiet = (t - d, t + d) if op == "<" else (t + d, t - d)
            word = "below the minimum" if op == "<" else "above the maximum"
            self.rules.alerts.append(_Alert(
                "MlspecConceptDrift", group, f"{sel} {op} {_num(t)}", 300, perf.severity, "concept_drift",
                ("Live ", _User(perf.metric), " of ", _User(self.project), " is ", word, " ", _num(t)),
                ("Live ", _User(perf.metric), " over ", _User(perf.window), " is ", _Value("g4"), ", ", word,
                 " ", _num(t), *truth, "."),
                _GaugeProbe(M.PERFORMANCE.name, labels, op, t, fire, quiet),
                labels=(("bound", bound),), alert_labels=labels))

    def freshness(self) -> None:
        sources = [d for d in self.plan.data if d.freshness_seconds]
        if not sources:
            return
        group = self.group("data")
        for src in sources:
            labels = (*self.p, ("source", src.name))
            f = src.freshness_seconds
            assert f is not None
            self.rules.alerts.append(_Alert(
                "MlspecDataStale", group,
                f"time() - {selector(M.DATA_LAST_UPDATED.name, _eq(labels))} > {_num(f)}", 600,
                FRESHNESS_SEVERITY, "freshness",
                ("Data source ", _User(src.name), " of ", _User(self.project), " is stale"),
                ("The newest data in ", _User(src.name), " is ", _Value("duration"), " old; it may be at most ",
                 _User(src.freshness or _dur(f)), " old."),
                _AgeProbe(M.DATA_LAST_UPDATED.name, labels, f, fire=2 * f, quiet=f / 2),
                labels=(("source", src.name),), alert_labels=labels))

    def schema(self) -> None:
        checked = [n for n in self.plan.nodes + self.plan.monitor_nodes if n.kind in ("data_check", "monitor_schema")]
        if not checked:
            return
        mon = self.plan.monitoring
        source = (mon.current if mon and mon.current else None) or (checked[0].data[0] if checked[0].data else "data")
        series = (*self.p, ("source", source))
        self.rules.alerts.append(_Alert(
            "MlspecSchemaViolations", self.group("data"),
            f"{selector(M.SCHEMA_VIOLATIONS.name, _eq(self.p))} > 0", 300,
            SCHEMA_SEVERITY, "pipeline_drift",
            ("Schema violations in ", _Label("source"), " (", _User(self.project), ")"),
            (_Value("int"), " values in ", _Label("source"),
             " broke its column contract in the last check."),
            _GaugeProbe(M.SCHEMA_VIOLATIONS.name, series, ">", 0, fire=3, quiet=0),
            alert_labels=series))

    def pipeline(self) -> None:
        nodes = self.plan.nodes + self.plan.monitor_nodes
        if not nodes:
            return
        series = (*self.p, ("node", nodes[0].id))
        self.rules.alerts.append(_Alert(
            "MlspecPipelineFailed", self.group("pipeline"),
            f"{selector(M.RUN_SUCCESS.name, _eq(self.p))} == 0", 0,
            PIPELINE_FAILURE_SEVERITY, "pipeline_failure",
            ("Node ", _Label("node"), " of ", _User(self.project), " failed"),
            ("The last run of node ", _Label("node"), " reported failure (",
             M.RUN_SUCCESS.name, " is 0)."),
            _GaugeProbe(M.RUN_SUCCESS.name, series, "==", 0, fire=0, quiet=1),
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
            self.rules.alerts.append(_Alert(
                "MlspecMonitoringStale", group,
                f"time() - {selector(M.RUN_TIMESTAMP.name, _eq(labels))} > {_num(bound)}", 300,
                STALENESS_SEVERITY, "pipeline_failure",
                ("Monitoring of ", _User(self.project), " has not run on schedule"),
                ("The last monitoring run finished ", _Value("duration"), " ago; the schedule ",
                 _User(mon.schedule_text), " runs at least every ", _dur(mon.period_seconds), "."),
                _AgeProbe(M.RUN_TIMESTAMP.name, labels, bound, fire=2 * bound, quiet=bound / 2),
                labels=(("node", "monitoring"),), alert_labels=labels))
            self.rules.alerts.append(_Alert(
                "MlspecRunsMissing", group, f"absent({selector(M.RUN_TIMESTAMP.name, _eq(labels))})", bound,
                STALENESS_SEVERITY, "pipeline_failure",
                ("No monitoring run of ", _User(self.project), " has been reported"),
                ("No monitoring run reported for ", _dur(bound), ": no metrics destination, or the series "
                 "was deleted."),
                _AbsentProbe(M.RUN_TIMESTAMP.name, labels),
                labels=(("node", "monitoring"),), alert_labels=labels))
        if retrain is not None and retrain.period_seconds and self.plan.nodes:
            labels = (*self.p, ("node", "pipeline"))
            bound = 2 * retrain.period_seconds
            self.rules.alerts.append(_Alert(
                "MlspecTrainingStale", group,
                f"time() - {selector(M.RUN_LAST_SUCCESS.name, _eq(labels))} > {_num(bound)}", 300,
                STALENESS_SEVERITY, "pipeline_failure",
                ("Training of ", _User(self.project), " has not succeeded on schedule"),
                ("The training pipeline last succeeded ", _Value("duration"), " ago; the schedule ",
                 _User(retrain.schedule_text or ""), " runs at least every ", _dur(retrain.period_seconds), "."),
                _AgeProbe(M.RUN_LAST_SUCCESS.name, labels, bound, fire=2 * bound, quiet=bound / 2),
                labels=(("node", "pipeline"),), alert_labels=labels))

    # ------------------------------------------------------------------ serving SLOs

    def serving_matchers(self) -> Matchers:
        labels = self.options.serving_labels      # deprecated override of serving.metrics.labels
        assert self.plan.serving is not None
        return _eq(sorted(labels.items()) if labels is not None else self.plan.serving.selector)

    def record(self, name: str, group: str, expr: str) -> str:
        self.rules.records.append(_Record(name, group, expr, self.project))
        return f"{name}{{project={_string(self.project)}}}"

    def serving(self) -> None:
        sv = self.plan.serving
        if not sv or sv.mode != "online" or not sv.slo:
            return
        slo = sv.slo
        group = self.group("serving")
        sel = self.serving_matchers()
        series_labels = tuple((k, v) for k, _, v in sel)
        requests = _name(sv.requests_total)
        if slo.latency_p95_ms is not None:
            bucket = _name(sv.latency_histogram + "_bucket")
            bound = slo.latency_p95_ms / 1000
            rec = self.record(
                "project:mlspec_serving_latency_seconds:p95_rate5m", group,
                f"histogram_quantile(0.95, sum by (le) (rate({selector(bucket, sel)}[5m])))")
            self.rules.alerts.append(_Alert(
                "MlspecServingLatencyHigh", group, f"{rec} > {_num(bound)}", 600, SLO_SEVERITY, "slo",
                ("p95 latency of ", _User(self.project), " is above ", _num(slo.latency_p95_ms), " ms"),
                ("The 95th percentile of ", _User(sv.latency_histogram), " over 5m is ", _Value("g4"),
                 " s; the SLO is ", _num(bound), " s."),
                _SeriesProbe(("latency",), _histogram_series(bucket, series_labels), bound, ">",
                             _above(bound), _below(bound), 300),
                alert_labels=self.p))
        ratio = None
        if slo.error_rate is not None and slo.error_rate < 1:
            t = slo.error_rate
            ratio = (f"sum(rate({selector(requests, (*sel, (STATUS_LABEL, '=~', SERVER_ERROR_REGEX)))}[5m]))"
                     f" / sum(rate({selector(requests, sel)}[5m]))")
            rec = self.record("project:mlspec_serving_error_ratio:rate5m", group, ratio)
            self.rules.alerts.append(_Alert(
                "MlspecServingErrorRateHigh", group, f"{rec} > {_num(t)}", 600, SLO_SEVERITY, "slo",
                ("Error rate of ", _User(self.project), " is above ", _pct_text(t)),
                ("", _Value("pct"), " of requests (", _User(sv.requests_total),
                 ") failed with a 5xx status over 5m; the SLO allows ", _pct_text(t), "."),
                _SeriesProbe(("errors",), _requests_series(requests, series_labels), t, ">",
                             min(_above(t), 1.0), _below(t), 300),
                alert_labels=self.p))
        if slo.availability is not None:
            a = slo.availability
            ratio_1h = (f"sum(rate({selector(requests, (*sel, (STATUS_LABEL, '=~', SERVER_ERROR_REGEX)))}[1h]))"
                        f" / sum(rate({selector(requests, sel)}[1h]))")
            rec = self.record("project:mlspec_serving_availability:ratio_rate1h", group, f"1 - ({ratio_1h})")
            allowed = 1 - a
            fire_errors = min(_above(allowed), 1.0) if allowed > 0 else 0.5
            self.rules.alerts.append(_Alert(
                "MlspecServingAvailabilityLow", group, f"{rec} < {_num(a)}", 900, SLO_SEVERITY, "slo",
                ("Availability of ", _User(self.project), " is below ", _pct_text(a)),
                ("", _Value("pct"), " of requests (", _User(sv.requests_total),
                 ") succeeded over 1h; the SLO is ", _pct_text(a), "."),
                _SeriesProbe(("availability",), _requests_series(requests, series_labels, invert=True), a, "<",
                             1 - fire_errors, 1 - _below(allowed), 3600),
                alert_labels=self.p))

    # ------------------------------------------------------------------ LLM budgets

    def llm(self) -> None:
        llm = self.plan.llm
        if not llm:
            return
        group = self.group("llm")
        sel = _eq(self.p)
        req = f"sum(rate({selector(M.LLM_REQUESTS.name, sel)}[1h]))"
        if llm.cost_per_1k_requests_usd is not None:
            t = llm.cost_per_1k_requests_usd
            rec = self.record("project:mlspec_llm_cost_per_1k_requests_usd:rate1h", group,
                              f"1000 * sum(rate({selector(M.LLM_COST.name, sel)}[1h])) / {req}")
            self.rules.alerts.append(_Alert(
                "MlspecLlmCostOverBudget", group, f"{rec} > {_num(t)}", 900, BUDGET_SEVERITY, "budget",
                ("LLM spend of ", _User(self.project), " is above ", _num(t), " USD per 1000 requests"),
                ("Requests to ", _User(llm.provider), " ", _User(llm.model), " cost ", _Value("g4"),
                 " USD per 1000 over 1h; the budget is ", _num(t), " USD."),
                _SeriesProbe(("cost",), _per_request_series(M.LLM_COST.name, self.p, 1000), t, ">",
                             _above(t), _below(t), 3600),
                alert_labels=self.p))
        if llm.max_tokens_per_request is not None:
            t = llm.max_tokens_per_request
            rec = self.record("project:mlspec_llm_tokens_per_request:rate1h", group,
                              f"sum(rate({selector(M.LLM_TOKENS.name, sel)}[1h])) / {req}")
            self.rules.alerts.append(_Alert(
                "MlspecLlmTokensOverBudget", group, f"{rec} > {_num(t)}", 900, BUDGET_SEVERITY, "budget",
                ("LLM tokens per request of ", _User(self.project), " are above ", _num(t)),
                ("Requests used ", _Value("g4"), " tokens on average over 1h (input and output); the budget is ",
                 _num(t), " per request."),
                _SeriesProbe(("tokens",), _per_request_series(M.LLM_TOKENS.name, self.p, 1, (("kind", "input"),)),
                             t, ">", _above(t), _below(t), 3600),
                alert_labels=self.p))
        if llm.latency_p95_ms is not None:
            bound = llm.latency_p95_ms / 1000
            bucket = M.LLM_LATENCY.name + "_bucket"
            rec = self.record("project:mlspec_llm_latency_seconds:p95_rate5m", group,
                              f"histogram_quantile(0.95, sum by (le) (rate({selector(bucket, sel)}[5m])))")
            self.rules.alerts.append(_Alert(
                "MlspecLlmLatencyOverBudget", group, f"{rec} > {_num(bound)}", 600, BUDGET_SEVERITY, "budget",
                ("LLM p95 latency of ", _User(self.project), " is above ", _num(llm.latency_p95_ms), " ms"),
                ("The 95th percentile latency of requests to ", _User(llm.provider), " ", _User(llm.model),
                 " over 5m is ", _Value("g4"), " s; the budget is ", _num(bound), " s."),
                _SeriesProbe(("llm_latency",), _histogram_series(bucket, self.p), bound, ">",
                             _above(bound), _below(bound), 300),
                alert_labels=self.p))


# ------------------------------------------------------------------ computed test series

def _histogram_series(bucket: str, labels: tuple[tuple[str, str], ...]) -> Callable[[float, int], list[tuple[str, str]]]:
    """All observations in the first bucket (0, le]: histogram_quantile(0.95) = 0.95 * le."""

    def build(p95: float, points: int) -> list[tuple[str, str]]:
        le = p95 / 0.95
        return [(selector(bucket, _eq((*labels, ("le", _num(le))))), f"0+60x{points}"),
                (selector(bucket, _eq((*labels, ("le", "+Inf")))), f"0+60x{points}")]

    return build


def _requests_series(counter: str, labels: tuple[tuple[str, str], ...], *, invert: bool = False,
                     ) -> Callable[[float, int], list[tuple[str, str]]]:
    """500 and 200 responses whose ratio is the wanted error ratio (or 1 - availability)."""

    def build(value: float, points: int) -> list[tuple[str, str]]:
        errors = Fraction(repr(1 - value if invert else value)).limit_denominator(10**6)
        bad, total = errors.numerator, errors.denominator
        series = []
        if bad:
            series.append((selector(counter, _eq((*labels, (STATUS_LABEL, "500")))), f"0+{bad}x{points}"))
        if total - bad:
            series.append((selector(counter, _eq((*labels, (STATUS_LABEL, "200")))), f"0+{total - bad}x{points}"))
        return series

    return build


def _per_request_series(counter: str, labels: tuple[tuple[str, str], ...], per: int,
                        extra: tuple[tuple[str, str], ...] = ()) -> Callable[[float, int], list[tuple[str, str]]]:
    """1000 requests a minute and ``value * 1000 / per`` of ``counter`` a minute."""

    def build(value: float, points: int) -> list[tuple[str, str]]:
        return [(selector(M.LLM_REQUESTS.name, _eq(labels)), f"0+1000x{points}"),
                (selector(counter, _eq((*labels, *extra))), f"0+{_num(value * 1000 / per)}x{points}")]

    return build


# ============================================================================ artifacts

def rules_path(project: str) -> str:
    return f"{RULES_DIR}/{project}.rules.yml"


def tests_path(project: str) -> str:
    return f"{RULES_DIR}/{project}.rules.test.yml"


def runbook_path(project: str) -> str:
    return f"{RULES_DIR}/{project}.runbook.md"


def scrape_path(project: str) -> str:
    return f"monitoring/prometheus/{project}.scrape.yml"


def scrape_document(plan: Plan, options: PrometheusOptions) -> dict[str, Any] | None:
    """``scrape_configs`` that make the rules' selectors match: the Pushgateway job keeps the
    pushed ``project``/``node``/``check`` labels (``honor_labels``), and the server's targets get
    the labels of ``serving.metrics.labels`` (the rules and the dashboard select by them)."""
    from urllib.parse import urlsplit

    jobs: list[dict[str, Any]] = []
    mon = plan.monitoring
    if mon is not None and mon.pushgateway:
        url = urlsplit(mon.pushgateway)
        job: dict[str, Any] = {"job_name": f"{plan.project.name}-pushgateway", "honor_labels": True}
        if url.scheme == "https":
            job["scheme"] = "https"
        if url.path.rstrip("/"):
            job["metrics_path"] = url.path.rstrip("/") + "/metrics"
        port = url.port or (443 if url.scheme == "https" else 80)
        job["static_configs"] = [{"targets": [f"{url.hostname}:{port}"]}]
        jobs.append(job)
    sv = plan.serving
    if sv is not None and sv.mode == "online" and sv.port:
        labels = dict(sorted(options.serving_labels.items())) if options.serving_labels is not None \
            else dict(sv.selector)
        jobs.append({"job_name": f"{plan.project.name}-serving", "metrics_path": sv.metrics_path,
                     "static_configs": [{"targets": [options.serving_target or f"{plan.project.name}:{sv.port}"],
                                         "labels": labels}]})
    return {"scrape_configs": jobs} if jobs else None


def alertmanager_path(project: str) -> str:
    return f"{ALERTMANAGER_DIR}/{project}.yml"


def _runbook_url(options: PrometheusOptions, project: str, alert: str) -> str:
    base = options.runbook_url or ""
    if base and not base.endswith("/"):
        base += "/"
    return f"{base}{runbook_path(project)}#{alert.lower()}"


def rules_document(rules: _Rules, options: PrometheusOptions) -> dict[str, Any]:
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
                entry["for"] = _dur(a.for_seconds)
            entry["labels"] = {k: _go_text(v) for k, v in a.rule_labels(rules.project).items()}
            entry["annotations"] = {
                "summary": _template(a.summary),
                "description": _template(a.description),
                "runbook_url": _go_text(_runbook_url(options, rules.project, a.name)),
            }
            entries.append(entry)
        groups.append({"name": name, "rules": entries})
    return {"groups": groups}


def _expected(a: _Alert, value: float, project: str, options: PrometheusOptions) -> dict[str, Any]:
    labels = {**dict(a.alert_labels), **a.rule_labels(project)}
    return {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": _expand(a.summary, labels, value),
            "description": _expand(a.description, labels, value),
            "runbook_url": _runbook_url(options, project, a.name),
        },
    }


def _quiet_value(a: _Alert, siblings: list[_Alert]) -> float | None:
    probe = a.probe
    if probe.quiet is None:
        return None
    candidates = [probe.quiet] + [s.probe.quiet for s in siblings if s.probe.quiet is not None]
    thresholds = sorted({s.probe.threshold for s in siblings})
    candidates += [(x + y) / 2 for i, x in enumerate(thresholds) for y in thresholds[i + 1:]]
    for v in candidates:
        if not any(s.probe.fires(v) for s in siblings):
            return v
    return None


def tests_document(rules: _Rules, options: PrometheusOptions) -> dict[str, Any]:
    """promtool unit tests: for each alert, a firing case and a quiet case at the same time."""
    tests: list[dict[str, Any]] = []
    for a in rules.alerts:
        siblings = [s for s in rules.alerts if s.name == a.name and s.probe.key == a.probe.key]
        eval_seconds = a.probe.window_seconds + a.for_seconds + 300
        points = eval_seconds // 60 + 5
        eval_time = _dur(eval_seconds)
        if a.probe.fire is not None:
            v = a.probe.fire
            assert a.probe.fires(v), a
            firing = [s for s in siblings if s.probe.fires(v)]
            checks: list[dict[str, Any]] = []
            if a.for_seconds >= 120:
                # Pending, not firing yet: proves the `for:` duration.
                checks.append({"eval_time": _dur(a.for_seconds - 60), "alertname": a.name, "exp_alerts": []})
            checks.append({"eval_time": eval_time, "alertname": a.name,
                           "exp_alerts": [_expected(s, v, rules.project, options) for s in firing]})
            tests.append(_test_case(a.probe.series(v, points), checks))
        quiet = _quiet_value(a, siblings)
        if quiet is not None:
            tests.append(_test_case(a.probe.series(quiet, points),
                                    [{"eval_time": eval_time, "alertname": a.name, "exp_alerts": []}]))
    return {
        "rule_files": [rules_path(rules.project).rsplit("/", 1)[1]],
        "evaluation_interval": "1m",
        "tests": tests,
    }


def _test_case(series: list[tuple[str, str]], checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series],
        "alert_rule_test": checks,
    }


# ------------------------------------------------------------------ Alertmanager

def _matcher(label: str, op: str, value: str) -> str:
    return f"{_name(label, label=True)}{op}{json.dumps(value, ensure_ascii=False)}"


def _secret_file_name(text: str, fallback: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", text).strip("._") or fallback
    return name[:100]


def alertmanager_document(plan: Plan, options: PrometheusOptions) -> dict[str, Any] | None:
    mon = plan.monitoring
    if not mon or not mon.alerts:
        return None
    project = plan.project.name
    secrets = options.secrets_dir.rstrip("/") or "/"
    channels = {a.channel for a in mon.alerts}
    glob: dict[str, Any] = {"resolve_timeout": "5m"}
    if "slack" in channels:
        glob["slack_api_url_file"] = f"{secrets}/slack_api_url"
    if "email" in channels:
        glob["smtp_smarthost"] = options.smtp_smarthost
        glob["smtp_from"] = options.smtp_from
        if options.smtp_auth_username:
            glob["smtp_auth_username"] = options.smtp_auth_username
            glob["smtp_auth_password_file"] = f"{secrets}/smtp_password"
    routes, receivers = [], [{"name": "mlspec-default"}]
    for i, alert in enumerate(mon.alerts):
        name = f"{project}-{i}-{alert.channel}"
        events = [e for e in EVENT_NAMES if e in alert.on]
        severities = list(SEVERITIES[SEVERITIES.index(alert.severity):])
        routes.append({
            "receiver": name,
            "matchers": [_matcher("event", "=~", "|".join(events)), _matcher("severity", "=~", "|".join(severities))],
            "continue": True,
        })
        receiver: dict[str, Any] = {"name": name}
        if alert.channel == "slack":
            receiver["slack_configs"] = [{"channel": _go_text(alert.to), "send_resolved": True}]
        elif alert.channel == "email":
            receiver["email_configs"] = [{"to": _go_text(alert.to), "send_resolved": True}]
        elif alert.channel == "pagerduty":
            key = _secret_file_name(alert.to, f"pagerduty_routing_key_{i}")
            receiver["pagerduty_configs"] = [{"routing_key_file": f"{secrets}/{key}", "send_resolved": True}]
        else:
            receiver["webhook_configs"] = [{"url": alert.to, "send_resolved": True}]
        receivers.append(receiver)
    return {
        "global": glob,
        "route": {
            "receiver": "mlspec-default",
            "group_by": ["alertname", "project", "event"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [{"matchers": [_matcher("project", "=", project)], "routes": routes}],
        },
        "receivers": receivers,
    }


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
    "MlspecLlmLatencyOverBudget": (
        "The 95th percentile latency of hosted-model requests is above the budget.",
        ["Check the provider's status page, output lengths and rate limiting."]),
}


def _table_code(s: str) -> str:
    """``s`` as a code span inside a GFM table cell: a fence longer than any backtick run, pipes escaped."""
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    return f"{fence} {s.replace('|', chr(92) + '|')} {fence}"


def runbook_markdown(plan: Plan, rules: _Rules) -> str:
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
            lines.append(f"| {cond} | {_dur(a.for_seconds) if a.for_seconds else '0s'} | {a.severity} | {a.event} |")
        lines += ["", "What to do:", ""]
        lines += [f"1. {s.format(spec=spec)}" for s in steps]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ============================================================================ the target

class PrometheusTarget(Target):
    name = "prometheus"
    description = "Prometheus alerting and recording rules with promtool unit tests, a runbook and Alertmanager routes."
    options_model = PrometheusOptions

    def check(self, plan: Plan) -> list[Diagnostic]:
        diags: list[Diagnostic] = []
        mon = plan.monitoring
        options: PrometheusOptions = self.options
        if options.runbook_url is None and mon is not None and mon.alerts:
            diags.append(Diagnostic(
                dx.RUNBOOK_URL_RELATIVE, "prometheus: alerts link to their runbook by a path relative to the output "
                "folder, which a notification cannot open", severity=Severity.WARNING, path=("monitoring", "alerts"),
                hint="set targets.prometheus.runbook_url to the https URL the repository is browsable under, "
                     "e.g. 'https://github.com/OWNER/REPO/blob/main/'"))
        for i, alert in enumerate(mon.alerts if mon else ()):
            if alert.channel == "webhook" and not re.fullmatch(r"https?://[^\s]+", alert.to):
                diags.append(Diagnostic(
                    dx.TARGET_CANNOT_EXPRESS, f"prometheus: webhook alert target {alert.to!r} is not an http(s) URL",
                    path=("monitoring", "alerts", i, "to"),
                    hint="Alertmanager posts webhook alerts to a URL such as 'https://hooks.example.com/ml'"))
        sv = plan.serving
        if sv and sv.mode == "online" and sv.slo:
            for what in (sv.latency_histogram, sv.requests_total):
                try:
                    _name(what)
                except ValueError:
                    diags.append(Diagnostic(dx.TARGET_CANNOT_EXPRESS,
                                            f"prometheus: {what!r} is not a Prometheus metric name",
                                            path=("serving", "metrics")))
        return diags

    def emit(self, plan: Plan) -> list[Artifact]:
        from mlspec.output.encoders import yaml_dump

        options: PrometheusOptions = self.options
        rules = _Builder(plan, options).build()
        project = plan.project.name
        if not rules.alerts:
            return []
        out = [
            Artifact(rules_path(project), yaml_dump(rules_document(rules, options)), self.name, "prometheus-rules"),
            Artifact(tests_path(project), yaml_dump(tests_document(rules, options)), self.name,
                     "prometheus-rules-test"),
            Artifact(runbook_path(project), runbook_markdown(plan, rules), self.name, "runbook", comment="<!--"),
        ]
        scrape = scrape_document(plan, options)
        if scrape is not None:
            out.append(Artifact(scrape_path(project), yaml_dump(scrape), self.name, "prometheus-scrape-config"))
        if options.alertmanager:
            am = alertmanager_document(plan, options)
            if am is not None:
                out.append(Artifact(alertmanager_path(project), yaml_dump(am), self.name, "alertmanager-config"))
        return out
