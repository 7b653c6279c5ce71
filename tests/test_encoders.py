"""Encoders against re-parse oracles: the target language reads back exactly the input.

Tests marked ``validator`` use the real parser of the target language as the oracle
(``dockerfile`` = moby's Go parser, ``promql-parser``, ``cmarkgfm`` = GitHub's Markdown,
``ruamel.yaml`` as a YAML 1.2 reader, ``yamllint``); in CI they must not skip.
"""

from __future__ import annotations

import ast
import json
import math
import shlex

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec.output.encoders import (
    docker_json_argv,
    docker_quoted,
    find_template_syntax,
    html_text,
    json_dump,
    json_inline,
    markdown_block,
    markdown_code,
    markdown_text,
    promql_name,
    promql_string,
    py,
    sh,
    sh_join,
    yaml_dump,
    yaml_inline,
)

# Characters that broke encoders somewhere (SECURITY §2): line separators PyYAML folds,
# quotes, escapes, template and shell meta-characters, controls, bidi, BOM, non-BMP.
SPECIALS = [
    "\x85", "\u2028", "\u2029", "\r", "\n", "\t", "\x0b", "\x0c", "\x00", "\x1b", "\x7f",
    '"', "'", "\\", "$", "{", "}", "%", "#", "`", "|", ">", "-", ":", "?", "&", "*", "!",
    " ", "\xa0", "\ufeff", "\u202e", "\u200b", "\U0001f600", "\U0010fffd", "\U0010ffff",
]
# Lone surrogates cannot come out of a strictly decoded UTF-8 spec, so they are not generated.
chars = st.characters(exclude_categories=["Cs"])
texts = st.text(alphabet=st.one_of(chars, st.sampled_from(SPECIALS)))
# Script-like text so the literal-block path of the YAML dumper is exercised too.
scripts = st.lists(
    st.text(alphabet=st.one_of(st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"]),
                               st.sampled_from([" ", "#", "-", ":", "|"]))),
    min_size=1, max_size=5,
).map("\n".join)
any_text = st.one_of(texts, scripts, st.sampled_from(
    ["no", "on", "y", "N", "3.10", "1e3", "0o755", "0755", "0x1F", "1:30", "~", "null", "",
     "-", "- x", "? x", ": x", "&a", "*a", "!t", "%x", "@x", "`x", "2024-01-01", ".inf",
     "=", "<<", "a\n", "a\n\n", "\na", " a\nb", "a \nb", "#x\ny", "---\n...", "\U0001f600\nb"]))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.floats(allow_nan=False, allow_infinity=False), any_text,
)
data = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(any_text, children, max_size=4)),
    max_leaves=20,
)
yaml_loaders = [yaml.SafeLoader] + ([yaml.CSafeLoader] if yaml.__with_libyaml__ else [])


# ---------------------------------------------------------------------------- py


@given(data)
def test_py_round_trips_through_literal_eval(value):
    assert ast.literal_eval(py(value)) == value


@given(st.recursive(scalars, lambda c: st.lists(c, max_size=3).map(tuple), max_leaves=10))
def test_py_tuples_round_trip(value):
    assert ast.literal_eval(py(value)) == value


def test_py_keeps_non_bmp_and_injection_inert():
    payload = 'churn"); import os; os.system("x"); ("\U0001f600\\'
    source = f"dag = DAG(dag_id={py(payload)})\n"
    tree = ast.parse(source)
    assert len(tree.body) == 1
    assert ast.literal_eval(tree.body[0].value.keywords[0].value) == payload


@pytest.mark.parametrize("bad", [object(), b"x", {1, 2}, math.nan, math.inf])
def test_py_refuses_other_types_and_non_finite(bad):
    with pytest.raises((TypeError, ValueError)):
        py(bad)


def test_py_encodes_subclasses_as_their_base_type():
    import enum

    class Color(str, enum.Enum):
        RED = "red"

    assert py(Color.RED) == "'red'"
    assert py([True, None, 1, -2.5, (1,), ()]) == "[True, None, 1, -2.5, (1,), ()]"


# ---------------------------------------------------------------------------- sh


@given(texts.filter(lambda s: "\0" not in s))
def test_sh_is_one_shell_word(word):
    assert shlex.split(sh(word)) == [word]


@given(st.lists(texts.filter(lambda s: "\0" not in s), max_size=5))
def test_sh_join_round_trips(argv):
    assert shlex.split(sh_join(argv)) == argv


def test_sh_refuses_nul_and_bare_strings():
    with pytest.raises(ValueError):
        sh("a\0b")
    with pytest.raises(TypeError):
        sh_join("abc")
    with pytest.raises(TypeError):
        sh(1)


