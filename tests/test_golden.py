"""Golden snapshots of every generated file of every example (syrupy, real extensions)."""

from __future__ import annotations

import pytest

from tests.golden import cases, compiled, extension_for


@pytest.mark.parametrize(("example", "path"), cases(), ids=lambda v: v.replace("/", "_"))
def test_golden_artifact(example: str, path: str, snapshot) -> None:
    text, _target, _kind = compiled(example)[path]
    assert text == snapshot(extension_class=extension_for(path))
