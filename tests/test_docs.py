"""Generated docs stay in sync with the code that they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec.docsgen import DOCS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("rel", sorted(DOCS))
def test_generated_doc_is_current(rel: str) -> None:
    assert (ROOT / rel).read_text(encoding="utf-8") == DOCS[rel](), (
        f"{rel} is stale: run `python -m mlspec.docsgen`")


def test_every_code_is_documented() -> None:
    from mlspec.diagnostics import CODES

    text = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    assert all(f"### {code}:" in text for code in CODES)


def test_every_target_has_a_page() -> None:
    from mlspec.targets import available_targets

    pages = {p.stem for p in (ROOT / "docs" / "targets").glob("*.md")}
    missing = [n for n in available_targets() if n.replace("_", "-") not in pages]
    assert not missing, f"add docs/targets/<name>.md for {missing}"
