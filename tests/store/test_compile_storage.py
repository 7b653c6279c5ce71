"""Compile-time truth about state: the storage section, and MS410 for targets on throw-away machines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlspec.api import check_project

BASE = """\
mlspec: 1
project: {name: demo}
training:
  run: python train.py
  outputs: {model: models/model.pkl}
"""
GATED = BASE + """\
validation:
  run: python evaluate.py
  metrics: metrics/eval.json
  gates: [{metric: auc, baseline: production}]
registry: {backend: local}
"""
REMOTE = "storage: {uri: 's3://acme/demo', secrets: [AWS_ACCESS_KEY_ID]}\n"
ONLY_GH = "targets: {airflow: {enabled: false}}\n"
K8S = "targets: {github_actions: {enabled: false}, airflow: {operator: kubernetes}}\n"


def _ms410(tmp_path: Path, text: str) -> list[tuple[str, str, int | None]]:
    spec = tmp_path / "mlproject.yaml"
    spec.write_text(text)
    checked = check_project(spec)
    return [(d.severity.value, d.message.split(":")[0], d.span.line if d.span else None)
            for d in checked.diagnostics if d.code == "MS410"]


def test_gate_on_production_with_a_local_store_is_an_error_at_storage(tmp_path: Path) -> None:
    found = _ms410(tmp_path, GATED + "storage: {uri: artifacts}\n" + ONLY_GH)
    assert found == [("error", "github_actions", 11)]


def test_without_a_production_gate_it_is_a_warning(tmp_path: Path) -> None:
    chain = BASE + "steps:\n  prep: {run: python prep.py, outputs: [d.csv]}\n"
    chain = chain.replace("  outputs: {model: models/model.pkl}", "  needs: [steps.prep]\n  outputs: {model: models/model.pkl}")
    assert _ms410(tmp_path, chain + ONLY_GH) == [("warning", "github_actions", 1)]


def test_nothing_to_lose_is_no_diagnostic(tmp_path: Path) -> None:
    assert _ms410(tmp_path, BASE + ONLY_GH) == []      # one node, no registry: nothing crosses machines


def test_a_remote_store_keeps_outputs_and_the_local_registry(tmp_path: Path) -> None:
    assert _ms410(tmp_path, GATED + REMOTE + ONLY_GH) == []
    assert _ms410(tmp_path, GATED + REMOTE + K8S) == []


def test_sqlite_mlflow_registry_is_lost_even_with_a_remote_store(tmp_path: Path) -> None:
    text = GATED.replace("registry: {backend: local}", "registry: {backend: mlflow, uri: 'sqlite:///mlflow.db'}")
    assert _ms410(tmp_path, text + REMOTE + ONLY_GH) == [("error", "github_actions", 10)]


def test_airflow_pods_without_a_volume_but_not_with_one(tmp_path: Path) -> None:
    assert [f[:2] for f in _ms410(tmp_path, GATED + K8S)] == [("error", "airflow")]
    with_volume = K8S.replace("operator: kubernetes", "operator: kubernetes, volume_claim: shared")
    assert _ms410(tmp_path, GATED + with_volume) == []
    assert _ms410(tmp_path, GATED + "targets: {github_actions: {enabled: false}}\n") == []   # bash workers


@pytest.mark.parametrize(("uri", "message"), [
    ("ftp://x/y", "unsupported store scheme 'ftp://'"),
    ("s3://KEY:secret@bucket/x", "carries no credentials"),
    ("../outside", "escapes the project folder"),
])
def test_bad_storage_uri_is_a_positioned_error(tmp_path: Path, uri: str, message: str) -> None:
    spec = tmp_path / "mlproject.yaml"
    spec.write_text(BASE + f"storage:\n  uri: '{uri}'\n")
    errors = [d for d in check_project(spec).diagnostics if d.is_error]
    assert errors and message in errors[0].message and errors[0].span is not None and errors[0].span.line == 7


def test_plan_storage(tmp_path: Path) -> None:
    spec = tmp_path / "mlproject.yaml"
    spec.write_text(BASE)
    assert check_project(spec).plan.storage.uri == ".mlspec/store" and check_project(spec).plan.storage.local
    spec.write_text(BASE + textwrap.dedent("""\
        storage: {uri: 's3://b/p', endpoint: 'http://minio:9000', secrets: [AWS_ACCESS_KEY_ID]}
        """))
    s = check_project(spec).plan.storage
    assert (s.uri, s.endpoint, s.secrets, s.local) == ("s3://b/p", "http://minio:9000", ("AWS_ACCESS_KEY_ID",), False)
