"""``${registry.production.model}`` works in every target, not only in `mlspec run`: the command
that reads it is preceded by the fetch of the production model, the serving image carries the
mlspec that fetches, and a server that fetches gets the store's credentials.

Compiled from a copy of the churn example whose server and evaluation read the production model.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli import cli
from tests import validators as V

ROOT = Path(__file__).resolve().parents[2]
FETCH = "mlspec registry fetch --alias production -- mlproject.yaml && "


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("prod") / "churn"
    shutil.copytree(ROOT / "examples" / "churn", d,
                    ignore=shutil.ignore_patterns("data", ".mlspec", "__pycache__", "*.egg-info"))
    spec = d / "mlproject.yaml"
    text = spec.read_text()
    for old in ("churn.serve --model ${training.outputs.model}",
                "churn.evaluate --model ${training.outputs.model}"):
        assert old in text
        text = text.replace(old, old.replace("${training.outputs.model}", "${registry.production.model}"))
    text = text.replace("targets:\n", "targets:\n  kubernetes: {enabled: true, image: ghcr.io/example/churn@sha256:"
                        + "a" * 64 + "}\n")
    spec.write_text(text)
    r = CliRunner().invoke(cli, ["compile", str(spec), "--format", "json"])
    assert r.exit_code == 0, r.output
    return d


def _cmd(path: Path) -> list[str]:
    return next(list(i.value) for i in dockerfile.parse_file(str(path)) if i.cmd.upper() == "CMD" and i.json)


def test_the_server_fetches_the_production_model_before_it_starts(compiled: Path) -> None:
    serve = compiled / "docker" / "churn.serve.Dockerfile"
    argv = _cmd(serve)
    assert argv[:5] == ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail"]
    assert argv[-1] == FETCH + "python -m churn.serve --model .mlspec/production/model.joblib --port 8080"
    # The image has the mlspec that fetches, pinned like everywhere else.
    assert "'mlspec-compiler[runtime]==" in serve.read_text()


def test_the_kubernetes_server_fetches_with_the_store_credentials(compiled: Path) -> None:
    docs = [d for f in sorted((compiled / "k8s").glob("*.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][-1].startswith(FETCH)
    secret_env = {e["name"] for e in c.get("env", []) if "valueFrom" in e}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= secret_env


def _job_steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, body in workflow["jobs"].items() for step in body.get("steps", [])]


def test_pipeline_commands_fetch_before_they_read_it(compiled: Path) -> None:
    wf = yaml.safe_load((compiled / ".github" / "workflows" / "churn-train.yml").read_text())
    runs = [s.get("run", "") + s.get("env", {}).get("MLSPEC_COMMAND", "") for _, s in _job_steps(wf)]
    evaluate = [r for r in runs if "churn.evaluate" in r]
    assert evaluate and all(FETCH + "python -m churn.evaluate" in r.replace("\n", " ") or r.startswith(FETCH)
                            for r in evaluate), evaluate
    # Airflow: the evaluate task's bash command, read from the DAG's Python.
    dag = (compiled / "airflow" / "dags" / "churn_pipeline.py").read_text()
    strings = [n.value for n in ast.walk(ast.parse(dag)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    # (isolated tasks restore their inputs from the store first; the fetch still precedes the command)
    assert any(FETCH in s and "churn.evaluate" in s and s.index(FETCH) < s.index("churn.evaluate") for s in strings)
    # A command that does not read the production model is left alone.
    assert not any(FETCH in s and "churn.train" in s for s in strings)


@pytest.mark.validator
def test_the_fetching_artifacts_stay_valid(compiled: Path) -> None:
    assert V.hadolint(sorted(p for p in (compiled / "docker").iterdir() if not p.name.endswith(".dockerignore"))) == []
    assert V.actionlint(sorted((compiled / ".github" / "workflows").glob("*.yml"))) == []
