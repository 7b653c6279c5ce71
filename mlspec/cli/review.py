"""``mlspec diff``: load both sides, compile both in memory, compare, report.

Both sides compile with the spec's own folder as the output folder, exactly like a plain
``mlspec compile``, so the changed-line counts are those a reviewer sees in the PR.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec.diagnostics import Diagnostic, Severity

EXIT_OK, EXIT_INPUT = 0, 1


def _check(path: Path, display: str) -> Any:
    from mlspec.api import check_project

    return check_project(path, display_name=display, out_dir=path.parent)


def _artifacts(checked: Any) -> list[Any]:
    from mlspec.api import emit_artifacts

    return emit_artifacts(checked.plan, checked.target_options)


_PATHLIKE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")


def _copy_as(source: Path, dest: Path, name: str) -> Path:
    """Copy ``source`` to ``dest/name`` with the small files beside it that its text names
    (prompts, rubrics, params files), so that it compiles there as it does in place."""
    from mlspec.cli.gitbase import MAX_FILE_BYTES

    data = source.read_bytes()
    folder = source.resolve().parent
    for token in sorted(set(_PATHLIKE.findall(data.decode("utf-8", "replace")))):
        candidate = (folder / token).resolve()
        if ".." in token.split("/") or folder not in candidate.parents or not candidate.is_file():
            continue
        if candidate.stat().st_size <= MAX_FILE_BYTES:
            target = dest / candidate.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(candidate.read_bytes())
    (dest / name).write_bytes(data)
    return dest / name


def _file_hashes(plan: Any, base_dir: Path) -> dict[str, str | None]:
    """sha256 of each prompt file (and rubric) the plan names, as it is on that side."""
    if plan is None or plan.llm is None:
        return {}
    names = [pr.file for pr in plan.llm.prompts] + [e.rubric for e in plan.llm.evals if e.rubric]
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = hashlib.sha256((base_dir / name).read_bytes()).hexdigest()
        except OSError:
            out[name] = None
    return out


def _print_diagnostics(diags: list[Diagnostic], fmt: str, sources: dict[str, str]) -> None:
    from mlspec import reporters

    if fmt == "json":
        click.echo(reporters.render_json(diags), nl=False)
    else:
        text = reporters.render_text(diags, sources)
        if text:
            click.echo(text, nl=False, err=True)


def run_diff(spec: str, *, base_rev: str | None, base_file: str | None, fmt: str) -> int:
    from mlspec.cli import diffreport, gitbase
    from mlspec.compiler.diff import diff_plans

    spec_path = Path(spec)
    new = _check(spec_path, spec)
    if not new.ok:
        _print_diagnostics(new.diagnostics, fmt, {new.file: new.doc.text} if new.doc else {})
        return EXIT_INPUT
    notes: list[Diagnostic] = []
    with tempfile.TemporaryDirectory(prefix="mlspec-diff-") as tmp:
        if base_file is not None:
            old_path = Path(base_file)
            header = diffreport.Header(spec, f"file {base_file}", None)
            display = base_file
            if not old_path.is_file():
                old = _check(old_path, display)  # MS001 with the loader's wording
                _print_diagnostics(old.diagnostics, fmt, {})
                return EXIT_INPUT
            if old_path.name != spec_path.name:
                # Commands name the spec file: compile the base under the current name so
                # that a renamed copy does not show every command as changed.
                old_path = _copy_as(old_path, Path(tmp), spec_path.name)
        else:
            try:
                base = gitbase.resolve(spec_path, base_rev)
                materialized = gitbase.materialize(base, Path(tmp))
            except gitbase.BaseUnavailable as exc:
                _print_diagnostics([exc.diagnostic.with_file(spec)], fmt, {})
                return EXIT_INPUT
            header = diffreport.Header(spec, base.label, base.commit)
            display = f"{base.label}:{base.spec_rel}"
            old_path = materialized if materialized is not None else Path(tmp) / "absent"
            if materialized is None:
                notes.append(Diagnostic(dx.SPEC_ABSENT_AT_BASE, f"{base.spec_rel} does not exist at "
                                        f"{base.label} ({base.commit[:12]}): everything is new",
                                        severity=Severity.WARNING, file=spec))
        old = None
        if not notes:
            old = _check(old_path, display)
            if not old.ok:
                notes.append(Diagnostic(dx.BASE_SPEC_INVALID, f"the spec at {header.base} has errors: "
                                        "everything is shown as added", severity=Severity.WARNING, file=spec,
                                        hint=f"its first problem: {old.diagnostics[0].code} "
                                             f"{old.diagnostics[0].message}" if old.diagnostics else None))
                old = None
        old_plan = old.plan if old is not None else None
        result = diff_plans(
            old_plan, new.plan,
            old_artifacts=_artifacts(old) if old is not None else (), new_artifacts=_artifacts(new),
            old_files=_file_hashes(old_plan, old_path.parent), new_files=_file_hashes(new.plan, spec_path.parent),
            old_targets=list(old.target_options) if old is not None else [], new_targets=list(new.target_options))
    warnings = [replace(d, file=spec) if d.file is None else d for d in notes]
    if fmt == "json":
        click.echo(diffreport.render_json(result, header, warnings), nl=False)
    elif fmt == "markdown":
        _print_diagnostics(warnings, "text", {})
        click.echo(diffreport.render_markdown(result, header, warnings), nl=False)
    else:
        _print_diagnostics(warnings, "text", {})
        click.echo(diffreport.render_text(result, header), nl=False)
    return EXIT_OK
