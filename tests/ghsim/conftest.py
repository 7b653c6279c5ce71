"""Fixtures for the runner simulation: a git repository to run workflows in, a Simulator."""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ghsim import Simulator

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


class Repo:
    """A local git repository standing in for the GitHub repository."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        r = subprocess.run(["git", *args], cwd=self.path, capture_output=True, text=True,
                           env={**os.environ, **GIT_ENV}, check=True)
        return r.stdout.strip()

    def write(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            p = self.path / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text), encoding="utf-8")

    def commit(self, files: dict[str, str] | None = None, message: str = "change") -> str:
        if files:
            self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str) -> None:
        self.git("checkout", "-q", "-B", name)

    def workflow(self, text: str, name: str = "ci.yml") -> Path:
        """Write and commit a workflow; return its path."""
        self.commit({f".github/workflows/{name}": text}, f"workflow {name}")
        return self.path / ".github" / "workflows" / name


@pytest.fixture(scope="session")
def shared_pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ghsim-pip-cache")


@pytest.fixture(scope="session")
def venv_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ghsim-venv") / "template"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo")
    r.commit({"README.md": "hello\n"}, "initial")
    return r


@pytest.fixture
def sim(tmp_path: Path, shared_pip_cache: Path, venv_template: Path) -> Simulator:
    return Simulator(tmp_path / "sim", pip_cache=shared_pip_cache, venv_template=venv_template)


@pytest.fixture
def run_workflow(sim: Simulator, repo: Repo) -> Callable:
    """Commit the workflow text and run it for an event."""
    def run(text: str, event, **kw):
        path = repo.workflow(text)
        return sim.run(path, repo.path, event, **kw)
    return run


@pytest.fixture(scope="session")
def project_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project's wheel, built once per session: what a pinned `pip install` of it would fetch
    from PyPI once released (the simulated runner sees it through PIP_FIND_LINKS)."""
    import importlib.util
    import sys

    out = tmp_path_factory.mktemp("wheelhouse")
    root = Path(__file__).resolve().parents[2]
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-isolation"]
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", *isolation, "-o", str(out), str(root)],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600, cwd=out)
    assert r.returncode == 0, f"building the wheel failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return out
