"""Exposition text, escaping and the Pushgateway grouping path."""

from __future__ import annotations

import base64

import pytest

from mlspec import metrics as mm
from mlspec.runtime import prometheus as prom


def test_exposition_uses_the_metric_definitions():
    text = prom.exposition([
        prom.sample(mm.DRIFT_SCORE, 0.25, project="churn", column="age", method="psi"),
        prom.sample(mm.DRIFT_SCORE, 1e-7, project="churn", column="income", method="psi"),
        prom.sample(mm.GATE_PASSED, 1, project="churn", gate="roc_auc_min", metric="roc_auc"),
    ])
    assert text == (
        f"# HELP mlspec_drift_score {mm.DRIFT_SCORE.help}\n"
        "# TYPE mlspec_drift_score gauge\n"
        'mlspec_drift_score{project="churn",column="age",method="psi"} 0.25\n'
        'mlspec_drift_score{project="churn",column="income",method="psi"} 1e-07\n'
        f"# HELP mlspec_gate_passed {mm.GATE_PASSED.help}\n"
        "# TYPE mlspec_gate_passed gauge\n"
        'mlspec_gate_passed{project="churn",gate="roc_auc_min",metric="roc_auc"} 1\n'
    )


def test_label_values_are_escaped():
    s = prom.sample(mm.DRIFT_SCORE, 1.5, project="p", column='a "quoted"\\back\nslash', method="psi")
    line = prom.exposition([s]).splitlines()[-1]
    assert line == r'mlspec_drift_score{project="p",column="a \"quoted\"\\back\nslash",method="psi"} 1.5'
    assert prom.escape_help("a\\b\nc") == "a\\\\b\\nc"


def test_special_values_and_duplicates():
    assert [prom.format_value(v) for v in (float("nan"), float("inf"), -float("inf"), 3.0, 0.1)] == [
        "NaN", "+Inf", "-Inf", "3", "0.1"]
    a = prom.sample(mm.PERFORMANCE, 0.7, project="p", metric="auc")
    b = prom.sample(mm.PERFORMANCE, 0.8, project="p", metric="auc")
    assert prom.exposition([a, b]).count("mlspec_performance{") == 1      # a series appears once: last wins
    assert prom.exposition([a, b]).endswith(" 0.8\n")


def test_labels_must_match_the_definition():
    with pytest.raises(ValueError, match="takes labels"):
        prom.sample(mm.DRIFT_SCORE, 1.0, project="p", column="x")
    with pytest.raises(ValueError, match="takes labels"):
        prom.sample(mm.PERFORMANCE, 1.0, project="p", metric="auc", extra="no")


def test_grouping_path():
    assert prom.grouping_path([("job", "mlspec"), ("project", "churn"), ("command", "check-data"),
                               ("source", "customers")]) == \
        "/metrics/job/mlspec/project/churn/command/check-data/source/customers"
    slashed = prom.grouping_path([("job", "mlspec"), ("source", "a/b")])
    assert slashed == "/metrics/job/mlspec/source@base64/" + base64.urlsafe_b64encode(b"a/b").decode()
    assert prom.grouping_path([("job", "mlspec"), ("x", "")]) == "/metrics/job/mlspec/x@base64/="
    assert prom.grouping_path([("job", "mlspec"), ("x", "a b")]) == "/metrics/job/mlspec/x/a%20b"
    with pytest.raises(ValueError):
        prom.grouping_path([("project", "churn")])


def test_push_url_and_errors():
    assert prom.push_url("http://gw:9091/", [("job", "mlspec")]) == "http://gw:9091/metrics/job/mlspec"
    with pytest.raises(prom.PushError, match="not an http"):
        prom.push_url("ftp://gw", [("job", "mlspec")])
    with pytest.raises(prom.PushError):
        prom.push("http://127.0.0.1:9", [prom.sample(mm.PERFORMANCE, 1, project="p", metric="m")],
                  [("job", "mlspec")], timeout=2)


def test_textfile_is_written_atomically(tmp_path):
    path = tmp_path / "sub" / "mlspec.prom"
    prom.write_textfile(path, [prom.sample(mm.RETRAIN_TRIGGERED, 1700000000, project="p")])
    assert path.read_text().endswith('mlspec_retrain_triggered_timestamp_seconds{project="p"} 1700000000\n')
    assert [p.name for p in path.parent.iterdir()] == ["mlspec.prom"]
