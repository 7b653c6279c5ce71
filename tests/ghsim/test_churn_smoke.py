"""Smoke tests: the workflows mlspec generates for the churn example, run as GitHub would run them.

The example is compiled into a fresh git repository and the generated workflows run in the
simulated runner with this project's wheel in the wheelhouse: `churn-ci.yml` on a pull request
(`mlspec validate`, `mlspec compile --check`), `churn-train.yml` on a manual dispatch with the
artifact store in a bucket of the loopback S3 server (tests/servers): check-data, prepare, train,
evaluate and the gates in one job, then approval, register and the image build, each job
restoring from the store what earlier jobs saved. A failing gate fails its job and GitHub skips
the release. Every job that installs mlspec must install *this* project, pinned to the version
that generated the files, so the install resolves to the wheelhouse wheel as it would resolve to
the released wheel on PyPI. A train run takes 1-2 minutes on a loaded 2-core machine.
"""

from __future__ import annotations

import hashlib
import json

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


def compile_example(dest: Path, storage: str | None = None) -> None:
    shutil.copytree(ROOT / "examples" / "churn", dest,
                    ignore=shutil.ignore_patterns(".mlspec", "models", "metrics", "prepared", "__pycache__"))
    if storage is not None:   # the example's store, somewhere this machine reaches
        spec = dest / "mlproject.yaml"
        text = spec.read_text()
        old = "storage:\n  uri: s3://acme-ml/churn\n  secrets: [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]\n"
        assert old in text
        spec.write_text(text.replace(old, storage))
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
    # The pull request's code trains and meets the gates in one job, with no secret, and the job
    # summary shows the gate table, the metrics and the evaluation outputs; nothing is released.
    pipeline = result.job("pipeline")
    assert pipeline.conclusion == "success", pipeline.log
    assert [s.name for s in pipeline.steps if s.name.startswith("Run ")] == [
        "Run check data customers", "Run step prepare", "Run train", "Run evaluate", "Run gates"]
    gate_summary = pipeline.step("Run gates").summary
    assert "roc_auc" in gate_summary and "no production model yet" in gate_summary, gate_summary
    outputs = pipeline.step("Show the evaluation outputs").summary
    assert "metrics/eval.json" in outputs and '"roc_auc"' in outputs, outputs
    # actions: read, to list the base branch's production-metrics artifact (none here: a note, not a failure)
    assert pipeline.environment is None
    assert pipeline.permissions == {"actions": "read", "contents": "read", "metadata": "read"}
    assert set(result.artifacts) == {"evaluation"}


