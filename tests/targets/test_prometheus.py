"""The `prometheus` target: rules that mean what the spec says, tests that can fail, inert user text.

Specs are compiled with the same ``check_project`` + ``emit_artifacts`` the CLI uses and the
artifacts written to a temporary folder; the real validators are promtool (``check rules
--lint=all --lint-fatal`` and ``test rules``) and amtool (``check-config``, ``config routes
test``, ``template render``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlspec import diagnostics as dx
from mlspec import metrics as M
from mlspec.api import check_project, emit_artifacts
from mlspec.output.encoders import yaml_dump
from mlspec.events import EVENT_NAMES as EVENTS
from mlspec.targets.prometheus import PrometheusTarget
from tests import validators as V

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlproject.yaml"))

validator = pytest.mark.validator


# --------------------------------------------------------------------------- helpers


def write(plan: Any, artifacts: list[Any], out: Path) -> dict[str, str]:
    files = {}
    for a in artifacts:
        text = a.render(plan.source)
        path = out / a.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files[a.path] = text
    return files


def compile_spec(spec: Path, out: Path, targets: tuple[str, ...] = ("prometheus",)) -> tuple[Any, dict[str, str]]:
    checked = check_project(spec, display_name=spec.name, out_dir=out, targets=targets)
    assert checked.ok, [d.to_json() for d in checked.diagnostics if d.is_error]
    return checked.plan, write(checked.plan, emit_artifacts(checked.plan, checked.options_for(list(targets))), out)


def compile_data(data: dict[str, Any], where: Path, targets: tuple[str, ...] = ("prometheus",)):
    """Write ``data`` as the spec (JSON is YAML) and compile it."""
    where.mkdir(parents=True, exist_ok=True)
    spec = where / "mlproject.yaml"
    spec.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return compile_spec(spec, where, targets)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Any, dict[str, str], Path]:
    out = tmp_path_factory.mktemp("reference")
    plan, files = compile_spec(ROOT / "examples" / "reference" / "mlproject.yaml", out)
    return plan, files, out


def rules_of(files: dict[str, str], project: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load(files[f"monitoring/prometheus/{project}.rules.yml"])
    return [r for g in doc["groups"] for r in g["rules"]]


def alerts_of(files: dict[str, str], project: str) -> list[dict[str, Any]]:
    return [r for r in rules_of(files, project) if "alert" in r]


def go_actions(text: str) -> tuple[list[str], str]:
    """The ``{{ … }}`` actions of a Go template (quoted strings may hold braces) and the text outside."""
    actions, outside, i = [], [], 0
    while True:
        j = text.find("{{", i)
        if j < 0:
            outside.append(text[i:])
            return actions, "".join(outside)
        outside.append(text[i:j])
        k, in_string = j + 2, False
        while k < len(text):
            c = text[k]
            if in_string:
                if c == "\\":
                    k += 2
                    continue
                if c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
            elif text.startswith("}}", k):
                break
            k += 1
        assert k < len(text), f"unterminated action in {text!r}"
        actions.append(text[j + 2:k].strip())
        i = k + 2


ALLOWED_ACTIONS = re.compile(
    r'\$labels\.[a-zA-Z_][a-zA-Z0-9_]*|printf "%\.4g" \$value|printf "%\.0f" \$value'
    r"|humanizePercentage \$value|humanizeDuration \$value")


def template_constants(text: str) -> list[str]:
    """Assert every action is one of ours; return the Go string constants (user text), decoded."""
    actions, outside = go_actions(text)
    assert "}}" not in outside, text
    constants = []
    for action in actions:
        if ALLOWED_ACTIONS.fullmatch(action):
            continue
        assert action.startswith('"') and action.endswith('"'), f"unexpected template action {action!r} in {text!r}"
        value = json.loads(action)
        assert isinstance(value, str)
        constants.append(value)
    return constants


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = V.require_tool("amtool", "Debian package prometheus-alertmanager")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          check=False)


def route(config: Path, **labels: str) -> str:
    r = amtool("config", "routes", "test", f"--config.file={config}", *(f"{k}={v}" for k, v in labels.items()))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def render_go(text: str) -> str:
    r = amtool("template", "render", "--template.glob=/dev/null", f"--template.text={text}")
    assert r.returncode == 0, r.stderr
    return r.stdout.removesuffix("\n")


# --------------------------------------------------------------------------- meaning


def test_reference_alerts(reference) -> None:
    _plan, files, _ = reference
    alerts = alerts_of(files, "churn")
    got = [(a["alert"], a["expr"], a.get("for"), a["labels"]["severity"], a["labels"]["event"]) for a in alerts]
    assert got == [
        ("MlspecDataDrift", 'mlspec_drift_score{project="churn", column="tenure_months", method="psi"} > 0.2',
         "5m", "warning", "data_drift"),
        ("MlspecDataDrift", 'mlspec_drift_score{project="churn", column="monthly_charges", method="psi"} > 0.2',
         "5m", "warning", "data_drift"),
        ("MlspecDataDrift", 'mlspec_drift_pvalue{project="churn", column="contract", method="chi2"} < 0.01',
         "5m", "warning", "data_drift"),
        ("MlspecConceptDrift", 'mlspec_performance{project="churn", metric="roc_auc"} < 0.75',
         "5m", "critical", "concept_drift"),
        ("MlspecDataStale",
         'time() - mlspec_data_last_updated_timestamp_seconds{project="churn", source="customers"} > 86400',
         "10m", "warning", "freshness"),
        ("MlspecSchemaViolations", 'mlspec_schema_violations{project="churn"} > 0', "5m", "warning",
         "pipeline_drift"),
        ("MlspecPipelineFailed", 'mlspec_run_success{project="churn"} == 0', None, "critical", "pipeline_failure"),
        # staleness: twice the longest gap of the schedule (monitoring @hourly, retraining weekly)
        ("MlspecMonitoringStale", 'time() - mlspec_run_timestamp_seconds{project="churn", node="monitoring"} > 7200',
         "5m", "warning", "pipeline_failure"),
        ("MlspecRunsMissing", 'absent(mlspec_run_timestamp_seconds{project="churn", node="monitoring"})', "2h",
         "warning", "pipeline_failure"),
        ("MlspecTrainingStale",
         'time() - mlspec_run_last_success_timestamp_seconds{project="churn", node="pipeline"} > 1209600',
         "5m", "warning", "pipeline_failure"),
        ("MlspecServingLatencyHigh", 'project:mlspec_serving_latency_seconds:p95_rate5m{project="churn"} > 0.2',
         "10m", "critical", "slo"),
        ("MlspecServingErrorRateHigh", 'project:mlspec_serving_error_ratio:rate5m{project="churn"} > 0.01',
         "10m", "critical", "slo"),
        ("MlspecServingAvailabilityLow",
         'project:mlspec_serving_availability:ratio_rate1h{project="churn"} < 0.995', "15m", "critical", "slo"),
        ("MlspecLlmCostOverBudget", 'project:mlspec_llm_cost_per_1k_requests_usd:rate1h{project="churn"} > 2',
         "15m", "warning", "budget"),
        ("MlspecLlmTokensOverBudget", 'project:mlspec_llm_tokens_per_request:rate1h{project="churn"} > 4000',
         "15m", "warning", "budget"),
        ("MlspecLlmLatencyOverBudget", 'project:mlspec_llm_latency_seconds:p95_rate5m{project="churn"} > 1.5',
         "10m", "warning", "budget"),
        ("MlspecLlmEvalOverBudget",
         'mlspec_llm_eval_budget_value{project="churn", budget="max_tokens_per_request"} > 4000',
         None, "warning", "budget"),
        ("MlspecLlmEvalOverBudget", 'mlspec_llm_eval_budget_value{project="churn", budget="latency_p95_ms"} > 1500',
         None, "warning", "budget"),
        ("MlspecLlmEvalOverBudget",
         'mlspec_llm_eval_budget_value{project="churn", budget="cost_per_1k_requests_usd"} > 2',
         None, "warning", "budget"),
    ]
    records = {r["record"]: r["expr"] for r in rules_of(files, "churn") if "record" in r}
    assert records == {
        "project:mlspec_serving_latency_seconds:p95_rate5m":
            'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{project="churn"}[5m])))',
        "project:mlspec_serving_error_ratio:rate5m":
            '(sum(rate(http_requests_total{project="churn", status=~"5.."}[5m])) or vector(0))'
            ' / sum(rate(http_requests_total{project="churn"}[5m]))',
        "project:mlspec_serving_availability:ratio_rate1h":
            'sum(rate(http_requests_total{project="churn", status!~"5.."}[1h]))'
            ' / sum(rate(http_requests_total{project="churn"}[1h]))',
        "project:mlspec_llm_cost_per_1k_requests_usd:rate1h":
            '1000 * sum(rate(mlspec_llm_cost_usd_total{project="churn"}[1h]))'
            ' / sum(rate(mlspec_llm_requests_total{project="churn"}[1h]))',
        "project:mlspec_llm_tokens_per_request:rate1h":
            'sum(rate(mlspec_llm_tokens_total{project="churn"}[1h]))'
            ' / sum(rate(mlspec_llm_requests_total{project="churn"}[1h]))',
        "project:mlspec_llm_latency_seconds:p95_rate5m":
            'histogram_quantile(0.95, sum by (le) (rate(mlspec_llm_request_duration_seconds_bucket{project="churn"}[5m])))',
    }
    for a in alerts:
        assert a["labels"]["project"] == "churn"
        assert a["labels"]["event"] in EVENTS
        assert list(a["annotations"]) == ["summary", "description", "runbook_url"]
        assert a["annotations"]["runbook_url"] == f"monitoring/prometheus/churn.runbook.md#{a['alert'].lower()}"
    runbook = files["monitoring/prometheus/churn.runbook.md"]
    for name in {a["alert"] for a in alerts}:
        assert f"\n## {name}\n" in runbook


def test_only_known_metric_names(reference) -> None:
    """Every metric an expression reads is one the runtime pushes, the server exports or a rule records."""
    plan, files, _ = reference
    rules = rules_of(files, "churn")
    known = set(M.BY_NAME) | {r["record"] for r in rules if "record" in r}
    known |= {plan.serving.requests_total, plan.serving.latency_histogram + "_bucket"}
    known |= {m.name + "_bucket" for m in M.ALL if m.type == "histogram"}
    for r in rules:
        for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", r["expr"]):
            assert name in known, (name, r["expr"])


def test_every_alert_has_a_firing_and_a_quiet_case(reference) -> None:
    _, files, _ = reference
    tests = yaml.safe_load(files["monitoring/prometheus/churn.rules.test.yml"])
    assert tests["rule_files"] == ["churn.rules.yml"]
    for a in alerts_of(files, "churn"):
        firing, quiet_at = [], set()
        for case in tests["tests"]:
            for check in case["alert_rule_test"]:
                if check["alertname"] != a["alert"]:
                    continue
                for exp in check["exp_alerts"]:
                    if all(exp["exp_labels"].get(k) == v for k, v in a["labels"].items()):
                        firing.append((check["eval_time"], case))
                if not check["exp_alerts"]:
                    quiet_at.add((check["eval_time"], json.dumps(case["input_series"])))
        assert firing, a
        eval_time, case = firing[0]

        def metrics(inputs: list[dict[str, str]]) -> set[str]:
            return {s["series"].split("{")[0] for s in inputs}

        # A quiet case at the same time over the same metrics, with other values.
        assert any(t == eval_time and metrics(json.loads(inputs)) == metrics(case["input_series"])
                   and json.loads(inputs) != case["input_series"] for t, inputs in quiet_at), a["alert"]


def test_values_derive_from_thresholds(reference) -> None:
    _, files, _ = reference
    tests = yaml.safe_load(files["monitoring/prometheus/churn.rules.test.yml"])
    values = {(s["series"], s["values"]) for case in tests["tests"] for s in case["input_series"]}
    psi = 'mlspec_drift_score{project="churn", column="tenure_months", method="psi"}'
    chi2 = 'mlspec_drift_pvalue{project="churn", column="contract", method="chi2"}'
    assert {(psi, "0.4+0x15"), (psi, "0.1+0x15"), (chi2, "0.001+0x15"), (chi2, "0.05+0x15")} <= values


def test_alertmanager_routes(reference) -> None:
    plan, files, _out = reference
    am = yaml.safe_load(files["monitoring/alertmanager/churn.yml"])
    assert am["global"]["slack_api_url_file"] == "/etc/alertmanager/secrets/slack_api_url"
    (receiver,) = [r for r in am["receivers"] if r["name"] != "mlspec-default"]
    assert receiver == {"name": "churn-0-slack",
                        "slack_configs": [{"channel": "#growth-ml-alerts", "send_resolved": True}]}
    project_route = am["route"]["routes"][0]
    assert project_route["matchers"] == ['project="churn"']
    # The entry's events are split by how often each may change; each event is routed once.
    repeats = {}
    for route in project_route["routes"]:
        assert route["receiver"] == "churn-0-slack" and route["continue"] is True
        events, severity = route["matchers"]
        assert severity == 'severity=~"warning|critical"'
        for event in events.removeprefix('event=~"').removesuffix('"').split("|"):
            assert event not in repeats
            repeats[event] = route["repeat_interval"]
    assert plan.monitoring.schedule_text == "@hourly"   # checks run hourly: repeat at the 4 h floor
    assert repeats == {"data_drift": "4h", "concept_drift": "4h", "pipeline_drift": "4h", "freshness": "4h",
                       "slo": "1h", "pipeline_failure": "1h", "budget": "4h"}
    assert am["route"]["repeat_interval"] == "4h"


@pytest.mark.parametrize(("schedule", "check_repeat"), [("@hourly", "4h"), ("0 */6 * * *", "6h"),
                                                         ("@daily", "1d"), ("0 3 * * 1", "7d")])
def test_check_alerts_repeat_once_per_run_of_their_check(schedule: str, check_repeat: str) -> None:
    """A daily drift check's alert repeats daily, not every 4 h; never more often than 4 h."""
    import dataclasses

    from mlspec.compiler.plan import Alert
    from mlspec.api import check_project
    from mlspec.language.types import cron_expression, cron_period_seconds
    from mlspec.targets.prometheus import PrometheusOptions
    from mlspec.targets.prometheus.alertmanager import alertmanager_document

    plan = check_project(ROOT / "examples" / "churn" / "mlproject.yaml", targets=("prometheus",)).plan
    mon = dataclasses.replace(plan.monitoring, period_seconds=cron_period_seconds(cron_expression(schedule)),
                              alerts=(Alert("slack", "#x", ("data_drift", "slo"), "warning"),))
    am = alertmanager_document(dataclasses.replace(plan, monitoring=mon), PrometheusOptions())
    routes = {r["matchers"][0]: r["repeat_interval"] for r in am["route"]["routes"][0]["routes"]}
    assert routes == {'event=~"data_drift"': check_repeat, 'event=~"slo"': "1h"}


