"""One invalid spec per diagnostic code, with a snapshot of the rendered report.

Cases are found on the filesystem (`tests/cases/MS###-what.yaml`); each must report its
code at a position. A code without a case (and not covered by a generated case below or
by the writer/runtime suites) fails `test_every_code_has_a_case`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec import diagnostics as dx
from mlspec.api import check_project
from mlspec.reporters import render_text

CASES = Path(__file__).parent / "cases"
FILES = sorted(CASES.glob("MS*.yaml"))
# Codes produced by inputs that cannot be a committed file, or by later stages with their own suites.
GENERATED = {"MS001", "MS002", "MS014", "MS405",  # MS405: tests/test_cli.py (a --template-dir override)
             "MS316"}  # a spec *file name* that is not UTF-8: test_spec_name_that_is_not_utf8 below
ELSEWHERE_PHASES = {"5", "6", "9"}  # writer (tests/test_writer.py), runtime (tests/runtime), internal (test_cli)


def _report(path: Path) -> tuple[list[dx.Diagnostic], str]:
    display = f"cases/{path.name}"
    checked = check_project(path, display_name=display)
    sources = {display: checked.doc.text} if checked.doc is not None else {}
    return checked.diagnostics, render_text(checked.diagnostics, sources)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_case_reports_its_code(path: Path, snapshot) -> None:
    code = path.name[:5]
    diags, text = _report(path)
    mine = [d for d in diags if d.code == code]
    assert mine, f"{path.name} did not report {code}: {[d.code for d in diags]}"
    assert all(d.span is not None and d.span.line >= 1 and d.span.column >= 1 for d in mine)
    assert text == snapshot


def test_every_code_has_a_case() -> None:
    covered = {p.name[:5] for p in FILES} | GENERATED
    missing = [c for c in dx.CODES if c[2] not in ELSEWHERE_PHASES and c not in covered]
    assert not missing, f"add tests/cases/<code>-<what>.yaml for {missing}"


def test_missing_file(tmp_path: Path) -> None:
    checked = check_project(tmp_path / "nope.yaml")
    assert [d.code for d in checked.diagnostics] == [dx.FILE_UNREADABLE]


def test_file_over_the_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("mlspec: 1\n" + "# padding\n" * 110_000)
    assert [d.code for d in check_project(path).diagnostics] == [dx.FILE_TOO_LARGE]


def test_scalar_over_the_length_cap(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("mlspec: 1\nproject:\n  name: demo\n  description: " + "x" * 70_000 + "\n")
    diags = check_project(path).diagnostics
    assert [d.code for d in diags] == [dx.TOO_BIG]
    assert diags[0].span.line == 4


def test_spec_name_that_is_not_utf8(tmp_path: Path) -> None:
    """Reproduction: validate exited 0, then compile crashed (exit 3) encoding the name."""
    import os
    import subprocess
    import sys

    name = os.fsdecode(b"spec\xff.yaml")
    (tmp_path / name).write_text("mlspec: 1\nproject: {name: demo}\n")
    assert [d.code for d in check_project(tmp_path / name).diagnostics] == [dx.SPEC_NAME_UNUSABLE]
    root = Path(__file__).resolve().parent.parent
    for command in ("validate", "compile"):
        r = subprocess.run([sys.executable, "-m", "mlspec", command, "--", name], cwd=tmp_path, capture_output=True,
                           env={**os.environ, "PYTHONPATH": str(root)})
        assert r.returncode == 1 and b"error[MS316]" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
