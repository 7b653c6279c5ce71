"""Property tests over specs generated from the committed JSON Schema.

* ``validate`` never crashes (no exit 3) on a spec the schema allows;
* a spec that validates compiles, twice, to the same bytes, and every YAML, JSON, Python,
  Dockerfile and Markdown artifact re-parses;
* a hostile value in any free-text field either fails validation or changes no artifact's
  structure: parsed with its own language's parser, with every string blanked, each file
  is the same as with the field's original value (a value that broke out of its literal
  would add a key, a step, an instruction, a call or a Markdown element).

The example count is bounded for CI time (``MLSPEC_FUZZ_EXAMPLES``, default 25 per test);
``MLSPEC_FUZZ_EXAMPLES=500`` for a deeper local run.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mlspec import diagnostics as dx
from mlspec.api import check_project, compile_project
from mlspec.language.loader import load_document
from mlspec.output.encoders import yaml_dump

hypothesis_jsonschema = pytest.importorskip("hypothesis_jsonschema")

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas/mlproject.schema.json").read_text(encoding="utf-8"))
EXAMPLES = int(os.environ.get("MLSPEC_FUZZ_EXAMPLES", "25"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") is not None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])

specs = hypothesis_jsonschema.from_schema(SCHEMA)


def write_spec(folder: Path, data: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mlproject.yaml"
    path.write_text(yaml_dump(data), encoding="utf-8")
    return path


def fresh(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    return tmp_path_factory.mktemp(name, numbered=True)


def no_crash(checked: Any) -> None:
    for d in checked.diagnostics:
        assert d.code in dx.CODES and d.code != dx.INTERNAL, d
        assert d.span is None or (d.span.line >= 1 and d.span.column >= 1), d
    assert checked.ok == (checked.plan is not None)


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------- shapes


def _blank(value: Any) -> Any:
    """The structure of parsed data: every string the same, numbers and keys kept."""
    if isinstance(value, dict):
        return {_blank_key(k): _blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return "S" if isinstance(value, str) else value


def _blank_key(key: Any) -> Any:
    # Keys built from user text (an env var name, a label) are fixed by the schema; a key
    # holding a payload marker is exactly what a breakout produces.
    return key if not (isinstance(key, str) and "pwned" in key.lower()) else "BREAKOUT"


class _Constants(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.copy_location(ast.Constant("S"), node) if isinstance(node.value, str) else node


def shape(rel: str, data: bytes) -> Any:
    """The parsed structure of an artifact with its strings blanked; also proves it re-parses."""
    text = data.decode("utf-8")
    if rel.endswith((".yml", ".yaml")):
        return _blank(yaml.safe_load(text))
    if rel.endswith(".json"):
        return _blank(json.loads(text))
    if rel.endswith(".py"):
        return ast.dump(_Constants().visit(ast.parse(text)))
    if rel.endswith(".Dockerfile"):
        import dockerfile

        return [(c.cmd, c.sub_cmd, c.json, len(c.flags), len(c.value)) for c in dockerfile.parse_string(text)]
    if rel.endswith(".md"):
        import cmarkgfm

        html = cmarkgfm.github_flavored_markdown_to_html(text)
        return re.findall(r"<(/?[a-z0-9]+)", html)
    return None


def assert_reparses(root: Path) -> None:
    for rel, data in files(root).items():
        shape(rel, data)


# ---------------------------------------------------------------------------- properties


@PROFILE
@given(data=specs)
def test_validate_never_crashes(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]) -> None:
    path = write_spec(fresh(tmp_path_factory, "validate"), data)
    no_crash(check_project(path))


@PROFILE
@given(data=specs)
def test_a_valid_spec_compiles_deterministically_and_every_artifact_reparses(
        tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]) -> None:
    folder = fresh(tmp_path_factory, "compile")
    path = write_spec(folder / "a", data)
    checked = check_project(path)
    no_crash(checked)
    event("valid" if checked.ok else "invalid")
    if not checked.ok:
        return
    shutil.copytree(folder / "a", folder / "b")
    first = compile_project(path)
    second = compile_project(folder / "b" / "mlproject.yaml")
    no_crash(first.checked)
    assert first.ok and second.ok, first.diagnostics
    assert files(folder / "a") == files(folder / "b")
    assert_reparses(folder / "a")


HOSTILE = [
    '"; echo pwned; #', "'; echo pwned; '", "x\n  pwned: true", "x\n- pwned", "$(echo pwned)",
    "`echo pwned`", "${{ secrets.PWNED }}", "{{ pwned }}", "{% pwned %}", "x\\", 'x"\nRUN echo pwned',
    "'''\nimport os\nos.system('pwned')\n'''", '"""\nimport pwned\n"""', "</details><script>pwned</script>",
    "x # pwned", "--pwned", "-rf /", "a'b\"c$d`e\\f{g}h", "LABEL pwned=1", "]] pwned [[", "%0Apwned",
    "\\n pwned: 1", "x\r\npwned", "pwned: [1, 2]", "*pwned*\n\n# pwned\n\n| a | b |\n|---|---|\n| pwned | 1 |",
    "<!-- pwned -->", "\u2028pwned", "{pwned}", "%(pwned)s", "@pwned", "&a pwned", "!!python/object pwned",
]
TEXT_KEYS = {"description", "run", "test", "version", "summary"}
FREE_MAPS = {"env", "params"}


def _string_paths(data: Any, path: tuple = ()) -> list[tuple]:
    """Paths of free-text values: descriptions, commands, versions, env and param values."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _string_paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _string_paths(v, (*path, i))
    elif isinstance(data, str) and path and (path[-1] in TEXT_KEYS or (len(path) > 1 and path[-2] in FREE_MAPS)):
        out.append(path)
    return out


