"""Several projects in one repository: `compile --all`, one index per project, file names that
carry the project's name, and compiles that never touch another project's files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import validators as V

ROOT = Path(__file__).resolve().parent.parent
# Generated files in the examples' folders: the repository below starts from the sources only.
GENERATED = (".github", "airflow", "docker", "monitoring", "k8s", ".dockerignore")


def mlspec(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def copy_sources(example: str, dest: Path, *, name: str | None = None) -> None:
    shutil.copytree(ROOT / "examples" / example, dest, ignore=shutil.ignore_patterns(".mlspec", "__pycache__"))
    for generated in [*(dest / g for g in GENERATED), *dest.glob("MODEL_CARD*.md"), *dest.glob("mlspec*.lock.json"),
                      *dest.glob(".mlspec-manifest*.json")]:
        if generated.is_dir():
            shutil.rmtree(generated)
        elif generated.exists():
            generated.unlink()
    if name is not None:  # the reference example is also project `churn`
        spec = dest / "mlproject.yaml"
        text = spec.read_text(encoding="utf-8")
        renamed = re.sub(r"^  name: churn\b", f"  name: {name}", text, count=1, flags=re.M)
        assert renamed != text
        spec.write_text(renamed, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository (a `.git` folder is all mlspec looks for) with three projects side by side."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    copy_sources("churn", root / "churn")
    copy_sources("reference", root / "reference", name="reference")
    copy_sources("minimal", root / "minimal")
    # Ignored folders are not searched.
    for ignored in ("node_modules/pkg", ".venv/lib", "build"):
        (root / ignored).mkdir(parents=True)
        shutil.copy(root / "minimal/mlproject.yaml", root / ignored / "mlproject.yaml")
    (root / ".gitignore").write_text("build/\n", encoding="utf-8")
    return root


PROJECTS = {"churn": "churn", "reference": "reference", "minimal": "minimal"}  # folder: project name


def index(root: Path, project: str) -> dict[str, dict]:
    return json.loads((root / f".mlspec-manifest.{project}.json").read_text(encoding="utf-8"))["files"]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts[:1]}


def check_passes(root: Path, folder: str) -> None:
    r = mlspec(root, "compile", "--check", "--out", ".", f"{folder}/mlproject.yaml")
    assert r.returncode == 0, r.stderr


def test_compile_all_writes_every_project_under_its_own_names(repo: Path) -> None:
    r = mlspec(repo, "compile", "--all")
    assert r.returncode == 0, r.stderr
    assert "MS512" not in r.stderr and "MS51" not in r.stdout
    for ignored in ("node_modules", ".venv", "build"):
        assert ignored not in r.stdout
    indexes = {name: index(repo, name) for name in PROJECTS.values()}
    # two projects never write the same path, and every generated path carries its project's name
    paths = [p for files in indexes.values() for p in files]
    assert len(paths) == len(set(paths))
    for name, files in indexes.items():
        for path in files:
            assert name in path or name.replace("-", "_") in path, path
    assert {"docker/churn.train.Dockerfile", "docker/churn.serve.Dockerfile", "mlspec.churn.lock.json",
            "MODEL_CARD.churn.md", ".github/workflows/churn-ci.yml"} <= set(indexes["churn"])
    assert "docker/minimal.train.Dockerfile" in indexes["minimal"]
    # the workflows are at the repository root, each limited to its project
    ci = (repo / ".github/workflows/minimal-ci.yml").read_text(encoding="utf-8")
    assert '- "minimal/**"' in ci and not (repo / "minimal/.github").exists()
    train = (repo / ".github/workflows/churn-train.yml").read_text(encoding="utf-8")
    assert 'working-directory: "churn"' in train
    for folder in PROJECTS:
        check_passes(repo, folder)
    again = mlspec(repo, "compile", "--all", "--check")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("order", [("churn", "reference", "minimal"), ("minimal", "churn", "reference")])
def test_each_projects_check_is_independent_of_the_order_of_compiles(repo: Path, order: tuple[str, ...]) -> None:
    done: list[str] = []
    for folder in order:
        before = tree(repo)
        r = mlspec(repo, "compile", "--out", ".", f"{folder}/mlproject.yaml")
        assert r.returncode == 0, r.stderr
        after = tree(repo)
        # nothing another project wrote changed or went away
        for other in done:
            for path in index(repo, PROJECTS[other]):
                assert after[path] == before[path], path
        done.append(folder)
        for compiled in done:
            check_passes(repo, compiled)
    # the same bytes as compiling all at once
    fresh = repo.parent / "fresh"
    shutil.copytree(repo, fresh, ignore=shutil.ignore_patterns(".github", "docker", "airflow", "monitoring",
                                                               "MODEL_CARD*", "mlspec.*.lock.json",
                                                               ".mlspec-manifest*", ".dockerignore"))
    assert mlspec(fresh, "compile", "--all").returncode == 0
    assert tree(fresh) == tree(repo)


def test_deleting_a_spec_removes_that_projects_files_only(repo: Path) -> None:
    assert mlspec(repo, "compile", "--all").returncode == 0
    gone = set(index(repo, "reference"))
    kept = {p: (repo / p).read_bytes() for name in ("churn", "minimal") for p in index(repo, name)}
    (repo / "reference/mlproject.yaml").unlink()
    check = mlspec(repo, "compile", "--all", "--check")
    assert check.returncode == 1 and "error[MS507]" in check.stderr
    assert all((repo / p).exists() for p in gone)                     # --check writes nothing
    r = mlspec(repo, "compile", "--all")
    assert r.returncode == 0, r.stderr
    assert not any((repo / p).exists() for p in gone)
    assert not (repo / ".mlspec-manifest.reference.json").exists()
    assert {p: (repo / p).read_bytes() for p in kept} == kept
    for folder in ("churn", "minimal"):
        check_passes(repo, folder)
    assert mlspec(repo, "compile", "--all", "--check").returncode == 0


def test_two_specs_with_one_project_name_write_nothing(repo: Path) -> None:
    copy_sources("reference", repo / "reference2")  # project `churn`, like churn/
    r = mlspec(repo, "compile", "--all")
    assert r.returncode == 1
    assert "churn/mlproject.yaml:" in r.stderr and "reference2/mlproject.yaml:" in r.stderr
    assert r.stderr.count("error[MS513]") == 2
    # positioned at project.name
    line = next(i for i, ln in enumerate((repo / "churn/mlproject.yaml").read_text().splitlines(), 1)
                if ln.strip().startswith("name: churn"))
    assert f"churn/mlproject.yaml:{line}:" in r.stderr
    assert not (repo / ".mlspec-manifest.churn.json").exists()
    assert (repo / ".mlspec-manifest.minimal.json").exists()      # the others are written
    # compiled one at a time, the second is refused: the index belongs to the first spec
    assert mlspec(repo, "compile", "--out", ".", "churn/mlproject.yaml").returncode == 0
    before = tree(repo)
    second = mlspec(repo, "compile", "--out", ".", "--force", "reference2/mlproject.yaml")
    assert second.returncode == 1 and "error[MS513]" in second.stderr
    assert tree(repo) == before


def test_a_path_another_projects_index_lists_is_never_written(tmp_path: Path) -> None:
    # two specs in one folder share its build context, so both would write its .dockerignore
    tmp_path = tmp_path / "p"
    copy_sources("minimal", tmp_path)
    text = (tmp_path / "mlproject.yaml").read_text(encoding="utf-8")
    (tmp_path / "other.yaml").write_text(text.replace("name: minimal", "name: other", 1), encoding="utf-8")
    assert mlspec(tmp_path, "compile", "mlproject.yaml").returncode == 0
    before = tree(tmp_path)
    r = mlspec(tmp_path, "compile", "--force", "other.yaml")
    assert r.returncode == 1 and "error[MS514]" in r.stderr and ".dockerignore" in r.stderr
    assert tree(tmp_path) == before


def test_a_single_project_with_the_old_names_moves_to_the_new_ones(tmp_path: Path) -> None:
    """A folder compiled before file names carried the project's name: one
    `.mlspec-manifest.json`, `MODEL_CARD.md`, `mlspec.lock.json`, `docker/Dockerfile.train`."""
    tmp_path = tmp_path / "p"
    copy_sources("minimal", tmp_path)
    assert mlspec(tmp_path, "compile").returncode == 0
    files = index(tmp_path, "minimal")
    old_names = {"MODEL_CARD.minimal.md": "MODEL_CARD.md", "mlspec.minimal.lock.json": "mlspec.lock.json",
                 "docker/minimal.train.Dockerfile": "docker/Dockerfile.train"}
    for new, old in old_names.items():
        (tmp_path / new).rename(tmp_path / old)
        files[old] = files.pop(new)
    legacy = json.loads((tmp_path / ".mlspec-manifest.minimal.json").read_text())
    legacy["files"] = files
    (tmp_path / ".mlspec-manifest.json").write_text(json.dumps(legacy))
    (tmp_path / ".mlspec-manifest.minimal.json").unlink()
    assert mlspec(tmp_path, "compile", "--check").returncode == 1
    r = mlspec(tmp_path, "compile")
    assert r.returncode == 0, r.stderr
    for new, old in old_names.items():
        assert (tmp_path / new).exists() and not (tmp_path / old).exists()
    assert not (tmp_path / ".mlspec-manifest.json").exists()
    assert mlspec(tmp_path, "compile", "--check").returncode == 0


def test_another_specs_old_index_is_left_alone(tmp_path: Path) -> None:
    tmp_path = tmp_path / "p"
    copy_sources("minimal", tmp_path)
    legacy = {"format": 1, "source": "old.yaml", "files": {"MODEL_CARD.md": {
        "kind": "model-card", "sha256": "0" * 64, "target": "model_card"}}}
    (tmp_path / ".mlspec-manifest.json").write_text(json.dumps(legacy))
    (tmp_path / "old.yaml").write_text("mlspec: 1\n")
    (tmp_path / "MODEL_CARD.md").write_text("theirs\n")
    r = mlspec(tmp_path, "compile")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / ".mlspec-manifest.json").read_text()) == legacy
    assert (tmp_path / "MODEL_CARD.md").read_text() == "theirs\n"


def test_workflows_below_the_git_root_get_a_warning_with_the_fix(repo: Path) -> None:
    r = mlspec(repo, "compile", "minimal/mlproject.yaml")
    assert r.returncode == 0, r.stderr
    assert "warning[MS512]" in r.stderr and "minimal/.github/workflows/" in r.stderr
    assert "mlspec compile minimal/mlproject.yaml --out ." in r.stderr
    # from the root, or outside any repository: no warning
    assert "MS512" not in mlspec(repo, "compile", "--out", ".", "minimal/mlproject.yaml").stderr
    shutil.rmtree(repo / ".git")
    assert "MS512" not in mlspec(repo, "compile", "--check", "minimal/mlproject.yaml").stderr


def test_all_and_specs_together_is_a_usage_error(repo: Path) -> None:
    r = mlspec(repo, "compile", "--all", "minimal/mlproject.yaml")
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.validator
def test_root_workflows_pass_actionlint_and_zizmor(repo: Path) -> None:
    assert mlspec(repo, "compile", "--all").returncode == 0
    workflows = sorted((repo / ".github/workflows").glob("*.yml"))
    assert len(workflows) == 6
    assert V.actionlint(workflows) == []
    assert V.zizmor(workflows) == []


def test_help_says_where_several_specs_go() -> None:
    r = mlspec(ROOT, "compile", "--help")
    text = " ".join(r.stdout.split())
    assert "--all" in text and "own index" in text and "each spec's own folder" in text
    assert "OUT/<project name>" not in text

