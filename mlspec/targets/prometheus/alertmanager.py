"""The Alertmanager config (``monitoring/alertmanager/<project>.yml``): routes per
``monitoring.alerts`` entry (channel, events, lowest severity) and per signal cadence. Secrets
come from files only.

Timers fit how often a signal can change (:func:`signal_timers`): a check that runs once a day
must not remind every 4 h with nothing new, while a failed pipeline reminds sooner than its
next scheduled run.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from mlspec.compiler.plan import Plan
from mlspec.events import EVENT_NAMES
from mlspec.targets.prometheus.go_templates import go_text
from mlspec.targets.toolkit.promql import name as promql_name

if TYPE_CHECKING:
    from mlspec.targets.prometheus import PrometheusOptions

ALERTMANAGER_DIR = "monitoring/alertmanager"

# Events an alert is routed by (monitoring.alerts[].on), from the lowest severity up.
SEVERITIES = ("warning", "critical")


def alertmanager_path(project: str) -> str:
    return f"{ALERTMANAGER_DIR}/{project}.yml"


# ------------------------------------------------------------------ timers per signal

# Alertmanager's defaults: signals scraped continuously (serving SLOs, LLM spend) keep them.
CONTINUOUS = ("5m", "4h")
_MIN, _HOUR = 60, 3600
# Alertmanager keeps its notification log 120 h (--data.retention); a longer repeat_interval
# would be cut to that anyway, so no timer goes past it.
_RETENTION = 120 * _HOUR


def duration(seconds: int) -> str:
    """Seconds as a Prometheus duration in hours or minutes (``24h``, ``90m``, ``5m``)."""
    if seconds % _HOUR == 0:
        return f"{seconds // _HOUR}h"
    if seconds % _MIN == 0:
        return f"{seconds // _MIN}m"
    return f"{seconds}s"


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def signal_timers(plan: Plan) -> dict[str, tuple[str, str]]:
    """``event -> (group_interval, repeat_interval)`` from the schedules in the Plan.

    - Events raised by the scheduled monitoring checks (drift, performance, schema, freshness)
      change only when monitoring runs: remind once per monitoring period (a daily check reminds
      daily; an hourly one hourly, never under 1 h), and batch the changes of one run for up to
      1/24 of the period (5 min to 1 h).
    - ``pipeline_failure`` (a failed node, or one that stopped running) needs a rerun by someone:
      remind four times per period of the shortest schedule that reports runs (retraining,
      monitoring), between 1 h and 4 h; changes go out within 5 min.
    - ``slo`` and ``budget`` come from series scraped continuously: Alertmanager's defaults.
    """
    from mlspec.events import CHECK_OF_EVENT

    timers = {e: CONTINUOUS for e in EVENT_NAMES}
    mon, retrain = plan.monitoring, plan.retraining
    if mon is not None:
        period = mon.period_seconds
        checks = (duration(_clamp(period // 24 // _MIN * _MIN, 5 * _MIN, _HOUR)),
                  duration(_clamp(period // _HOUR * _HOUR, _HOUR, _RETENTION)))
        for event in CHECK_OF_EVENT:
            timers[event] = checks
    periods = [p for p in ((mon.period_seconds if mon else None),
                           (retrain.period_seconds if retrain else None)) if p]
    if periods:
        timers["pipeline_failure"] = ("5m", duration(_clamp(min(periods) // 4 // _HOUR * _HOUR, _HOUR, 4 * _HOUR)))
    return timers


# ------------------------------------------------------------------ Alertmanager

def _matcher(label: str, op: str, value: str) -> str:
    return f"{promql_name(label, label=True)}{op}{json.dumps(value, ensure_ascii=False)}"


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
    timers = signal_timers(plan)
    for i, alert in enumerate(mon.alerts):
        name = f"{project}-{i}-{alert.channel}"
        severities = list(SEVERITIES[SEVERITIES.index(alert.severity):])
        # One route per cadence the entry's events have (events in vocabulary order, cadences
        # in order of first event): each alert matches exactly one of them.
        by_timer: dict[tuple[str, str], list[str]] = {}
        for event in (e for e in EVENT_NAMES if e in alert.on):
            by_timer.setdefault(timers[event], []).append(event)
        for (group_interval, repeat_interval), events in by_timer.items():
            routes.append({
                "receiver": name,
                "matchers": [_matcher("event", "=~", "|".join(events)),
                             _matcher("severity", "=~", "|".join(severities))],
                "group_interval": group_interval,
                "repeat_interval": repeat_interval,
                "continue": True,
            })
        receiver: dict[str, Any] = {"name": name}
        if alert.channel == "slack":
            receiver["slack_configs"] = [{"channel": go_text(alert.to), "send_resolved": True}]
        elif alert.channel == "email":
            receiver["email_configs"] = [{"to": go_text(alert.to), "send_resolved": True}]
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


