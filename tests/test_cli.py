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
    assert sorted(x["code"] for x in payload["diagnostics"]) == ["MS309", "MS330"]   # no alerts, no metrics
    (d,) = [x for x in payload["diagnostics"] if x["code"] == "MS309"]
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
    assert "name: \"my-churn-model\"" in text
    assert text.startswith("# yaml-language-server: $schema=mlproject.schema.json\n")
    assert (target / "mlproject.schema.json").read_text() == (ROOT / "schemas" / "mlproject.schema.json").read_text()
    checked = run("validate", "--format", "json", str(target / "mlproject.yaml"))
    assert checked.returncode == 0, checked.stderr
    # The only thing a fresh scaffold lacks is the project's data: said once, as a warning.
    assert [d["code"] for d in json.loads(checked.stdout)["diagnostics"]] == ["MS350"]
    (target / "data").mkdir()
    (target / "data" / "train.csv").write_text("tenure_months,churned\n3,0\n")
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


@pytest.fixture
def churn(tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "churn"
    shutil.copytree(ROOT / "examples" / "churn", dest,
                    ignore=shutil.ignore_patterns(".mlspec", "models", "metrics", "prepared", "__pycache__"))
    return dest


def test_compile_then_nothing_changed_then_hand_edit_is_refused(churn: Path) -> None:
    first = run("compile", "--format", "json", cwd=churn)
    assert first.returncode == 0, first.stderr
    files = json.loads(first.stdout)["files"]
    assert {f["target"] for f in files} >= {"github_actions", "airflow", "docker", "prometheus", "grafana",
                                            "manifest", "model_card"}
    second = run("compile", cwd=churn)
    assert second.returncode == 0 and "nothing changed" in second.stdout
    assert run("compile", "--check", cwd=churn).returncode == 0

    dag = churn / "airflow" / "dags" / "churn_pipeline.py"
    dag.write_text(dag.read_text().replace("retries=1", "retries=5"))
    refused = run("compile", cwd=churn)
    assert refused.returncode == 1 and "error[MS502]" in refused.stderr
    check = run("compile", "--check", cwd=churn)
    assert check.returncode == 1 and "-        retries=5," in check.stderr and "+        retries=1," in check.stderr
    forced = run("compile", "--force", cwd=churn)
    assert forced.returncode == 0 and "retries=1," in dag.read_text()


def test_compile_one_target_keeps_the_others(churn: Path) -> None:
    assert run("compile", cwd=churn).returncode == 0
    only = run("compile", "--target", "docker", cwd=churn)
    assert only.returncode == 0, only.stderr
    assert (churn / "airflow" / "dags" / "churn_pipeline.py").exists()
    again = run("compile", cwd=churn)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    bad = run("compile", "--target", "dockr", cwd=churn)
    assert bad.returncode == 1 and "did you mean 'docker'?" in bad.stderr


def test_compile_check_reports_a_stale_spec_change(churn: Path) -> None:
    assert run("compile", cwd=churn).returncode == 0
    spec = churn / "mlproject.yaml"
    spec.write_text(spec.read_text().replace("n_estimators: 100", "n_estimators: 120"))
    check = run("compile", "--check", "--format", "json", cwd=churn)
    assert check.returncode == 1
    codes = {d["code"] for d in json.loads(check.stdout)["diagnostics"]}
    assert "MS503" in codes


def test_invalid_spec_writes_nothing(churn: Path) -> None:
    spec = churn / "mlproject.yaml"
    spec.write_text(spec.read_text().replace("retries: 1", "retries: many", 1))
    before = sorted(p.relative_to(churn) for p in churn.rglob("*"))
    result = run("compile", cwd=churn)
    assert result.returncode == 1 and "error[MS103]" in result.stderr
    assert sorted(p.relative_to(churn) for p in churn.rglob("*")) == before


def test_graph_formats(churn: Path) -> None:
    mermaid = run("graph", cwd=churn)
    assert mermaid.returncode == 0
    lines = mermaid.stdout.splitlines()
    assert lines[0] == "flowchart LR"
    assert "  step_prepare --> train" in lines and "  train --> evaluate" in lines
    graph = json.loads(run("graph", "--format", "json", cwd=churn).stdout)
    assert {"from": "gate", "to": "approve"} in graph["edges"]
    dot = run("graph", "--format", "dot", cwd=churn).stdout
    assert dot.startswith('digraph "churn" {') and '"train" -> "evaluate";' in dot


def test_template_dir_overrides_a_builtin_template(churn: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "templates" / "model_card"
    overrides.mkdir(parents=True)
    (overrides / "MODEL_CARD.md.j2").write_text("# Card of {{ project.name | md }}\n\nOur own layout.\n")
    result = run("compile", "--target", "model_card", "--template-dir", str(tmp_path / "templates"), cwd=churn)
    assert result.returncode == 0, result.stderr
    card = (churn / "MODEL_CARD.churn.md").read_text()
    assert "# Card of churn\n\nOur own layout.\n" in card and card.startswith("<!-- Code generated by mlspec")
    (overrides / "MODEL_CARD.md.j2").write_text("# {{ project.name }}\n")  # unencoded: refused, not emitted raw
    refused = run("compile", "--target", "model_card", "--template-dir", str(tmp_path / "templates"), cwd=churn)
    assert refused.returncode == 1 and "error[MS405]" in refused.stderr and "Traceback" not in refused.stderr
