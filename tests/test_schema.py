"""The committed JSON Schema equals `mlspec schema`, and agrees with the compiler."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from mlspec.language.loader import load_document
from mlspec.language.schema import build_schema, schema_text
from mlspec.language.validate import strip_extensions

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "schemas" / "mlproject.schema.json"
EXAMPLES = sorted(ROOT.glob("examples/*/mlproject.yaml"))
# Schema-phase codes a JSON Schema cannot express: cron field ranges are checked by code only.
NOT_EXPRESSIBLE = {"MS109"}
# A rule on every number, not repeated in the schema: magnitudes in (0, 1e-300) or above 1e300.
NOT_EXPRESSIBLE_CASES = {"MS106-subnormal-bound"}
CASES = sorted(p for p in (ROOT / "tests" / "cases").glob("MS1*.yaml")
               if p.name[:5] not in NOT_EXPRESSIBLE and p.stem not in NOT_EXPRESSIBLE_CASES)


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), (
        "schemas/mlproject.schema.json is stale: run `mlspec schema -o schemas/mlproject.schema.json`")


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(build_schema())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_validate_against_the_schema(path: Path) -> None:
    doc, diags = load_document(path)
    assert doc is not None, diags
    jsonschema.Draft202012Validator(build_schema()).validate(doc.data)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_schema_rejects_schema_phase_cases(path: Path) -> None:
    """Every MS1xx case the compiler rejects, the IDE (JSON Schema) rejects too."""
    doc, _ = load_document(path)
    assert doc is not None
    errors = list(jsonschema.Draft202012Validator(build_schema()).iter_errors(doc.data))
    assert errors, f"{path.name} passes the JSON Schema but not the compiler"


def test_extension_keys_are_allowed_everywhere() -> None:
    data = {"mlspec": 1, "x-top": 1, "project": {"name": "demo", "x-note": "hi"},
            "data": {"x-comment": "free", "src": {"uri": "a.csv", "x-owner": "me"}},
            "training": {"run": "python t.py", "outputs": {"model": "m.pkl"}},
            "targets": {"x-future": {}, "manifest": {"x-a": 1}}}
    jsonschema.Draft202012Validator(build_schema()).validate(data)
    assert "x-top" not in strip_extensions(data)
    assert json.dumps(strip_extensions(data)).count("x-") == 0
