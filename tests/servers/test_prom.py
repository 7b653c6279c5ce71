"""The Prometheus stack fixture: push -> scrape -> rule -> Alertmanager -> webhook, firing and resolved."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.servers._process import http_json
from tests.servers.prom import (
    PromStack, Pushgateway, StackFactory, WebhookReceiver, group_path, route_to_webhook, without_for,
)

REPO = Path(__file__).resolve().parents[2]
RULES = {"groups": [{"name": "smoke", "rules": [{
    "alert": "SmokeXPositive", "expr": "smoke_x > 0", "for": "0s",
    "labels": {"severity": "critical"}, "annotations": {"summary": "x is {{ $value }}"},
}]}]}


@pytest.mark.server
def test_a_pushed_metric_fires_an_alert_that_reaches_the_webhook_and_resolves(prom_stack: StackFactory) -> None:
    started = time.monotonic()
    stack = prom_stack(rules=RULES)
    grouping = {"instance": "batch/01"}  # a "/" in a value takes the base64 form of the URL
    stack.push("scorer", "# TYPE smoke_x gauge\nsmoke_x 1\n", grouping)

    samples = stack.wait_for(lambda: stack.query("smoke_x"), what="smoke_x scraped")
    assert samples[0]["metric"] == {"__name__": "smoke_x", "job": "scorer", "instance": "batch/01"}  # honor_labels

    firing = stack.wait_for_alert("SmokeXPositive", "firing")
    assert firing.labels == {"alertname": "SmokeXPositive", "severity": "critical", "job": "scorer",
                             "instance": "batch/01"}
    assert firing.annotations == {"summary": "x is 1"}
    assert (firing.receiver, firing.integration) == ("webhook", "webhook")
    assert [a["labels"]["alertname"] for a in stack.alerts("firing")] == ["SmokeXPositive"]

    stack.push("scorer", "smoke_x 0\n", grouping)
    resolved = stack.wait_for_alert("SmokeXPositive", "resolved")
    assert resolved.labels == firing.labels
    assert stack.wait_for(lambda: stack.alerts() == [], what="alert gone from Prometheus")
    assert time.monotonic() - started < 30


@pytest.mark.server
def test_the_generated_rules_and_alertmanager_config_route_an_alert(prom_stack: StackFactory) -> None:
    """The churn example's generated rules and Alertmanager config, end to end (``for`` removed)."""
    monitoring = REPO / "examples" / "churn" / "monitoring"
    stack = prom_stack(rules=without_for(monitoring / "prometheus" / "churn.rules.yml"),
                       alertmanager_config=monitoring / "alertmanager" / "churn.yml")
    series = 'mlspec_drift_score{project="churn",column="tenure_months",method="psi"}'
    stack.push("mlspec-drift", f"{series} 0.5\n")

    got = stack.wait_for_alert("MlspecDataDrift", receiver="churn-0-slack", labels={"column": "tenure_months"})
    assert got.integration == "slack"
    assert got.labels["severity"] == "warning" and got.labels["event"] == "data_drift"
    assert got.annotations["summary"] == "Data drift in column tenure_months (psi) of churn"
    assert stack.webhook.received("MlspecConceptDrift") == []
    assert stack.alertmanager_config["route"]["routes"][0]["matchers"] == ['project="churn"']

    stack.push("mlspec-drift", f"{series} 0.1\n")  # the config's slack has send_resolved: true
    resolved = stack.wait_for_alert("MlspecDataDrift", "resolved", receiver="churn-0-slack")
    assert resolved.labels == got.labels


@pytest.mark.server
def test_an_alert_matching_no_route_reaches_the_silent_default_receiver(prom_stack: StackFactory) -> None:
    config = REPO / "examples" / "churn" / "monitoring" / "alertmanager" / "churn.yml"
    rules = {"groups": [{"name": "info", "rules": [
        {"alert": "ChurnWarning", "expr": "x > 0",
         "labels": {"project": "churn", "event": "data_drift", "severity": "warning"}},
        {"alert": "ChurnInfo", "expr": "x > 0",  # the slack route takes warning|critical only
         "labels": {"project": "churn", "event": "data_drift", "severity": "info"}},
    ]}]}
    stack = prom_stack(rules=rules, alertmanager_config=config)
    stack.push("j", "x 1\n")
    stack.wait_for_alert("ChurnWarning", receiver="churn-0-slack")

    def routed() -> dict[str, list[str]]:  # alert -> receivers, as the Alertmanager's API shows them
        alerts = http_json("GET", f"{stack.alertmanager_url}/api/v2/alerts")
        return {a["labels"]["alertname"]: [r["name"] for r in a["receivers"]] for a in alerts}

    assert stack.wait_for(lambda: len(routed()) == 2, what="both alerts at the Alertmanager")
    assert routed() == {"ChurnWarning": ["churn-0-slack"], "ChurnInfo": ["mlspec-default"]}
    assert stack.webhook.received("ChurnInfo") == []  # a receiver without integrations sends nothing


