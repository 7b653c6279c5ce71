"""The strict loader on well-formed input: typing, positions, files, messages.

Every load here goes through :func:`load`, which runs both parsers (libyaml and pure
PyYAML) and asserts they give the same Document and diagnostics.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlspec.language import loader
from mlspec.diagnostics import Diagnostic, Span
from mlspec.language.document import Document
from mlspec.language.loader import load_document, load_text

HAVE_LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))
Result = tuple[Document | None, list[Diagnostic]]


def _snapshot(result: Result) -> tuple[Any, ...]:
    doc, diags = result
    if doc is None:
        return None, diags
    return (doc.file, doc.text, doc.data, dict(doc.values), dict(doc.keys), doc.path), diags


def load(content: str | bytes, name: str = "mlproject.yaml") -> Result:
    """``load_text`` under both parsers; they must agree exactly."""
    results = []
    for use_libyaml in ([True, False] if HAVE_LIBYAML else [False]):
        old, loader.USE_LIBYAML = loader.USE_LIBYAML, use_libyaml
        try:
            results.append(load_text(content, name))
        finally:
            loader.USE_LIBYAML = old
    assert all(_snapshot(r) == _snapshot(results[0]) for r in results)
    return results[0]


def load_ok(content: str | bytes) -> Document:
    doc, diags = load(content)
    assert diags == []
    assert doc is not None
    return doc


def codes_at(diags: list[Diagnostic]) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in diags if d.span]


# ---------------------------------------------------------------------------- typing

TYPING = [
    # YAML 1.1 booleans are text; only true/false are booleans
    ("no", "no"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("y", "y"), ("n", "n"),
    ("No", "No"), ("True", "True"), ("TRUE", "TRUE"), ("true", True), ("false", False),
    # null
    ("null", None), ("Null", None), ("NULL", None), ("~", None), ("", None), ("nil", "nil"),
    # decimal integers only, up to 18 digits
    ("0", 0), ("12", 12), ("-12", -12), ("-0", 0), ("+12", "+12"),
    ("0755", "0755"), ("010", "010"), ("08", "08"), ("0x1F", "0x1F"), ("0o17", "0o17"),
    ("0b101", "0b101"), ("1_000", "1_000"), ("1,000", "1,000"),
    ("123456789012345678", 123456789012345678), ("1234567890123456789", "1234567890123456789"),
    # floats need a dot or an exponent; finite only
    ("3.10", 3.1), ("-2.5", -2.5), ("0.001", 0.001), ("1e3", 1000.0), ("1E3", 1000.0),
    ("1.5e-3", 0.0015), ("2e+2", 200.0), (".5", ".5"), ("1.", "1."), ("01.5", "01.5"),
    (".nan", ".nan"), (".NaN", ".NaN"), (".inf", ".inf"), ("-.Inf", "-.Inf"), ("1e999", "1e999"),
    # no sexagesimal, no timestamps
    ("1:30", "1:30"), ("12:30:00", "12:30:00"), ("2024-01-01", "2024-01-01"),
    ("2024-01-01 10:00:00", "2024-01-01 10:00:00"),
    ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
    # quoted and block scalars are always text
    ('"3.10"', "3.10"), ("'3.10'", "3.10"), ('"true"', "true"), ("'null'", "null"), ("''", ""),
    ('"12"', "12"), ("|\n  x\n", "x\n"), (">-\n  a\n  b\n", "a b"), ('"a\\tb"', "a\tb"),
    # other plain text
    ("=", "="), ("<<", "<<"), ("s3://bucket/key?versionId=3", "s3://bucket/key?versionId=3"),
    ("héllo wörld", "héllo wörld"), ("a#b", "a#b"), ("a #comment", "a"),
    # explicit core tags are honoured strictly
    ("!!str 12", "12"), ("!!str true", "true"), ("!!int '12'", 12), ('!!int "-3"', -3),
    ("!!float 1", 1.0), ("!!float '2.5'", 2.5), ("!!bool 'true'", True), ("!!null ''", None),
    ("!!null ~", None), ("! 12", "12"), ("! true", "true"),
]


@pytest.mark.parametrize(("written", "expected"), TYPING, ids=[w or "<empty>" for w, _ in TYPING])
def test_plain_scalar_typing(written: str, expected: Any) -> None:
    doc = load_ok(f"v: {written}\n")
    value = doc.data["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_norway_keys_stay_distinct_text() -> None:
    doc = load_ok("on: 1\noff: 2\nyes: 3\nno: 4\ny: 5\nn: 6\n")
    assert list(doc.data) == ["on", "off", "yes", "no", "y", "n"]


def test_quoted_keys_that_look_like_other_types_are_text() -> None:
    doc = load_ok("'1': a\n\"null\": b\n'true': c\n!!str 2: d\n")
    assert doc.data == {"1": "a", "null": "b", "true": "c", "2": "d"}


def test_keys_are_the_raw_scalar_text() -> None:
    doc = load_ok("'a b': 1\n\"c\\u00e9\": 2\n? |\n  lit\n: 3\n")
    assert list(doc.data) == ["a b", "cé", "lit\n"]


def test_flow_and_block_collections() -> None:
    doc = load_ok("a: [1, 'two', {b: [], c: {}}]\nd:\n  - x\n  -\n    - y\ne: {}\n")
    assert doc.data == {"a": [1, "two", {"b": [], "c": {}}], "d": ["x", ["y"]], "e": {}}


def test_empty_values_are_null() -> None:
    doc = load_ok("a:\nb: {c: }\nd:\n  -\n  - x\n")
    assert doc.data == {"a": None, "b": {"c": None}, "d": [None, "x"]}


def test_extension_keys_are_kept() -> None:
    # The validator strips x- keys later; the loader keeps everything it reads.
    doc = load_ok("mlspec: 1\nx-owner: me\nproject:\n  name: churn\n  x-team: {slack: '#ml'}\n")
    assert doc.data["x-owner"] == "me"
    assert doc.data["project"]["x-team"] == {"slack": "#ml"}


def _walk(node: Any) -> list[Any]:
    stack, seen = [node], []
    while stack:
        item = stack.pop()
        seen.append(item)
        if type(item) is dict:
            assert all(type(k) is str for k in item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return seen


def test_data_holds_only_plain_builtins() -> None:
    doc = load_ok(
        "a: 1\nb: 2.5\nc: true\nd: null\ne: text\nf: [1, {g: h}]\nh: !!str 3\ni: 2024-01-01\n"
        "j: |\n  block\nk: 'q'\n"
    )
    allowed = {dict, list, str, int, float, bool, type(None)}
    assert {type(item) for item in _walk(doc.data)} <= allowed


def test_escaped_control_characters_load() -> None:
    # Escapes inside double quotes are not raw characters: the validator judges the value.
    doc = load_ok('a: "\\e[31m\\u202e"\n')
    assert doc.data["a"] == "\x1b[31m\u202e"


# ---------------------------------------------------------------------------- positions

SPEC = """\
mlspec: 1
project:
  name: churn
  owners: [ml-team, "data team"]
