"""Every validator wrapper in tests/validators.py accepts a tiny good sample and rejects a tiny bad one.

This proves that each wrapper really runs its tool and can fail: a wrapper that silently
returned [] (wrong flags, unparsed output, tool not found) would make every artifact test
pass. Samples live in tests/validator_samples/ (written for this purpose, not generated).
"""

from __future__ import annotations

import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import validators as V

SAMPLES = Path(__file__).parent / "validator_samples"
REPO = Path(__file__).resolve().parent.parent

validator = pytest.mark.validator


def sample(rel: str) -> Path:
    return SAMPLES / rel


# (id, validator, good sample or None, bad sample, substrings every one of which must occur in the findings)
FILE_CASES = [
    ("actionlint", V.actionlint, "workflows/good.yml", "workflows/bad_actionlint.yml",
     ["actionlint[job-needs]", "actionlint[expression]", "actionlint[shellcheck]", "SC2086"]),
    ("zizmor", V.zizmor, "workflows/good.yml", "workflows/bad_zizmor.yml",
     ["zizmor[unpinned-uses]", "zizmor[template-injection]", "zizmor[dangerous-triggers]", "zizmor[artipacked]"]),
    ("zizmor-invalid-workflow", V.zizmor, None, "workflows/bad_schema.yml", ["zizmor[error]: exit 3"]),
    ("check-jsonschema", V.check_jsonschema_workflows, "workflows/good.yml", "workflows/bad_schema.yml",
     ["check-jsonschema[vendor.github-workflows]", "'runs-on' is a required property"]),
    ("check-jsonschema-timeout", V.check_jsonschema_workflows, None, "workflows/bad_no_timeout.yml",
     ["check-jsonschema[custom.github-workflows-require-timeout]", "'timeout-minutes' is a required property"]),
    ("hadolint", V.hadolint, "docker/good.Dockerfile", "docker/bad.Dockerfile",
     ["hadolint[DL3007]", "hadolint[DL4000]", "hadolint[DL3025]", "hadolint[DL3015]: info"]),
    ("promtool-check-rules", V.promtool_check_rules, "prometheus/good.rules.yml", "prometheus/bad_syntax.rules.yml",
     ["not a valid duration string"]),
    ("promtool-check-rules-lint", V.promtool_check_rules, None, "prometheus/bad_duplicate.rules.yml",
     ["duplicate rule"]),
    ("promtool-test-rules", V.promtool_test_rules, "prometheus/good.rules.test.yml", "prometheus/bad.rules.test.yml",
     ["promtool-test-rules", "ModelHighErrorRate", "got:[]"]),
    ("amtool", V.amtool_check_config, "alertmanager/good.yml", "alertmanager/bad.yml",
     ['undefined receiver "pager"']),
    ("yamllint", V.yamllint, "yaml/good.yml", "yaml/bad.yml",
     ["yamllint[key-duplicates]", "yamllint[trailing-spaces]", "yamllint[indentation]"]),
    ("pyflakes", V.pyflakes, "python/good.py", "python/bad.py",
     ["'os' imported but unused", "undefined name 'json'"]),
    ("shellcheck", V.shellcheck, "shell/good.sh", "shell/bad.sh", ["shellcheck[SC2086]", "shellcheck[SC2164]"]),
    ("graphviz-dot", V.graphviz_dot, "graphviz/good.dot", "graphviz/bad.dot", ["syntax error"]),
    ("grafana-tsc", V.grafana_tsc, "grafana/good.json", "grafana/bad.json",
     ["grafana-schema(tsc)[TS2322]", "Property 'to' is missing", "Property 'w' is missing"]),
]


@validator
@pytest.mark.parametrize(
    "check, good",
    [pytest.param(check, good, id=cid) for cid, check, good, _, _ in FILE_CASES if good],
)
def test_good_sample_has_no_findings(check, good):
    assert check(sample(good)) == []


@validator
@pytest.mark.parametrize(
    "check, bad, expected",
    [pytest.param(check, bad, expected, id=cid) for cid, check, _, bad, expected in FILE_CASES],
)
def test_bad_sample_is_rejected(check, bad, expected):
    findings = check(sample(bad))
    assert findings, f"{check.__name__} found nothing wrong in {bad}"
    text = "\n".join(findings)
    missing = [e for e in expected if e not in text]
    assert not missing, f"expected {missing} among the findings:\n{text}"
    assert str(sample(bad)) in text, "findings must name the file"


@validator
def test_yamllint_accepts_every_good_yaml_sample():
    good = sorted(p for p in SAMPLES.rglob("good*.y*ml"))
    assert len(good) >= 5
    assert V.yamllint(good) == []


