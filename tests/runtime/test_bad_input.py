"""Bad input to the runtime commands is a diagnostic and exit 1: never exit 3, never a hang.

Each test is the exact reproduction of a case an adversarial pass found (see
docs/security.md): special files where a file is expected, corrupt state, malformed
options, data shapes the readers did not expect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.runtime.conftest import codes

REG = ".mlspec/registry/churn-classifier"
ROOT = Path(__file__).resolve().parents[2]


def cli(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``mlspec ARGS`` in a child process: a read that blocks fails the test instead of hanging it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# ------------------------------------------------------------------ special files (the bounded reader)


def test_metrics_from_dev_zero_is_refused_at_once(project, mlspec):
    started = time.monotonic()
    r = mlspec("gate", "--metrics", "/dev/zero", "--no-push", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS605"]
    assert "character device, not a regular file" in r.json["diagnostics"][0]["message"]
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("where", ["spec", "metrics", "data folder"])
def test_a_fifo_is_refused_not_waited_on(project, where):
    fifo = project.root / "pipe"
    os.mkfifo(fifo)
    if where == "spec":
        r = cli(project.root, "validate", "pipe")
        assert "error[MS001]: cannot read the spec file: it is a named pipe (FIFO)" in r.stderr
    elif where == "metrics":
        r = cli(project.root, "gate", "--metrics", "pipe", "--no-push")
        assert "error[MS605]: metrics file pipe is a named pipe (FIFO), not a regular file" in r.stderr
    else:
        project.write("data/batch/a.csv", "customer_id,tenure_months,monthly_charges,contract,churned\n"
                                          "c1,1,2.0,monthly,true\n")
        os.mkfifo(project.root / "data/batch/b.csv")
        r = cli(project.root, "check-data", "customers", "--file", "data/batch", "--no-push")
        assert "error[MS605]: data/batch/b.csv is a named pipe (FIFO), not a regular file" in r.stderr
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_production_pointer_through_a_symlink_is_refused_and_not_echoed(project, mlspec):
    secret = project.write("credentials", "aws_secret_access_key=" + "Q" * 40 + "\n")
    reg = project.root / REG
    reg.mkdir(parents=True)
    (reg / "production").symlink_to(secret)
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    r = mlspec("gate", "--no-push")
    assert r.exit_code == 1 and "error[MS660]" in r.stderr      # a registry edited by hand
    assert "symbolic link" in r.stderr
    assert "aws_secret" not in r.output and "QQQQ" not in r.output


def test_a_pointer_that_is_no_pointer_is_not_echoed(project, mlspec):
    reg = project.root / REG
    reg.mkdir(parents=True)
    (reg / "production").write_text("password=" + "hunter2" * 3)
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    r = mlspec("gate", "--no-push")
    assert r.exit_code == 1 and "error[MS660]" in r.stderr and "is not a pointer document" in r.stderr
    assert "hunter2" not in r.output and "password" not in r.output


def test_a_fifo_as_the_production_pointer_is_refused(project):
    reg = project.root / REG
    reg.mkdir(parents=True)
    os.mkfifo(reg / "production")
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    r = cli(project.root, "gate", "--no-push")
    assert r.returncode == 1 and "error[MS660]" in r.stderr and "named pipe (FIFO)" in r.stderr, r.stderr


# ------------------------------------------------------------------ data shapes


HEADER = "customer_id,tenure_months,monthly_charges,contract,churned\n"


def test_csv_with_a_duplicate_header_is_ms605(project, mlspec):
    project.write("data/customers.csv", "customer_id,customer_id,tenure_months\na,b,1\n")
    r = mlspec("check-data", "customers", "--no-push", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS605"]
    assert "the column name 'customer_id' appears more than once" in r.json["diagnostics"][0]["message"]


def _nested_parquet(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "customer_id": ["a", "b"], "tenure_months": pa.array([[1, 2], [3]]),
        "monthly_charges": [1.0, 2.0], "churned": [True, False],
        "contract": pa.array([[("k", 1)], [("k", 2)]], pa.map_(pa.string(), pa.int64())),
    }), path)


def test_list_and_map_columns_are_contract_violations(project, mlspec):
    _nested_parquet(project.root / "data/nested.parquet")
    r = mlspec("check-data", "customers", "--file", "data/nested.parquet", "--no-push", "--format", "json")
    assert r.exit_code == 1 and set(codes(r)) == {"MS604"}, r.output
    found = {x["column"]: (x["found_type"], x["by_rule"]) for x in r.json["results"]}
    assert found["tenure_months"] == ("list<element: int64>", {"type": 2})
    assert found["contract"][1] == {"type": 2}


def test_list_and_map_columns_cannot_drift(project, mlspec):
    _nested_parquet(project.root / "data/nested.parquet")
    r = mlspec("drift", "--reference", "data/nested.parquet", "--current", "data/nested.parquet", "--no-push",
               "--format", "json")
    assert r.exit_code == 1 and set(codes(r)) == {"MS605"}, r.output
    notes = {x["column"]: x["note"] for x in r.json["results"]}
    assert notes["tenure_months"] == "psi needs numbers; the column holds list<element: int64>"
    assert notes["contract"].startswith("chi2 compares numbers or categories; the column holds map<")


NS_SPEC = """\
mlspec: 1
project: {name: events}
data:
  events:
    uri: data/events.parquet
    role: training
    schema:
      id: {type: string, nullable: false}
      at: {type: datetime, nullable: false}
      day: {type: date}
  live:
    uri: data/live.parquet
    role: live
