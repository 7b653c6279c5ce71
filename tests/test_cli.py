"""The command line: exit codes, formats, init, schema, compile and --check, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = "mlspec: 1\nproject:\n  name: demo\ntraining:\n  run: python train.py\n  outputs:\n    model: models/model.pkl\n"


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mlproject.yaml").write_text(MINIMAL)
    return tmp_path


def test_help_lists_every_command_without_importing_heavy_modules() -> None:
    code = ("import sys; from mlspec.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "heavy = [m for m in ('pydantic', 'jinja2', 'networkx', 'numpy', 'yaml', 'jsonschema') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    for command in ("validate", "compile", "graph", "schema", "init", "gate", "drift", "check-data", "register"):
        assert f"  {command}" in out


def test_version() -> None:
    from mlspec import __version__

    result = run("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_validate_ok_and_default_spec(project: Path) -> None:
    result = run("validate", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "mlproject.yaml: valid" in result.stdout


def test_validate_invalid_exits_1_with_position(project: Path) -> None:
    (project / "mlproject.yaml").write_text(MINIMAL.replace("training:", "trainig:"))
    result = run("validate", "mlproject.yaml", cwd=project)
    assert result.returncode == 1
    assert result.stderr.startswith("mlproject.yaml:4:1: error[MS101]: unknown key 'trainig'")
    assert "  hint: did you mean 'training'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2(project: Path) -> None:
    assert run("validate", "--no-such-option", cwd=project).returncode == 2
    assert run("no-such-command").returncode == 2


def test_json_format(project: Path) -> None:
    (project / "mlproject.yaml").write_text(MINIMAL + "monitoring: {}\n")
    result = run("validate", "--format", "json", cwd=project)
    payload = json.loads(result.stdout)
    (d,) = payload["diagnostics"]
    assert set(d) == {"code", "severity", "message", "file", "line", "column", "path", "hint"}
    assert (d["code"], d["severity"], d["path"], d["line"]) == ("MS309", "warning", "monitoring", 8)
    assert result.returncode == 0  # warnings do not fail…
    assert run("validate", "--strict", cwd=project).returncode == 1  # …unless --strict


def test_github_format(project: Path) -> None:
    (project / "mlproject.yaml").write_text(MINIMAL.replace("name: demo", "name: Demo"))
    result = run("validate", "--format", "github", cwd=project)
    assert result.returncode == 1
    assert result.stdout.startswith("::error file=mlproject.yaml,line=3,col=9,title=MS104::invalid project name")


def test_internal_error_is_one_line_and_exit_3(project: Path) -> None:
    code = ("import mlspec.api as a\n"
            "def boom(*a, **k):\n    raise RuntimeError('kaboom\\nsecond line')\n"
            "a.check_project = boom\nfrom mlspec.cli import main\nmain(['validate'])")
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "internal error[MS901]: RuntimeError: kaboom" in result.stderr
    traced = subprocess.run([sys.executable, "-c", code.replace("main(['validate'])", "main(['--traceback', 'validate'])")],
                            cwd=project, capture_output=True, text=True)
    assert traced.returncode == 3 and "Traceback" in traced.stderr


def test_init_scaffolds_a_spec_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "My Churn Model"
    result = run("init", str(target))
    assert result.returncode == 0, result.stderr
    text = (target / "mlproject.yaml").read_text()
    assert "name: \"my-churn-model\"" in text and text.startswith("# yaml-language-server: $schema=")
    checked = run("validate", "--strict", str(target / "mlproject.yaml"))
    assert checked.returncode == 0, checked.stderr
    again = run("init", str(target))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_schema_output_matches_committed(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert run("schema", "-o", str(out)).returncode == 0
    assert out.read_text() == (ROOT / "schemas" / "mlproject.schema.json").read_text()


def test_several_specs_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL)
    (tmp_path / "b.yaml").write_text(MINIMAL.replace("demo", "Bad"))
    result = run("validate", "a.yaml", "b.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "a.yaml: valid" in result.stdout and "b.yaml:3:9: error[MS104]" in result.stderr


def test_terminal_escapes_in_file_names_are_neutralised(tmp_path: Path) -> None:
    name = "evil\x1b[31m.yaml"
    result = run("validate", name, cwd=tmp_path)
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and "\\x1b" in result.stderr