def _secret_keys(node: Any, path: str = "") -> list[str]:
    bad = {"api_url", "slack_api_url", "routing_key", "service_key", "smtp_auth_password", "auth_password",
           "password", "url_secret", "credentials"}
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in bad:
                found.append(f"{path}.{k}")
            found += _secret_keys(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _secret_keys(v, f"{path}[{i}]")
    return found


# --------------------------------------------------------------------------- a richer synthetic spec

HOSTILE_COLUMNS = [
    'monthly "charges"',
    "back\\slash \\n \\\" end\\",
    'x"} > 0 or vector(1) > 0 #',
    "brace { and } single",
    "$__range ${datasource} $labels",
    "emoji 😀 naïve ℵ",
    "<b>bold</b> & 'co'",
    "  padded  ",
]
# Slack channels are whitelisted by the compiler (MS112); e-mail addresses and PagerDuty key names are not.
HOSTILE_TO = 'o"k\\{brace}$x<b>ünï😀@example.com'
HOSTILE_KEY = 'PD KEY/../x {y} "z"'


def hostile_spec() -> dict[str, Any]:
    return {
        "mlspec": 1,
        "project": {"name": "hostile", "description": "Hostile strings"},
        "data": {
            "ref": {"uri": "data/ref.csv", "freshness": "90s",
                    "schema": {c: {"type": "float"} for c in HOSTILE_COLUMNS}},
            "cur": {"uri": "data/cur.csv", "freshness": "7d"},
        },
        "training": {"run": "python train.py", "outputs": {"model": "models/model.bin"}},
        "serving": {"mode": "online", "run": "python serve.py", "port": 8080,
                    "slo": {"latency_p95_ms": 123.45, "error_rate": 0, "availability": 1},
                    "metrics": {"latency_histogram": "app:latency_seconds", "requests_total": "app_requests_total"}},
        "monitoring": {
            "reference": "data.ref", "current": "data.cur",
            "drift": [
                {"columns": HOSTILE_COLUMNS, "method": "psi", "threshold": 0.1},
                {"columns": HOSTILE_COLUMNS[:2], "method": "psi", "threshold": 0.25, "severity": "critical"},
                {"columns": HOSTILE_COLUMNS[2:4], "method": "ks", "threshold": 0.05},
                {"columns": HOSTILE_COLUMNS[2:3], "method": "ks", "threshold": 0.001, "severity": "critical"},
            ],
            "performance": {"metric": "rmse.v2-test", "min": 0, "max": 12.5, "window": "1d"},
            "schema_checks": True,
            "checks": [{"name": "hostile_check", "description": HOSTILE_COLUMNS[2], "run": "python check.py",
                        "bounds": [{"metric": "psi.v2-test", "max": 0.2, "description": HOSTILE_COLUMNS[4]},
                                   {"metric": "rate", "min": 0.1, "max": 0.9, "description": HOSTILE_COLUMNS[1]}],
                        "event": "data_drift", "severity": "critical"}],
            "alerts": [
                {"channel": "slack", "to": "#ml-alerts"},
                {"channel": "email", "to": HOSTILE_TO, "on": ["slo", "budget"], "severity": "critical"},
                {"channel": "pagerduty", "to": HOSTILE_KEY, "on": ["pipeline_failure"]},
                {"channel": "webhook", "to": "https://hooks.example.com/ml?team=growth", "on": ["data_drift"]},
            ],
        },
        "llm": {"model": {"provider": "anthropic", "name": "claude-sonnet"},
                "budgets": {"cost_per_1k_requests_usd": 0.0123, "latency_p95_ms": 2500,
                            "max_tokens_per_request": 777}},
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Any, dict[str, str], Path]:
    out = tmp_path_factory.mktemp("hostile")
    plan, files = compile_data(hostile_spec(), out)
    return plan, files, out


def test_hostile_label_matchers_round_trip(hostile) -> None:
    """The column label of every drift rule, its static label and its test series all decode to the column."""
    _, files, _ = hostile
    drift = [a for a in alerts_of(files, "hostile") if a["alert"] == "MlspecDataDrift"]
    seen = set()
    for a in drift:
        literal = re.search(r'column=("(?:[^"\\]|\\.)*")', a["expr"]).group(1)
        column = json.loads(literal)
        assert column in HOSTILE_COLUMNS
        labels = a["labels"]
        static = template_constants(labels["column"])
        assert (static[0] if static else labels["column"]) == column
        seen.add(column)
    assert seen == set(HOSTILE_COLUMNS)
    # Tiers: one rule per column, method and severity.
    assert len(drift) == len(HOSTILE_COLUMNS) + 2 + 2 + 1


def test_hostile_text_never_becomes_a_template(hostile) -> None:
    _, files, _ = hostile
    for a in alerts_of(files, "hostile"):
        for value in [*a["labels"].values(), *a["annotations"].values()]:
            template_constants(value)
    am = yaml.safe_load(files["monitoring/alertmanager/hostile.yml"])
    email = next(r for r in am["receivers"] if "email_configs" in r)["email_configs"][0]
    assert template_constants(email["to"]) == [HOSTILE_TO]
    assert _secret_keys(am) == []
    pd = next(r for r in am["receivers"] if "pagerduty_configs" in r)["pagerduty_configs"][0]
    assert pd["routing_key_file"] == "/etc/alertmanager/secrets/PD_KEY_.._x__y___z"


def test_webhook_target_must_be_a_url(hostile) -> None:
    """The compiler already wants https (MS111); the target still refuses what Alertmanager cannot post to."""
    plan, _, _ = hostile
    mon = plan.monitoring
    bad = dataclasses.replace(mon.alerts[3], to="https://hooks example")
    injected = dataclasses.replace(plan, monitoring=dataclasses.replace(mon, alerts=(bad,)))
    target = PrometheusTarget(PrometheusTarget.options_model(runbook_url="https://example.com/r/"))  # no MS420
    assert [(d.code, d.dotted_path) for d in target.check(injected)] == [
        (dx.TARGET_CANNOT_EXPRESS, "monitoring.alerts[0].to")]
    assert target.check(plan) == []
    # without a runbook base URL the links are relative: a warning
    assert [d.code for d in PrometheusTarget().check(plan)] == [dx.RUNBOOK_URL_RELATIVE]


def test_minimal_spec_alerts_on_pipeline_failure_only(tmp_path) -> None:
    _plan, files = compile_data({"mlspec": 1, "project": {"name": "mini"},
                                "training": {"run": "python t.py", "outputs": {"model": "m.bin"}}}, tmp_path)
    assert sorted(files) == ["monitoring/prometheus/mini.rules.test.yml", "monitoring/prometheus/mini.rules.yml",
                             "monitoring/prometheus/mini.runbook.md"]
    assert [a["alert"] for a in alerts_of(files, "mini")] == ["MlspecPipelineFailed"]


def test_deterministic(reference) -> None:
    plan, files, _ = reference
    again = {a.path: a.render(plan.source) for a in PrometheusTarget().emit(plan)}
    assert again == files


# --------------------------------------------------------------------------- validators


def _example_outputs(tmp_path: Path) -> list[tuple[str, dict[str, str], Path]]:
    outs = []
    for ex in EXAMPLES:
        out = tmp_path / ex
        _, files = compile_spec(ROOT / "examples" / ex / "mlproject.yaml", out)
        outs.append((ex, files, out))
    return outs


@validator
def test_promtool_on_every_example(tmp_path) -> None:
    for ex, files, out in _example_outputs(tmp_path):
        rules = sorted(out / p for p in files if p.endswith(".rules.yml"))
        tests = sorted(out / p for p in files if p.endswith(".rules.test.yml"))
        assert rules and tests, ex
        assert V.promtool_check_rules(rules) == []
        assert V.promtool_test_rules(tests) == []
        assert V.yamllint(rules + tests) == []


@validator
def test_amtool_on_every_example(tmp_path) -> None:
    checked = 0
    for ex, files, out in _example_outputs(tmp_path):
        for p in files:
            if p.startswith("monitoring/alertmanager/"):
                assert V.amtool_check_config(out / p) == []
                assert V.yamllint([out / p]) == []
                checked += 1
    assert checked


@validator
def test_reference_routing_by_amtool(reference) -> None:
    _, _, out = reference
    config = out / "monitoring/alertmanager/churn.yml"
    assert route(config, project="churn", event="data_drift", severity="warning") == "churn-0-slack"
    assert route(config, project="churn", event="budget", severity="critical") == "churn-0-slack"
    assert route(config, project="other", event="data_drift", severity="warning") == "mlspec-default"


@validator
def test_hostile_spec_passes_every_validator(hostile) -> None:
    """promtool runs the generated tests, whose exp_labels are the raw strings: matchers round-trip."""
    _, files, out = hostile
    assert V.promtool_check_rules([out / "monitoring/prometheus/hostile.rules.yml"]) == []
    assert V.promtool_test_rules([out / "monitoring/prometheus/hostile.rules.test.yml"]) == []
    config = out / "monitoring/alertmanager/hostile.yml"
    assert V.amtool_check_config(config) == []
    am = yaml.safe_load(files["monitoring/alertmanager/hostile.yml"])
    email = next(r for r in am["receivers"] if "email_configs" in r)["email_configs"][0]
    assert render_go(email["to"]) == HOSTILE_TO
    # Severity floors and event filters.
    assert route(config, project="hostile", event="slo", severity="warning") == "hostile-0-slack"
    assert route(config, project="hostile", event="slo", severity="critical") == "hostile-0-slack,hostile-1-email"
    assert route(config, project="hostile", event="pipeline_failure", severity="critical") == (
        "hostile-0-slack,hostile-2-pagerduty")
    assert route(config, project="hostile", event="data_drift", severity="warning") == (
        "hostile-0-slack,hostile-3-webhook")


@validator
def test_injected_template_syntax_stays_inert(tmp_path, hostile) -> None:
    """Past the compiler's MS310 check (a Plan built by hand), `{{ … }}` and newlines are still data."""
    plan, _, _ = hostile
    evil = ['{{ range query "up" }}{{ . }}{{ end }}', "line\nbreak }}{{", '{{ $value }}"} or vector(1)']
    mon = plan.monitoring
    drift = tuple(dataclasses.replace(d, column=evil[i % len(evil)]) for i, d in enumerate(mon.drift[:3]))
    alerts = (dataclasses.replace(mon.alerts[0], to="{{ template \"slack.default.title\" . }}\n#x"),)
    injected = dataclasses.replace(plan, monitoring=dataclasses.replace(mon, drift=drift, alerts=alerts))
    files = write(injected, PrometheusTarget().emit(injected), tmp_path)
    for a in alerts_of(files, "hostile"):
        for value in [*a["labels"].values(), *a["annotations"].values()]:
            template_constants(value)
    assert V.promtool_check_rules([tmp_path / "monitoring/prometheus/hostile.rules.yml"]) == []
    assert V.promtool_test_rules([tmp_path / "monitoring/prometheus/hostile.rules.test.yml"]) == []
    am = yaml.safe_load(files["monitoring/alertmanager/hostile.yml"])
    assert V.amtool_check_config(tmp_path / "monitoring/alertmanager/hostile.yml") == []
    channel = am["receivers"][1]["slack_configs"][0]["channel"]
    assert render_go(channel) == alerts[0].to


def _mutate(src: Path, out: Path, project: str, mutate) -> Path:
    """Copy rules and tests from ``src`` to ``out`` with ``mutate(rule)`` applied to every alerting rule."""
    doc = yaml.safe_load((src / f"monitoring/prometheus/{project}.rules.yml").read_text(encoding="utf-8"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                mutate(rule)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{project}.rules.yml").write_text(yaml_dump(doc), encoding="utf-8")
    test = out / f"{project}.rules.test.yml"
    shutil.copy(src / f"monitoring/prometheus/{project}.rules.test.yml", test)
    return test


def _scale_threshold(rule: dict[str, Any]) -> None:
    if rule["expr"].startswith("absent("):
        # no threshold: watch another series instead, so the alert fires when its test says quiet
        rule["expr"] = rule["expr"].replace('node="monitoring"', 'node="nosuch"')
        return
    m = re.fullmatch(r"(.*) (>|<|==) (\S+)", rule["expr"])
    assert m, rule["expr"]
    t = float(m.group(3))
    rule["expr"] = f"{m.group(1)} {m.group(2)} {t * 100 if t else 10!r}"


@validator
def test_generated_tests_catch_a_wrong_threshold(reference, tmp_path) -> None:
    """Thresholds ×100 (0 → 10): every alert's generated test fails."""
    _, files, out = reference
    test = _mutate(out, tmp_path, "churn", _scale_threshold)
    r = subprocess.run([V.require_tool("promtool"), "test", "rules", test.name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode != 0
    for name in {a["alert"] for a in alerts_of(files, "churn")}:
        assert f"alertname: {name}" in r.stdout + r.stderr, name


@validator
def test_generated_tests_catch_a_missing_for(reference, tmp_path) -> None:
    _, _, out = reference
    test = _mutate(out, tmp_path, "churn", lambda rule: rule.pop("for", None))
    assert V.promtool_test_rules([test]) != []



@validator
def test_serving_labels_option_selects_the_server_metrics(tmp_path) -> None:
    data = {key: value for key, value in hostile_spec().items() if key not in ("monitoring", "llm")}
    data["targets"] = {"prometheus": {"serving_labels": {"namespace": "ml", "job": 'serving "a" $1'}}}
    _, files = compile_data(data, tmp_path)
    records = [r for r in rules_of(files, "hostile") if r.get("record", "").startswith("project:mlspec_serving")]
    assert records and all('{job="serving \\"a\\" $1", namespace="ml"' in r["expr"] for r in records)
    assert all(r["labels"] == {"project": "hostile"} for r in records)
    assert V.promtool_check_rules([tmp_path / "monitoring/prometheus/hostile.rules.yml"]) == []
    assert V.promtool_test_rules([tmp_path / "monitoring/prometheus/hostile.rules.test.yml"]) == []


@validator
@pytest.mark.parametrize("example", [e for e in EXAMPLES if (ROOT / "examples" / e / "monitoring" / "alertmanager").is_dir()])
def test_every_alert_reaches_the_receivers_the_spec_names(example: str) -> None:
    """Alerts × routes, asked of amtool itself: each alert the rules can raise reaches exactly the
    receivers whose `on` and `severity` take it (else the silent default), and every one exists."""
    from mlspec.targets.prometheus import SEVERITIES

    folder = ROOT / "examples" / example
    spec = yaml.safe_load((folder / "mlproject.yaml").read_text(encoding="utf-8"))
    project = spec["project"]["name"]
    config = folder / "monitoring" / "alertmanager" / f"{project}.yml"
    receivers = {r["name"] for r in yaml.safe_load(config.read_text(encoding="utf-8"))["receivers"]}
    rules = yaml.safe_load((folder / "monitoring" / "prometheus" / f"{project}.rules.yml").read_text())
    alerts = {(r["alert"], r["labels"]["event"], r["labels"]["severity"])
              for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts
    amtool = V.require_tool("amtool")
    for name, event, severity in sorted(alerts):
        expected = [f"{project}-{i}-{a['channel']}" for i, a in enumerate(spec["monitoring"]["alerts"])
                    if event in a.get(True, a.get("on", EVENTS))   # PyYAML reads the key `on` as True
                    and SEVERITIES.index(severity) >= SEVERITIES.index(a.get("severity", "warning"))]
        r = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config}", f"project={project}",
                            f"event={event}", f"severity={severity}", f"alertname={name}"],
                           capture_output=True, text=True, timeout=60, check=False)
        got = r.stdout.strip().split(",")
        assert got == (expected or ["mlspec-default"]), (name, event, severity, r.stdout, r.stderr)
        assert set(got) <= receivers


@validator
@pytest.mark.parametrize("example", [e for e in EXAMPLES
                                     if (ROOT / "examples" / e / "monitoring" / "prometheus").is_dir()])
def test_the_scrape_config_is_valid_and_keeps_pushed_labels(example: str) -> None:
    folder = ROOT / "examples" / example / "monitoring" / "prometheus"
    for path in folder.glob("*.scrape.yml"):
        r = subprocess.run([V.require_tool("promtool"), "check", "config", str(path)], capture_output=True,
                           text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        jobs = yaml.safe_load(path.read_text())["scrape_configs"]
        assert all(j["honor_labels"] is True for j in jobs if j["job_name"].endswith("-pushgateway"))