@pytest.mark.server
def test_a_config_that_already_posts_to_the_webhook_is_used_as_is(prom_stack: StackFactory,
                                                                    webhook_receiver: WebhookReceiver) -> None:
    config = {"route": {"receiver": "mine", "group_wait": "0s", "group_interval": "1s"},
              "receivers": [{"name": "mine", "webhook_configs": [{"url": f"{webhook_receiver.url}/custom"}]}]}
    stack = prom_stack(rules=RULES, alertmanager_config=config, route_to_webhook=False, webhook=webhook_receiver)
    assert stack.alertmanager_config == config
    stack.push("j", "smoke_x 2\n")
    got = webhook_receiver.wait_for_alert("SmokeXPositive")
    assert got.labels["job"] == "j" and webhook_receiver.posts[0][0] == "/custom"


@pytest.mark.server
def test_the_shared_pushgateway_is_wiped_for_each_test(pushgateway: Pushgateway) -> None:
    assert pushgateway.groups() == []
    pushgateway.push("job-a", "m_total 3", {"stage": ""})
    pushgateway.push("job-a", "other 1", {"stage": ""}, replace=False)
    [group] = pushgateway.groups()
    assert group["labels"] == {"job": "job-a", "stage": ""} and {"m_total", "other"} <= set(group)
    pushgateway.delete("job-a", {"stage": ""})
    assert pushgateway.groups() == []


@pytest.mark.server
def test_the_shared_pushgateway_is_wiped_for_each_test_again(pushgateway: Pushgateway) -> None:
    assert pushgateway.groups() == []
    pushgateway.push("job-b", "m 1")
    assert 'm{instance="",job="job-b"} 1' in pushgateway.metrics_text()


# ------------------------------------------------------------------ pure helpers (no server)
def test_route_to_webhook_replaces_integrations_and_keeps_routing() -> None:
    config = {
        "global": {"resolve_timeout": "5m", "slack_api_url_file": "/nonexistent", "smtp_smarthost": "x:25"},
        "templates": ["/etc/alertmanager/*.tmpl"],
        "route": {"receiver": "null", "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
                  "routes": [{"receiver": "team", "matchers": ['team="ml"'], "group_wait": "1m",
                              "routes": [{"receiver": "pager", "matchers": ['severity="critical"']}]}]},
        "receivers": [
            {"name": "null"},
            {"name": "team", "slack_configs": [{"channel": "#a"}, {"channel": "#b", "send_resolved": True}],
             "email_configs": [{"to": "a@example.org"}]},
            {"name": "pager", "pagerduty_configs": [{"routing_key": "k"}]},
        ],
        "inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"']}],
    }
    out = route_to_webhook(config, "http://127.0.0.1:1")
    assert out["global"] == {"resolve_timeout": "5m"} and "templates" not in out
    assert out["inhibit_rules"] == config["inhibit_rules"]
    assert out["route"]["group_wait"] == "0s" and out["route"]["group_interval"] == "1s"
    assert out["route"]["repeat_interval"] == "4h"
    team = out["route"]["routes"][0]
    assert (team["group_wait"], team["matchers"]) == ("0s", ['team="ml"'])
    assert "group_wait" not in team["routes"][0]  # inherited, as before
    assert out["receivers"] == [
        {"name": "null"},
        {"name": "team", "webhook_configs": [
            {"url": "http://127.0.0.1:1/team/slack", "send_resolved": False},  # Alertmanager's slack default
            {"url": "http://127.0.0.1:1/team/slack", "send_resolved": True},
            {"url": "http://127.0.0.1:1/team/email", "send_resolved": False}]},
        {"name": "pager", "webhook_configs": [{"url": "http://127.0.0.1:1/pager/pagerduty", "send_resolved": True}]},
    ]
    assert config["receivers"][1]["slack_configs"][0] == {"channel": "#a"}  # the input is not modified
    yaml.safe_dump(out)  # plain data, writable as the config file


def test_group_path_encodes_awkward_values() -> None:
    assert group_path("j") == "/metrics/job/j"
    assert group_path("j", {"a": "x y", "b": "p/q", "c": ""}) == "/metrics/job/j/a/x%20y/b@base64/cC9x/c@base64/="
    assert group_path("a/b") == "/metrics/job@base64/YS9i"


def test_without_for_drops_only_the_waiting() -> None:
    rules = {"groups": [{"name": "g", "interval": "30s", "rules": [
        {"alert": "A", "expr": "x > 0", "for": "5m", "keep_firing_for": "1m", "labels": {"s": "w"}},
        {"record": "r", "expr": "sum(x)"}]}]}
    assert without_for(yaml.safe_dump(rules)) == {"groups": [{"name": "g", "interval": "30s", "rules": [
        {"alert": "A", "expr": "x > 0", "labels": {"s": "w"}}, {"record": "r", "expr": "sum(x)"}]}]}
    assert rules["groups"][0]["rules"][0]["for"] == "5m"


def test_stack_helpers_without_a_server() -> None:
    assert PromStack.unique_group() != PromStack.unique_group()
    assert set(PromStack.unique_group("x")) == {"instance"}
