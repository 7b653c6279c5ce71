"""`mlspec gate`: bounds, broken metrics files, the production baseline, outputs."""

from __future__ import annotations

import json

import pytest

from tests.runtime.conftest import codes


def _register(project, mlspec, roc_auc):
    project.write("models/model.joblib", f"model with auc {roc_auc}")
    project.metrics(roc_auc=roc_auc, p95_latency_ms=10)
    r = mlspec("register")
    assert r.exit_code == 0, r.output


def test_passing_gates_first_model(project, mlspec):
    project.metrics(roc_auc=0.85, p95_latency_ms=42)
    r = mlspec("gate")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["gate", "metric", "value", "bound", "result"]
    assert lines[2].split() == ["roc_auc_min", "roc_auc", "0.85", ">=", "0.8", "pass"]
    assert "first model" in r.stdout
    result = json.loads((project.root / ".mlspec/gates/result.json").read_text())
    assert result["passed"] is True and [g["id"] for g in result["results"]] == [
        "roc_auc_min", "p95_latency_ms_max", "roc_auc_baseline"]


def test_failing_gate_exit_1_points_at_the_gate(project, mlspec):
    project.metrics(roc_auc=0.7, p95_latency_ms=60)
    r = mlspec("gate")
    assert r.exit_code == 1
    assert "mlproject.yaml:31:7: error[MS601]: gate roc_auc_min failed: roc_auc = 0.7 is below 0.8" in r.stderr
    assert "gate p95_latency_ms_max failed: p95_latency_ms = 60 is above 50" in r.stderr
    assert "gates: 1 passed, 2 failed" in r.stdout


@pytest.mark.parametrize("body, problem", [
    ('{"roc_auc": NaN, "p95_latency_ms": 1}', "is not finite (NaN)"),
    ('{"roc_auc": Infinity, "p95_latency_ms": 1}', "is not finite (Infinity)"),
    ('{"roc_auc": 1e400, "p95_latency_ms": 1}', "is not finite (Infinity)"),
    ('{"roc_auc": "0.9", "p95_latency_ms": 1}', "is not a number ('0.9')"),
    ('{"roc_auc": true, "p95_latency_ms": 1}', "is not a number (True)"),
    ('{"roc_auc": null, "p95_latency_ms": 1}', "is not a number (None)"),
    ('{"roc_auc": [0.9], "p95_latency_ms": 1}', "is not a number (list)"),
    ('{"p95_latency_ms": 1}', "is missing"),
])
def test_unusable_metric_is_ms602(project, mlspec, body, problem):
    project.write("metrics/eval.json", body)
    r = mlspec("gate", "--format", "json")
    assert r.exit_code == 1
    out = r.json
    assert out["ok"] is False and out["passed"] is False
    msgs = [d["message"] for d in out["diagnostics"] if d["code"] == "MS602"]
    assert msgs and all(f"metric 'roc_auc' {problem} in metrics/eval.json" in m for m in msgs), msgs
    assert set(codes(r)) == {"MS602"}
    assert out["results"][1]["passed"] is True           # the other gate still evaluated


@pytest.mark.parametrize("body, message", [
    (None, "metrics file metrics/eval.json does not exist"),
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ("", "is not valid JSON"),
])
def test_unreadable_metrics_file_is_ms605(project, mlspec, body, message):
    if body is not None:
        project.write("metrics/eval.json", body)
    r = mlspec("gate")
    assert r.exit_code == 1
    assert "error[MS605]" in r.stderr and message in r.stderr


def test_baseline_gate_against_registered_production(project, mlspec):
    _register(project, mlspec, 0.85)
    project.metrics(roc_auc=0.83, p95_latency_ms=42)
    r = mlspec("gate")
    assert r.exit_code == 1
    assert "roc_auc_baseline    roc_auc         0.83   >= 0.84 (production v1 0.85 - 0.01)  FAIL" in r.stdout
    assert "error[MS601]: gate roc_auc_baseline failed" in r.stderr

    project.metrics(roc_auc=0.84, p95_latency_ms=42)     # exactly at the allowed regression: passes
    assert mlspec("gate").exit_code == 0
    _register(project, mlspec, 0.9)                      # a better model is now in production
    project.metrics(roc_auc=0.86, p95_latency_ms=42)
    r = mlspec("gate", "--format", "json")
    assert r.exit_code == 1 and r.json["baseline"] == "production v2"
    assert r.json["results"][2]["baseline_value"] == 0.9