@pytest.fixture
def churn_on_s3(tmp_path: Path, s3_server) -> tuple[Path, str]:
    """The churn example with its store in a fresh bucket of the loopback S3 server."""
    repo = tmp_path / "churn"
    bucket = s3_server.make_bucket()
    compile_example(repo, storage=f"storage:\n  uri: s3://{bucket}/churn\n  endpoint: {s3_server.endpoint_url}\n"
                                  "  secrets: [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "churn project, compiled by mlspec")
    return repo, bucket


def run_train(tmp_path: Path, repo: Path, s3_server, wheelhouse: Path, pip_cache: Path, venv_template: Path,
              seen: dict[str, object] | None = None, sim: Simulator | None = None):
    def build_push(ctx: StubContext) -> dict[str, str]:
        # The image build sees the trained model, restored from the store, and nothing else.
        if seen is not None:
            seen.update(ctx.inputs, model=(ctx.workspace / "models" / "model.joblib").is_file(),
                        prepared=(ctx.workspace / "data" / "prepared").exists())
        return {"digest": "sha256:" + "0" * 64}

    sim = sim or Simulator(tmp_path / "sim", wheelhouse=wheelhouse, pip_cache=pip_cache, venv_template=venv_template)
    # The store's credentials live in the `training` environment, as the docs tell users to set them.
    credentials = {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
    return sim.run(repo / ".github" / "workflows" / "churn-train.yml", repo, WorkflowDispatch(ref="main"),
                   approvals={"production": Approve("growth-ml-lead")},
                   environment_secrets={"training": credentials},
                   stubs={"docker/setup-buildx-action": lambda ctx: {}, "docker/build-push-action": build_push})


@pytest.mark.server
def test_generated_train_workflow_runs_end_to_end_through_the_store(tmp_path, churn_on_s3, s3_server,
                                                                   project_wheelhouse, shared_pip_cache,
                                                                   venv_template):
    repo, bucket = churn_on_s3
    wheel, name, version = wheel_identity(project_wheelhouse)
    require_pinned(repo / ".github" / "workflows" / "churn-train.yml", name, version)
    seen: dict[str, object] = {}
    # GitHub's REST API on loopback: the register job asks it who approved; pull requests list
    # and download production's metrics artifact through it.
    sim = Simulator(tmp_path / "sim", wheelhouse=project_wheelhouse, pip_cache=shared_pip_cache,
                    venv_template=venv_template, api=True)
    result = run_train(tmp_path, repo, s3_server, project_wheelhouse, shared_pip_cache, venv_template, seen, sim)
    result.assert_success()
    # check-data, prepare, train, evaluate and the gates share one job: one install of the
    # requirements instead of six; the release jobs install mlspec alone.
    assert result.order == ["train", "approve", "register", "build", "report"]
    assert [s.name for s in result.job("train").steps if s.name.startswith("Run ")] == [
        "Run check data customers", "Run step prepare", "Run train", "Run evaluate", "Run gates"]
    installs = {j: [s.name for s in result.job(j).steps if s.name.startswith("Install")]
                for j in ("train", "register", "build", "report")}
    assert installs == {"train": ["Install requirements and mlspec"], "register": ["Install mlspec"],
                        "build": ["Install mlspec"], "report": ["Install mlspec"]}
    # files cross jobs only through the store; the one artifact is production's metrics, which
    # pull requests read (they hold no store credentials); the run's records and objects are in S3
    assert sorted(result.artifacts) == ["mlspec-churn-production-metrics"]
    exported = result.artifacts["mlspec-churn-production-metrics"]
    assert exported.files == ["baseline.json", "metrics.json"] and exported.job == "register model"
    production = json.loads((exported.path / "metrics.json").read_text())
    assert production["roc_auc"] >= 0.75 and json.loads((exported.path / "baseline.json").read_text())["version"] == "v1"
    keys = s3_server.keys(bucket, "churn/")
    records = sorted(k.rsplit("/", 1)[1] for k in keys if "/runs/" in k)
    # register records the data it certified (content hashes for the audit record) in the run too
    assert records == ["customers.json", "evaluate.json", "step.prepare.json", "train.json"], keys
    assert any("/registry/" in k for k in keys), keys          # register wrote the version into the store
    assert result.job("approve").environment.reviewer == "growth-ml-lead"
    assert result.job("approve").permissions == {}
    assert result.job("train").environment.name == "training"
    assert seen == {"context": ".", "file": "docker/churn.serve.Dockerfile", "push": "false", "model": True,
                    "prepared": False}
    assert installed_from_wheelhouse(result, wheel)
    # pip's cache: one entry for the requirements, one for the jobs installing mlspec alone (the
    # image build, which publishes, restores none)
    saves = [e for e in result.cache_events if e.action == "save" and e.hit == "saved"]
    assert len(saves) == 2 and len({e.key for e in saves}) == 2, result.cache_events
    assert not [e for e in result.cache_events if e.job == "build serving image"]
    print(f"ghsim train run: {result.duration:.1f} s; jobs (s):",
          {j: round(result.job(j).duration, 1) for j in result.order})

    # The audit record of the registered version, read from the S3 registry as an auditor would:
    # the approver GitHub's API named, the data's content hash, the gate values, the commit, the run.
    assert sim.api is not None
    run_id = int(result.github["run_id"])
    approvals = [r for r in sim.api.requests if r.path.endswith("/approvals")]
    assert [(r.path, r.run_id) for r in approvals] == [(f"/repos/octo-org/octo-repo/actions/runs/{run_id}/approvals",
                                                        run_id)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_ACCESS_KEY_ID": s3_server.access_key,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
    env = {k: v for k, v in env.items() if not k.startswith(("GITHUB_", "MLSPEC_"))}
    audit = subprocess.run([sys.executable, "-m", "mlspec", "audit", "--format", "json"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=300)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    out = json.loads(audit.stdout)
    record = out["version"]
    assert out["verified"] is True and record["version"] == "v1"
    assert record["approval"]["by"] == ["growth-ml-lead"] and record["approval"]["source"] == "github"
    assert record["approval"]["environments"] == ["production"]
    digest = "sha256:" + hashlib.sha256((repo / "data" / "customers.csv").read_bytes()).hexdigest()
    assert record["data"]["customers"]["sha256"] == digest and record["data"]["customers"]["pin_verified"] is True
    gates = {g["gate"]: g for g in record["gates"]}
    assert gates["roc_auc_min"]["value"] == production["roc_auc"] and gates["roc_auc_min"]["bound"] == ">= 0.75"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    assert record["code"]["commit"] == head.stdout.strip() == result.github["sha"]
    assert record["run"]["url"] == f"https://github.com/octo-org/octo-repo/actions/runs/{run_id}"
    # the card of that version (GitHub Markdown) carries the real score, its verdict and the approver
    card = subprocess.run([sys.executable, "-m", "mlspec", "registry", "card", "--version", "1"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert card.returncode == 0, card.stdout + card.stderr
    from mlspec.runtime.audit_cli import _md
    from mlspec.runtime.common import num
    assert f"| roc\\_auc | {_md(num(production['roc_auc']))} |" in card.stdout, card.stdout
    assert _md("growth-ml-lead") in card.stdout and result.github["sha"] in card.stdout, card.stdout

    # A pull request now trains its change and sees production: the deltas in its gate table.
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA pull request.\n")
    git(repo, "commit", "-q", "-am", "docs: a pull request")
    pr = sim.run(repo / ".github" / "workflows" / "churn-ci.yml", repo, PullRequest(base="main", head="feature"))
    pipeline = pr.job("pipeline")
    assert pipeline.conclusion == "success", pipeline.log
    assert f"production v1 (train run {run_id})" in pipeline.step("Fetch the production metrics").log_text
    gate_summary = pipeline.step("Run gates").summary
    assert "compared with production v1 \\(train workflow\\)" in gate_summary, gate_summary
    assert "| production | Δ |" in gate_summary
    pr_run = int(pr.github["run_id"])
    listed = [r for r in sim.api.requests if r.run_id == pr_run]
    assert [r.path.split("?")[0] for r in listed] == ["/repos/octo-org/octo-repo/actions/artifacts",
                                                      f"/repos/octo-org/octo-repo/actions/artifacts/{run_id * 100 + 1}/zip"]
    blob = [r for r in sim.api.requests if r.host == "blob"]
    assert len(blob) == 1 and blob[0].run_id is None          # the signed URL never sees the token
    sim.close()


@pytest.mark.server
def test_a_failing_gate_skips_the_release_as_github_does(tmp_path, churn_on_s3, s3_server, project_wheelhouse,
                                                         shared_pip_cache, venv_template):
    repo, _ = churn_on_s3
    spec = repo / "mlproject.yaml"
    # more samples a leaf than the data has rows: the model learns nothing and roc_auc fails its gate
    spec.write_text(spec.read_text().replace("min_samples_leaf: 5", "min_samples_leaf: 100000"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "mlspec", "compile", "--out", ".", "mlproject.yaml"], cwd=repo,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    git(repo, "commit", "-q", "-am", "a model that learns nothing")
    result = run_train(tmp_path, repo, s3_server, project_wheelhouse, shared_pip_cache, venv_template)
    assert result.conclusion == "failure"
    train = result.job("train")
    assert train.conclusion == "failure"
    gate = next(s for s in train.steps if s.name == "Run gates")
    assert gate.conclusion == "failure" and "roc_auc" in gate.log_text
    # the store keeps nothing of a failed job; the release never starts; the run is reported
    assert next(s for s in train.steps if s.name == "Save outputs to the store").conclusion == "skipped"
    assert [result.job(j).conclusion for j in ("approve", "register", "build")] == ["skipped"] * 3
    assert result.job("report").conclusion == "success"


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


def test_a_pull_request_trains_on_the_committed_sample_without_fetching(tmp_path, project_wheelhouse,
                                                                         shared_pip_cache, venv_template):
    """The DVC-style example's data comes from `dvc pull` (its `fetch`), which a pull request cannot
    run (no credentials); `data.posts.sample` is committed, so the pull request's job checks, trains
    and gates on it instead, and never fetches."""
    repo = tmp_path / "dvc"
    shutil.copytree(ROOT / "examples" / "dvc-style", repo,
                    ignore=shutil.ignore_patterns(".mlspec", "models", "eval", "data", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "mlspec", "compile", "--out", ".", "mlproject.yaml"], cwd=repo,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "post tagger, compiled by mlspec")
    assert not (repo / "data").exists()                     # the full data is not in git
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA pull request.\n")
    git(repo, "commit", "-q", "-am", "docs: a pull request")
    sim = Simulator(tmp_path / "sim", wheelhouse=project_wheelhouse, pip_cache=shared_pip_cache,
                    venv_template=venv_template)
    result = sim.run(repo / ".github" / "workflows" / "post-tagger-ci.yml", repo,
                     PullRequest(base="main", head="feature"))
    pipeline = result.job("pipeline")
    assert pipeline.conclusion == "success", pipeline.log
    runs = [s for s in pipeline.steps if s.name.startswith("Run ")]
    assert not any("fetch" in s.name for s in runs), [s.name for s in runs]
    check = pipeline.step("Run check data posts")
    assert "samples/posts.csv" in check.run and "400 rows" in check.log_text.replace(",", ""), check.log_text
    assert "samples/posts.csv" in pipeline.step("Run step prepare").run
    assert "passed" in pipeline.step("Run gates").summary.lower(), pipeline.step("Run gates").summary
