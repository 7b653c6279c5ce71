"""Paths written in the spec follow one rule: inside the spec's folder, never into `.git`
or mlspec's bookkeeping, and problems are reported at the spec line that wrote them.

Reproductions: a reserved name as `targets.airflow.dags_folder` was reported by the writer
at `.` instead of the spec line; `registry.uri: file:///abs` escaped the project while
`file://../x` was refused only at run time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec import diagnostics as dx
from mlspec.api import check_project, compile_project

BASE = "mlspec: 1\nproject: {name: demo}\ntraining: {run: python t.py, outputs: {model: m.bin}}\n"


def diags(tmp_path: Path, extra: str) -> list[dx.Diagnostic]:
    spec = tmp_path / "mlproject.yaml"
    spec.write_text(BASE + extra)
    return [d for d in check_project(spec).diagnostics if d.is_error]


@pytest.mark.parametrize("folder", [".git/hooks", "a/.GIT/b", ".mlspec-staging-x", ".mlspec-manifest.json",
                                    ".mlspec-journal.json"])
def test_a_reserved_dags_folder_is_reported_at_its_line(tmp_path: Path, folder: str) -> None:
    (d,) = diags(tmp_path, f'targets:\n  airflow: {{dags_folder: "{folder}"}}\n')
    assert d.path == ("targets", "airflow", "dags_folder") and d.span is not None and d.span.line == 5
    result = compile_project(tmp_path / "mlproject.yaml")
    assert not result.ok and sorted(p.name for p in tmp_path.iterdir()) == ["mlproject.yaml"]


@pytest.mark.parametrize("uri, problem", [
    ("file:///abs/registry", "is absolute"), ("/abs/registry", "is absolute"),
    ("file://../registry", "escapes the project folder"), ("../registry", "escapes the project folder"),
])
def test_local_registry_uris_follow_the_path_rule(tmp_path: Path, uri: str, problem: str) -> None:
    (d,) = diags(tmp_path, f'registry: {{backend: local, uri: "{uri}"}}\n')
    assert d.code == dx.PATH_ESCAPES and d.path == ("registry", "uri") and problem in d.message


@pytest.mark.parametrize("uri", ["file://reg", ".mlspec/registry", "models/registry"])
def test_local_registry_folders_inside_the_project_are_fine(tmp_path: Path, uri: str) -> None:
    assert diags(tmp_path, f'registry: {{backend: local, uri: "{uri}"}}\n') == []
