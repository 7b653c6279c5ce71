"""`mlspec custom-check`: a team's own monitoring check judged like the built-in ones."""

from __future__ import annotations

import json

from tests.runtime.conftest import SPEC, codes

CHECKS = """\
  checks:
    - name: prediction_drift
      run: python predict_drift.py
      bounds:
        - {metric: prediction.psi, max: 0.25, description: scores moved}
        - {metric: missing_share, min: 0, max: 0.05}
    - name: positive_rate
      run: python rate.py
      metrics: metrics/rate.json
      event: concept_drift
      severity: critical
      bounds:
        - {metric: rate, min: 0.1}
"""


def _spec(project, retrain_on: str = "[data_drift, custom_check]") -> None:
    text = SPEC.replace("  schema_checks: true\n", "  schema_checks: true\n" + CHECKS)
    text = text.replace("  on: [data_drift, concept_drift, pipeline_drift, freshness]", f"  on: {retrain_on}")
    project.write("mlproject.yaml", text)


def _state(project, name: str) -> dict:
    return json.loads((project.root / f".mlspec/monitoring/custom.{name}.json").read_text())


def test_within_bounds_pushes_every_metric_and_records_ok(project, mlspec):
    _spec(project)
    project.write("metrics/checks/prediction_drift.json",
                  json.dumps({"prediction": {"psi": 0.1}, "missing_share": 0.0, "rows": 10}))
    r = mlspec("custom-check", "prediction_drift", "--textfile", "c.prom")
    assert r.exit_code == 0, r.output
    assert "prediction.psi  0.1" in r.stdout and "check prediction_drift (custom_check): 2 metric(s) within bounds" in r.stdout
    prom = (project.root / "c.prom").read_text()
    assert 'mlspec_check_value{project="churn",check="prediction_drift",metric="prediction.psi"} 0.1' in prom
    assert 'mlspec_check_value{project="churn",check="prediction_drift",metric="missing_share"} 0\n' in prom
    state = _state(project, "prediction_drift")
    assert (state["status"], state["event"], state["kind"]) == ("ok", "custom_check", "custom.prediction_drift")


def test_out_of_bounds_is_a_finding_at_the_bound(project, mlspec):
    _spec(project)
    project.write("metrics/checks/prediction_drift.json", json.dumps({"prediction": {"psi": 0.4}, "missing_share": 0.01}))
    r = mlspec("custom-check", "--format", "json", "mlproject.yaml", "prediction_drift")
    assert r.exit_code == 1 and codes(r) == ["MS626"]
    d = r.json["diagnostics"][0]
    assert d["message"] == "check 'prediction_drift': prediction.psi = 0.4 is above max 0.25: scores moved"
    assert d["path"] == "monitoring.checks[0].bounds[0].max"
    assert [x["within_bounds"] for x in r.json["results"]] == [False, True]
    assert _state(project, "prediction_drift")["status"] == "finding"
    # The generated DAGs pass --exit-zero-on-finding: a finding is not a failed task.
    assert mlspec("custom-check", "--exit-zero-on-finding", "prediction_drift").exit_code == 0


def test_min_bound_and_own_metrics_path_and_event(project, mlspec):
    _spec(project)
    project.write("metrics/rate.json", json.dumps({"rate": 0.05}))
    r = mlspec("custom-check", "--format", "json", "positive_rate")
    assert r.exit_code == 1 and codes(r) == ["MS626"]
    assert r.json["diagnostics"][0]["path"] == "monitoring.checks[1].bounds[0].min"
    state = _state(project, "positive_rate")
    assert (state["status"], state["event"], state["severity"]) == ("finding", "concept_drift", "critical")


def test_missing_or_unusable_metric_is_an_error_never_a_finding(project, mlspec):
    _spec(project)
    # One metric out of bounds, the other unreadable: the check is an error (half-judged).
    project.write("metrics/checks/prediction_drift.json", json.dumps({"prediction": {"psi": 9}, "missing_share": "n/a"}))
    r = mlspec("custom-check", "--format", "json", "prediction_drift")
    assert r.exit_code == 1 and sorted(codes(r)) == ["MS626", "MS627"]
    assert _state(project, "prediction_drift")["status"] == "error"
    # No file at all: MS605, recorded as an error too; exit 1 even with --exit-zero-on-finding.
    (project.root / "metrics/checks/prediction_drift.json").unlink()
    r = mlspec("custom-check", "--format", "json", "--exit-zero-on-finding", "prediction_drift")
    assert r.exit_code == 1 and codes(r) == ["MS605"]
    assert _state(project, "prediction_drift")["status"] == "error"
    project.write("metrics/checks/prediction_drift.json", "[1, 2]")
    r = mlspec("custom-check", "--format", "json", "prediction_drift")
    assert r.exit_code == 1 and codes(r) == ["MS605"]


def test_unknown_check_is_a_usage_error_with_a_suggestion(project, mlspec):
    _spec(project)
    r = mlspec("custom-check", "prediction_drif")
    assert r.exit_code == 2 and "did you mean 'prediction_drift'?" in r.stderr
    r = mlspec("custom-check", "a", "b", "c")
    assert r.exit_code == 2 and "too many arguments" in r.stderr
    project.write("mlproject.yaml", SPEC)
    r = mlspec("custom-check", "x")
    assert r.exit_code == 2 and "the spec has no monitoring.checks" in r.stderr


def test_retrain_trigger_reads_custom_checks_for_their_event(project, mlspec):
    _spec(project)
    project.write("metrics/checks/prediction_drift.json", json.dumps({"prediction": {"psi": 0.1}, "missing_share": 0}))
    assert mlspec("custom-check", "prediction_drift").exit_code == 0
    r = mlspec("retrain-trigger", "--format", "json", "--dry-run")
    assert r.json["trigger"] is False
    checked = {(e["event"], e["check"]): e["status"] for e in r.json["results"]}
    assert checked == {("data_drift", "drift"): None, ("custom_check", "custom.prediction_drift"): "ok"}
    project.write("metrics/checks/prediction_drift.json", json.dumps({"prediction": {"psi": 0.3}, "missing_share": 0}))
    assert mlspec("custom-check", "prediction_drift").exit_code == 1
    r = mlspec("retrain-trigger", "--dry-run")
    assert "custom_check    raised    out of bounds: prediction.psi 0.3 [custom.prediction_drift]" in r.stdout
    r = mlspec("retrain-trigger", "--format", "json")
    assert r.json["trigger"] is True
    assert [(x["event"], x["check"]) for x in r.json["reasons"]] == [("custom_check", "custom.prediction_drift")]


def test_a_check_raising_a_builtin_event_counts_for_it(project, mlspec):
    _spec(project, retrain_on="[concept_drift]")
    project.write("metrics/live.json", json.dumps({"roc_auc": 0.9}))
    assert mlspec("performance").exit_code == 0
    project.write("metrics/rate.json", json.dumps({"rate": 0.01}))
    assert mlspec("custom-check", "positive_rate").exit_code == 1
    r = mlspec("retrain-trigger", "--format", "json", "--dry-run")
    assert r.json["trigger"] is True
    assert {(e["check"], e["raised"]) for e in r.json["results"]} == {("performance", False),
                                                                      ("custom.positive_rate", True)}
