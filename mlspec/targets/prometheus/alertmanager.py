"""The Alertmanager config (``monitoring/alertmanager/<project>.yml``): one route per
``monitoring.alerts`` entry (channel, events, lowest severity). Secrets come from files only.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from mlspec.compiler.plan import Plan
from mlspec.events import CHECK_OF_EVENT, EVENT_NAMES
from mlspec.targets.prometheus.go_templates import go_text
from mlspec.targets.toolkit.promql import name as promql_name

if TYPE_CHECKING:
    from mlspec.targets.prometheus import PrometheusOptions

ALERTMANAGER_DIR = "monitoring/alertmanager"

# Events an alert is routed by (monitoring.alerts[].on), from the lowest severity up.
SEVERITIES = ("warning", "critical")


def alertmanager_path(project: str) -> str:
    return f"{ALERTMANAGER_DIR}/{project}.yml"


# ------------------------------------------------------------------ Alertmanager

def _matcher(label: str, op: str, value: str) -> str:
    return f"{promql_name(label, label=True)}{op}{json.dumps(value, ensure_ascii=False)}"


def _secret_file_name(text: str, fallback: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", text).strip("._") or fallback
    return name[:100]


# How often a still-firing alert is sent again. A signal that only a scheduled check can
# change (drift, performance, schema, freshness) is repeated once per run of that check, never
# more often than the 4 h default; a broken pipeline or a broken SLO is repeated hourly.
DEFAULT_REPEAT_SECONDS = 4 * 3600
URGENT_REPEAT_SECONDS = 3600
URGENT_EVENTS = frozenset({"slo", "pipeline_failure"})


def go_duration(seconds: int) -> str:
    """Seconds in Alertmanager's duration syntax, in the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def repeat_seconds(plan: Plan, event: str) -> int:
    """The repeat interval of ``event``'s alerts, from the schedule of what raises it."""
    if event in URGENT_EVENTS:
        return URGENT_REPEAT_SECONDS
    mon = plan.monitoring
    if event in CHECK_OF_EVENT and mon is not None:
        return max(DEFAULT_REPEAT_SECONDS, mon.period_seconds)
    return DEFAULT_REPEAT_SECONDS


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
        severities = list(SEVERITIES[SEVERITIES.index(alert.severity):])
        # One route per repeat interval: the entry's events grouped by how often they may change.
        by_repeat: dict[int, list[str]] = {}
        for e in EVENT_NAMES:
            if e in alert.on:
                by_repeat.setdefault(repeat_seconds(plan, e), []).append(e)
        for repeat, events in by_repeat.items():
            routes.append({
                "receiver": name,
                "matchers": [_matcher("event", "=~", "|".join(events)),
                             _matcher("severity", "=~", "|".join(severities))],
                "repeat_interval": go_duration(repeat),
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
            "repeat_interval": go_duration(DEFAULT_REPEAT_SECONDS),
            "routes": [{"matchers": [_matcher("project", "=", project)], "routes": routes}],
        },
        "receivers": receivers,
    }


