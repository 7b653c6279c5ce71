"""Property test: random mutations of valid specs never crash the compiler front end."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec.api import check_project

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("examples/*/mlproject.yaml"))]
SEEDS += [(ROOT / "tests" / "cases" / "MS201-unknown-reference.yaml").read_text(encoding="utf-8")]
NASTY = ["", "\n", ":", "- ", "{", "}", "[", "]", "&a", "*a", "!!python/none", "${", "${params.", "$${",
         "'", '"', "\\", "\t", "\x00", "\u202e", "#", "---", "...", "? ", "<<: *a", "no", "3.10", "1e3",
         "~", "null", "true", "0x1F", "1:30", "${{ x }}", "{{ x }}", "-1", "9" * 30, "é", "😀", "\r"]


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=8)))
        if kind == "insert":
            text = text[:pos] + piece + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)):]
        else:
            text = text[:pos] + piece + text[pos + len(piece):]
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_never_crash(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "mlproject.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    checked = check_project(path)  # must not raise
    for d in checked.diagnostics:
        assert d.code.startswith("MS") and d.code != "MS901"
        assert d.span is None or (d.span.line >= 1 and d.span.column >= 1)
    assert checked.ok == (checked.plan is not None)
