"""One way for tests to compile a spec and emit a target's artifacts.

Targets get their own options from the ``Checked`` result, never from the Plan; tests that
pass plans around keep the options beside the plan here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlspec.api import Checked, emit_artifacts

_OPTIONS: dict[int, tuple[Any, dict[str, Any]]] = {}


def remember(checked: Checked) -> Any:
    """The checked plan, with every target's options kept for :func:`emit`."""
    _OPTIONS[id(checked.plan)] = (checked.plan, checked.all_options)
    return checked.plan


def options_of(plan: Any, names: Sequence[str]) -> dict[str, Any]:
    kept = _OPTIONS.get(id(plan))
    options = kept[1] if kept is not None and kept[0] is plan else {}
    return {n: options.get(n) for n in names}


def emit(plan: Any, names: Sequence[str], template_dirs: Sequence[Any] = ()) -> list[Any]:
    """The artifacts of ``names`` for a plan from :func:`remember` (default options otherwise)."""
    return emit_artifacts(plan, options_of(plan, names), template_dirs)


class ExampleText(str):
    """An example's spec text that remembers its folder, for the files it names beside it
    (``params_file``): a test that writes the text elsewhere copies them with :func:`beside`."""

    folder: Any


def example_text(name: str) -> str:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "examples" / name
    text = ExampleText((folder / "mlproject.yaml").read_text(encoding="utf-8"))
    text.folder = folder
    return text


def beside(text: str, folder: Any) -> None:
    """Copy the files an example's spec reads beside itself (its ``params_file``) into ``folder``."""
    import re

    found = re.search(r"^params_file:\s*(\S+)", text, re.M) if isinstance(text, ExampleText) else None
    if found and (text.folder / found[1]).is_file():
        (folder / found[1]).parent.mkdir(parents=True, exist_ok=True)
        (folder / found[1]).write_bytes((text.folder / found[1]).read_bytes())
