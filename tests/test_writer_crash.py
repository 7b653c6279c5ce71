"""Crash consistency of the writer: a failure or a kill at every rename point.

Reproduction: a compile killed part-way left partial output and a `.mlspec-staging-*`
folder that later compiles neither removed nor reported; after a spec change the next
compile refused the lock as "not written by mlspec" until `--force`; a write that failed
part-way printed "nothing written" after files had been replaced.

Each case injects the failure at the k-th call of a file-system primitive (``os.replace``
for renames, ``os.link`` for backups, ``os.unlink`` for the journal's removal), as an
``OSError`` (the writer undoes the write at once) or as ``KeyboardInterrupt`` /
``SystemExit`` (what a killed process looks like: nothing is cleaned up in-process). Then
the next compile, without ``--force``, must leave exactly what a clean compile writes,
report what it cleaned, and a ``--check`` must pass.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlspec import diagnostics as codes
from mlspec.output.artifacts import Artifact
from mlspec.output.writer import JOURNAL_NAME, STAGING_PREFIX, write_artifacts

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "mlproject.yaml"


def old() -> list[Artifact]:
    return [Artifact("dags/train.py", "x = 1\n", "airflow", "airflow-dag"),
            Artifact("dags/old.py", "gone = True\n", "airflow", "airflow-dag"),
            Artifact("grafana/churn.json", '{"title": "churn"}\n', "grafana", "grafana-dashboard", None),
            Artifact("docs/card.md", "# Card\n", "model_card", "model-card", "<!--")]


def new() -> list[Artifact]:
    return [Artifact("dags/train.py", "x = 2\n", "airflow", "airflow-dag"),
            Artifact("grafana/churn.json", '{"title": "new"}\n', "grafana", "grafana-dashboard", None),
            Artifact("docs/card.md", "# Card\n", "model_card", "model-card", "<!--"),
            Artifact("extra/fresh.py", "y = 1\n", "airflow", "airflow-dag")]


def snapshot(root: Path) -> dict[str, tuple]:
    tree: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            tree[rel] = ("dir",) if path.is_dir() else ("file", path.read_bytes(), path.stat().st_mode & 0o777)
    return tree


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> dict[str, dict[str, tuple]]:
    base = tmp_path_factory.mktemp("expected")
    write_artifacts(old(), base / "old", source=SOURCE)
    write_artifacts(new(), base / "new", source=SOURCE)
    return {"old": snapshot(base / "old"), "new": snapshot(base / "new")}


def calls_of(name: str, tmp_path: Path) -> int:
    """How many times a clean old -> new write calls ``os.<name>``."""
    out = tmp_path / "count"
    write_artifacts(old(), out, source=SOURCE)
    real, count = getattr(os, name), [0]

    def counting(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    setattr(os, name, counting)
    try:
        assert write_artifacts(new(), out, source=SOURCE).diagnostics == []
    finally:
        setattr(os, name, real)
    shutil.rmtree(out)
    return count[0]


# Rename points (os.replace): the journal, the orphan's move into staging, three files, the index.
RENAMES = 6
# Backups (os.link): the two files that change and the index.
BACKUPS = 3


@pytest.mark.parametrize("primitive, count", [("replace", RENAMES), ("link", BACKUPS)])
def test_the_injection_points_are_what_this_test_walks(tmp_path: Path, primitive: str, count: int) -> None:
    assert calls_of(primitive, tmp_path) == count


@pytest.mark.parametrize("failure", [OSError, KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("primitive, k", [("replace", k) for k in range(1, RENAMES + 1)]
                         + [("link", k) for k in range(1, BACKUPS + 1)]
                         # The first unlink removes the journal: every file is already in place.
                         + [("unlink", 1)])
def test_a_failure_at_every_point_is_undone_or_recovered_without_force(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expected, failure: type[BaseException],
        primitive: str, k: int) -> None:
    out = tmp_path / "out"
    write_artifacts(old(), out, source=SOURCE)
    real, count = getattr(os, primitive), [0]

    def failing(*args, **kwargs):
        count[0] += 1
        if count[0] == k:
            raise failure(28, "No space left on device") if failure is OSError else failure()
        return real(*args, **kwargs)

    monkeypatch.setattr(os, primitive, failing)
    if failure is OSError and primitive == "link":
        # A file system without hard links: the backup is a copy, and the write goes on.
        result = write_artifacts(new(), out, source=SOURCE)
        monkeypatch.setattr(os, primitive, real)
        assert result.outcome == "written" and result.diagnostics == []
        cleaned: list[str] = []
    elif failure is OSError:
        result = write_artifacts(new(), out, source=SOURCE)
        monkeypatch.setattr(os, primitive, real)
        assert result.outcome == "nothing", result.diagnostics
        assert [d.code for d in result.diagnostics] == [codes.UNSAFE_OUTPUT]
        assert "nothing written" in result.diagnostics[0].message
        assert snapshot(out) == expected["old"]            # the truth: nothing was written
        cleaned = []
    else:
        with pytest.raises(failure):
            write_artifacts(new(), out, source=SOURCE)
        monkeypatch.setattr(os, primitive, real)
        # What a killed compile leaves: a staging folder, maybe a journal, maybe half the files.
        assert list(out.glob(STAGING_PREFIX + "*"))
        check = write_artifacts(new(), out, source=SOURCE, check=True)
        journal = (out / JOURNAL_NAME).exists()
        assert (codes.UNFINISHED_WRITE in [d.code for d in check.diagnostics]) == journal
        cleaned = [codes.RECOVERED] if journal else [codes.STALE_STAGING]

    again = write_artifacts(new(), out, source=SOURCE)          # no --force
    assert [d.code for d in again.diagnostics] == cleaned, again.diagnostics
    assert all(d.severity is codes.Severity.WARNING for d in again.diagnostics)
    assert snapshot(out) == expected["new"]
    assert write_artifacts(new(), out, source=SOURCE, check=True).diagnostics == []


def test_a_journal_whose_staged_files_are_gone_is_rolled_back(tmp_path: Path, monkeypatch, expected) -> None:
    out = tmp_path / "out"
    write_artifacts(old(), out, source=SOURCE)
    real, count = os.replace, [0]

    def killed(*args, **kwargs):
        count[0] += 1
        if count[0] == 4:               # journal, orphan, first file done; killed before the second
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_artifacts(new(), out, source=SOURCE)
    monkeypatch.setattr(os, "replace", real)
    (staging,) = out.glob(STAGING_PREFIX + "*")
    for staged in staging.glob("n*"):
        staged.unlink()                 # roll-forward is impossible now; the backups remain
    # Undo restores the old output exactly; the compile then writes the new one as usual.
    result = write_artifacts(old(), out, source=SOURCE)
    assert [d.code for d in result.diagnostics] == [codes.RECOVERED]
    assert result.diagnostics[0].message.startswith("undid an interrupted compile: 2 file(s) restored")
    assert snapshot(out) == expected["old"]


def test_a_real_kill_then_a_spec_change_compiles_without_force(tmp_path: Path) -> None:
    """End to end with the churn example: SIGKILL mid-rename, edit the spec, compile."""
    shutil.copytree(ROOT / "examples/churn", tmp_path / "churn", ignore=shutil.ignore_patterns(".mlspec"))
    project = tmp_path / "churn"
    spec = project / "mlproject.yaml"
    spec.write_text(spec.read_text().replace("threshold: 0.2", "threshold: 0.25"))
    kill = ("import os, signal\n"
            "real, n = os.replace, [0]\n"
            "def replace(a, b):\n"
            "    n[0] += 1\n"
            "    if n[0] == 5:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return real(a, b)\n"
            "os.replace = replace\n"
            "from mlspec.cli import main\n"
            "main(['compile'])\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-c", kill], cwd=project, env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    assert (project / JOURNAL_NAME).exists() and list(project.glob(STAGING_PREFIX + "*"))

    spec.write_text(spec.read_text().replace("threshold: 0.25", "threshold: 0.3"))
    r = subprocess.run([sys.executable, "-m", "mlspec", "compile"], cwd=project, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "warning[MS509]: completed an interrupted compile" in r.stderr
    assert not (project / JOURNAL_NAME).exists() and not list(project.glob(STAGING_PREFIX + "*"))
    check = subprocess.run([sys.executable, "-m", "mlspec", "compile", "--check"], cwd=project, env=env,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "0.3" in (project / "monitoring/prometheus/churn.rules.yml").read_text()


def test_a_planted_journal_cannot_remove_or_replace_what_is_not_mlspecs(tmp_path: Path) -> None:
    """A journal is a file in the output folder like any other: replaying one that names
    the spec, a user's file or .git must change none of them."""
    import hashlib
    import json

    out = tmp_path / "out"
    write_artifacts(old(), out, source=SOURCE)
    (out / "mlproject.yaml").write_text("mlspec: 1\n")
    (out / "notes.txt").write_text("mine\n")
    staging = out / (STAGING_PREFIX + "planted")
    staging.mkdir()
    (staging / "n00001").write_text("pwned\n")
    sha = {p: hashlib.sha256((out / p).read_bytes()).hexdigest() for p in ("mlproject.yaml", "notes.txt")}
    for ops in ([{"op": "remove", "path": "notes.txt", "sha256": sha["notes.txt"], "backup": "b00000"}],
                [{"op": "write", "path": "notes.txt", "sha256": hashlib.sha256(b"pwned\n").hexdigest(),
                  "staged": "n00001", "backup": None}],
                [{"op": "remove", "path": "mlproject.yaml", "sha256": sha["mlproject.yaml"], "backup": "b00000"}],
                [{"op": "remove", "path": ".git/config", "sha256": "0" * 64, "backup": "b00000"}]):
        staging.mkdir(exist_ok=True)
        (staging / "n00001").write_text("pwned\n")
        (out / JOURNAL_NAME).write_text(json.dumps({"format": 1, "staging": staging.name, "ops": ops}))
        result = write_artifacts(old(), out, source=SOURCE, protected=[out / "mlproject.yaml"])
        assert not codes.has_errors(result.diagnostics), result.diagnostics
        assert (out / "notes.txt").read_text() == "mine\n"
        assert (out / "mlproject.yaml").read_text() == "mlspec: 1\n"
        assert not (out / JOURNAL_NAME).exists() and not staging.exists()
