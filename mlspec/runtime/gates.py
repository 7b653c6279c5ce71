"""Metrics files and gate evaluation (standard library only)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec import diagnostics as dx
from mlspec.runtime.common import Failure, num, read_json_file


def read_metrics(path: Path, shown: str, what: str = "metrics file") -> dict[str, Any]:
    """A JSON object: flat ``{"name": number}`` or nested (``{"roc_auc": {"test": 0.93}}``, as
    dvclive writes); anything else is MS605."""
    data = read_json_file(path, what, shown)
    if not isinstance(data, dict):
        raise Failure(dx.DATA_UNREADABLE, f"{what} {shown} must be a JSON object {{\"name\": number}}, "
                      f"not a {type(data).__name__ if not isinstance(data, list) else 'list'}", file=shown)
    return data


_MISSING = object()


def lookup_metric(metrics: dict[str, Any], name: str) -> Any:
    """The value of ``name`` in a metrics document: a flat key (dots and all) wins when it
    exists, else ``name`` is a dotted path into nested objects (``roc_auc.test``). Returns
    :data:`_MISSING` when neither finds it."""
    if name in metrics:
        return metrics[name]
    node: Any = metrics
    parts = name.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, dict):
            return _MISSING
        # The longest key made of the remaining parts wins: {"a.b": {"c": 1}} answers "a.b.c".
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                node, i = node[key], j
                break
        else:
            return _MISSING
    return node


def metric_value(metrics: dict[str, Any], name: str) -> tuple[float | None, str | None]:
    """``(value, None)`` or ``(None, problem)``: missing, not a number, or not finite."""
    value = lookup_metric(metrics, name)
    if value is _MISSING:
        return None, "is missing"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = repr(value) if isinstance(value, (str, bool)) or value is None else type(value).__name__
        if isinstance(value, str) and len(shown) > 40:
            shown = shown[:37] + "...'"
        return None, f"is not a number ({shown})"
    try:
        f = float(value)
    except OverflowError:
        return None, "is not finite (too large)"
    if math.isnan(f):
        return None, "is not finite (NaN)"
    if math.isinf(f):
        return None, f"is not finite ({'Infinity' if f > 0 else '-Infinity'})"
    return f, None


@dataclass
class Baseline:
    """The production model's metrics to compare with."""

    label: str                         # "production v3", "baseline.json"
    metrics: dict[str, Any]
    explicit: bool                     # from --baseline FILE (a missing metric there is an error)


@dataclass
class GateResult:
    gate: Any                          # plan.Gate
    index: int
    value: float | None
    passed: bool
    bound: str                         # human text: ">= 0.8", "<= 50", ">= 0.83 (production v3 0.84 - 0.01)"
    baseline_value: float | None = None
    baseline_label: str | None = None
    threshold_min: float | None = None
    threshold_max: float | None = None
    problem: str | None = None         # metric missing/unusable (MS602)
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        g = self.gate
        return {"id": g.id, "metric": g.metric, "value": self.value, "passed": self.passed,
                "bound": self.bound, "min": g.min, "max": g.max, "baseline": g.baseline,
                "max_regression": g.max_regression, "higher_is_better": g.higher_is_better,
                "baseline_value": self.baseline_value, "baseline_source": self.baseline_label,
                "effective_min": self.threshold_min, "effective_max": self.threshold_max,
                "problem": self.problem, "note": self.note}


def evaluate(gate: Any, index: int, metrics: dict[str, Any], baseline: Baseline | None) -> GateResult:
    """Every bound of one gate: ``min``, ``max`` and the production ``baseline``.

    The value passes ``min`` when ``value >= min`` and ``max`` when ``value <= max``. Against
    the baseline ``b`` with regression ``r`` (default 0): ``value >= b - r`` when higher is
    better, else ``value <= b + r``. With no production model yet the baseline bound passes
    with a note (the first model has nothing to regress from).
    """
    lows: list[tuple[float, str]] = []
    highs: list[tuple[float, str]] = []
    if gate.min is not None:
        lows.append((gate.min, num(gate.min)))
    if gate.max is not None:
        highs.append((gate.max, num(gate.max)))
    result = GateResult(gate, index, None, False, "")
    notes = []
    if gate.baseline:
        regression = gate.max_regression or 0.0
        if baseline is None:
            notes.append("no production model yet: baseline comparison skipped (first model)")
        else:
            b, problem = metric_value(baseline.metrics, gate.metric)
            result.baseline_label = baseline.label
            if problem is not None and baseline.explicit:
                result.problem = f"baseline metric '{gate.metric}' {problem} in {baseline.label}"
            elif problem is not None:
                notes.append(f"{baseline.label}: metric '{gate.metric}' {problem}; baseline comparison skipped")
            else:
                assert b is not None
                result.baseline_value = b
                sign = "-" if gate.higher_is_better else "+"
                text = f"{baseline.label} {num(b)}" + (f" {sign} {num(regression)}" if regression else "")
                if gate.higher_is_better:
                    lows.append((b - regression, f"{num(b - regression)} ({text})"))
                else:
                    highs.append((b + regression, f"{num(b + regression)} ({text})"))
    low = max(lows, default=None, key=lambda t: t[0])
    high = min(highs, default=None, key=lambda t: t[0])
    result.threshold_min = low[0] if low else None
    result.threshold_max = high[0] if high else None
    parts = ([f">= {low[1]}"] if low else []) + ([f"<= {high[1]}"] if high else [])
    if gate.baseline and baseline is None and not parts:
        parts = ["production (none yet)"]
    result.bound = " and ".join(parts) or "(none)"
    result.note = "; ".join(notes) or None

    value, problem = metric_value(metrics, gate.metric)
    if problem is not None and result.problem is None:
        result.problem = f"metric '{gate.metric}' {problem}"
    result.value = value
    if result.problem is not None or value is None:
        result.passed = False
        return result
    result.passed = (low is None or value >= low[0] - _slack(low[0])) and (high is None or value <= high[0] + _slack(high[0]))
    return result


def _slack(bound: float) -> float:
    """Rounding room: ``0.85 - 0.01`` is 0.8400000000000001, and 0.84 must pass it."""
    return 1e-9 * max(1.0, abs(bound))


def failure_text(r: GateResult) -> str:
    g = r.gate
    if r.threshold_min is not None and r.value is not None and r.value < r.threshold_min:
        return f"gate {g.id} failed: {g.metric} = {num(r.value)} is below {r.bound.split(' and ')[0][3:]}"
    return f"gate {g.id} failed: {g.metric} = {num(r.value)} is above {r.bound.split(' and ')[-1][3:]}"