training:
  run: touch model.bin
  needs: [data.events]
  outputs: {model: model.bin}
monitoring:
  reference: data.events
  current: data.live
  drift:
    - {columns: [at], method: ks, threshold: 0.01}
  alerts: [{channel: slack, to: "#a"}]
"""


def _pandas_parquet(path: Path, start: int, n: int = 200) -> None:
    """What ``DataFrame.to_parquet`` writes: timestamp[ns] with sub-microsecond parts (built
    with pyarrow alone, so the test needs no pandas)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    at = [start + i * 37_000_000_123 + 456 for i in range(n)]          # nanoseconds
    day = [t - t % 86_400_000_000_000 for t in at]
    pq.write_table(pa.table({"id": [f"e{i}" for i in range(n)], "at": pa.array(at, pa.timestamp("ns")),
                             "day": pa.array(day, pa.timestamp("ns"))}), path)


def test_nanosecond_timestamps_work_in_check_data_drift_and_run(project, mlspec):
    import pyarrow.parquet as pq

    project.write("mlproject.yaml", NS_SPEC)
    _pandas_parquet(project.root / "data/events.parquet", 1_704_067_200 * 10**9)    # 2024-01-01
    _pandas_parquet(project.root / "data/live.parquet", 1_717_200_000 * 10**9)      # 2024-06-01
    assert str(pq.read_schema(project.root / "data/events.parquet").field("at").type) == "timestamp[ns]"

    r = mlspec("check-data", "events", "--no-push", "--format", "json")
    assert r.exit_code == 0, r.output
    assert {x["column"]: x["violations"] for x in r.json["results"]} == {"at": 0, "day": 0, "id": 0}

    r = mlspec("drift", "--no-push", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS603"], r.output      # months apart: drift, not a crash
    (res,) = r.json["results"]
    assert res["status"] == "drift" and res["p_value"] < 0.01

    # The first node of `mlspec run` is that data check: it must pass.
    r = mlspec("run", "--no-monitoring", "--format", "json")
    assert r.exit_code == 0, r.output
    assert {n["id"]: n["status"] for n in r.json["nodes"]}["check.events"] == "ok"


def test_chi2_reports_drift_when_every_current_category_is_new(project, mlspec):
    project.write("data/customers.csv", HEADER + "c1,1,1.0,monthly,true\n")
    project.write("data/scoring.csv", HEADER + "c2,1,1.0,yearly,true\n")
    r = mlspec("drift", "--no-push", "--format", "json")
    chi2 = next(x for x in r.json["results"] if x["column"] == "contract")
    assert chi2["drift"] is True and chi2["status"] == "drift"
    assert "no current category occurs in the reference" in chi2["note"]
    assert r.exit_code == 1 and "MS603" in codes(r)


# ------------------------------------------------------------------ state and options


@pytest.mark.parametrize("file, body, problem", [
    ("retrain.json", '{"last_triggered_timestamp": NaN}', "last_triggered_timestamp is not a Unix time"),
    ("retrain.json", '{"last_triggered_timestamp": 1e999}', "last_triggered_timestamp is not a Unix time"),
    ("drift.json", '{"status": ["event"], "finished_timestamp": 1}', "status is not one of finding, event, ok, error"),
    ("drift.json", '{"status": "event", "finished_timestamp": NaN}', "finished_timestamp is not a Unix time"),
    ("retrain.json", '[1, 2]', "unreadable (not a JSON object)"),
])
def test_corrupt_monitoring_state_is_ms614(project, mlspec, file, body, problem):
    project.write(f".mlspec/monitoring/{file}", body)
    r = mlspec("retrain-trigger", "--no-push", "--exit-code", "--format", "json")
    assert r.exit_code == 1 and "MS614" in codes(r), r.output
    assert r.json["trigger"] is False
    assert any(problem in d["message"] for d in r.json["diagnostics"])


def test_retrain_trigger_escapes_what_a_state_file_says(project, mlspec):
    summary = "drifted\n::error file=x::pwned \x1b[2J\x1b]8;;http://evil\x07"
    project.write(".mlspec/monitoring/drift.json", json.dumps(
        {"status": "event", "summary": summary, "finished": "now", "finished_timestamp": 1700000000}))
    r = mlspec("retrain-trigger", "--no-push")
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert not any(line.lstrip().startswith("::") for line in r.stdout.splitlines())
    assert "drifted\\n::error file=x::pwned \\x1b[2J" in r.stdout


@pytest.mark.parametrize("url", ["http://[::1", "http://host:port", "ftp://gateway", "http://gw/?a=1"])
def test_malformed_pushgateway_is_ms615(project, mlspec, url):
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    r = mlspec("gate", "--pushgateway", url, "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS615"], r.output
