"""The promtool unit tests of the rules (``monitoring/prometheus/<project>.rules.test.yml``),
generated from the same thresholds: for every alert, series that fire it (exact labels and
annotations after ``for:``, and still pending before) and series that keep it quiet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlspec.targets.prometheus.go_templates import expand
from mlspec.targets.prometheus.model import RULES_DIR, Alert, Rules, dur
from mlspec.targets.prometheus.rules import rules_path
from mlspec.targets.prometheus.runbook import runbook_url

if TYPE_CHECKING:
    from mlspec.targets.prometheus import PrometheusOptions


def tests_path(project: str) -> str:
    return f"{RULES_DIR}/{project}.rules.test.yml"


def _expected(a: Alert, value: float, project: str, options: PrometheusOptions) -> dict[str, Any]:
    labels = {**dict(a.alert_labels), **a.rule_labels(project)}
    return {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": expand(a.summary, labels, value),
            "description": expand(a.description, labels, value),
            "runbook_url": runbook_url(options, project, a.name),
        },
    }


def _quiet_value(a: Alert, siblings: list[Alert]) -> float | None:
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


def tests_document(rules: Rules, options: PrometheusOptions) -> dict[str, Any]:
    """promtool unit tests: for each alert, a firing case and a quiet case at the same time."""
    tests: list[dict[str, Any]] = []
    for a in rules.alerts:
        siblings = [s for s in rules.alerts if s.name == a.name and s.probe.key == a.probe.key]
        eval_seconds = a.probe.window_seconds + a.for_seconds + 300
        points = eval_seconds // 60 + 5
        eval_time = dur(eval_seconds)
        if a.probe.fire is not None:
            v = a.probe.fire
            assert a.probe.fires(v), a
            firing = [s for s in siblings if s.probe.fires(v)]
            checks: list[dict[str, Any]] = []
            if a.for_seconds >= 120:
                # Pending, not firing yet: proves the `for:` duration.
                checks.append({"eval_time": dur(a.for_seconds - 60), "alertname": a.name, "exp_alerts": []})
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