@validator
def test_validators_refuse_empty_input():
    with pytest.raises(ValueError):
        V.actionlint([])
    with pytest.raises(ValueError):
        V.promql_parse([])


# ------------------------------------------------------------------ PromQL (Grafana targets)
@validator
def test_promql_parse():
    good = V.dashboard_exprs(sample("grafana/good.json")) + [
        'histogram_quantile(0.95, sum by (le) (rate(http_duration_seconds_bucket{job="$job"}[$__interval])))',
        "sum(increase(model_predictions_total[${__range}]))",
    ]
    assert V.promql_parse(good) == []
    bad = V.dashboard_exprs(sample("grafana/bad.json")) + ["rate(model_requests_total)"]
    findings = V.promql_parse(bad)
    assert len(findings) == 2, findings
    assert "unclosed left parenthesis" in findings[0]
    assert "expected type range vector" in findings[1]


# ------------------------------------------------------------------ Pushgateway
@validator
def test_pushgateway_accepts_and_serves_metrics():
    with V.pushgateway() as url:
        assert url.startswith("http://127.0.0.1:")
        put = urllib.request.Request(
            f"{url}/metrics/job/mlspec_selfcheck", data=b"mlspec_selfcheck_value 42\n", method="PUT"
        )
        with urllib.request.urlopen(put, timeout=10) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            body = resp.read().decode()
        assert 'mlspec_selfcheck_value{instance="",job="mlspec_selfcheck"} 42' in body
        malformed = urllib.request.Request(f"{url}/metrics/job/mlspec_selfcheck", data=b"not{valid\n", method="PUT")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(malformed, timeout=10)
        assert err.value.code == 400
    with pytest.raises(urllib.error.URLError):  # stopped on exit
        urllib.request.urlopen(f"{url}/-/ready", timeout=2)


# ------------------------------------------------------------------ Kubernetes
def _in_validators_extra(package: str) -> bool:
    with open(REPO / "pyproject.toml", "rb") as fh:
        extra = tomllib.load(fh)["project"]["optional-dependencies"].get("validators", [])
    return any(req.replace("_", "-").lower().startswith(package) for req in extra)


# kubernetes-validate becomes a required validator as soon as pyproject's `validators` extra
# lists it; until then the test runs where the package is installed and skips elsewhere.
K8S_MARKS = [validator] if _in_validators_extra("kubernetes-validate") else []


@pytest.mark.parametrize("_", [pytest.param(None, id="kubernetes-validate", marks=K8S_MARKS)])
def test_kubernetes_validate(_):
    assert V.kubernetes_validate(sample("k8s/good.yaml")) == []
    text = "\n".join(V.kubernetes_validate(sample("k8s/bad.yaml")))
    for expected in (
        "'selector' is a required property",
        "spec.replicas: 'two' is not of type",
        "'name' is a required property",
        "'resource' was unexpected",
        "containerPort: '8080' is not of type 'integer'",
    ):
        assert expected in text, text


# ------------------------------------------------------------------ Airflow 3
@validator
def test_airflow_dagbag_good_dag_imports_cleanly():
    assert V.airflow_dagbag(sample("airflow/good")) == (["mlspec_selfcheck_good"], [])


@validator
def test_airflow_dagbag_rejects_airflow2_import():
    dag_ids, findings = V.airflow_dagbag(sample("airflow/bad_import"))
    assert dag_ids == []
    assert len(findings) == 1 and "import error" in findings[0], findings
    assert "airflow.operators.bash_operator" in findings[0]


@validator
def test_airflow_dagbag_reports_import_warnings():
    dag_ids, findings = V.airflow_dagbag(sample("airflow/deprecated"))
    assert dag_ids == ["mlspec_selfcheck_deprecated"]
    assert findings and all("warning" in f for f in findings), findings
    assert any("deprecated" in f for f in findings), findings


@validator
@pytest.mark.slow
def test_airflow_dag_test_runs_good_dag():
    state, tasks, findings = V.airflow_dag_test(sample("airflow/good"), "mlspec_selfcheck_good")
    assert findings == []
    assert state == "success"
    assert tasks == {"prepare": "success", "train": "success", "publish": "success"}


@validator
@pytest.mark.slow
def test_airflow_dag_test_reports_failed_task():
    # The gate exits with MLSPEC_SELFCHECK_GATE_EXIT (default 0): failing proves env reaches tasks.
    state, tasks, findings = V.airflow_dag_test(
        sample("airflow/gate"), "mlspec_selfcheck_gate", env={"MLSPEC_SELFCHECK_GATE_EXIT": "3"}
    )
    assert state == "failed"
    assert tasks == {"ok": "success", "gate": "failed", "after_gate": "upstream_failed"}
    assert len(findings) == 1 and "gate=failed" in findings[0], findings
