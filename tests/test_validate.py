"""Document → Spec: strict typing, hints and positions."""

from __future__ import annotations

import pytest

from mlspec import diagnostics as dx
from mlspec.language.loader import load_text
from mlspec.language.validate import validate_spec

BASE = """mlspec: 1
project:
  name: demo
training:
  run: python train.py
  outputs:
    model: models/model.pkl
"""


def check(text: str) -> list[dx.Diagnostic]:
    doc, diags = load_text(text)
    assert doc is not None, diags
    spec, diags = validate_spec(doc)
    return diags


def test_minimal_spec_is_valid() -> None:
    assert check(BASE) == []


@pytest.mark.parametrize(("snippet", "code", "hint_part"), [
    ("environment:\n  python: 3.10\n", dx.WRONG_TYPE, '"3.10"'),
    ("targets:\n  manifest: {enabled: yes}\n", dx.TARGET_OPTION_INVALID, None),
    ("governance:\n  model_card: no\n", dx.WRONG_TYPE, "true and false"),
    ("steps:\n  a: {run: x, retries: many}\n", dx.WRONG_TYPE, "plain number"),
    ("steps:\n  a: {run: x, retries: 1.5}\n", dx.WRONG_TYPE, None),
    ("params:\n  p: .nan\n", None, None),  # '.nan' stays a string: a valid string param
    ("validation:\n  run: x\n  metrics: m.json\n  gates: [{metric: auc, min: .nan}]\n", dx.WRONG_TYPE, None),
])
def test_no_silent_coercion(snippet: str, code: str | None, hint_part: str | None, tmp_path) -> None:
    from mlspec.api import check_project

    text = BASE + snippet
    if code == dx.TARGET_OPTION_INVALID:
        (tmp_path / "mlproject.yaml").write_text(text)
        diags = check_project(tmp_path / "mlproject.yaml").diagnostics
    else:
        diags = check(text)
    if code is None:
        assert diags == []
        return
    assert [d.code for d in diags] == [code]
    if hint_part:
        assert hint_part in (diags[0].hint or "")


def test_unknown_key_points_at_the_key_and_suggests() -> None:
    diags = check(BASE + "projcet: {}\n")
    (d,) = diags
    assert (d.code, d.span.line, d.span.column) == (dx.UNKNOWN_KEY, 8, 1)
    assert d.hint == "did you mean 'project'?"
    assert d.path == ("projcet",)


def test_confusable_unicode_key_is_named() -> None:
    diags = check(BASE.replace("training:", "tr\u0430ining:"))
    unknown = [d for d in diags if d.code == dx.UNKNOWN_KEY]
    assert unknown and "U+0430 CYRILLIC SMALL LETTER A" in unknown[0].hint
    assert "did you mean 'training'" in unknown[0].hint


def test_missing_key_points_at_the_parent() -> None:
    diags = check("mlspec: 1\nproject:\n  name: demo\ntraining:\n  run: python t.py\n")
    (d,) = diags
    assert (d.code, d.span.line, d.path) == (dx.MISSING_KEY, 4, ("training", "outputs"))


def test_extensions_are_ignored_at_any_level() -> None:
    text = BASE.replace("project:\n", "x-top: {anything: [1, 2]}\nproject:\n  x-note: hello\n")
    assert check(text) == []


def test_column_names_keep_x_prefix_as_data() -> None:
    text = BASE + "data:\n  d:\n    uri: d.csv\n    schema:\n      x-ray: {type: float}\n      'monthly charges': {type: float}\n"
    doc, _ = load_text(text)
    spec, diags = validate_spec(doc)
    assert diags == []
    assert list(spec.data["d"].schema_) == ["x-ray", "monthly charges"]


def test_all_problems_are_reported_sorted() -> None:
    text = BASE + "steps:\n  a: {run: x, timeout: soon}\nretraining: {schedule: weekly}\n"
    diags = check(text)
    assert [d.code for d in diags] == [dx.INVALID_DURATION, dx.INVALID_SCHEDULE]
    assert [d.span.line for d in diags] == sorted(d.span.line for d in diags)


def test_messages_escape_terminal_control_text() -> None:
    # A value with an escape sequence is refused by the loader; through a quoted \e escape
    # it reaches the validator and must be shown escaped.
    diags = check(BASE + 'data:\n  "bad\\e[31mname": {uri: a.csv}\n')
    assert diags and all("\x1b" not in d.message for d in diags)


@pytest.mark.parametrize("escape", ["\\u2028", "\\x85", "\\e", "\\u202e", "\\0", "\\t"])
def test_hidden_characters_written_as_escapes_are_refused(escape: str) -> None:
    from mlspec.language.rules import check_rules

    doc, _ = load_text(BASE.replace("name: demo", f'name: demo\n  description: "a{escape}b"'))
    spec, diags = validate_spec(doc)
    assert spec is not None, diags
    found = [d for d in check_rules(spec, doc) if d.code == dx.FORBIDDEN_CHARACTER]
    assert [d.path for d in found] == [("project", "description")]


@pytest.mark.parametrize(("a", "b", "overlap"), [
    ("data", "data/features.csv", True), ("data/", "data/x/y.csv", True), ("./out", "out/b.csv", True),
    ("data/a", "data/ab.csv", False), ("data/a.csv", "data/b.csv", False)])
def test_an_output_folder_holding_another_nodes_output_is_an_error(a: str, b: str, overlap: bool) -> None:
    from mlspec.language.rules import check_rules

    text = (f"mlspec: 1\nproject: {{name: demo}}\nsteps:\n  a: {{run: python a.py, outputs: ['{a}']}}\n"
            f"  b: {{run: python b.py, needs: [steps.a], outputs: ['{b}']}}\n"
            "training: {run: python t.py, needs: [steps.b], outputs: {model: m/model.pkl, metrics: m/train.json}}\n")
    doc, _ = load_text(text)
    spec, diags = validate_spec(doc)
    assert spec is not None, diags
    found = [d for d in check_rules(spec, doc) if d.code == dx.OVERLAPPING_OUTPUTS]
    assert [d.dotted_path for d in found] == (["steps.b.outputs[0]"] if overlap else [])
