"""Editor experience with the REAL yaml-language-server (what VS Code's YAML extension, Neovim,
Helix and Zed run), driven over stdio LSP: a spec made by `mlspec init` finds its schema
through the modeline, every top-level section is offered with documentation, completions
inside each section list its keys with documentation, enum values carry their meaning,
section skeletons insert valid YAML, hovers show descriptions, and mistakes are reported.

The server is installed by `tools/setup.sh` (npm ci in tools/yaml-language-server).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlspec.language.loader import load_text
from tests.lsp import LspClient

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tools" / "yaml-language-server" / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
SCHEMA = json.loads((ROOT / "schemas" / "mlproject.schema.json").read_text(encoding="utf-8"))
DEFS = SCHEMA["$defs"]
SETTINGS = {"yaml": {"validate": True, "hover": True, "completion": True, "format": {"enable": False},
                     # Offline: the schema comes from the modeline, never from the SchemaStore catalog.
                     "schemaStore": {"enable": False}}}

pytestmark = pytest.mark.validator


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlspec.cli.scaffold import init_project

    folder = tmp_path_factory.mktemp("editor")
    init_project(folder, name="demo")
    return folder


@pytest.fixture(scope="module")
def server(workspace: Path) -> Iterator[LspClient]:
    node = shutil.which("node")
    if node is None or not SERVER.exists():
        pytest.skip("yaml-language-server is not installed: run `bash tools/setup.sh`")
    client = LspClient([node, str(SERVER), "--stdio"], settings=SETTINGS, cwd=workspace)
    start = time.perf_counter()
    try:
        client.initialize(workspace)
        yield client
    finally:
        client.close()
        print(f"yaml-language-server session: {time.perf_counter() - start:.1f} s")


_version = iter(range(2, 10_000))


def modeline(workspace: Path) -> str:
    line = (workspace / "mlproject.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert line == "# yaml-language-server: $schema=mlproject.schema.json", line
    return line


def complete(server: LspClient, workspace: Path, body: str, line: int, character: int) -> list[dict[str, Any]]:
    """Open ``body`` (after the modeline) as a fresh document; complete at (line, character) of ``body``."""
    path = workspace / f"doc{next(_version)}" / "mlproject.yaml"
    path.parent.mkdir()
    shutil.copy(workspace / "mlproject.schema.json", path.parent / "mlproject.schema.json")
    uri = server.open(path, f"{modeline(workspace)}\n{body}")
    result = server.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                         "position": {"line": line + 1, "character": character}})
    return result["items"] if isinstance(result, dict) else result


def doc_text(item: dict[str, Any]) -> str:
    doc = item.get("documentation")
    return doc.get("value", "") if isinstance(doc, dict) else (doc or "")


def properties_of(schema: dict[str, Any]) -> dict[str, Any]:
    """The properties of an object schema, following $ref/allOf/anyOf."""
    for node in (schema, *schema.get("allOf", ()), *schema.get("anyOf", ())):
        ref = node.get("$ref")
        if ref:
            return DEFS[ref.rsplit("/", 1)[-1]].get("properties", {})
        if "properties" in node:
            return node["properties"]
    return {}


def test_init_writes_the_modeline_and_the_schema(workspace: Path) -> None:
    modeline(workspace)
    assert json.loads((workspace / "mlproject.schema.json").read_text())["$id"] == SCHEMA["$id"]


def test_top_level_offers_every_section_with_documentation(server: LspClient, workspace: Path) -> None:
    items = complete(server, workspace, "mlspec: 1\n\n", 1, 0)
    by_label = {i["label"]: i for i in items if i.get("kind") == 10}
    expected = set(SCHEMA["properties"]) - {"mlspec"}
    assert expected <= set(by_label), expected - set(by_label)
    for key in expected:
        text = doc_text(by_label[key])
        assert SCHEMA["properties"][key]["description"] in text, key
        assert "docs/reference.md#" in text, key  # the markdownDescription, not the plain text


def test_section_skeletons_insert_valid_yaml(server: LspClient, workspace: Path) -> None:
    items = {i["label"]: i for i in complete(server, workspace, "mlspec: 1\n\n", 1, 0) if i.get("kind") == 10}
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for key, prop in SCHEMA["properties"].items():
        if "defaultSnippets" not in prop:
            continue
        text = items[key]["insertText"]
        scalar = not isinstance(prop["defaultSnippets"][0]["body"], (dict, list))   # params_file: a value
        assert "\n" in text or scalar, (key, text)  # a skeleton, not the bare key
        inserted = re.sub(r"\$\{\d+:([^}]*)\}", r"\1", re.sub(r"\$\d+", "", text))
        loaded, diags = load_text(inserted)  # mlspec's own YAML reading: `on:` is a key, not True
        assert loaded is not None, (key, inserted, diags)
        doc = {"mlspec": 1, "project": {"name": "demo"}, **loaded.data}
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, (key, inserted, errors)


def _section_cases() -> list[tuple[str, str, int, int, dict[str, Any]]]:
    """(case id, body, line, character, expected properties) for each section, one level into
    name-keyed mappings (data, steps, llm prompts) and each target."""
    cases = []
    for key, prop in SCHEMA["properties"].items():
        if key == "mlspec":
            continue
        props = properties_of(prop)
        if key == "targets":
            cases.append((key, "mlspec: 1\ntargets:\n  \n", 2, 2, props))
            for name, target in props.items():
                cases.append((f"targets.{name}", f"mlspec: 1\ntargets:\n  {name}:\n    \n", 3, 4, properties_of(target)))
        elif props:
            cases.append((key, f"mlspec: 1\n{key}:\n  \n", 2, 2, props))
        else:
            item = prop.get("additionalProperties") or next(iter(prop.get("patternProperties", {}).values()), {})
            inner = properties_of(item)
            if inner:
                cases.append((key, f"mlspec: 1\n{key}:\n  sample:\n    \n", 3, 4, inner))
    cases.append(("llm.prompts", "mlspec: 1\nllm:\n  prompts:\n    answer:\n      \n", 4, 6,
                  DEFS["Prompt"]["properties"]))
    cases.append(("validation.gates", "mlspec: 1\nvalidation:\n  gates:\n    - metric: auc\n      \n", 4, 6,
                  DEFS["Gate"]["properties"]))
    return cases


@pytest.mark.parametrize("case", _section_cases(), ids=lambda c: c[0])
def test_completion_inside_each_section(server: LspClient, workspace: Path, case: tuple) -> None:
    name, body, line, character, props = case
    items = complete(server, workspace, body, line, character)
    by_label = {i["label"]: i for i in items if i.get("kind") == 10}
    already = {"metric"} if name == "validation.gates" else set()
    missing = set(props) - set(by_label) - already
    assert not missing, f"{name}: not offered: {sorted(missing)}"
    for key in set(props) - already:
        assert props[key]["description"] in doc_text(by_label[key]), f"{name}.{key} has no documentation"


@pytest.mark.parametrize("body,line,character,values", [
    ("mlspec: 1\nregistry:\n  backend: \n", 2, 11, ["local", "mlflow"]),
    ("mlspec: 1\ndata:\n  d:\n    uri: d.csv\n    format: \n", 4, 12, ["parquet", "csv", "jsonl", "json", "delta", "table"]),
    ("mlspec: 1\nmonitoring:\n  drift:\n    - method: \n", 3, 14, ["psi", "ks", "wasserstein", "chi2", "jensen_shannon"]),
    ("mlspec: 1\ntargets:\n  airflow:\n    operator: \n", 3, 14, ["bash", "kubernetes"]),
], ids=["registry.backend", "data.format", "drift.method", "airflow.operator"])
def test_enum_values_carry_their_meaning(server: LspClient, workspace: Path, body: str, line: int,
                                         character: int, values: list[str]) -> None:
    items = {i["label"]: i for i in complete(server, workspace, body, line, character)}
    for value in values:
        assert value in items, (value, sorted(items))
        assert len(doc_text(items[value])) > 10, f"{value} is offered without documentation"


def hover(server: LspClient, workspace: Path, body: str, line: int, character: int) -> str:
    path = workspace / f"doc{next(_version)}" / "mlproject.yaml"
    path.parent.mkdir()
    shutil.copy(workspace / "mlproject.schema.json", path.parent / "mlproject.schema.json")
    uri = server.open(path, f"{modeline(workspace)}\n{body}")
    result = server.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                    "position": {"line": line + 1, "character": character}})
    assert result, "no hover"
    contents = result["contents"]
    return contents["value"] if isinstance(contents, dict) else str(contents)


def test_hover_shows_descriptions(server: LspClient, workspace: Path) -> None:
    body = ("mlspec: 1\nproject:\n  name: demo\nvalidation:\n  run: python eval.py\n  metrics: m.json\n"
            "  gates:\n    - metric: auc\n      max_regression: 0.01\n")
    text = hover(server, workspace, body, 1, 2)  # a section: the section's own description
    assert DEFS["Project"]["description"] in text or SCHEMA["properties"]["project"]["description"] in text
    text = hover(server, workspace, body, 2, 3)
    assert DEFS["Project"]["properties"]["name"]["description"] in text
    text = hover(server, workspace, body, 8, 8)
    assert DEFS["Gate"]["properties"]["max_regression"]["description"] in text
    text = hover(server, workspace, "mlspec: 1\nregistry:\n  backend: mlflow\n", 2, 12)
    assert "MLflow model registry" in text


def test_mistakes_are_reported_by_the_editor(server: LspClient, workspace: Path) -> None:
    path = workspace / "broken" / "mlproject.yaml"
    path.parent.mkdir()
    shutil.copy(workspace / "mlproject.schema.json", path.parent / "mlproject.schema.json")
    uri = server.open(path, f"{modeline(workspace)}\nmlspec: 1\nprojcet:\n  name: demo\n")
    message = server.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                              and m["params"]["uri"] == uri and m["params"]["diagnostics"])
    texts = " ".join(d["message"] for d in message["params"]["diagnostics"])
    assert "projcet" in texts or "project" in texts
