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


def test_readme_mermaid_is_the_churn_graph() -> None:
    from mlspec.compiler import graph
    from mlspec.api import check_project

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    checked = check_project(ROOT / "examples" / "churn" / "mlproject.yaml")
    assert block == graph.to_mermaid(checked.plan), "update the Mermaid block in README.md from `mlspec graph`"


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in readme.split("```bash\n")[1:3]]
    assert "mlspec run examples/churn/mlproject.yaml" in blocks[0]
    assert blocks[1].startswith("bash tools/setup.sh && python -m pytest")
    assert "bash tools/setup.sh" in (ROOT / ".ci" / "run").read_text() and "python -m pytest" in (ROOT / ".ci" / "run").read_text()
