"""`mlspec init` never writes through a symbolic link and never half-scaffolds.

Reproduction: `mlspec init` wrote through a planted `mlproject.yaml -> ../outside` link to
a file outside its folder, and created the target of a dangling link.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import cli


def init(*args: str):
    return CliRunner().invoke(cli, ["init", *args])


@pytest.mark.parametrize("name", ["mlproject.yaml", "mlproject.schema.json"])
@pytest.mark.parametrize("force", [False, True])
def test_a_link_to_a_file_outside_is_refused(tmp_path: Path, name: str, force: bool) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / name).symlink_to(outside)
    r = init(str(folder), *(["--force"] if force else []))
    assert r.exit_code == 1, r.output
    assert "is a symbolic link; mlspec init does not write through links" in r.output
    assert outside.read_text() == "precious\n"
    assert sorted(p.name for p in folder.iterdir()) == [name]        # nothing else was written


@pytest.mark.parametrize("name", ["mlproject.yaml", "mlproject.schema.json"])
def test_a_dangling_link_does_not_create_its_target(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / name).symlink_to(tmp_path / "created-by-mlspec")
    r = init(str(folder))
    assert r.exit_code == 1 and "symbolic link" in r.output
    assert not (tmp_path / "created-by-mlspec").exists()


def test_a_linked_folder_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    r = init(str(tmp_path / "link"))
    assert r.exit_code == 1 and "symbolic link" in r.output
    assert list(real.iterdir()) == []


def test_force_replaces_a_regular_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "mlproject.yaml").write_text("old\n")
    assert init(str(tmp_path)).exit_code == 1
    r = init(str(tmp_path), "--force")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "mlproject.yaml").read_text().startswith("# yaml-language-server")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlproject.schema.json", "mlproject.yaml"]
