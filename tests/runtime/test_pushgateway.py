"""Against a real Prometheus Pushgateway (Debian's prometheus-pushgateway on loopback)."""

from __future__ import annotations

import re
import urllib.request

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import validators

SPEC = """\
mlspec: 1
project: {{name: push-test}}
data:
  ref: {{uri: ref.parquet, role: reference}}
  cur: {{uri: cur.parquet, role: live}}
training: {{run: "true", outputs: {{model: m.bin}}}}
validation:
  run: "true"
  metrics: eval.json
  gates: [{{metric: auc, min: 0.8}}]
monitoring:
  reference: data.ref
  current: data.cur
  drift:
    - {{columns: [amount, "odd \\"name\\""], method: psi, threshold: 0.2}}
    - {{columns: [amount], method: ks, threshold: 0.01}}
  pushgateway: {url}
  alerts: [{{channel: slack, to: "#x"}}]
"""


def _series(body: str, name: str) -> dict[str, float]:
    """``{labels text: value}`` of one metric in a /metrics page."""
    out = {}
    for line in body.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


@pytest.mark.validator
def test_drift_and_gate_metrics_reach_the_pushgateway(tmp_path, monkeypatch, mlspec):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(7)
    n = 4000
    odd = 'odd "name"'
    pq.write_table(pa.table({"amount": rng.normal(100, 10, n), odd: rng.normal(0, 1, n)}), tmp_path / "ref.parquet")
    pq.write_table(pa.table({"amount": rng.normal(110, 10, n), odd: rng.normal(0, 1, n)}), tmp_path / "cur.parquet")
    (tmp_path / "eval.json").write_text('{"auc": 0.9}')
    with validators.pushgateway() as url:
        (tmp_path / "mlproject.yaml").write_text(SPEC.format(url=url))
        r = mlspec("drift", "--format", "json")
        assert r.exit_code == 1, r.output                       # amount drifted
        assert r.json["push"] == {"pushgateway": url, "pushed": True, "textfile": None}
        psi = next(x["statistic"] for x in r.json["results"] if x["column"] == "amount" and x["method"] == "psi")
        assert mlspec("gate").exit_code == 0
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            body = resp.read().decode()

    scores = _series(body, "mlspec_drift_score")
    key = 'column="amount",command="drift",instance="",job="mlspec",method="psi",project="push-test"'
    assert scores[key] == pytest.approx(psi, rel=1e-12)
    assert psi > 0.2
    odd_key = r'column="odd \"name\"",command="drift",instance="",job="mlspec",method="psi",project="push-test"'
    assert scores[odd_key] < 0.2                                 # escaped label value round-trips
    detected = _series(body, "mlspec_drift_detected")
    assert detected['column="amount",command="drift",instance="",job="mlspec",method="ks",project="push-test",'
                    'severity="warning"'] == 1
    assert _series(body, "mlspec_drift_pvalue")
    assert _series(body, "mlspec_gate_passed") == {
        'command="gate",gate="auc_min",instance="",job="mlspec",metric="auc",project="push-test"': 1.0}


@pytest.mark.validator
def test_data_metrics_one_series_per_source(project, mlspec):
    """check-data and freshness observe the same fact (a source's last update): one series.
    The monitoring schema check of current data is labelled with the current source."""
    header = "customer_id,tenure_months,monthly_charges,contract,churned\n"
    project.write("data/customers.csv", header + "a,1,2.0,monthly,true\n")
    project.write("data/scoring.csv", header + "a,1,2.0,weekly,true\nb,-1,2.0,weekly,true\n")
    project.write("data/outcomes/part.csv", "y\n1\n")
    with validators.pushgateway() as url:
        assert mlspec("check-data", "customers", "--pushgateway", url).exit_code == 0
        assert mlspec("freshness", "--pushgateway", url).exit_code == 0
        r = mlspec("check-data", "customers", "--file", "data/scoring.csv", "--pushgateway", url)
        assert r.exit_code == 1 and "MS609" not in r.stderr
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            body = resp.read().decode()
    updated = _series(body, "mlspec_data_last_updated_timestamp_seconds")
    assert sorted(updated) == [
        'instance="",job="mlspec",project="churn",source="customers"',
        'instance="",job="mlspec",project="churn",source="outcomes"',
        'instance="",job="mlspec",project="churn",source="scoring_log"',
    ]
    assert _series(body, "mlspec_schema_violations") == {
        'command="check-data",instance="",job="mlspec",project="churn",source="customers"': 0.0,
        'command="check-data",instance="",job="mlspec",project="churn",source="scoring_log"': 3.0,
    }