# ---------------------------------------------------------------------------- YAML


@settings(max_examples=300)
@given(data)
def test_yaml_dump_round_trips_with_both_pyyaml_loaders(value):
    text = yaml_dump(value)
    for loader in yaml_loaders:
        assert yaml.load(text, Loader=loader) == value, loader


@given(data)
def test_yaml_inline_is_one_line_and_round_trips(value):
    text = yaml_inline(value)
    assert "\n" not in text
    for loader in yaml_loaders:
        assert yaml.load("k: " + text + "\n", Loader=loader) == {"k": value}


@pytest.mark.validator
@given(data)
def test_yaml_dump_round_trips_with_a_yaml_1_2_reader(value):
    ruamel = pytest.importorskip("ruamel.yaml")
    assert ruamel.YAML(typ="safe", pure=True).load(yaml_dump(value)) == value


def test_yaml_dump_layout():
    workflow = {
        "name": "train",
        "on": {"push": {"branches": ["main"]}},
        "permissions": {},
        "jobs": {"train": {
            "runs-on": "ubuntu-24.04",
            "timeout-minutes": 30,
            "steps": [{"run": "python -m train\necho done\n", "env": {"Y": "no", "V": "3.10"}}],
        }},
        "yes": None,
        "a b": False,
    }
    assert yaml_dump(workflow) == (
        'name: "train"\n'
        '"on":\n'
        "  push:\n"
        "    branches:\n"
        '      - "main"\n'
        "permissions: {}\n"
        "jobs:\n"
        "  train:\n"
        '    runs-on: "ubuntu-24.04"\n'
        "    timeout-minutes: 30\n"
        "    steps:\n"
        "      - run: |\n"
        "          python -m train\n"
        "          echo done\n"
        "        env:\n"
        '          "Y": "no"\n'
        '          V: "3.10"\n'
        '"yes": null\n'
        '"a b": false\n'
    )


@pytest.mark.parametrize(
    "value", ["a\x85b\nc", "a\u2028b\nc", "a \nb", "a\r\nb", "a\n\n", "\ta\nb"])
def test_yaml_dump_quotes_text_a_block_would_change(value):
    text = yaml_dump({"run": value})
    assert text.startswith('run: "'), text
    assert yaml.safe_load(text) == {"run": value}


def test_yaml_dump_never_emits_aliases():
    shared = ["a"]
    assert "&" not in yaml_dump({"x": shared, "y": shared})


@pytest.mark.parametrize("bad", [b"x", {1}, math.nan, object(), "\ud800"])
def test_yaml_dump_refuses_other_types_and_non_finite(bad):
    with pytest.raises((TypeError, ValueError)):
        yaml_dump({"k": bad})


@pytest.mark.validator
def test_yaml_dump_passes_yamllint():
    linter = pytest.importorskip("yamllint.linter")
    config = pytest.importorskip("yamllint.config").YamlLintConfig(
        "{extends: default, rules: {line-length: {max: 160}, document-start: disable,"
        " truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}")
    text = yaml_dump({"on": {"push": None}, "jobs": {"a": {"steps": [
        {"name": "x", "run": "echo 1\necho 2\n"}, {"uses": "a/b@" + "0" * 40}]}}})
    assert [str(p) for p in linter.run(text, config)] == []


# ---------------------------------------------------------------------------- JSON


@given(data)
def test_json_round_trips(value):
    text = json_dump(value)
    assert text.endswith("}\n") or text.endswith("]\n") or text.endswith("\n")
    assert json.loads(text) == value
    assert json.loads(json_inline(value)) == value
    assert "\n" not in json_inline(value)


