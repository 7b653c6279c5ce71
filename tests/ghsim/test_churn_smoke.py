"""Smoke tests: the workflows mlspec generates for the churn example, run as GitHub would run them.

The example is compiled into a fresh git repository and the generated workflows run in the
simulated runner with this project's wheel in the wheelhouse: `churn-ci.yml` on a pull request
(`mlspec validate`, `mlspec compile --check`), `churn-train.yml` on a manual dispatch (data check,
prepare, train, evaluate, gates, approval, register, image build -- artifacts carry each step's
outputs to the next job). Every job that installs mlspec must install *this* project, pinned to
the version that generated the files, so the install resolves to the wheelhouse wheel as it would
resolve to the released wheel on PyPI.

The generator pins 'mlspec-compiler[runtime]==<version>', so the install resolves to the
wheelhouse's wheel. The train workflow runs only with MLSPEC_GHSIM_TRAIN=1 (it takes minutes).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.ghsim import Approve, PullRequest, Simulator, StubContext, WorkflowDispatch

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class NotPinned(AssertionError):
    """The generated workflow does not install this project's distribution at its own version."""


def wheel_identity(wheelhouse: Path) -> tuple[Path, str, str]:
    wheel = next(wheelhouse.glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode("utf-8"))
    return wheel, meta["Name"], meta["Version"]


def pinned_requirement_pattern(name: str, version: str) -> re.Pattern[str]:
    # PEP 503: '-', '_' and '.' are interchangeable and case does not matter.
    words = [re.escape(w) for w in re.split(r"[-_.]+", name)]
    return re.compile(r"(?<![\w.-])" + r"[-_.]+".join(words) + r"(?:\[[^\]]*\])?\s*==\s*" + re.escape(version)
                      + r"(?![\w.+-])", re.IGNORECASE)


