"""The committed JSON Schema equals `mlspec schema`, and agrees with the compiler."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from mlspec.language.loader import load_document
from mlspec.schema import build_schema, schema_text
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


# ---------------------------------------------------------------------------- editors


def _walk_nodes(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk_nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_nodes(value, f"{path}/{i}")


def test_every_property_has_a_description_and_markdown() -> None:
    schema = build_schema()
    missing = []
    for path, node in _walk_nodes(schema):
        for key, prop in (node.get("properties") or {}).items() if path.rsplit("/", 1)[-1] != "properties" else ():
            if not isinstance(prop, dict):
                continue
            if not prop.get("description") or not prop.get("markdownDescription"):
                missing.append(f"{path}/properties/{key}")
    assert not missing, missing


def test_every_enum_value_is_documented() -> None:
    undocumented = []
    enums = 0
    for path, node in _walk_nodes(build_schema()):
        if "enum" not in node and "const" not in node:
            continue
        enums += 1
        values = node.get("enum", [node.get("const")])
        for field in ("enumDescriptions", "markdownEnumDescriptions"):
            docs = node.get(field, [])
            if len(docs) != len(values) or not all(isinstance(d, str) and d.strip() for d in docs):
                undocumented.append(f"{path}: {field} for {values}")
    assert enums >= 15 and not undocumented, undocumented


def test_section_snippets_are_valid_specs() -> None:
    from mlspec.schema import expand_snippet

    schema = build_schema()
    validator = jsonschema.Draft202012Validator(schema)
    sections = [k for k in schema["properties"] if k not in ("mlspec", "targets")]
    for key in sections:
        snippets = schema["properties"][key].get("defaultSnippets")
        assert snippets and len(snippets) == 1, f"{key} has no snippet"
        body = expand_snippet(snippets[0]["body"])
        doc = {"mlspec": 1, "project": {"name": "demo"}, key: body}
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, (key, errors)
    # No placeholder default reads back as another type once an editor inserts it unquoted.
    text = json.dumps([schema["properties"][k]["defaultSnippets"] for k in sections])
    for default in re.findall(r"\$\{\d+:([^}]*)\}", text):
        assert not default.startswith("#") and default not in ("true", "false", "null", "yes", "no"), default
        assert not re.fullmatch(r"[-+]?[0-9.]+", default), default


def test_schema_lives_at_a_stable_id_with_a_versioned_copy_and_a_catalog_entry() -> None:
    from mlspec._version import __version__
    from mlspec.schema import SCHEMA_ID, schema_text, versioned_id, versioned_path

    assert build_schema()["$id"] == SCHEMA_ID == \
        "https://raw.githubusercontent.com/mlspec/mlspec/main/schemas/mlproject.schema.json"
    copy = ROOT / versioned_path()
    assert copy == ROOT / "schemas" / f"v{__version__}" / "mlproject.schema.json"
    assert copy.read_text(encoding="utf-8") == schema_text(versioned_id()), "run `python -m mlspec.docsgen`"
    catalog = json.loads((ROOT / "schemas" / "catalog.json").read_text(encoding="utf-8"))
    # The rules of SchemaStore's schema-catalog.json for a catalog and its entries.
    assert set(catalog) == {"$schema", "version", "schemas"}
    assert catalog["$schema"] == "https://json.schemastore.org/schema-catalog.json"
    (entry,) = catalog["schemas"]
    assert set(entry) <= {"name", "description", "fileMatch", "url", "versions"}
    assert entry["name"] and entry["description"] and entry["url"] == SCHEMA_ID
    assert entry["fileMatch"] == ["mlproject.yaml", "mlproject.yml"]
    assert __version__ in entry["versions"]
    for version, url in [("latest", entry["url"]), *entry["versions"].items()]:
        assert url.startswith("https://raw.githubusercontent.com/mlspec/mlspec/main/schemas/")
        local = ROOT / url.split("/main/", 1)[1]
        assert json.loads(local.read_text(encoding="utf-8"))["$id"] == url, version


def test_init_writes_the_modeline_and_a_schema_copy(tmp_path: Path) -> None:
    from mlspec.cli.scaffold import init_project

    spec = init_project(tmp_path, name="demo")
    assert spec.read_text().splitlines()[0] == "# yaml-language-server: $schema=mlproject.schema.json"
    assert (tmp_path / "mlproject.schema.json").read_text(encoding="utf-8") == schema_text()