steps:
  - name: prepare
    run: python prep.py
  - {name: train, needs: [prepare]}
notes: |
  multi
  line
"""


def test_positions_of_keys_and_values() -> None:
    doc = load_ok(SPEC)
    assert doc.values[()] == Span(1, 1, 12, 1)
    assert doc.keys[("mlspec",)] == Span(1, 1, 1, 7)
    assert doc.values[("mlspec",)] == Span(1, 9, 1, 10)
    assert doc.keys[("project",)] == Span(2, 1, 2, 8)
    assert doc.values[("project",)] == Span(3, 3, 5, 1)
    assert doc.keys[("project", "name")] == Span(3, 3, 3, 7)
    assert doc.values[("project", "name")] == Span(3, 9, 3, 14)
    assert doc.keys[("project", "owners")] == Span(4, 3, 4, 9)
    assert doc.values[("project", "owners")] == Span(4, 11, 4, 33)
    assert doc.values[("project", "owners", 0)] == Span(4, 12, 4, 19)
    assert doc.values[("project", "owners", 1)] == Span(4, 21, 4, 32)
    assert doc.values[("steps",)] == Span(6, 3, 9, 1)
    assert doc.values[("steps", 0)] == Span(6, 5, 8, 3)
    assert doc.keys[("steps", 0, "run")] == Span(7, 5, 7, 8)
    assert doc.values[("steps", 0, "run")] == Span(7, 10, 7, 24)
    assert doc.values[("steps", 1)] == Span(8, 5, 8, 36)
    assert doc.keys[("steps", 1, "needs")] == Span(8, 19, 8, 24)
    assert doc.values[("steps", 1, "needs")] == Span(8, 26, 8, 35)
    assert doc.values[("steps", 1, "needs", 0)] == Span(8, 27, 8, 34)
    assert doc.values[("notes",)] == Span(9, 8, 12, 1)


def test_every_node_has_a_value_span_and_every_entry_a_key_span() -> None:
    doc = load_ok(SPEC)
    paths: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), doc.data)]
    while stack:
        path, node = stack.pop()
        paths.append(path)
        if isinstance(node, dict):
            stack.extend((path + (k,), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((path + (i,), v) for i, v in enumerate(node))
    assert set(doc.values) == set(paths)
    assert set(doc.keys) == {p for p in paths if p and isinstance(p[-1], str)}


def test_positions_with_crlf_line_endings_match_lf() -> None:
    lf = load_ok(SPEC)
    crlf = load_ok(SPEC.replace("\n", "\r\n"))
    assert crlf.data == {**lf.data, "notes": "multi\nline\n"}
    assert dict(crlf.keys) == dict(lf.keys)
    assert dict(crlf.values) == dict(lf.values)


def test_positions_with_a_utf8_bom_match_without() -> None:
    plain = load_ok(SPEC.encode())
    bom = load_ok(codecs.BOM_UTF8 + SPEC.encode())
    assert bom.text == SPEC  # the BOM is not part of the text
    assert bom.data == plain.data
    assert (dict(bom.values), dict(bom.keys)) == (dict(plain.values), dict(plain.keys))


def test_columns_count_characters_not_bytes() -> None:
    doc = load_ok("tëst: {ä: 'ö', b: ✓}\nx: 1\n")
    assert doc.keys[("tëst", "b")] == Span(1, 16, 1, 17)
    assert doc.values[("tëst", "b")] == Span(1, 19, 1, 20)
    line = doc.text.splitlines()[0]
    assert line[19 - 1] == "✓"


def test_positions_with_old_mac_line_endings() -> None:
    # A lone CR is a line break to YAML, so it is one to our positions too.
    doc = load_ok("a: 1\rb: [x, y]\r")
    assert doc.values[("b", 1)] == Span(2, 8, 2, 9)
    _, diags = load("a: 1\r\x01: 2\r")
    assert codes_at(diags) == [("MS004", 2, 1)]


def test_question_marks_in_quoted_flow_values_are_fine() -> None:
    doc = load_ok("tags: ['ready?', \"why?\"]\nurl: s3://b/k?v=1\n")
    assert doc.data == {"tags": ["ready?", "why?"], "url": "s3://b/k?v=1"}


def test_file_without_final_newline() -> None:
    doc = load_ok("a: 1\nb: [x]")
    assert doc.values[("b", 0)] == Span(2, 5, 2, 6)
    assert doc.values[()] == Span(1, 1, 2, 7)  # ends where the text ends
    assert doc.text == "a: 1\nb: [x]"
    doc = load_ok("a: |\n  x")
    assert doc.data == {"a": "x"}  # clip keeps a final line break only if there is one
    assert doc.values[()] == Span(1, 1, 2, 4)


def test_document_span_lookup_falls_back_to_ancestors() -> None:
    doc = load_ok(SPEC)
    assert doc.span(("project", "name"), key=True) == Span(3, 3, 3, 7)
    assert doc.span(("project", "missing")) == doc.values[("project",)]


# ---------------------------------------------------------------------------- files


def test_load_document_reads_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ml").mkdir()
    (tmp_path / "ml" / "mlproject.yaml").write_bytes(b"mlspec: 1\r\nproject: {name: churn}\r\n")
    monkeypatch.chdir(tmp_path)
    doc, diags = load_document(os.path.join("ml", "mlproject.yaml"))
    assert diags == []
    assert doc is not None
    assert doc.file == os.path.join("ml", "mlproject.yaml")
    assert doc.path == Path("ml", "mlproject.yaml")
    assert doc.base_dir == (tmp_path / "ml").resolve()
    assert doc.data == {"mlspec": 1, "project": {"name": "churn"}}


def test_load_document_accepts_pathlike_and_bytes(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("mlspec: 1\n")
    for source in (spec, os.fsencode(spec)):
        doc, diags = load_document(source, display_name="shown.yaml")
        assert diags == [] and doc is not None
        assert doc.file == "shown.yaml"
        assert doc.path == spec


def test_diagnostics_carry_the_display_name(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("a: 1\na: 2\n")
    _, diags = load_document(spec)
    assert [d.file for d in diags] == [str(spec)]
    _, diags = load_text("a: 1\na: 2\n", "other.yaml")
    assert [d.file for d in diags] == ["other.yaml"]


@pytest.mark.parametrize("kind", ["missing", "directory", "nul"])
def test_unreadable_file(tmp_path: Path, kind: str) -> None:
    source = {"missing": str(tmp_path / "nope.yaml"), "directory": str(tmp_path),
              "nul": str(tmp_path / "a\0b.yaml")}[kind]
    doc, diags = load_document(source, display_name="mlproject.yaml")
    assert doc is None
    assert [d.code for d in diags] == ["MS001"]
    assert diags[0].file == "mlproject.yaml"
    assert diags[0].message.startswith("cannot read the spec file: ")
    assert "\0" not in diags[0].message


def test_oversized_file_is_not_read_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: costs nothing unless read in full
    doc, diags = load_document(big)
    assert doc is None
    assert codes_at(diags) == [("MS002", 1, 1)]


def test_exactly_one_mebibyte_is_allowed(tmp_path: Path) -> None:
    text = b"".join(b"k%d: %s\n" % (i, b"y" * 1000) for i in range(1020))
    text += b"z: " + b"w" * (loader.MAX_BYTES - len(text) - 4) + b"\n"
    assert len(text) == loader.MAX_BYTES
    assert load(text)[1] == []
    assert codes_at(load(text + b"\n")[1]) == [("MS002", 1, 1)]
    (tmp_path / "exact.yaml").write_bytes(text)
    (tmp_path / "over.yaml").write_bytes(text + b"\n")
    assert load_document(tmp_path / "exact.yaml")[1] == []
    assert codes_at(load_document(tmp_path / "over.yaml")[1]) == [("MS002", 1, 1)]


# ---------------------------------------------------------------------------- messages


def test_duplicate_key_message_names_both_positions() -> None:
    _, diags = load("mlspec: 1\nproject:\n  name: a\n  owner: b\n  name: c\n")
    (diag,) = diags
    assert (diag.code, diag.span, diag.path) == ("MS010", Span(5, 3), ("project", "name"))
    assert diag.message == "duplicate key 'name' (first defined at 3:3)"
    assert diag.hint


def test_user_text_in_messages_is_escaped() -> None:
    _, diags = load('"\\e[31mred\\u202e": 1\n"\\e[31mred\\u202e": 2\nk\u0430y: 1\nk\u0430y: 2\n')
    messages = [d.message for d in diags]
    assert messages == [
        "duplicate key '\\x1b[31mred\\u202e' (first defined at 1:1)",
        "duplicate key 'k\\u0430y' (first defined at 3:1)",
    ]
    assert all(m.isascii() and m.isprintable() for m in messages)


def test_long_user_text_is_shortened_in_messages() -> None:
    key = "k" * 500
    _, diags = load(f"? {key}\n: 1\n? {key}\n: 2\n")
    assert diags[0].code == "MS010"
    assert len(diags[0].message) < 120


def test_syntax_errors_are_readable() -> None:
    _, diags = load("project:\n  name: churn\n owner: me\n")
    (diag,) = diags
    assert (diag.code, diag.span) == ("MS005", Span(3, 2))
    assert "while " not in diag.message and "<block" not in diag.message
    assert "1:1" in diag.message
    assert diag.hint == "check the indentation of this line against the lines above"


def test_syntax_error_path_is_the_enclosing_node() -> None:
    _, diags = load("project:\n  tags: [a, b\nx: 1\n")
    assert [(d.code, d.path) for d in diags] == [("MS005", ("project", "tags"))]


def test_many_problems_of_one_kind_are_capped() -> None:
    text = "".join(f"k{i}: 1\nk{i}: 2\n" for i in range(30))
    _, diags = load(text)
    assert len(diags) == 20 and {d.code for d in diags} == {"MS010"}
    assert diags[-1].message.endswith("(10 more like this not shown)")


def test_all_problems_are_reported_in_one_pass_sorted() -> None:
    _, diags = load("b: &x 1\na: 1\na: 2\nc: !Ref y\n1: z\n")
    assert codes_at(diags) == [("MS009", 1, 4), ("MS010", 3, 1), ("MS012", 4, 4), ("MS011", 5, 1)]


def test_every_diagnostic_is_complete() -> None:
    _, diags = load("a: &x 1\na: 2\n? [k]\n: v\nb: !!int x\n", "spec.yaml")
    for diag in diags:
        assert diag.file == "spec.yaml"
        assert diag.span is not None and diag.span.line >= 1 and diag.span.column >= 1
        assert diag.hint
        assert diag.is_error


@pytest.mark.skipif(not HAVE_LIBYAML, reason="needs libyaml")
def test_switch_selects_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[type] = []
    real = loader._walk

    def spy(text: str, name: str, parser: type) -> Any:
        used.append(parser)
        return real(text, name, parser)

    monkeypatch.setattr(loader, "_walk", spy)
    monkeypatch.setattr(loader, "USE_LIBYAML", True)
    load_text("a: 1\n")
    assert used == [yaml.CSafeLoader]
    used.clear()
    load_text("a: 1\na: 2\n")  # problems are confirmed by the reference parser
    assert used == [yaml.CSafeLoader, yaml.SafeLoader]
    used.clear()
    monkeypatch.setattr(loader, "USE_LIBYAML", False)
    load_text("a: 1\n")
    assert used == [yaml.SafeLoader]
