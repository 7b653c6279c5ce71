"""The monitoring loop closes on real servers: the churn example's checks and run reports push to a
real Pushgateway; Prometheus, configured with the GENERATED rules (``for`` removed to stay under a
minute) and scrape config, evaluates them; the generated Alertmanager routes deliver to a webhook."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.servers.prom import StackFactory, without_for

REPO = Path(__file__).resolve().parents[2]
CHURN = REPO / "examples" / "churn"


def _mlspec(cwd: Path, gateway: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSPEC_")}
    env.update(MLSPEC_PUSHGATEWAY=gateway, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.mark.server
@pytest.mark.validator
def test_churn_monitoring_loop_end_to_end(prom_stack: StackFactory, tmp_path: Path) -> None:
    started = time.monotonic()
    project = tmp_path / "churn"
    shutil.copytree(CHURN, project, ignore=shutil.ignore_patterns(".mlspec", "models", "metrics", "__pycache__"))
    monitoring = CHURN / "monitoring"
    # The stack scrapes its Pushgateway the way the generated scrape config says to (honor_labels,
    # so the pushed project/node labels survive); promtool checks that file in test_prometheus.
    scrape = yaml.safe_load((monitoring / "prometheus" / "churn.scrape.yml").read_text())
    jobs = {j["job_name"]: j for j in scrape["scrape_configs"]}
    assert jobs["churn-pushgateway"]["honor_labels"] is True
    stack = prom_stack(rules=without_for(monitoring / "prometheus" / "churn.rules.yml"),
                       alertmanager_config=monitoring / "alertmanager" / "churn.yml")
    gateway = stack.pushgateway_url

    # 1. drifted data (the example ships monitoring/current.csv drifted): a finding, exit 0 with the flag
    r = _mlspec(project, gateway, "drift", "--exit-zero-on-finding", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["drift"] is True, r.stderr
    got = stack.wait_for_alert("MlspecDataDrift", receiver="churn-0-slack", labels={"column": "contract"},
                               timeout=20)
    assert got.labels["severity"] == "critical" and got.labels["event"] == "data_drift"
    assert got.labels["project"] == "churn" and got.labels["method"] == "chi2"
    assert got.annotations["runbook_url"] == ("https://github.com/example/mlspec-churn/blob/main/"
                                              "monitoring/prometheus/churn.runbook.md#mlspecdatadrift")
    outcome = stack.value('mlspec_check_outcome{project="churn",check="drift",outcome="finding"}')
    assert outcome == 1

    # 2. recovered data: the reference against itself; the alert resolves
    r = _mlspec(project, gateway, "drift", "--current", "data/customers.csv", "--exit-zero-on-finding")
    assert r.returncode == 0, r.stderr
    stack.wait_for_alert("MlspecDataDrift", "resolved", receiver="churn-0-slack", labels={"column": "contract"},
                         timeout=20)

    # 3. a failed run reaches the receiver as MlspecPipelineFailed
    assert _mlspec(project, gateway, "report-run", "--node", "pipeline", "--status", "failure").returncode == 0
    failed = stack.wait_for_alert("MlspecPipelineFailed", receiver="churn-0-slack", labels={"node": "pipeline"})
    assert failed.labels["severity"] == "critical" and failed.labels["event"] == "pipeline_failure"

    # 4. a stale monitoring timestamp (3 days for an @daily schedule) fires the staleness alert
    stale = str(time.time() - 3 * 86400)
    assert _mlspec(project, gateway, "report-run", "--node", "monitoring", "--status", "success",
                   "--timestamp", stale).returncode == 0
    stale_alert = stack.wait_for_alert("MlspecMonitoringStale", receiver="churn-0-slack")
    assert stale_alert.labels["node"] == "monitoring" and stale_alert.labels["severity"] == "warning"

    # 5. the team's own check (monitoring.checks: prediction_drift) out of bounds: its alert, its event
    metrics = project / "metrics" / "checks" / "prediction_drift.json"
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps({"prediction": {"psi": 0.9}, "missing_share": 0.0}), encoding="utf-8")
    r = _mlspec(project, gateway, "custom-check", "--exit-zero-on-finding", "--", "mlproject.yaml", "prediction_drift")
    assert r.returncode == 0, r.stderr
    custom = stack.wait_for_alert("MlspecCheckOutOfBounds", receiver="churn-0-slack",
                                  labels={"check": "prediction_drift", "metric": "prediction.psi"}, timeout=20)
    assert custom.labels["event"] == "custom_check" and custom.labels["bound"] == "max"
    assert custom.annotations["description"].startswith("prediction.psi = 0.9, above the maximum 0.25")
    assert stack.value('mlspec_check_outcome{project="churn",check="custom.prediction_drift",outcome="finding"}') == 1
    metrics.write_text(json.dumps({"prediction": {"psi": 0.05}, "missing_share": 0.0}), encoding="utf-8")
    assert _mlspec(project, gateway, "custom-check", "--", "mlproject.yaml", "prediction_drift").returncode == 0
    stack.wait_for_alert("MlspecCheckOutOfBounds", "resolved", receiver="churn-0-slack",
                         labels={"check": "prediction_drift", "metric": "prediction.psi"}, timeout=20)
    assert time.monotonic() - started < 75
