"""The hooks in `.pre-commit-hooks.yaml`, run by pre-commit itself on a throwaway repository.

pre-commit installs a hook repository from git: the fixture commits a copy of this checkout
(tracked and untracked-but-not-ignored files, so uncommitted work is what gets tested) and
points `repo:` at it. pre-commit then builds mlspec into its own virtualenv from that commit,
exactly as it would from GitHub. One PRE_COMMIT_HOME serves every test of the session, so the
environment is built once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = "mlspec: 1\nproject:\n  name: demo\ntraining:\n  run: python train.py\n  outputs:\n    model: models/model.pkl\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}

pytestmark = [pytest.mark.validator, pytest.mark.slow]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env).stdout


def test_hook_definitions() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"mlspec-validate", "mlspec-compile-check"}
    import re

    for hook in hooks.values():
        assert hook["language"] == "python" and hook["pass_filenames"] is True
        pattern = re.compile(hook["files"])
        for name in ("mlproject.yaml", "mlproject.yml", "a/b/mlproject.yaml"):
            assert pattern.search(name), name
        for name in ("xmlproject.yaml", "mlproject.yaml.bak", "mlproject.json", "a/mlproject.yaml/x"):
            assert not pattern.search(name), name


@pytest.fixture(scope="session")
def hook_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A committed copy of this checkout, and where pre-commit keeps its environments."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        pytest.skip("pre-commit (test extra) is not installed")
    base = tmp_path_factory.mktemp("pre-commit")
    hook_repo = base / "mlspec"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        source = ROOT / rel
        if source.is_file():
            (hook_repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, hook_repo / rel)
    git(hook_repo, "init", "-q", "-b", "main")
    git(hook_repo, "add", "-A")
    git(hook_repo, "commit", "-q", "-m", "mlspec under test")
    return {"repo": str(hook_repo), "rev": git(hook_repo, "rev-parse", "HEAD").strip(),
            "home": str(base / "home")}


def _user_repo(tmp: Path, hook_env: dict[str, str]) -> Path:
    repo = tmp / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    config = {"repos": [{"repo": hook_env["repo"], "rev": hook_env["rev"],
                         "hooks": [{"id": "mlspec-validate"}, {"id": "mlspec-compile-check"}]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    return repo


def pre_commit(repo: Path, hook_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    git(repo, "add", "-A")
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": hook_env["home"], "PRE_COMMIT_COLOR": "never",
           "HOME": str(repo)}
    env.pop("PYTHONPATH", None)  # the hook must run the mlspec pre-commit installed, not this checkout
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--show-diff-on-failure"],
                          cwd=repo, capture_output=True, text=True, env=env, timeout=900)


def test_valid_spec_passes_both_hooks(tmp_path: Path, hook_env: dict[str, str]) -> None:
    repo = _user_repo(tmp_path, hook_env)
    project = repo / "models" / "demo"
    project.mkdir(parents=True)
    (project / "mlproject.yaml").write_text(MINIMAL)
    compiled = subprocess.run([sys.executable, "-m", "mlspec", "compile", str(project / "mlproject.yaml")],
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert compiled.returncode == 0, compiled.stderr
    start = time.perf_counter()
    result = pre_commit(repo, hook_env)
    took = time.perf_counter() - start
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mlspec validate" in result.stdout and "mlspec compile --check" in result.stdout
    assert result.stdout.count("Passed") == 2
    print(f"pre-commit first run (hook environment built): {took:.1f} s")


def test_invalid_spec_fails_validate_with_the_diagnostic(tmp_path: Path, hook_env: dict[str, str]) -> None:
    repo = _user_repo(tmp_path, hook_env)
    (repo / "mlproject.yaml").write_text(MINIMAL.replace("training:", "trainig:"))
    result = pre_commit(repo, hook_env)
    assert result.returncode == 1
    assert "mlproject.yaml:4:1: error[MS101]: unknown key 'trainig'" in result.stdout
    assert "hint: did you mean 'training'?" in result.stdout


def test_stale_artifact_fails_compile_check(tmp_path: Path, hook_env: dict[str, str]) -> None:
    repo = _user_repo(tmp_path, hook_env)
    (repo / "mlproject.yaml").write_text(MINIMAL)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "mlspec", "compile"], cwd=repo, check=True, env=env, capture_output=True)
    (repo / "mlproject.yaml").write_text(MINIMAL.replace("train.py", "train_v2.py"))
    result = pre_commit(repo, hook_env)
    assert result.returncode == 1
    validate, check = result.stdout.split("mlspec compile --check", 1)
    assert "Passed" in validate
    assert "Failed" in check and "error[MS503]" in check


def test_files_other_than_specs_do_not_run_the_hooks(tmp_path: Path, hook_env: dict[str, str]) -> None:
    repo = _user_repo(tmp_path, hook_env)
    (repo / "README.md").write_text("no spec here\n")
    result = pre_commit(repo, hook_env)
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("(no files to check)Skipped") == 2
