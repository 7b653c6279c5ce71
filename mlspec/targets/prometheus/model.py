"""What the rules file, its tests and the runbook are made from: alerts and recording rules,
each alert with a probe that knows how to make series that fire it and series that keep it quiet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from mlspec import metrics as M
from mlspec.targets.prometheus.go_templates import Part
from mlspec.targets.toolkit.promql import STATUS_LABEL, eq, num, selector

RULES_DIR = "monitoring/prometheus"


def pct_text(x: float) -> str:
    return f"{x * 100:.4g}%"


def dur(seconds: int) -> str:
    """A Prometheus duration: ``90s``, ``5m``, ``1h``, ``7d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ============================================================================ the rule model

@dataclass(frozen=True)
class GaugeProbe:
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
        return [(selector(self.metric, eq(self.labels)), f"{num(value)}+0x{points}")]

    def value(self, v: float) -> float:
        return v


@dataclass(frozen=True)
class AgeProbe:
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
        return [(selector(self.metric, eq(self.labels)), f"{num(-age)}+{self.step_seconds}x{points}")]

    def value(self, v: float) -> float:
        return v


@dataclass(frozen=True)
class SeriesProbe:
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
class AbsentProbe:
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
        return [(selector(self.metric, eq(self.labels if not self.fires(value) else other)), f"1+0x{points}")]

    def value(self, v: float) -> float:
        return v


Probe = GaugeProbe | AgeProbe | SeriesProbe | AbsentProbe


@dataclass(frozen=True)
class Alert:
    """One alerting rule, with the probes its generated tests use."""

    name: str
    group: str
    expr: str
    for_seconds: int
    severity: str
    event: str
    summary: tuple[Part, ...]
    description: tuple[Part, ...]
    probe: Probe
    # Extra static labels: they tell rules of one alert apart (promtool's duplicate-rules lint)
    # and may hold user text, encoded by go_text because Prometheus expands labels as templates.
    labels: tuple[tuple[str, str], ...] = ()
    alert_labels: tuple[tuple[str, str], ...] = ()  # labels the expression's result carries

    def rule_labels(self, project: str) -> dict[str, str]:
        return {"project": project, "event": self.event, "severity": self.severity, **dict(self.labels)}


@dataclass(frozen=True)
class Record:
    """One recording rule."""

    record: str
    group: str
    expr: str
    project: str


@dataclass
class Rules:
    """Everything the rules file, its tests and the runbook are made from."""

    project: str
    records: list[Record] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


# ============================================================================ values for tests

def _nice(x: float) -> float:
    """``x`` rounded to two significant digits, so '%.4g' of a computed value is stable."""
    return float(f"{x:.2g}")


def _stable(v: float) -> bool:
    return all(f"{v * f:.4g}" == f"{v:.4g}" and f"{v * f * 100:.4g}" == f"{v * 100:.4g}"
               for f in (1 - 1e-9, 1 + 1e-9))


def above(t: float) -> float:
    v = _nice(2 * t) if t > 0 else 1.0
    return v if v > t and _stable(v) else 2 * t + 1


def below(t: float) -> float:
    v = _nice(t / 2) if t > 0 else 0.0
    return v if v < t and (v == 0 or _stable(v)) else t / 2


def bound_delta(t: float) -> float:
    return abs(t) / 10 if t else 1.0


# ------------------------------------------------------------------ computed test series

def histogram_series(bucket: str, labels: tuple[tuple[str, str], ...]) -> Callable[[float, int], list[tuple[str, str]]]:
    """All observations in the first bucket (0, le]: histogram_quantile(0.95) = 0.95 * le."""

    def build(p95: float, points: int) -> list[tuple[str, str]]:
        le = p95 / 0.95
        return [(selector(bucket, eq((*labels, ("le", num(le))))), f"0+60x{points}"),
                (selector(bucket, eq((*labels, ("le", "+Inf")))), f"0+60x{points}")]

    return build


def requests_series(counter: str, labels: tuple[tuple[str, str], ...], *, invert: bool = False,
                     ) -> Callable[[float, int], list[tuple[str, str]]]:
    """500 and 200 responses whose ratio is the wanted error ratio (or 1 - availability)."""

    def build(value: float, points: int) -> list[tuple[str, str]]:
        errors = Fraction(repr(1 - value if invert else value)).limit_denominator(10**6)
        bad, total = errors.numerator, errors.denominator
        series = []
        if bad:
            series.append((selector(counter, eq((*labels, (STATUS_LABEL, "500")))), f"0+{bad}x{points}"))
        if total - bad:
            series.append((selector(counter, eq((*labels, (STATUS_LABEL, "200")))), f"0+{total - bad}x{points}"))
        return series

    return build


def per_request_series(counter: str, labels: tuple[tuple[str, str], ...], per: int,
                        extra: tuple[tuple[str, str], ...] = ()) -> Callable[[float, int], list[tuple[str, str]]]:
    """1000 requests a minute and ``value * 1000 / per`` of ``counter`` a minute."""

    def build(value: float, points: int) -> list[tuple[str, str]]:
        return [(selector(M.LLM_REQUESTS.name, eq(labels)), f"0+1000x{points}"),
                (selector(counter, eq((*labels, *extra))), f"0+{num(value * 1000 / per)}x{points}")]

    return build


