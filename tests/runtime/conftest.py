"""Fixtures for the runtime commands: a project folder with a spec, and a CLI runner."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

SPEC = """\
mlspec: 1
project:
  name: churn
data:
  customers:
    uri: data/customers.csv
    role: training
    freshness: 24h
    schema:
      customer_id: {type: string, nullable: false, unique: true}
      tenure_months: {type: integer, min: 0}
      monthly_charges: {type: float, min: 0}
      contract: {type: category, values: [monthly, yearly, two_year]}
      churned: {type: boolean}
  scoring_log:
    uri: data/scoring.csv
    role: live
  outcomes:
    uri: data/outcomes/
    format: csv
    role: labels
    freshness: 2h
training:
  run: python train.py
  outputs:
    model: models/model.joblib
validation:
  run: python evaluate.py
  metrics: metrics/eval.json
  gates:
    - metric: roc_auc
      min: 0.80
    - metric: p95_latency_ms
      max: 50
    - metric: roc_auc
      baseline: production
      max_regression: 0.01
registry:
  backend: local
  model_name: churn-classifier
monitoring:
  reference: data.customers
  current: data.scoring_log
  drift:
    - columns: [tenure_months, monthly_charges]
      method: psi
      threshold: 0.2
    - columns: [contract]
      method: chi2
      threshold: 0.01
  performance:
    metric: roc_auc
    min: 0.75
    labels: data.outcomes
  schema_checks: true
  alerts:
    - channel: slack
      to: "#ml-alerts"
retraining:
  on: [data_drift, concept_drift, pipeline_drift, freshness]
  cooldown: 24h
targets:                 # local runs only: the registry is a folder (no store, never a network)
  github_actions: {enabled: false}
"""


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout, parse_constant=_no_constant)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _no_constant(name: str) -> None:
    raise AssertionError(f"JSON output holds {name}")


@dataclass
class Project:
    root: Path

    @property
    def spec(self) -> Path:
        return self.root / "mlproject.yaml"

    def write(self, rel: str, text: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text) if text.startswith("\n") else text, encoding="utf-8")
        return p

    def metrics(self, rel: str = "metrics/eval.json", **values: object) -> Path:
        return self.write(rel, json.dumps(values))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project folder holding SPEC; the working folder is the project, no state env leaks in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLSPEC_STATE_DIR", raising=False)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    p = Project(tmp_path)
    p.write("mlproject.yaml", SPEC)
    return p


@pytest.fixture
def mlspec():
    """Run ``mlspec ARGS…`` in-process; stdout and stderr separate; never a traceback."""
    from mlspec.cli import cli

    def run(*args: str) -> Result:
        runner = CliRunner()
        r = runner.invoke(cli, list(args), catch_exceptions=True)
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            import traceback

            raise AssertionError("".join(traceback.format_exception(r.exception)))
        assert "Traceback" not in r.stdout + r.stderr
        return Result(r.exit_code, r.stdout, r.stderr)

    return run


def codes(result: Result) -> list[str]:
    return [d["code"] for d in result.json["diagnostics"]]


# Real servers for the registry suites (moto's S3 API, an MLflow tracking server).
from tests.runtime import registry_servers as _servers  # noqa: E402

registry_bucket = _servers.registry_bucket
s3 = _servers.s3
mlflow_server = _servers.mlflow_server