@given(data)
def test_json_dump_writes_the_bytes_of_the_standard_library(value):
    """json_dump writes indented JSON itself (the standard library's indenting encoder is pure
    Python); its bytes are those of json.dumps with the same settings."""
    assert json_dump(value) == json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    assert json_dump((value, [value], {"k": value})) == \
        json.dumps((value, [value], {"k": value}), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


@pytest.mark.parametrize("bad", [{1: "a"}, {"k": math.inf}, {"k": b"x"}, [object()]])
def test_json_refuses_what_it_would_change(bad):
    with pytest.raises((TypeError, ValueError)):
        json_dump(bad)


# ---------------------------------------------------------------------------- PromQL


@given(texts)
def test_promql_string_is_a_json_string(value):
    assert json.loads(promql_string(value)) == value


@pytest.mark.validator
@given(texts)
def test_promql_parser_reads_the_label_value_back(value):
    promql_parser = pytest.importorskip("promql_parser")
    expr = promql_parser.parse(f"m{{model={promql_string(value)}}} < 0.9")
    (matcher,) = expr.lhs.matchers.matchers
    assert (matcher.name, matcher.value) == ("model", value)


@pytest.mark.validator
def test_promql_string_keeps_an_injection_inside_the_matcher():
    promql_parser = pytest.importorskip("promql_parser")
    payload = 'x"} < 0.9 or vector(1) > 0 or model_accuracy{model="x'
    expr = promql_parser.parse(f"model_accuracy{{model={promql_string(payload)}}} < 0.9")
    assert expr.lhs.matchers.matchers[0].value == payload


@pytest.mark.parametrize("name", ["mlspec_drift_score", "a:b", "_x", "job:rate5m"])
def test_promql_name_accepts_valid_names(name):
    assert promql_name(name) == name


@pytest.mark.parametrize("name", ["", "1a", "a-b", "a b", "a\n", "é", 'a"', "a{b}"])
def test_promql_name_refuses_invalid_names(name):
    with pytest.raises(ValueError):
        promql_name(name)


def test_promql_label_names_have_no_colon():
    assert promql_name("project", label=True) == "project"
    with pytest.raises(ValueError):
        promql_name("a:b", label=True)


# ---------------------------------------------------------------------------- Dockerfile


def _buildkit_unquote(word: str) -> str:
    """Read a double-quoted word the way BuildKit's shell lexer does (``processDoubleQuote``).

    Inside double quotes only ``\\"``, ``\\$`` and ``\\\\`` are escapes; any other backslash is
    kept. An unescaped ``$`` would be expanded, which the encoder must never leave.
    """
    assert word[0] == word[-1] == '"', word
    out, i, inner = [], 0, word[1:-1]
    while i < len(inner):
        ch = inner[i]
        assert ch != "$", f"unescaped $ in {word!r}"
        assert ch != '"', f"unescaped quote in {word!r}"
        if ch == "\\" and i + 1 < len(inner) and inner[i + 1] in '"$\\':
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


docker_values = texts.filter(lambda s: not any(c in s for c in "\r\n\0"))


@given(docker_values)
def test_docker_quoted_unquotes_to_the_input(value):
    assert _buildkit_unquote(docker_quoted(value)) == value


@pytest.mark.validator
@given(docker_values)
def test_docker_quoted_is_one_label_value(value):
    dockerfile = pytest.importorskip("dockerfile")
    quoted = docker_quoted(value)
    parsed = dockerfile.parse_string(f"FROM scratch\nLABEL x={quoted}\nUSER 10001\n")
    assert [c.cmd for c in parsed] == ["FROM", "LABEL", "USER"]
    assert parsed[1].value == ("x", quoted)


@pytest.mark.parametrize("bad", ["a\nRUN id", "a\r", "a\0"])
def test_docker_quoted_refuses_line_breaks_and_nul(bad):
    with pytest.raises(ValueError):
        docker_quoted(bad)


def test_docker_json_argv_refuses_nul_and_bare_strings():
    with pytest.raises(ValueError):
        docker_json_argv(["a\0"])
    with pytest.raises(TypeError):
        docker_json_argv("abc")


@pytest.mark.validator
@given(st.lists(texts.filter(lambda s: "\0" not in s), max_size=4))
def test_docker_json_argv_is_exec_form(argv):
    assert json.loads(docker_json_argv(argv)) == argv
    dockerfile = pytest.importorskip("dockerfile")
    parsed = dockerfile.parse_string(f"FROM scratch\nCMD {docker_json_argv(argv)}\nUSER 10001\n")
    assert [c.cmd for c in parsed] == ["FROM", "CMD", "USER"]
    assert parsed[1].json and list(parsed[1].value) == argv


# ---------------------------------------------------------------------------- HTML, Markdown


@given(texts)
def test_html_text_has_no_markup(value):
    import html

    escaped = html_text(value)
    assert not any(c in escaped for c in "<>\"'")
    assert html.unescape(escaped) == value


def _gfm(markdown: str) -> str:
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from cmarkgfm.cmark import Options

    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def _as_gfm_text(text: str) -> str:
    """How GitHub renders ``text`` when it is plain text, minus its allowed mailto autolinks."""
    import html

    return html.escape(text, quote=False).replace('"', "&quot;")


def _strip_mailto(rendered: str) -> str:
    import re

    return re.sub(r'<a href="mailto:[^"]*">([^<]*)</a>', r"\1", rendered)


# cmark replaces NUL with U+FFFD; the loader refuses control characters long before this.
md_texts = texts.filter(lambda s: "\0" not in s)


# Rendered after a fixed prefix, as in a real model card: cmark drops a BOM at document start.
@pytest.mark.validator
@given(md_texts)
def test_markdown_text_renders_as_plain_text_on_github(value):
    flat = " ".join(value.split())
    rendered = _strip_mailto(_gfm("x" + markdown_text(value)))
    assert rendered == f"<p>x{_as_gfm_text(flat)}</p>\n"


@pytest.mark.validator
@given(md_texts)
def test_markdown_block_renders_as_plain_paragraphs_on_github(value):
    rendered = _strip_mailto(_gfm("x\n\n" + markdown_block(value)))
    lines = "\n".join(" ".join(line.split()) for line in value.splitlines())
    paragraphs = [p.strip("\n") for p in lines.split("\n\n") if p.strip("\n")]
    assert rendered == "".join(f"<p>{_as_gfm_text(p)}</p>\n" for p in ["x", *paragraphs])


@pytest.mark.validator
@given(md_texts)
def test_markdown_code_renders_verbatim_on_github(value):
    import html

    rendered = _gfm("x\n\n" + markdown_code(value))
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    code = text if not text or text.endswith("\n") else text + "\n"
    assert rendered == f"<p>x</p>\n<pre><code>{html.escape(code, quote=False)}</code></pre>\n" \
        .replace('"', "&quot;")


def test_display_encoders_accept_numbers_but_not_bools():
    assert (markdown_text(42), markdown_text(-0.5), html_text(3)) == ("42", "\\-0\\.5", "3")
    assert markdown_text("it's a, b; c/d @x") == "it's a, b; c/d @x"
    with pytest.raises(TypeError):
        markdown_text(True)
    with pytest.raises(TypeError):
        markdown_code(1)


def test_markdown_code_fence_outgrows_backticks():
    assert markdown_code("a ```` b") == "`````\na ```` b\n`````"
    assert markdown_code("") == "```\n```"


@pytest.mark.validator
@pytest.mark.parametrize("attack", [
    "# Heading", "<script>alert(1)</script>", "[x](https://evil.example)", "![i](x.png)",
    "https://evil.example", "www.evil.example", "a | b", "**bold**", "`code`", "1. item",
    "- item", "> quote", "&lt;b&gt;", "~~s~~", "x\n===", "    code", "mailto:a@b.example",
    "xmpp:a@b.example/x", "ftp://x.example", "<https://x.example>", "see http://a.example/x",
    "$x^2$", "1) item", "[a]: https://x.example", "<!-- c -->",
])
def test_markdown_escapes_injection_attempts(attack):
    import re

    rendered = _gfm(markdown_block(attack))
    # Known limit: GitHub autolinks e-mail addresses (and mailto:/xmpp: ones) whatever the
    # escaping; such a link always points at its own visible text.
    for href, text in re.findall(r'<a href="([^"]*)">([^<]*)</a>', rendered):
        assert href.startswith(("mailto:", "xmpp:")) and href in (text, "mailto:" + text)
    rendered = re.sub(r'<a href="(mailto|xmpp):[^"]*">', "", rendered)
    assert "<a " not in rendered and "<h" not in rendered and "<script" not in rendered
    assert "<code" not in rendered and "<strong" not in rendered and "<img" not in rendered
    assert "<li" not in rendered and "<blockquote" not in rendered and "<del" not in rendered
    assert "<!--" not in rendered and "math" not in rendered


# ---------------------------------------------------------------------------- template syntax


@pytest.mark.parametrize(("text", "token"), [
    ("${{ secrets.X }}", "${{"), ("a {{ var.value.x }}", "{{"), ("{% if %}", "{%"),
    ("{# c #}", "{#"), ("x }} y", "}}"), ("${HOME} {x} $$ {", None), ("", None),
])
def test_find_template_syntax(text, token):
    assert find_template_syntax(text) == token


def test_dockerignore_lines_stay_one_printable_line() -> None:
    from mlspec.output.encoders import dockerignore_line, dockerignore_literal

    assert dockerignore_literal("data/a*b?[1]!#\\x.csv") == r"data/a\*b\?\[1\]\!\#\\x.csv"
    assert dockerignore_literal("a\u2028b\x85c") == "a?b?c"
    assert dockerignore_line("!models/model.joblib") == "!models/model.joblib"
    for bad in ("a\nb", "a\rb", "a\u2028b", "x\0"):
        with pytest.raises(ValueError):
            dockerignore_line(bad)