@pytest.mark.validator
def test_report_run_and_check_outcomes_reach_the_pushgateway(project, mlspec, monkeypatch):
    """report-run per node and per run; a check's outcome in its own group; $MLSPEC_PUSHGATEWAY wins."""
    project.write("data/customers.csv", "x\n1\n")
    with validators.pushgateway() as url:
        monkeypatch.setenv("MLSPEC_PUSHGATEWAY", url)
        assert mlspec("report-run", "--node", "train", "--status", "success").exit_code == 0
        r = mlspec("report-run", "--node", "pipeline", "--status", "failure", "--timestamp", "1000", "--format",
                   "json")
        assert r.exit_code == 0 and r.json["push"]["pushed"] is True and r.json["node"] == "pipeline"
        # a slug (the Airflow task id) names the same node
        assert mlspec("report-run", "--node", "monitor_drift", "--status", "success").exit_code == 0
        r = mlspec("report-run", "--node", "nosuch", "--status", "success", "--format", "json")
        assert r.exit_code == 1 and [d["code"] for d in r.json["diagnostics"]] == ["MS670"]
        assert mlspec("freshness", "--exit-zero-on-finding").exit_code == 1   # outcomes/ missing: an error
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            body = resp.read().decode()
    success = _series(body, "mlspec_run_success")
    assert success['instance="",job="mlspec",node="train",project="churn"'] == 1
    assert success['instance="",job="mlspec",node="pipeline",project="churn"'] == 0
    assert success['instance="",job="mlspec",node="monitor.drift",project="churn"'] == 1
    assert _series(body, "mlspec_run_timestamp_seconds")[
        'instance="",job="mlspec",node="pipeline",project="churn"'] == 1000
    outcome = _series(body, "mlspec_check_outcome")
    prefix = 'check="freshness",instance="",job="mlspec",outcome='
    assert {k.removeprefix(prefix).split(",")[0]: v for k, v in outcome.items()} == {
        '"error"': 1, '"finding"': 0, '"ok"': 0}


def test_a_failed_run_keeps_the_last_success_time_in_the_textfile(project, mlspec, tmp_path):
    """node_exporter's textfile is rewritten whole on every report: a failure must carry the last
    success time over (as the Pushgateway's POST does), or the staleness alert loses its anchor."""
    prom_file = tmp_path / "train.prom"

    def report(status: str, ts: int) -> dict[str, float]:
        r = mlspec("report-run", "--node", "train", "--status", status, "--timestamp", str(ts),
                   "--textfile", str(prom_file), "--no-push")
        assert r.exit_code == 0, r.output
        body = prom_file.read_text()
        return {name: value for name in ("mlspec_run_success", "mlspec_run_timestamp_seconds",
                                         "mlspec_run_last_success_timestamp_seconds")
                for value in _series(body, name).values()}

    assert report("failure", 500) == {"mlspec_run_success": 0, "mlspec_run_timestamp_seconds": 500}
    assert report("success", 1000)["mlspec_run_last_success_timestamp_seconds"] == 1000
    assert report("failure", 2000) == {"mlspec_run_success": 0, "mlspec_run_timestamp_seconds": 2000,
                                       "mlspec_run_last_success_timestamp_seconds": 1000}
    assert report("failure", 3000)["mlspec_run_last_success_timestamp_seconds"] == 1000
    assert report("success", 4000)["mlspec_run_last_success_timestamp_seconds"] == 4000