BASE_DOC, _ = load_document(ROOT / "examples/churn/mlproject.yaml")
assert BASE_DOC is not None
BASE = BASE_DOC.data
PATHS = _string_paths(BASE)
INSTALL = ["requirements.txt"]


def _set(data: Any, path: tuple, value: str) -> Any:
    """``data`` with the payload at ``path``: appended to a command (whose interpolations
    decide the nodes' inputs, which a replacement would legitimately change), else replacing."""
    data = json.loads(json.dumps(data))
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = f"{node[path[-1]]} {value}" if path[-1] in ("run", "test") else value
    return data


@pytest.fixture(scope="module")
def base_shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("base")
    path = write_spec(folder, BASE)
    for name in INSTALL:
        shutil.copy(ROOT / "examples/churn" / name, folder / name)
    result = compile_project(path)
    assert result.ok, result.diagnostics
    return {rel: shape(rel, data) for rel, data in files(folder).items()}


@PROFILE
@given(where=st.sampled_from(PATHS),
       payload=st.one_of(st.sampled_from(HOSTILE),
                         st.tuples(st.sampled_from(HOSTILE), st.text(max_size=12)).map("".join)))
def test_a_hostile_value_changes_no_artifact_structure(tmp_path_factory: pytest.TempPathFactory,
                                                      base_shapes: dict[str, Any], where: tuple,
                                                      payload: str) -> None:
    assert PATHS, "the churn example has free-text fields"
    folder = fresh(tmp_path_factory, "hostile")
    path = write_spec(folder, _set(BASE, where, payload))
    for name in INSTALL:
        shutil.copy(ROOT / "examples/churn" / name, folder / name)
    checked = check_project(path)
    no_crash(checked)
    if not checked.ok:
        event(f"refused: {sorted({d.code for d in checked.diagnostics if d.is_error})}")
        return                           # refused (template syntax, control characters, …)
    event("compiled")
    result = compile_project(path)
    assert result.ok, result.diagnostics
    got = {rel: shape(rel, data) for rel, data in files(folder).items()}
    assert got.keys() == base_shapes.keys()
    for rel, expected in base_shapes.items():
        assert got[rel] == expected, (rel, where, payload)