def test_baseline_file_and_lower_is_better(project, mlspec):
    spec = project.spec.read_text().replace(
        "    - metric: roc_auc\n      baseline: production\n      max_regression: 0.01\n",
        "    - metric: p95_latency_ms\n      baseline: production\n      higher_is_better: false\n"
        "      max_regression: 5\n")
    project.write("mlproject.yaml", spec)
    project.write("prod.json", json.dumps({"p95_latency_ms": 30}))
    project.metrics(roc_auc=0.9, p95_latency_ms=36)
    r = mlspec("gate", "--baseline", "prod.json")
    assert r.exit_code == 1 and "<= 35 (prod.json 30 + 5)" in r.stdout
    project.metrics(roc_auc=0.9, p95_latency_ms=35)
    assert mlspec("gate", "--baseline", "prod.json").exit_code == 0
    project.write("prod.json", json.dumps({"other": 1}))
    r = mlspec("gate", "--baseline", "prod.json")
    assert r.exit_code == 1 and "baseline metric 'p95_latency_ms' is missing in prod.json" in r.stderr


def test_production_without_the_metric_passes_with_a_note(project, mlspec):
    project.write("models/model.joblib", "m")
    project.metrics(p95_latency_ms=10)                    # the production model had no roc_auc
    assert mlspec("register").exit_code == 0
    project.metrics(roc_auc=0.9, p95_latency_ms=10)
    r = mlspec("gate")
    assert r.exit_code == 0 and "baseline comparison skipped" in r.stdout


def test_output_textfile_and_unreachable_pushgateway(project, mlspec):
    project.metrics(roc_auc=0.9, p95_latency_ms=10)
    r = mlspec("gate", "--output", "out/gate.json", "--textfile", "out/gate.prom",
               "--pushgateway", "http://127.0.0.1:9", "--format", "json")
    assert r.exit_code == 0                               # a push failure does not change the verdict
    assert codes(r) == ["MS609"] and r.json["diagnostics"][0]["severity"] == "warning"
    assert json.loads((project.root / "out/gate.json").read_text())["passed"] is True
    prom = (project.root / "out/gate.prom").read_text()
    assert 'mlspec_gate_value{project="churn",gate="roc_auc_min",metric="roc_auc"} 0.9' in prom
    assert 'mlspec_gate_passed{project="churn",gate="roc_auc_baseline",metric="roc_auc"} 1' in prom


def test_no_push_environment_pushes_nothing(project, mlspec, monkeypatch):
    """A pull request's trial run sets MLSPEC_NO_PUSH=1: its gates are no production signal."""
    project.metrics(roc_auc=0.9, p95_latency_ms=10)
    monkeypatch.setenv("MLSPEC_NO_PUSH", "1")
    r = mlspec("gate", "--pushgateway", "http://127.0.0.1:9", "--format", "json")
    assert r.exit_code == 0 and codes(r) == []              # no attempt, so no MS609 warning
    assert r.json["push"]["pushed"] is False and r.json["push"]["pushgateway"] is None


def test_spec_without_gates(project, mlspec):
    project.write("mlproject.yaml", "mlspec: 1\nproject: {name: tiny}\n"
                  "training: {run: 'true', outputs: {model: m.bin}}\n")
    r = mlspec("gate", "--format", "json")
    assert r.exit_code == 0 and r.json["results"] == []


def test_dotted_metric_reads_nested_json(project, mlspec):
    """dvclive writes {"roc_auc": {"test": …}}: `metric: roc_auc.test` reads it; a flat key wins."""
    spec = project.spec.read_text().replace("    - metric: roc_auc\n", "    - metric: roc_auc.test\n")
    assert spec != project.spec.read_text()
    project.write("mlproject.yaml", spec)
    project.write("metrics/eval.json", json.dumps({"roc_auc": {"train": 0.99, "test": 0.85}, "p95_latency_ms": 10}))
    r = mlspec("gate", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["results"][0]["value"] == 0.85
    project.write("metrics/eval.json", json.dumps({"roc_auc": {"test": 0.85}, "roc_auc.test": 0.7,
                                                   "p95_latency_ms": 10}))
    r = mlspec("gate", "--format", "json")
    assert r.exit_code == 1 and r.json["results"][0]["value"] == 0.7      # the flat key wins
    project.write("metrics/eval.json", json.dumps({"roc_auc": {"train": 0.99}, "p95_latency_ms": 10}))
    r = mlspec("gate")
    assert r.exit_code == 1 and "metric 'roc_auc.test' is missing" in r.stderr
