"""Locate the data folders (``templates/``, ``schemas/``) in a checkout or an installed wheel.

In the repository they live at the top level, for reviewers and IDEs; the wheel carries
them inside the package (see ``force-include`` in ``pyproject.toml``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    """The folder ``name`` (``"templates"`` or ``"schemas"``) shipped with this mlspec."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mlspec installation is incomplete: no {name}/ folder")
