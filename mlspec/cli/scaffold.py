"""`mlspec init`: a commented starter spec that validates."""

from __future__ import annotations

import re
from pathlib import Path




def project_name_for(directory: Path) -> str:
    """A valid project name derived from a folder name ('My Project' -> 'my-project')."""
    name = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:40].rstrip("-")
    return name or "my-model"


def init_project(directory: Path, *, name: str | None = None, force: bool = False) -> Path:
    from mlspec.output.templating import render

    name = name or project_name_for(directory)
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", name):
        raise ValueError(f"invalid project name {name!r}: lowercase letters, digits and '-', "
                         "starting with a letter")
    target = directory / "mlproject.yaml"
    if target.exists() and not force:
        raise FileExistsError(f"{target} already exists")
    text = render("init/mlproject.yaml.j2", name=name, module=name.replace("-", "_"),
                  python="3.11")
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8", newline="\n")
    # The modeline points here, so editors autocomplete offline from the first keystroke.
    from mlspec.schema import schema_text
    (directory / "mlproject.schema.json").write_text(schema_text(), encoding="utf-8", newline="\n")
    return target