def compile_example(dest: Path) -> None:
    shutil.copytree(ROOT / "examples" / "churn", dest,
                    ignore=shutil.ignore_patterns(".mlspec", "models", "metrics", "prepared", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "mlspec", "compile", "--out", ".", "mlproject.yaml"], cwd=dest,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def require_pinned(workflow: Path, name: str, version: str) -> None:
    text = workflow.read_text()
    if not pinned_requirement_pattern(name, version).search(text):
        installs = sorted(set(re.findall(r"MLSPEC_INSTALL:\s*\"?([^\"\n]+)", text)))
        raise NotPinned(f"{workflow.name} does not install {name}=={version} (this project's wheel); "
                        f"it installs {installs}")


def installed_from_wheelhouse(result, wheel: Path) -> list[str]:
    return [f"{leg.id}/{s.name}" for legs in result.jobs.values() for leg in legs for s in leg.steps
            if wheel.name in s.log_text]


@pytest.fixture
def churn_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "churn"
    compile_example(repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "churn project, compiled by mlspec")
    return repo


NOT_PINNED = ("the generated workflows install 'mlspec[runtime]' -- on PyPI that name is an unrelated project "
              "(mlspec 0.13.0, a Rust sdist) -- instead of this project's distribution pinned to the version "
              "that generated the files; flips to XPASS once the generator emits "
              "'<distribution>[runtime]==<version>'")


def test_generated_ci_workflow_runs_on_a_pull_request(tmp_path, churn_repo, project_wheelhouse, shared_pip_cache,
                                                      venv_template):
    repo = churn_repo
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA documentation change.\n")
    git(repo, "commit", "-q", "-am", "docs: a pull request")
    workflow = repo / ".github" / "workflows" / "churn-ci.yml"
    wheel, name, version = wheel_identity(project_wheelhouse)
    require_pinned(workflow, name, version)

    sim = Simulator(tmp_path / "sim", wheelhouse=project_wheelhouse, pip_cache=shared_pip_cache,
                    venv_template=venv_template)
    result = sim.run(workflow, repo, PullRequest(base="main", head="feature"))
    result.assert_success()
    assert installed_from_wheelhouse(result, wheel), f"{wheel.name} was not installed:\n{result.failure_message()}"
    assert not result.stubs_used
    assert result.job("validate").permissions == {"contents": "read", "metadata": "read"}
    # The review job writes what the pull request alters into the job summary (here: nothing of the spec).
    summary = result.job("review").steps[-1].summary
    assert summary.startswith("<!-- mlspec-diff -->"), result.job("review").steps[-1].log_text


def test_generated_train_workflow_runs_end_to_end(tmp_path, churn_repo, project_wheelhouse, shared_pip_cache,
                                                  venv_template):
    workflow = churn_repo / ".github" / "workflows" / "churn-train.yml"
    wheel, name, version = wheel_identity(project_wheelhouse)
    require_pinned(workflow, name, version)
    if os.environ.get("MLSPEC_GHSIM_TRAIN", "") in ("", "0"):
        # Eight jobs, each installing scikit-learn and mlspec into its own venv: 5-10 minutes on a
        # loaded 2-core machine, too much for every CI run.
        pytest.skip("the full train workflow takes minutes; run it with MLSPEC_GHSIM_TRAIN=1")

    seen: dict[str, object] = {}

    def build_push(ctx: StubContext) -> dict[str, str]:
        # The image build sees the trained model the job unpacked from the `train` artifact.
        seen.update(ctx.inputs, model=(ctx.workspace / "models" / "model.joblib").is_file())
        return {"digest": "sha256:" + "0" * 64}

    sim = Simulator(tmp_path / "sim", wheelhouse=project_wheelhouse, pip_cache=shared_pip_cache,
                    venv_template=venv_template)
    result = sim.run(workflow, churn_repo, WorkflowDispatch(ref="main"),
                     approvals={"production": Approve("growth-ml-lead")},
                     stubs={"docker/setup-buildx-action": lambda ctx: {}, "docker/build-push-action": build_push})
    result.assert_success()
    assert result.order == ["check-customers", "step-prepare", "train", "evaluate", "gate", "approve", "register",
                            "build"]
    assert set(result.artifacts) == {"step_prepare", "train", "evaluate"}
    assert result.job("approve").environment.reviewer == "growth-ml-lead"
    assert result.job("approve").permissions == {}
    assert seen == {"context": ".", "file": "docker/churn.serve.Dockerfile", "push": "false", "model": True}
    assert len(result.stubs_used) == 2
    assert installed_from_wheelhouse(result, wheel)


def test_ci_workflow_of_a_project_below_the_root_runs_from_the_root(tmp_path, project_wheelhouse, shared_pip_cache,
                                                                     venv_template):
    """Two projects in one repository, compiled with `compile --all`: the churn project's CI
    (at the root's .github/workflows, limited by `paths:`) validates and checks its own files."""
    repo = tmp_path / "mono"
    for example in ("churn", "minimal"):
        shutil.copytree(ROOT / "examples" / example, repo / example,
                        ignore=shutil.ignore_patterns(".mlspec", "__pycache__", ".github", "docker", "airflow",
                                                      "MODEL_CARD*", "mlspec.*.lock.json", ".mlspec-manifest*",
                                                      "alertmanager", "grafana", "prometheus", ".dockerignore"))
    (repo / ".git").mkdir()
    r = subprocess.run([sys.executable, "-m", "mlspec", "compile", "--all"], cwd=repo, capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (repo / ".git").rmdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two projects")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "churn" / "README.md").write_text("A documentation change.\n")
    git(repo, "commit", "-q", "-am", "docs: a pull request")
    workflow = repo / ".github" / "workflows" / "churn-ci.yml"
    assert "churn/**" in workflow.read_text()
    sim = Simulator(tmp_path / "sim", wheelhouse=project_wheelhouse, pip_cache=shared_pip_cache,
                    venv_template=venv_template)
    result = sim.run(workflow, repo, PullRequest(base="main", head="feature"))
    result.assert_success()
    assert not result.stubs_used
