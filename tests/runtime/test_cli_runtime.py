"""What every runtime command shares: spec handling, extras, formats, exit codes, imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.runtime.conftest import codes

COMMANDS = [
    ("gate",), ("drift",), ("check-data", "customers"), ("register",), ("freshness",), ("performance",),
    ("retrain-trigger",),
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_invalid_spec_fails_with_its_diagnostics(project, mlspec, cmd):
    project.write("mlproject.yaml", "mlspec: 1\nproject: {name: churn}\ntraining: {run: x}\nunknwn: 1\n")
    r = mlspec(*cmd, "--format", "json")
    assert r.exit_code == 1
    assert r.json["ok"] is False and r.json["command"] == cmd[0]
    assert {"MS101", "MS102"} <= set(codes(r))
    text = mlspec(*cmd)
    assert text.exit_code == 1 and "mlproject.yaml:4:1: error[MS101]" in text.stderr
    assert "invalid spec; nothing checked" in text.stderr


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_missing_spec_file(tmp_path, monkeypatch, mlspec, cmd):
    monkeypatch.chdir(tmp_path)
    r = mlspec(*cmd)
    assert r.exit_code == 1 and "error[MS001]" in r.stderr


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_json_always_lists_results_and_diagnostics(project, mlspec, cmd):
    r = mlspec(*cmd, "--format", "json")
    assert r.exit_code in (0, 1), r.output
    out = r.json
    assert out["command"] == cmd[0] and out["project"] == "churn"
    assert isinstance(out["results"], list) and isinstance(out["diagnostics"], list)
    assert out["ok"] is (r.exit_code == 0)
    assert r.stderr == ""


@pytest.mark.parametrize("cmd, needs", [
    (("drift",), "numpy"), (("drift",), "scipy"), (("check-data", "customers"), "pyarrow"),
])
def test_missing_extra_is_ms607(project, mlspec, monkeypatch, cmd, needs):
    monkeypatch.setitem(sys.modules, needs, None)
    r = mlspec(*cmd, "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS607"]
    d = r.json["diagnostics"][0]
    assert needs in d["message"] and d["hint"] == "pip install 'mlspec-compiler[runtime]'"


def test_stdlib_commands_run_without_the_extra(project, mlspec, monkeypatch):
    # A folder registry (no object store) needs nothing beyond the standard library.
    for name in ("numpy", "scipy", "pyarrow"):
        monkeypatch.setitem(sys.modules, name, None)
    project.metrics(roc_auc=0.9, p95_latency_ms=1)
    project.write("models/model.joblib", "m")
    project.write("data/customers.csv", "x\n")
    project.write("data/outcomes/a.csv", "x\n")
    project.metrics("metrics/live.json", roc_auc=0.9)
    for cmd in (("gate",), ("register",), ("freshness",), ("performance",), ("retrain-trigger",)):
        r = mlspec(*cmd)
        assert r.exit_code == 0, (cmd, r.output)


def test_subprocess_exit_codes_and_no_traceback(project):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "mlspec", *args], capture_output=True, text=True,
                              cwd=project.root, timeout=60, check=False)

    project.metrics(roc_auc=0.5, p95_latency_ms=1)
    r = run("gate")
    assert r.returncode == 1 and "error[MS601]" in r.stderr and "Traceback" not in r.stderr
    r = run("gate", "--format", "yaml")
    assert r.returncode == 2
    r = run("retrain-trigger", "--exit-code")
    assert r.returncode == 99 and r.stdout.startswith("no retrain")


def test_runtime_module_imports_no_heavy_dependency():
    code = ("import sys, mlspec.runtime.gate_cli, mlspec.runtime.data_cli, mlspec.runtime.monitor_cli, "
            "mlspec.runtime.registry_cli, mlspec.runtime.eval_cli, mlspec.runtime.custom_check, "
            "mlspec.runtime.ci_baseline, mlspec.runtime.prometheus, mlspec.runtime.gates, mlspec.runtime.registry, mlspec.runtime.monitor, mlspec.runtime.data, mlspec.runtime.contract, "
            "mlspec.runtime.drift, mlspec.runtime.stats; "
            "print(sorted(m for m in ('numpy', 'scipy', 'pyarrow') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.replace("'", '"')) == []


def test_help_lists_and_loads_every_runtime_command():
    from click.testing import CliRunner

    from mlspec.cli import cli

    runner = CliRunner()
    for name, *_ in COMMANDS:
        r = runner.invoke(cli, [name, "--help"])
        assert r.exit_code == 0, r.output
        assert "--format" in r.output
