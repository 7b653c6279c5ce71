"""`mlspec freshness`, `mlspec performance` and `mlspec retrain-trigger`."""

from __future__ import annotations

import json
import os
import time

from tests.runtime.conftest import codes

HOUR = 3600


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))
    return t


# ------------------------------------------------------------------ freshness


def test_freshness_fresh_and_stale(project, mlspec):
    fresh = _age(project.write("data/customers.csv", "x\n1\n"), 1 * HOUR)
    _age(project.write("data/outcomes/part-0.csv", "y\n"), 5 * HOUR)
    newest = _age(project.write("data/outcomes/2026/part-1.csv", "y\n"), 3 * HOUR)   # newest file counts
    _age(project.write("data/outcomes/.hidden", "ignored"), 0)
    r = mlspec("freshness", "--format", "json", "--textfile", "f.prom")
    assert r.exit_code == 1
    res = {x["source"]: x for x in r.json["results"]}
    assert res["customers"]["status"] == "ok" and res["outcomes"]["status"] == "stale"
    assert abs(res["outcomes"]["age_seconds"] - 3 * HOUR) < 60
    d = r.json["diagnostics"]
    assert codes(r) == ["MS610"] and d[0]["path"] == "data.outcomes.freshness"
    assert "data source 'outcomes' is stale: newest data is 3h 0m old" in d[0]["message"]
    prom = (project.root / "f.prom").read_text()
    assert f'mlspec_data_last_updated_timestamp_seconds{{project="churn",source="customers"}} {fresh!r}' in prom
    assert f'source="outcomes"}} {newest!r}' in prom
    state = json.loads((project.root / ".mlspec/monitoring/freshness.json").read_text())
    assert state["status"] == "finding" and state["summary"] == "1 stale source(s): outcomes"


def test_freshness_selected_sources_and_usage(project, mlspec):
    _age(project.write("data/customers.csv", "x\n"), 60)
    assert mlspec("freshness", "customers").exit_code == 0
    r = mlspec("freshness", "mlproject.yaml", "customers")
    assert r.exit_code == 0 and "customers" in r.stdout and "outcomes" not in r.stdout
    r = mlspec("freshness", "scoring_log")
    assert r.exit_code == 2 and "has no freshness bound" in r.stderr
    assert mlspec("freshness", "nosuch").exit_code == 2


def test_freshness_missing_and_empty(project, mlspec):
    (project.root / "data/outcomes").mkdir(parents=True)
    r = mlspec("freshness", "--format", "json")
    assert r.exit_code == 1
    msgs = sorted(d["message"] for d in r.json["diagnostics"])
    assert msgs == ["data source 'customers': data/customers.csv does not exist",
                    "data source 'outcomes': data/outcomes holds no files"]
    assert set(codes(r)) == {"MS605"}


# ------------------------------------------------------------------ performance


