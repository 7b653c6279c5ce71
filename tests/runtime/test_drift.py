"""`mlspec drift` end to end: verdicts, edge columns, outputs, state."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from tests.runtime.conftest import codes

EDGE_SPEC = """\
mlspec: 1
project: {name: edges}
data:
  ref: {uri: ref.parquet, role: reference}
  cur: {uri: cur.parquet, role: live}
training: {run: "true", outputs: {model: m.bin}}
monitoring:
  reference: data.ref
  current: data.cur
  drift:
    - {columns: [x, k, n], method: psi, threshold: 0.2}
    - {columns: [x, k, n], method: ks, threshold: 0.01}
    - {columns: [x, k], method: wasserstein, threshold: 0.2}
    - {columns: [x, k, c], method: jensen_shannon, threshold: 0.1}
    - {columns: [c], method: chi2, threshold: 0.01}
  alerts: [{channel: slack, to: "#x"}]
"""


def _customers(n, shift, cats, seed):
    rng = np.random.default_rng(seed)
    return pa.table({
        "customer_id": [f"c{i}" for i in range(n)],
        "tenure_months": rng.integers(shift, 60 + shift, n),
        "monthly_charges": rng.normal(50 + shift, 10, n),
        "contract": rng.choice(cats, n),
        "churned": rng.random(n) < 0.2,
    })


@pytest.fixture
def shifted(project):
    (project.root / "data").mkdir()
    pcsv.write_csv(_customers(3000, 0, ["monthly", "yearly", "two_year"], 1), project.root / "data/customers.csv")
    pcsv.write_csv(_customers(3000, 10, ["monthly", "yearly", "two_year", "weekly"], 2),
                   project.root / "data/scoring.csv")
    return project


def test_shifted_data_drifts(shifted, mlspec):
    r = mlspec("drift", "--format", "json")
    assert r.exit_code == 1
    out = r.json
    assert out["drift"] is True
    assert [(x["column"], x["method"], x["status"]) for x in out["results"]] == [
        ("tenure_months", "psi", "drift"), ("monthly_charges", "psi", "drift"), ("contract", "chi2", "drift")]
    assert codes(r) == ["MS603"] * 3
    assert out["results"][2]["note"] == "1 category not in the reference ('weekly')"
    state = json.loads((shifted.root / ".mlspec/monitoring/drift.json").read_text())
    assert state["status"] == "finding" and state["event"] == "data_drift"
    assert state["summary"].startswith("3 of 3 check(s) drifted: tenure_months (psi ")


def test_same_data_does_not_drift(shifted, mlspec):
    r = mlspec("drift", "--current", "data/customers.csv")
    assert r.exit_code == 0, r.output
    assert "drift: 0 of 3 check(s) drifted" in r.stdout
    state = json.loads((shifted.root / ".mlspec/monitoring/drift.json").read_text())
    assert state["status"] == "ok"


def test_textfile_output_and_state_dir(shifted, mlspec, tmp_path):
    r = mlspec("drift", "--textfile", "drift.prom", "--output", "report.json", "--state-dir", "st")
    assert r.exit_code == 1
    prom = (shifted.root / "drift.prom").read_text()
    report = json.loads((shifted.root / "report.json").read_text())
    psi = report["results"][0]["statistic"]
    assert f'mlspec_drift_score{{project="churn",column="tenure_months",method="psi"}} {psi!r}\n' in prom
    assert 'mlspec_drift_detected{project="churn",column="contract",method="chi2",severity="warning"} 1' in prom
    assert 'mlspec_drift_pvalue{project="churn",column="contract",method="chi2"}' in prom
    assert (shifted.root / "st/drift.json").exists()


def test_edge_columns_never_crash_or_emit_nan(project, mlspec):
    project.write("mlproject.yaml", EDGE_SPEC)
    rng = np.random.default_rng(3)
    n = 500
    pq.write_table(pa.table({"x": rng.normal(0, 1, n), "k": np.full(n, 5.0), "n": pa.nulls(n, pa.float64()),
                             "c": rng.choice(["a", "b"], n)}), project.root / "ref.parquet")
    pq.write_table(pa.table({"x": rng.normal(3, 1, n), "k": np.full(n, 5.0), "n": pa.nulls(n, pa.float64()),
                             "c": rng.choice(["a", "b", "zz"], n)}), project.root / "cur.parquet")
    r = mlspec("drift", "--format", "json", "--textfile", "e.prom")
    assert r.exit_code == 1
    res = {(x["column"], x["method"]): x for x in r.json["results"]}       # r.json refuses NaN/Infinity
    assert all(res[("x", m)]["drift"] for m in ("psi", "ks", "wasserstein", "jensen_shannon"))
    assert res[("k", "psi")]["statistic"] == 0 and res[("k", "ks")]["p_value"] == 1
    assert res[("k", "psi")]["note"] == "reference is constant" and res[("k", "wasserstein")]["drift"] is False
    for m in ("psi", "ks"):
        assert res[("n", m)]["status"] == "skipped"
        assert res[("n", m)]["note"] == "reference and current have no values (only nulls); drift not measured"
    assert res[("c", "chi2")]["drift"] is True and "'zz'" in res[("c", "chi2")]["note"]
    prom = (project.root / "e.prom").read_text()
    assert "NaN" not in prom and 'column="n"' not in prom                   # nothing measured, nothing pushed


def test_empty_current_data(project, mlspec):
    project.write("mlproject.yaml", EDGE_SPEC)
    pq.write_table(pa.table({"x": [1.0, 2.0], "k": [1.0, 1.0], "n": [None, None], "c": ["a", "b"]}),
                   project.root / "ref.parquet")
    pq.write_table(pa.table({"x": pa.array([], pa.float64()), "k": pa.array([], pa.float64()),
                             "n": pa.array([], pa.float64()), "c": pa.array([], pa.string())}),
                   project.root / "cur.parquet")
    r = mlspec("drift", "--format", "json")
    assert r.exit_code == 0
    assert {x["status"] for x in r.json["results"]} == {"skipped"}
    assert "current has no values (no rows)" in r.json["results"][0]["note"]


def test_missing_column_and_unreadable_data(shifted, mlspec):
    shifted.write("data/scoring.csv", "customer_id,contract\na,monthly\n")
    r = mlspec("drift", "--format", "json")
    assert r.exit_code == 1
    assert [d["message"] for d in r.json["diagnostics"] if d["code"] == "MS605"] == [
        "drift column 'tenure_months' is not in data/scoring.csv",
        "drift column 'monthly_charges' is not in data/scoring.csv"]
    r = mlspec("drift", "--current", "nope.parquet")
    assert r.exit_code == 1 and "error[MS605]: nope.parquet does not exist" in r.stderr
    state = json.loads((shifted.root / ".mlspec/monitoring/drift.json").read_text())
    assert state["status"] == "error"


def test_text_table(shifted, mlspec):
    r = mlspec("drift")
    header = r.stdout.splitlines()[0].split()
    assert header == ["column", "method", "statistic", "p-value", "drift", "when", "result", "note"]
    assert "mlproject.yaml:45:17: error[MS603]: column 'tenure_months' drifted: psi" in r.stderr
