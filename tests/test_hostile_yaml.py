"""Hostile input: each case gives the expected codes at the expected
positions, under both parsers, with identical results, and never raises.

Cases come from two places: files in ``tests/loader_cases/`` whose first line reads
``# expect: MS010@5:3 ...`` (or ``# expect: ok``), and the generated ones below (bytes,
control characters and sizes that do not belong in a checked-in text file).
An expectation ``MS009@2:4 MS009@3:8`` means: the first diagnostic is MS009 at 2:4, the
listed ones are all present, and no other code appears (repeats may be capped).
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec.language import loader
from mlspec.diagnostics import Diagnostic
from mlspec.language.document import Document
from mlspec.language.loader import load_document, load_text

HAVE_LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))
CASES_DIR = Path(__file__).parent / "loader_cases"
OK = "ok"


@dataclass(frozen=True)
class Case:
    id: str
    content: str | bytes
    expect: str  # "ok" or "MS010@5:3 MS010@9:5"
    data: Any = None  # for "ok": the expected data, when given


def _big_spec() -> str:
    """A valid spec of about 1 MiB: many steps."""
    lines = ["mlspec: 1", "project:", "  name: churn", "steps:"]
    for i in range(5000):
        lines += [
            f"  step_{i}:",
            f"    run: python -m pipeline.step --input data/{i}.parquet --output out/{i}.parquet",
            f"    needs: [data.raw, steps.step_{max(i - 1, 0)}]",
            "    resources: {cpu: 2, memory: 4Gi}",
        ]
    text = "\n".join(lines) + "\n"
    assert 0.8 * loader.MAX_BYTES < len(text.encode()) <= loader.MAX_BYTES
    return text


GENERATED = [
    # nesting: the event walk stops at depth 65, far below any parser's own limit
    Case("deep_flow_sequences", "[" * 10_000, "MS013@1:65"),
    Case("deep_flow_mappings", "{a: " * 10_000, "MS013@1:257"),
    Case("deep_block_mappings", "".join(" " * i + "a:\n" for i in range(1000)), "MS013@65:65"),
    Case("deep_block_sequences", "- " * 1000 + "x\n", "MS013@1:129"),
    Case("deep_inside_complex_key", "? " + "[" * 100 + "\n: x\n", "MS011@1:3 MS013@1:66"),
    Case("depth_64_is_fine", "a: " + "[" * 63 + "]" * 63 + "\n", OK),
    # sizes
    Case("huge_integer_stays_text", "n: " + "1" * 5000 + "\n", OK, {"n": "1" * 5000}),
    Case("scalar_over_64_kib", "a: " + "x" * 100_000 + "\n", "MS014@1:4"),
    Case("scalar_of_64_kib_is_fine", "a: " + "x" * loader.MAX_SCALAR + "\n", OK),
    Case("file_over_1_mib", b"a: " + b"x" * loader.MAX_BYTES + b"\n", "MS002@1:1"),
    Case("text_over_1_mib_in_utf8", "a: " + "é" * (loader.MAX_BYTES // 2) + "\n", "MS002@1:1"),
    Case("valid_spec_of_1_mib", _big_spec(), OK),
    # encodings
    Case("non_utf8_byte", b"name: caf\xe9\n", "MS003@1:10"),
    Case("non_utf8_after_multibyte", b"a: 1\nb: \xc3\xa9\xc3\xa9\nc: x\xff\n", "MS003@3:5"),
    Case("non_utf8_crlf", b"a: 1\r\nb: \x80\r\n", "MS003@2:4"),
    Case("utf16_with_bom", "mlspec: 1\n".encode("utf-16"), "MS003@1:1"),
    Case("utf16_without_bom", "mlspec: 1\nproject: x\n".encode("utf-16-le"), "MS003@1:1"),
    Case("utf32_with_bom", "mlspec: 1\n".encode("utf-32"), "MS003@1:1"),
    Case("utf8_bom_is_fine", codecs.BOM_UTF8 + b"mlspec: 1\n", OK, {"mlspec": 1}),
    # characters
    Case("nul_byte", b"name: a\x00b\n", "MS004@1:8"),
    Case("esc_sequence", b"name: \x1b[31mred\x1b[0m\n", "MS004@1:7 MS004@1:15"),
    Case("bell_and_backspace", "a: x\x07\nb: y\x08\n", "MS004@1:5 MS004@2:5"),
    Case("del_and_c1", "a: x\x7f\nb: \x85\n", "MS004@1:5 MS004@2:4"),
    Case("bidi_override", "name: abc\u202edef\n", "MS004@1:10"),
    Case("bidi_isolate_in_key", "na\u2066me: x\n", "MS004@1:3"),
    Case("bidi_marks", "a: x\u200e\nb: y\u200f\nc: z\u061c\n", "MS004@1:5 MS004@2:5 MS004@3:5"),
    Case("line_separator", "a: 1\u2028b: 2\n", "MS004@1:5"),
    Case("bom_after_start", "a: 1\n\ufeffb: 2\n", "MS004@2:1"),
    Case("lone_surrogate", "a: \ud800\n", "MS004@1:4"),
    Case("tab_indentation", "a:\n\tb: 1\n", "MS004@2:1"),
    Case("tab_in_value", "a:\tb\n", "MS004@1:3"),
    Case("tab_in_quotes_and_comment", 'a: "x\ty"  #\tc\n', "MS004@1:6 MS004@1:12"),
    Case("many_control_characters", "a: " + "\x01" * 1000 + "\n", "MS004@1:4 MS004@1:8"),
    Case("tab_after_crlf", "a: 1\r\n\tb: 2\r\n", "MS004@2:1"),
    Case("confusable_key_loads", "n\u0430me: x\n", OK, {"n\u0430me": "x"}),
    Case("escaped_controls_load", 'a: "\\x1b[2J\\0\\u202e"\n', OK, {"a": "\x1b[2J\x00\u202e"}),
    # documents
    Case("empty_text", "", "MS007@1:1"),
    Case("empty_bytes", b"", "MS007@1:1"),
    Case("only_blank_lines", "\n\n   \n", "MS007@1:1"),
    Case("only_bom", codecs.BOM_UTF8, "MS007@1:1"),
    Case("two_documents", "a: 1\n---\nb: 2\n", "MS006@2:1"),
    Case("two_explicit_documents", "--- \na: 1\n--- \nb: 2\n", "MS006@3:1"),
    Case("list_at_top", "- a\n- b\n", "MS008@1:1"),
    Case("scalar_at_top", "hello\n", "MS008@1:1"),
    Case("number_at_top", "  42\n", "MS008@1:3"),
    # keys
    Case("null_key", "null: x\n", "MS011@1:1"),
    Case("empty_key", "? \n: x\n", "MS011@1:2"),
    Case("tagged_null_key", "? !!null\n: x\n", "MS011@1:3"),
    Case("alias_key", "a: &k b\n*k : c\n", "MS009@1:4 MS009@2:1"),
    Case("norway_keys", "on: push\nyes: 1\nno: 2\noff: 3\n", OK,
         {"on": "push", "yes": 1, "no": 2, "off": 3}),
    Case("norway_values", "a: no\nb: yes\nc: on\nd: off\n", OK,
         {"a": "no", "b": "yes", "c": "on", "d": "off"}),
    Case("version_float", "python: 3.10\n", OK, {"python": 3.1}),
    Case("octal_and_sexagesimal", "mode: 0755\ntime: 1:30\n", OK, {"mode": "0755", "time": "1:30"}),
    # size caps on structure
    pytest.param(
        Case("over_200k_nodes", "a: [" + "0," * loader.MAX_NODES + "0]\n", "MS014@1:399999"),
        marks=pytest.mark.slow,
    ),
]


def _file_cases() -> Iterator[Case]:
    for path in sorted(CASES_DIR.glob("*.yaml")):
        content = path.read_bytes()
        first = content.split(b"\n", 1)[0].decode()
        assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
        yield Case(f"file:{path.stem}", content, first.removeprefix("# expect: ").strip())


CASES = [*_file_cases(), *GENERATED]


def _case_id(case: Any) -> str:
    return case.id if isinstance(case, Case) else case.values[0].id


def _unwrap(case: Any) -> Case:
    return case if isinstance(case, Case) else case.values[0]


_BY_ID = {_case_id(c): _unwrap(c) for c in CASES}


@functools.cache
def run(case_id: str, use_libyaml: bool) -> tuple[Document | None, tuple[Diagnostic, ...]]:
    old, loader.USE_LIBYAML = loader.USE_LIBYAML, use_libyaml
    try:
        doc, diags = load_text(_BY_ID[case_id].content)
    finally:
        loader.USE_LIBYAML = old
    return doc, tuple(diags)


@pytest.fixture(params=[pytest.param(True, id="libyaml"), pytest.param(False, id="pure")])
def use_libyaml(request: pytest.FixtureRequest) -> bool:
    if request.param and not HAVE_LIBYAML:
        pytest.skip("libyaml is not installed")
    return bool(request.param)


def _parse_expect(expect: str) -> list[tuple[str, int, int]]:
    out = []
    for item in expect.split():
        code, _, where = item.partition("@")
        line, column = where.split(":")
        out.append((code, int(line), int(column)))
    return out


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_hostile_case(case: Case, use_libyaml: bool) -> None:
    doc, diags = run(case.id, use_libyaml)
    got = [(d.code, d.span.line, d.span.column) for d in diags if d.span]
    if case.expect == OK:
        assert diags == ()
        assert doc is not None and isinstance(doc.data, dict)
        if case.data is not None:
            assert doc.data == case.data
        return
    expected = _parse_expect(case.expect)
    assert doc is None
    assert got, "expected diagnostics"
    assert got[0] == expected[0], got
    assert all(e in got for e in expected), got
    assert {c for c, _, _ in got} == {c for c, _, _ in expected}, got
    for diag in diags:
        assert diag.file == "mlproject.yaml"
        assert diag.span is not None and diag.message
        assert diag.message.isprintable(), diag.message


@pytest.mark.skipif(not HAVE_LIBYAML, reason="libyaml is not installed")
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_both_parsers_give_identical_results(case: Case) -> None:
    fast, reference = run(case.id, True), run(case.id, False)
    assert fast[1] == reference[1]
    if reference[0] is None:
        assert fast[0] is None
    else:
        assert fast[0] is not None
        for attr in ("file", "text", "data", "path"):
            assert getattr(fast[0], attr) == getattr(reference[0], attr)
        assert dict(fast[0].values) == dict(reference[0].values)
        assert dict(fast[0].keys) == dict(reference[0].keys)


def test_every_case_file_is_used() -> None:
    names = {p.name for p in CASES_DIR.iterdir() if not p.name.startswith(".")}
    assert names == {c.id.removeprefix("file:") + ".yaml" for c in CASES if isinstance(c, Case)
                     and c.id.startswith("file:")}


def test_messages_name_the_character() -> None:
    _, diags = run("bidi_override", False)
    assert diags[0].message == "forbidden character U+202E RIGHT-TO-LEFT OVERRIDE"
    _, diags = run("esc_sequence", False)
    assert diags[0].message == "forbidden character U+001B ESC control character"
    _, diags = run("tab_indentation", False)
    assert diags[0].message == "tab character" and "\\t" in (diags[0].hint or "")


def test_forbidden_characters_are_capped() -> None:
    _, diags = run("many_control_characters", False)
    assert len(diags) == 5
    assert diags[-1].message.endswith("(995 more like this not shown)")


def test_encoding_messages() -> None:
    assert run("utf16_with_bom", False)[1][0].message == "file is UTF-16; save it as UTF-8"
    assert "UTF-16" in run("utf16_without_bom", False)[1][0].message
    assert run("utf32_with_bom", False)[1][0].message == "file is UTF-32; save it as UTF-8"
    message = run("non_utf8_byte", False)[1][0].message
    assert message.startswith("file is not valid UTF-8: byte 0xE9")


def test_top_level_kind_is_named() -> None:
    assert "is a list" in run("list_at_top", False)[1][0].message
    assert "is a string ('hello')" in run("scalar_at_top", False)[1][0].message
    assert "is a number (42)" in run("number_at_top", False)[1][0].message


def test_big_valid_spec_loads() -> None:
    doc, _ = run("valid_spec_of_1_mib", False)
    assert doc is not None and len(doc.data["steps"]) == 5000
    assert doc.values[("steps", "step_4999", "needs", 1)].line == 20_003


def test_oversized_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "mlproject.yaml"
    path.write_bytes(b"# padding\n" * (loader.MAX_BYTES // 10 + 1))
    doc, diags = load_document(path, display_name="mlproject.yaml")
    assert doc is None
    assert [(d.code, d.span) for d in diags] == [("MS002", loader.Span(1, 1))]


# ---------------------------------------------------------------------------- properties

YAMLISH = st.lists(
    st.sampled_from([
        "a", "key", "1", "0.5", "no", "null", "~", "é", ":", ": ", " ", "  ", "\n", "\r\n", "\r",
        "- ", "-", "[", "]", "{", "}", ", ", "'", '"', "#", " # c", "? ", "&x ", "*x", "!!str ",
        "!!int ", "! ", "!x ", "|", ">-", "|2", "---", "...", "\\", "%YAML 1.2\n", "%TAG !e! t:\n",
        "<<", "@", "`", "%", "\t", "\x00", "\u202e", "\ufeff", "\u2028", "\u00a0", "a: b\n",
        "x:\n  y: z\n", "- q\n", "  - r\n", "s3://b?v=1",
    ]),
    max_size=40,
).map("".join)

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


def _never_raises(content: str | bytes) -> None:
    results = []
    for use_libyaml in ([True, False] if HAVE_LIBYAML else [False]):
        old, loader.USE_LIBYAML = loader.USE_LIBYAML, use_libyaml
        try:
            doc, diags = load_text(content)
        finally:
            loader.USE_LIBYAML = old
        assert (doc is None) == bool(diags)
        if doc is not None:
            assert isinstance(doc.data, dict)
        for diag in diags:
            assert diag.code.startswith("MS0") and diag.span is not None
            assert diag.message.isprintable() and (diag.hint or "").isprintable()
        results.append((doc and (doc.data, dict(doc.values), dict(doc.keys)), diags))
    assert all(r == results[0] for r in results)


@PROPERTY_SETTINGS
@given(st.text())
def test_any_text_never_raises(text: str) -> None:
    _never_raises(text)


@PROPERTY_SETTINGS
@given(st.binary())
def test_any_bytes_never_raise(data: bytes) -> None:
    _never_raises(data)


@PROPERTY_SETTINGS
@given(YAMLISH)
def test_yaml_like_text_never_raises_and_parsers_agree(text: str) -> None:
    _never_raises(text)


# Text our resolver would type differently from PyYAML's dumper (digits: '1e3') is left out.
ROUND_TRIP_TEXT = st.text("abcdfghijklmnopqrstuvwxyzABCDFGHIJKLMNOPQRSTUVWXYZ ?#:-'\"\\\né✓")


@PROPERTY_SETTINGS
@given(st.recursive(
    st.none() | st.booleans() | st.integers(-(10**18) + 1, 10**18 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | ROUND_TRIP_TEXT,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(ROUND_TRIP_TEXT.filter(bool), inner, max_size=4),
    max_leaves=20,
), st.sampled_from([None, True, False]))
def test_dumped_yaml_round_trips(data: Any, flow: bool | None) -> None:
    text = yaml.safe_dump({"root": data}, default_flow_style=flow, allow_unicode=True)
    _never_raises(text)
    doc, diags = load_text(text)
    assert diags == [] and doc is not None
    assert doc.data == {"root": data}