def test_performance_bounds(project, mlspec):
    project.metrics("metrics/live.json", roc_auc=0.8)             # monitoring.performance.metrics default
    r = mlspec("performance", "--textfile", "p.prom")
    assert r.exit_code == 0, r.output
    assert 'mlspec_performance{project="churn",metric="roc_auc"} 0.8' in (project.root / "p.prom").read_text()
    project.metrics("metrics/live.json", roc_auc=0.7)
    r = mlspec("performance", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS611"]
    assert r.json["diagnostics"][0]["message"] == "live roc_auc = 0.7 is below min 0.75 (window 7d)"
    assert r.json["diagnostics"][0]["path"] == "monitoring.performance.min"
    state = json.loads((project.root / ".mlspec/monitoring/performance.json").read_text())
    assert state["status"] == "finding" and state["event"] == "concept_drift"


def test_performance_metrics_path_from_the_spec(project, mlspec):
    spec = project.spec.read_text().replace("    labels: data.outcomes\n",
                                            "    labels: data.outcomes\n    metrics: out/live-metrics.json\n")
    project.write("mlproject.yaml", spec)
    project.metrics("out/live-metrics.json", roc_auc=0.9)
    assert mlspec("performance").exit_code == 0
    project.metrics("other.json", roc_auc=0.1)
    assert mlspec("performance", "--metrics", "other.json").exit_code == 1


def test_performance_missing_metric_and_file(project, mlspec):
    project.metrics("metrics/live.json", accuracy=0.8)
    r = mlspec("performance")
    assert r.exit_code == 1 and "error[MS602]: live metric 'roc_auc' is missing in metrics/live.json" in r.stderr
    os.remove(project.root / "metrics/live.json")
    r = mlspec("performance")
    assert r.exit_code == 1 and "error[MS605]" in r.stderr
    state = json.loads((project.root / ".mlspec/monitoring/performance.json").read_text())
    assert state["status"] == "error"


# ------------------------------------------------------------------ retrain-trigger


def _trigger(mlspec, *args):
    r = mlspec("retrain-trigger", "--format", "json", *args)
    assert r.exit_code in (0, 99), r.output
    return r


def test_no_results_yet(project, mlspec):
    r = _trigger(mlspec)
    assert r.exit_code == 0 and r.json["trigger"] is False and r.json["reasons"] == []
    assert "data_drift: no result yet (drift.json)" in r.json["notes"]
    assert _trigger(mlspec, "--exit-code").exit_code == 99
    r = mlspec("retrain-trigger")
    assert r.stdout.startswith("no retrain\n  data_drift      no result")


def test_trigger_cooldown_and_acted_on(project, mlspec, monkeypatch, tmp_path):
    project.metrics("metrics/live.json", roc_auc=0.5)
    assert mlspec("performance").exit_code == 1                   # concept drift raised
    gh = tmp_path / "gh_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(gh))

    r = _trigger(mlspec, "--dry-run")
    assert r.json["trigger"] is True and r.json["dry_run"] is True
    assert not (project.root / ".mlspec/monitoring/retrain.json").exists()

    r = _trigger(mlspec, "--exit-code", "--github-output", "--textfile", "r.prom")
    assert r.exit_code == 0 and r.json["trigger"] is True
    assert [x["event"] for x in r.json["reasons"]] == ["concept_drift"]
    assert r.json["reasons"][0]["summary"] == "roc_auc 0.5 outside >= 0.75"
    assert gh.read_text() == "trigger=true\n"
    assert "mlspec_retrain_triggered_timestamp_seconds{project=\"churn\"} " in (project.root / "r.prom").read_text()
    record = json.loads((project.root / ".mlspec/monitoring/retrain.json").read_text())

    r = _trigger(mlspec, "--exit-code")                             # same result: already acted on
    assert r.exit_code == 99 and r.json["trigger"] is False
    assert any("already acted on" in n for n in r.json["notes"])

    time.sleep(0.01)
    assert mlspec("performance").exit_code == 1                   # still bad, a new result
    r = _trigger(mlspec)
    assert r.json["trigger"] is False and r.json["blocked_by_cooldown"] is True
    assert any(n.startswith("cooldown: last retrain triggered") for n in r.json["notes"])

    record["last_triggered_timestamp"] -= 25 * HOUR                # the cooldown (24h) has passed
    (project.root / ".mlspec/monitoring/retrain.json").write_text(json.dumps(record))
    assert mlspec("performance").exit_code == 1
    assert _trigger(mlspec).json["trigger"] is True


def test_failed_checks_never_trigger(project, mlspec):
    r = mlspec("performance")                                      # no live metrics file: status error
    assert r.exit_code == 1
    r = _trigger(mlspec)
    assert r.json["trigger"] is False
    assert any(n.startswith("concept_drift: the last check failed") for n in r.json["notes"])


def test_state_dir_from_environment(project, mlspec, monkeypatch, tmp_path):
    monkeypatch.setenv("MLSPEC_STATE_DIR", str(tmp_path / "shared"))
    project.metrics("metrics/live.json", roc_auc=0.5)
    mlspec("performance")
    assert (tmp_path / "shared/performance.json").exists()
    assert _trigger(mlspec).json["trigger"] is True


def test_spec_without_retraining(project, mlspec):
    project.write("mlproject.yaml", "mlspec: 1\nproject: {name: tiny}\n"
                  "training: {run: 'true', outputs: {model: m.bin}}\n")
    r = _trigger(mlspec)
    assert r.json["trigger"] is False and r.json["notes"] == ["retraining.on lists no events"]
