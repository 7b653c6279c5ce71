"""The direct YAML writer is byte-identical to PyYAML's emitter with mlspec's dumper."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec.output.encoders import _fast_dump, _NotFast, _pyyaml_dump, yaml_dump
from mlspec.language.loader import load_text

ROOT = Path(__file__).resolve().parent.parent

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["line1\nline2", "  lead\nx", "x\n", "a\n\nb\n", "multi\n  indented\n", "on", "3.10", "- x", "#c", ""])
keys = st.sampled_from(["a", "on", "Y", "x-y", "key_1", "run"]) | text
scalars = st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False, allow_infinity=False) | text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=5) | st.lists(values, min_size=1, max_size=4))
def test_fast_writer_matches_pyyaml(data) -> None:
    expected = _pyyaml_dump(data)
    try:
        assert _fast_dump(data) == expected
    except _NotFast:
        pass
    assert yaml.safe_load(yaml_dump(data)) == yaml.safe_load(expected)


def test_every_generated_yaml_file_is_written_identically() -> None:
    files = sorted(ROOT.glob("examples/*/**/*.yml"))
    assert files
    for path in files:
        data = load_text(path.read_text(encoding="utf-8"))[0].data
        assert _fast_dump(data) == _pyyaml_dump(data), path
