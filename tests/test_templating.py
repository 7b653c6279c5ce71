"""The shared Jinja environment: templates only format, through encoders."""

from __future__ import annotations

import ast
from pathlib import Path

import jinja2
import pytest

from mlspec.output import templating
from mlspec.output.templating import Encoded, UnencodedValueError, make_environment, render


@pytest.fixture()
def tdir(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    return folder


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def _from_string(source: str, **context) -> str:
    return str(make_environment().from_string(source).render(**context))


@pytest.mark.parametrize("value", ["churn", 3, 0.5, True, None, ["a"]])
def test_a_bare_expression_is_refused_whatever_its_type(value):
    with pytest.raises(UnencodedValueError, match="filters"):
        _from_string("x = {{ name }}\n", name=value)


@pytest.mark.parametrize("source", [
    "{{ 'literal' }}", "{{ name|py ~ '' }}", "{{ name|py|upper }}", "{{ name|py|join(',') }}",
    "{{ name|string }}",
])
def test_anything_not_ending_in_an_encoder_is_refused(source):
    with pytest.raises(UnencodedValueError):
        _from_string(source, name="x")


def test_filter_blocks_and_default_are_not_available():
    with pytest.raises(jinja2.TemplateAssertionError, match="filter"):
        make_environment().from_string('{% filter replace("X", name) %}X{% endfilter %}')
    with pytest.raises(jinja2.TemplateAssertionError, match="default"):
        make_environment().from_string("{{ name|default('x')|py }}")


def test_filters_encode_for_their_language():
    payload = 'x"); import os; ("'
    out = _from_string(
        "dag_id = {{ name|py }}\nn = {{ n|py }}\n"
        "# sh {{ name|sh }}\n# yaml {{ name|yaml }}\n# json {{ name|json }}\n"
        "# promql {{ name|promql }}\n# argv {{ argv|docker_argv }}\n"
        "# label {{ name|docker_quoted }}\n# md {{ name|md }}\n# md_block {{ name|md_block }}\n",
        name=payload, n=3, argv=["python", "-m", "x"],
    )
    tree = ast.parse(out)
    assert [ast.literal_eval(stmt.value) for stmt in tree.body] == [payload, 3]
    assert "# sh 'x\"); import os; (\"'" in out
    assert '# yaml "x\\"); import os; (\\""' in out
    assert '# json "x\\"); import os; (\\""' in out
    assert '# argv ["python", "-m", "x"]' in out
    assert '# label "x\\"); import os; (\\""' in out
    assert '# md x"\\); import os; \\("\n' in out


def test_filters_return_encoded_and_macros_set_blocks_and_super_pass(tdir):
    assert all(isinstance(f("x"), Encoded) for name, f in templating.FILTERS.items()
               if name != "docker_argv")
    _write(tdir, "base.j2", "{% block body %}base {{ name|py }}{% endblock %}\n")
    _write(tdir, "child.j2", (
        '{% extends "base.j2" %}\n'
        "{% macro item(v) %}- {{ v|py }}{% endmacro %}\n"
        "{% block body %}{{ super() }}\n{% for v in items %}{{ item(v) }}\n{% endfor %}"
        "{% set tail %}{{ items|length|py }}{% endset %}{{ tail }}{% endblock %}\n"
    ))
    # trim_blocks eats the newline after {% endblock %}
    assert render("child.j2", extra_dirs=[tdir], name="n", items=["a", "b"]) == (
        "base 'n'\n- 'a'\n- 'b'\n2"
    )


def test_strict_undefined_raises_on_a_missing_variable(tdir):
    _write(tdir, "t.j2", "{{ nmae|py }}\n")
    with pytest.raises(jinja2.UndefinedError, match="nmae"):
        render("t.j2", extra_dirs=[tdir], name="x")
    with pytest.raises(jinja2.UndefinedError):
        _from_string("{{ missing }}")


def test_errors_name_the_template_line(tdir):
    _write(tdir, "outer.j2", 'ok = {{ name|py }}\n{% include "sub/inner.j2" %}')
    _write(tdir, "sub/inner.j2", "{% block b %}\n\nbad = {{ name }}\n{% endblock %}")
    with pytest.raises(UnencodedValueError, match=r"^sub/inner\.j2:3: .*str 'x'"):
        render("outer.j2", extra_dirs=[tdir], name="x")


def test_error_location_skips_python_frames_under_a_template_dir(tdir):
    # As with --template-dir at the repository root: mlspec's own .py files (where
    # finalize raises) are then under a search folder too.
    package_parent = Path(templating.__file__).resolve().parent.parent
    _write(tdir, "t.j2", "\nx = {{ name }}\n")
    with pytest.raises(UnencodedValueError, match=r"^t\.j2:2: "):
        render("t.j2", extra_dirs=[package_parent, tdir], name="x")


def test_user_dirs_override_builtin_templates_first_wins(tmp_path, monkeypatch):
    builtin, first, second = (tmp_path / n for n in ("builtin", "first", "second"))
    for folder, label in ((builtin, "builtin"), (first, "first"), (second, "second")):
        _write(folder, "dag.py.j2", f"# {label}\nx = {{{{ v|py }}}}\n")
    _write(builtin, "only_builtin.j2", "builtin only\n")
    monkeypatch.setattr(templating, "resource_dir", lambda name: builtin)
    templating._environment.cache_clear()
    try:
        assert render("dag.py.j2", v=1) == "# builtin\nx = 1\n"
        assert render("dag.py.j2", extra_dirs=[second], v=1) == "# second\nx = 1\n"
        assert render("dag.py.j2", extra_dirs=[first, second], v=1) == "# first\nx = 1\n"
        assert render("only_builtin.j2", extra_dirs=[first]) == "builtin only\n"
    finally:
        templating._environment.cache_clear()


def test_environments_are_cached_per_search_path(tdir, tmp_path):
    assert make_environment([tdir]) is make_environment([tdir])
    assert make_environment([tdir]) is not make_environment([tmp_path])
    assert make_environment() is make_environment(())


def test_whitespace_settings(tdir):
    _write(tdir, "t.j2", "a:\n  {% for v in items %}\n  - {{ v|yaml }}\n  {% endfor %}\n")
    assert render("t.j2", extra_dirs=[tdir], items=["x", "no"]) == 'a:\n  - "x"\n  - "no"\n'


def _fresh_render(folder: Path, cache_dir: Path, **context) -> str:
    """Render like a new process: no in-memory environment, only Jinja's bytecode cache."""
    templating._environment.cache_clear()
    env = make_environment([folder])
    env.bytecode_cache = templating._BytecodeCache(str(cache_dir), pattern="mlspec-%s.cache")
    return str(env.get_template("t.j2").render(**context))


def test_compiled_templates_are_cached_and_an_edited_template_is_recompiled(tdir, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    _write(tdir, "t.j2", "a = {{ v|py }}\n")
    assert _fresh_render(tdir, cache, v="x") == "a = 'x'\n"
    assert len(list(cache.glob("mlspec-*.cache"))) == 1          # written on first use
    assert _fresh_render(tdir, cache, v="y") == "a = 'y'\n"       # read back
    _write(tdir, "t.j2", "b = {{ v|py }}\n")                       # same name, new source
    assert _fresh_render(tdir, cache, v="x") == "b = 'x'\n"
    templating._environment.cache_clear()


def test_a_cache_that_cannot_be_used_is_no_cache(tdir, tmp_path):
    in_the_way = tmp_path / "not-a-folder"
    in_the_way.write_text("")                 # every read and write of the cache fails
    _write(tdir, "t.j2", "a = {{ v|py }}\n")
    assert _fresh_render(tdir, in_the_way, v="x") == "a = 'x'\n"
    templating._environment.cache_clear()


def test_cache_entries_are_keyed_on_the_code_generator_too(monkeypatch):
    """Jinja keys an entry on the template's name and source only; compiled code also depends on
    the environment (finalize, whitespace settings, the refused `{% filter %}`), so entries of
    another mlspec or another templating module are never read."""
    ours = templating._bytecode_cache()
    assert ours is not None and templating._generator_key() in ours.pattern
    monkeypatch.setattr(templating, "__file__", str(Path(jinja2.__file__)))
    assert templating._bytecode_cache().pattern != ours.pattern


def test_the_template_cache_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("MLSPEC_TEMPLATE_CACHE", "0")
    assert templating._bytecode_cache() is None
    monkeypatch.delenv("MLSPEC_TEMPLATE_CACHE")
    assert isinstance(templating._bytecode_cache(), templating._BytecodeCache)
