"""The writer trusts what it can verify on disk, not what its index says.

Reproduction: adding entries for `mlproject.yaml` and `.git/config`, with the files' real
sha256, to `.mlspec-manifest.json` made `mlspec compile` delete both (exit 0, no
`--force`); with `--force` any listed file was removed even when its hash did not match.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlspec import diagnostics as codes
from mlspec.output.artifacts import Artifact
from mlspec.output.writer import COMMENTLESS_PATHS, INDEX_NAME, index_name, write_artifacts

ROOT = Path(__file__).resolve().parent.parent
PROJECT_INDEX = index_name("minimal")  # the `project` fixture's index


def mlspec(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def add_to_index(out: Path, path: str, *, sha256: str | None = None, target: str = "airflow",
                 kind: str = "airflow-dag") -> None:
    name = PROJECT_INDEX if (out / PROJECT_INDEX).exists() else INDEX_NAME  # a compile's, or the writer's default
    index = json.loads((out / name).read_text())
    digest = sha256 or hashlib.sha256((out / path).read_bytes()).hexdigest()
    index["files"][path] = {"sha256": digest, "target": target, "kind": kind}
    (out / name).write_text(json.dumps(index))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "examples/minimal/mlproject.yaml", tmp_path / "mlproject.yaml")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/config").write_text("[core]\n\trepositoryformatversion = 0\n")
    r = mlspec(tmp_path, "compile")
    assert r.returncode == 0, r.stderr
    return tmp_path


@pytest.mark.parametrize("force", [False, True])
def test_the_spec_and_git_listed_with_their_real_hashes_are_not_removed(project: Path, force: bool) -> None:
    spec, git = (project / "mlproject.yaml").read_bytes(), (project / ".git/config").read_bytes()
    add_to_index(project, "mlproject.yaml")
    add_to_index(project, ".git/config")
    r = mlspec(project, "compile", *(["--force"] if force else []))
    assert r.returncode == 0, r.stderr
    assert (project / "mlproject.yaml").read_bytes() == spec
    assert (project / ".git/config").read_bytes() == git
    assert r.stderr.count("warning[MS508]") == 2, r.stderr
    assert "'mlproject.yaml', which mlspec never writes ('mlproject.yaml' is the spec itself)" in r.stderr
    assert "'.git/config', which mlspec never writes ('.git/config' is inside a .git folder)" in r.stderr
    files = json.loads((project / PROJECT_INDEX).read_text())["files"]
    assert "mlproject.yaml" not in files and ".git/config" not in files
    assert mlspec(project, "compile", "--check").returncode == 0


@pytest.mark.parametrize("force", [False, True])
def test_a_foreign_file_the_index_lists_is_never_removed(project: Path, force: bool) -> None:
    notes = project / "docs/notes.md"
    notes.parent.mkdir()
    notes.write_text("my notes\n")
    add_to_index(project, "docs/notes.md", sha256="0" * 64, target="model_card", kind="model-card")
    r = mlspec(project, "compile", *(["--force"] if force else []))
    assert r.returncode == 0, r.stderr
    assert notes.read_text() == "my notes\n"
    assert "warning[MS508]" in r.stderr and "it carries no mlspec header" in r.stderr


def dashboard(path: str = "monitoring/grafana/churn.dashboard.json", body: str = '{"title": "churn"}\n',
              target: str = "grafana", kind: str = "grafana-dashboard") -> Artifact:
    return Artifact(path, body, target, kind, comment=None)


def test_a_json_orphan_is_removed_only_at_a_generated_path_with_its_recorded_hash(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert write_artifacts([dashboard()], out, source="mlproject.yaml").diagnostics == []
    # A user's package.json listed as a dashboard with its true hash: wrong path, kept.
    (out / "package.json").write_text('{"name": "app"}\n')
    add_to_index(out, "package.json", target="grafana", kind="grafana-dashboard")
    # A JSON file at a dashboard path but claimed for another target/kind: kept.
    (out / "monitoring/grafana/other.dashboard.json").write_text("{}\n")
    add_to_index(out, "monitoring/grafana/other.dashboard.json", target="manifest", kind="lineage-lock")
    result = write_artifacts([], out, source="mlproject.yaml", force=True)
    assert sorted(d.code for d in result.diagnostics) == [codes.UNPROVEN_FILE] * 2
    assert (out / "package.json").exists() and (out / "monitoring/grafana/other.dashboard.json").exists()
    assert not (out / "monitoring/grafana/churn.dashboard.json").exists()     # mlspec's own: removed


def test_a_json_orphan_edited_by_hand_is_kept_even_with_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_artifacts([dashboard()], out, source="mlproject.yaml")
    (out / "monitoring/grafana/churn.dashboard.json").write_text('{"title": "mine"}\n')
    result = write_artifacts([], out, source="mlproject.yaml", force=True)
    assert [d.code for d in result.diagnostics] == [codes.UNPROVEN_FILE]
    assert (out / "monitoring/grafana/churn.dashboard.json").read_text() == '{"title": "mine"}\n'


def test_the_manifest_cannot_vouch_for_a_file_that_should_carry_a_header(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_artifacts([], out, source="mlproject.yaml")
    (out / "Dockerfile").write_text("FROM scratch\n")            # the user's own, no header
    (out / INDEX_NAME).write_text(json.dumps({"format": 1, "source": "x", "files": {"Dockerfile": {
        "sha256": hashlib.sha256(b"FROM scratch\n").hexdigest(), "target": "docker", "kind": "dockerfile"}}}))
    result = write_artifacts([Artifact("Dockerfile", "FROM python\n", "docker", "dockerfile")], out,
                             source="mlproject.yaml")
    assert [d.code for d in result.diagnostics] == [codes.FOREIGN_FILE]
    assert (out / "Dockerfile").read_text() == "FROM scratch\n"


def test_an_artifact_never_replaces_the_spec_nor_enters_git(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "spec.yaml").write_text("mlspec: 1\n")
    result = write_artifacts([Artifact("spec.yaml", "a: 1\n", "t", "k")], out, source="spec.yaml", force=True,
                             protected=[out / "spec.yaml"])
    assert [d.code for d in result.diagnostics] == [codes.UNSAFE_OUTPUT]
    assert "is the spec itself" in result.diagnostics[0].message
    result = write_artifacts([Artifact(".git/hooks/post-checkout", "x\n", "t", "k"),
                              Artifact("sub/.GIT/config", "x\n", "t", "k")], out, source="s", force=True)
    assert [d.code for d in result.diagnostics] == [codes.UNSAFE_OUTPUT] * 2
    assert (out / "spec.yaml").read_text() == "mlspec: 1\n" and not (out / ".git").exists()


@pytest.mark.parametrize("paths", [
    ["docker", "Docker/Dockerfile"],            # a file and a folder differing only in case
    ["dags/Train.py", "dags/train.py"],         # two files
    ["Dags/a.py", "dags/b.py"],                 # two folders
])
def test_paths_equal_under_casefold_are_refused(tmp_path: Path, paths: list[str]) -> None:
    result = write_artifacts([Artifact(p, "x = 1\n", "t", "k") for p in paths], tmp_path / "out", source="s")
    assert [d.code for d in result.diagnostics] == [codes.UNSAFE_OUTPUT]
    assert "only in case" in result.diagnostics[0].message
    assert not (tmp_path / "out").exists()


def test_every_json_artifact_of_the_examples_is_at_a_path_its_target_generates() -> None:
    """COMMENTLESS_PATHS must describe what the targets emit, or their orphans would be kept."""
    from mlspec.api import check_project, emit_artifacts

    seen = set()
    for spec in sorted(ROOT.glob("examples/*/mlproject.yaml")):
        checked = check_project(spec)
        for a in emit_artifacts(checked.plan, list(checked.target_options)):
            if a.comment is None:
                pattern = COMMENTLESS_PATHS.get((a.target, a.kind))
                assert pattern is not None and pattern.fullmatch(a.path), (a.target, a.kind, a.path)
                seen.add((a.target, a.kind))
    assert seen == set(COMMENTLESS_PATHS)
