"""Every panel of the churn dashboard shows data after the pipeline and monitoring have run once
and the server has answered a few requests: each panel query, with Grafana's macros replaced,
returns at least one sample from a real Prometheus that scrapes a real Pushgateway (fed by
`mlspec run`) and the real churn server (through the generated scrape config's labels).

A panel that stays empty in this setting is a panel an operator would see as "No data" on a
healthy system — the defect this test exists to catch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.servers._process import LOOPBACK, free_port
from tests.servers.prom import StackFactory, without_for

REPO = Path(__file__).resolve().parents[2]
CHURN = REPO / "examples" / "churn"
# Grafana's macros, as a 1 s scrape interval makes them: windows that hold several samples.
MACROS = {"$__rate_interval": "30s", "$__interval": "1s", "$__range": "5m"}


def _panel_queries(dashboard: dict) -> list[tuple[str, str]]:
    out = []
    for panel in dashboard.get("dashboard", dashboard)["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for macro, value in MACROS.items():
                expr = expr.replace(macro, value)
            out.append((panel["title"], expr))
    return out


def _env(gateway: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSPEC_")}
    env.update(MLSPEC_PUSHGATEWAY=gateway, PYTHONPATH=str(REPO))
    return env


def _wait_http(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.mark.server
@pytest.mark.validator
def test_every_dashboard_panel_has_data_after_one_run(prom_stack: StackFactory, tmp_path: Path) -> None:
    project = tmp_path / "churn"
    shutil.copytree(CHURN, project, ignore=shutil.ignore_patterns(".mlspec", "models", "metrics", "prepared",
                                                                  "__pycache__"))
    monitoring = CHURN / "monitoring"
    port = free_port()
    # The generated scrape config, with the server's address made real; its labels kept as written.
    scrape = yaml.safe_load((monitoring / "prometheus" / "churn.scrape.yml").read_text())
    serving = next(j for j in scrape["scrape_configs"] if j["job_name"] == "churn-serving")
    for group in serving["static_configs"]:
        group["targets"] = [f"{LOOPBACK}:{port}"]
    serving.update(scrape_interval="1s", scrape_timeout="1s")
    stack = prom_stack(rules=without_for(monitoring / "prometheus" / "churn.rules.yml"), scrape_configs=[serving])

    # One run of everything: pipeline (gates, run reports) and monitoring (drift, performance,
    # freshness, schema), pushing to the stack's Pushgateway.
    r = subprocess.run([sys.executable, "-m", "mlspec", "run", "--store", ".mlspec/store", "--format", "json"],
                       cwd=project, env=_env(stack.pushgateway_url), capture_output=True, text=True, timeout=600)
    assert "Traceback" not in r.stderr, r.stderr
    nodes = {n["id"]: n["status"] for n in json.loads(r.stdout)["nodes"]}
    assert r.returncode == 0 and nodes["register"] == "ok", (nodes, r.stderr[-2000:])

    # The server as the spec runs it, on the production model the run registered.
    command = [sys.executable, "-m", "churn.serve", "--model", str(project / ".mlspec/production/model.joblib"),
               "--host", LOOPBACK, "--port", str(port)]
    assert (project / ".mlspec/production/model.joblib").is_file()   # monitoring fetched it
    server = subprocess.Popen(command, cwd=project, env=_env(stack.pushgateway_url), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://{LOOPBACK}:{port}"
        _wait_http(f"{base}/healthz", server)
        body = json.dumps({"tenure_months": 3, "monthly_charges": 90.0, "contract": "monthly"}).encode()
        deadline = time.monotonic() + 60
        queries = _panel_queries(json.loads((monitoring / "grafana" / "churn.dashboard.json").read_text()))
        empty: list[tuple[str, str]] = queries
        while empty and time.monotonic() < deadline:
            for _ in range(5):   # traffic across several scrapes, so rates have two samples
                req = urllib.request.Request(f"{base}/predict", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    assert resp.status == 200
            time.sleep(1)
            empty = [(title, expr) for title, expr in queries if not stack.query(expr)]
    finally:
        server.terminate()
        server.wait(10)
    assert len(queries) >= 10
    assert empty == [], "panels without data:\n" + "\n".join(f"  {t}: {e}" for t, e in empty)
