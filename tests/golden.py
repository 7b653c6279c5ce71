"""Golden-test support: every example × every registered target, as real files.

Artifacts are compiled in memory (the same ``emit_artifacts`` the CLI uses) and snapshotted
with syrupy as single files carrying their real extension, so the goldens can themselves
be read by the real validators.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlproject.yaml"))


@cache
def compiled(example: str) -> dict[str, tuple[str, str, str]]:
    """``path -> (rendered text, target, kind)`` for an example, compiled to its own folder."""
    from mlspec.api import check_project, emit_artifacts

    spec = ROOT / "examples" / example / "mlproject.yaml"
    checked = check_project(spec, display_name=f"examples/{example}/mlproject.yaml", out_dir=spec.parent)
    assert checked.ok, [d.to_json() for d in checked.diagnostics if d.is_error]
    artifacts = emit_artifacts(checked.plan, checked.options_for(list(checked.target_options)))
    return {a.path: (a.render(checked.plan.source), a.target, a.kind) for a in artifacts}


def cases() -> list[tuple[str, str]]:
    return [(ex, path) for ex in EXAMPLES for path in compiled(ex)]


@cache
def extension_for(path: str) -> type[SingleFileSnapshotExtension]:
    name = Path(path).name
    suffix = Path(path).suffix.lstrip(".") or name.lstrip(".") or "txt"  # <project>.train.Dockerfile: "Dockerfile"

    class Extension(SingleFileSnapshotExtension):
        _write_mode = WriteMode.TEXT
        file_extension = suffix

    Extension.__name__ = f"Golden_{suffix}"
    return Extension
