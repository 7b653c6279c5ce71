"""The public API: thin compositions of the compiler's pure stages.

    bytes ──load_document──▶ Document ──validate_spec──▶ Spec ──resolve_plan──▶ Plan
          ──Target.emit──▶ [Artifact] ──write_artifacts──▶ disk

Each stage returns ``(result, diagnostics)``; compilation stops only at phase boundaries,
so one run reports every problem it can find.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlspec import diagnostics as dx
from mlspec.diagnostics import Diagnostic


@dataclass
class Checked:
    """The outcome of loading and checking one spec."""

    file: str
    diagnostics: list[Diagnostic]
    doc: Any = None
    spec: Any = None
    plan: Any = None
    target_options: dict[str, Any] = field(default_factory=dict)   # the chosen targets' options
    all_options: dict[str, Any] = field(default_factory=dict)      # every installed target's options

    def options_for(self, names: Sequence[str]) -> dict[str, Any]:
        """``{name: options}`` for ``names``, as :func:`emit_artifacts` takes them."""
        return {n: self.all_options.get(n) for n in names}

    @property
    def ok(self) -> bool:
        return not dx.has_errors(self.diagnostics)


def check_project(
    spec_path: str | os.PathLike[str] | bytes, *, display_name: str | None = None,
    targets: Sequence[str] = (), strict: bool = False, out_dir: str | os.PathLike[str] | None = None,
    template_dirs: Sequence[Path] = (), check_targets: bool = True,
) -> Checked:
    """Load, validate, resolve and target-check a spec; write nothing.

    ``check_targets=False`` skips what only matters when artifacts are emitted (MS4xx: what a
    target cannot express): runtime commands and `mlspec run` need the Plan, not the targets."""
    from mlspec.language.loader import load_document
    from mlspec.compiler.resolve import resolve_plan
    from mlspec.language.rules import check_rules
    from mlspec.language.params import load_params
    from mlspec.language.target_options import ImageOptions
    from mlspec.targets import available_targets, capability_diagnostics, chosen_targets, validate_target_options
    from mlspec.language.validate import validate_spec

    name = display_name or (os.fspath(spec_path) if not isinstance(spec_path, bytes) else "mlproject.yaml")
    doc, diags = load_document(spec_path, display_name=name)
    result = Checked(name, list(diags), doc=doc)
    if doc is None:
        return _finish(result, strict)
    spec, diags = validate_spec(doc)
    result.diagnostics += diags
    result.spec = spec
    if spec is None:
        return _finish(result, strict)

    options, diags = validate_target_options(spec.targets, doc, selected=targets)
    result.diagnostics += diags
    result.target_options = {n: options[n] for n in chosen_targets(options, targets)}
    result.all_options = options
    result.diagnostics += check_rules(spec, doc)
    spec_dir = _spec_dir(doc, out_dir)
    result.diagnostics += _spec_name_problems(doc, spec_dir)
    params, diags = load_params(spec, doc)
    result.diagnostics += diags
    if dx.has_errors(diags):
        return _finish(result, strict)
    images = options.get("docker")  # the language's image settings live under targets.docker
    plan, diags = resolve_plan(spec, doc, image_options=images if isinstance(images, ImageOptions) else None,
                               spec_dir=spec_dir, params=params)
    result.diagnostics += diags
    if plan is not None and not dx.has_errors(result.diagnostics):
        result.plan = plan
        if not check_targets:
            return _finish(result, strict)
        registry = available_targets()
        for target_name in result.target_options:
            target = registry[target_name](result.target_options[target_name], template_dirs)
            found = capability_diagnostics(target, plan) + target.check(plan)
            result.diagnostics += [_positioned(d, doc) for d in found]
    return _finish(result, strict)


def _positioned(d: Diagnostic, doc: Any) -> Diagnostic:
    """Targets know spec paths, not positions: look the position up in the Document."""
    from dataclasses import replace

    return d if d.span is not None or not d.path else replace(d, span=doc.span(d.path))


def _finish(result: Checked, strict: bool) -> Checked:
    diags = [d.with_file(result.file) for d in result.diagnostics]
    if strict:
        diags = [d.promoted() for d in diags]
    result.diagnostics = dx.sort_diagnostics(diags)
    if not result.ok:
        result.plan = None
    return result


def _spec_name_problems(doc: Any, spec_dir: str) -> list[Diagnostic]:
    """The spec's name and folder go into every artifact as UTF-8 text: a name that is not
    UTF-8 (bytes decoded with surrogate escapes) or holds control characters cannot."""
    if doc.path is None:
        return []
    for what, text in (("file name", doc.path.name), ("folder", spec_dir)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return [Diagnostic(dx.SPEC_NAME_UNUSABLE, f"the spec's {what} is not valid UTF-8",
                               hint="rename it using UTF-8 (e.g. only letters, digits, '-', '_' and '.')")]
        if any(not c.isprintable() for c in text):
            return [Diagnostic(dx.SPEC_NAME_UNUSABLE, f"the spec's {what} holds a control or invisible character",
                               hint="rename it using printable characters")]
    return []


def _spec_dir(doc: Any, out_dir: str | os.PathLike[str] | None) -> str:
    if doc.path is None or out_dir is None:
        return "."
    rel = os.path.relpath(doc.path.resolve().parent, Path(out_dir).resolve())
    return Path(rel).as_posix()


def git_root(folder: Path) -> Path | None:
    """The nearest folder at or above ``folder`` holding ``.git`` (a folder, or a file in a
    worktree or submodule): found by walking up, no git binary needed."""
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


def _workflows_not_read(spec_path: Path, out: Path, file: str) -> list[Diagnostic]:
    """MS512: the workflows land in ``OUT/.github/workflows`` and OUT is inside a git
    repository but not its root, where GitHub reads them."""
    root = git_root(out)
    if root is None or root == out.resolve():
        return []
    spec = os.path.relpath(spec_path.resolve(), root)
    out_rel = os.path.relpath(out.resolve(), root)
    return [Diagnostic(
        dx.WORKFLOWS_NOT_READ,
        f"the workflows are written to {Path(out_rel, '.github', 'workflows').as_posix()}/, but GitHub reads "
        f"them only from .github/workflows/ at the repository root",
        severity=dx.Severity.WARNING, file=file,
        hint=f"compile from the repository root: `mlspec compile {Path(spec).as_posix()} --out .` "
             "(or `mlspec compile --all`); the workflows then run only for changes to this project")]


@dataclass
class Compiled:
    """The outcome of compiling one spec: its check, the artifacts and what changed on disk."""

    checked: Checked
    out_dir: Path
    artifacts: list[Any] = field(default_factory=list)
    changes: list[Any] = field(default_factory=list)
    #: What happened on disk: written, nothing, partial, unchanged or checked (see the writer).
    outcome: str = "nothing"

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.checked.diagnostics

    @property
    def ok(self) -> bool:
        return self.checked.ok


def emit_artifacts(plan: Any, targets: Mapping[str, Any] | Sequence[str],
                   template_dirs: Sequence[Path] = ()) -> list[Any]:
    """Every artifact of the selected targets, sorted by path. ``targets`` maps each target's
    name to its validated options (``Checked.options_for``); bare names take the defaults."""
    from mlspec.targets import available_targets

    registry = available_targets()
    chosen = dict(targets) if isinstance(targets, Mapping) else dict.fromkeys(targets)
    artifacts = []
    for name, options in chosen.items():
        artifacts.extend(registry[name](options, template_dirs).emit(plan))
    paths = [a.path for a in artifacts]
    duplicates = {p for p in paths if paths.count(p) > 1}
    if duplicates:
        raise RuntimeError(f"two targets emit the same file: {sorted(duplicates)}")
    return sorted(artifacts, key=lambda a: a.path)


def compile_project(
    spec_path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None, *,
    targets: Sequence[str] = (), check: bool = False, force: bool = False, strict: bool = False,
    template_dirs: Sequence[Path] = (), display_name: str | None = None, checked: Checked | None = None,
) -> Compiled:
    """Validate, then write (or with ``check`` compare) every artifact of the spec.
    ``checked`` is the spec already checked with the same arguments (several specs are
    checked first, to find two with the same project name before anything is written)."""
    from mlspec.output.writer import write_artifacts

    spec_path = Path(spec_path)
    out = Path(out_dir) if out_dir is not None else spec_path.parent
    if checked is None:
        checked = check_project(spec_path, display_name=display_name, targets=targets, strict=strict,
                                out_dir=out, template_dirs=template_dirs)
    result = Compiled(checked, out)
    if not checked.ok:
        return result
    if "github_actions" in checked.target_options:
        checked.diagnostics = dx.sort_diagnostics(
            [*checked.diagnostics, *_workflows_not_read(spec_path, out, checked.file)])
    plan = checked.plan
    try:
        result.artifacts = emit_artifacts(plan, checked.target_options, template_dirs)
    except Exception as exc:
        import jinja2

        if not (template_dirs and isinstance(exc, jinja2.TemplateError)):
            raise  # a built-in template failing is a bug: exit 3
        message = "".join(c if c.isprintable() else "?" for c in str(exc).splitlines()[0])[:300]
        where = f"{exc.filename}:{exc.lineno}: " if getattr(exc, "filename", None) else ""
        checked.diagnostics = dx.sort_diagnostics([*checked.diagnostics, Diagnostic(
            dx.TEMPLATE_ERROR, f"{where}{message}", file=checked.file,
            hint="fix the template in --template-dir, or remove it to use the built-in one")])
        return result
    from mlspec.output.writer import index_name

    written = write_artifacts(result.artifacts, out, source=plan.source, force=force, check=check,
                              scope=list(checked.target_options) if targets else None,
                              protected=[spec_path], index=index_name(plan.project.name))
    result.changes = list(written.changes)
    result.outcome = written.outcome
    checked.diagnostics = dx.sort_diagnostics(
        checked.diagnostics + list(written.diagnostics))
    return result


def duplicate_projects(checked: Sequence[Checked]) -> list[Diagnostic]:
    """MS513 at ``project.name`` of every spec whose project name another spec of the same
    compile has: they would write the same files."""
    by_name: dict[str, list[Checked]] = {}
    for c in checked:
        if c.spec is not None:
            by_name.setdefault(c.spec.project.name, []).append(c)
    out = []
    for name, group in sorted(by_name.items()):
        if len(group) < 2:
            continue
        for c in group:
            others = ", ".join(o.file for o in group if o is not c)
            out.append(Diagnostic(dx.DUPLICATE_PROJECT, f"project {name!r} is also the project name of {others}",
                                  file=c.file, path=("project", "name"), span=c.doc.span(("project", "name")),
                                  hint="every file name carries the project name: give each project its own"))
    return out


def find_specs(root: Path, name: str = "mlproject.yaml") -> list[Path]:
    """Every ``name`` under ``root``, sorted, outside hidden folders (.git, .venv, …),
    ``node_modules``, ``__pycache__`` and folders the root ``.gitignore`` names (its plain
    and ``*`` patterns; negations and anchored paths are not interpreted)."""
    import fnmatch

    ignored = ["node_modules", "__pycache__"]
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "/" not in line.rstrip("/"):
            ignored.append(line.rstrip("/"))
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not any(fnmatch.fnmatchcase(d, pattern) for pattern in ignored))
        if name in files and not os.path.islink(os.path.join(folder, name)):
            found.append(Path(folder, name))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def retire_projects(out: Path, keep: Collection[str], *, check: bool = False) -> list[tuple[str, Any]]:
    """Remove the files of every project whose index lies in ``out`` but whose spec (the
    index's ``source``, relative to ``out``) no longer exists and is not in ``keep`` (the
    project names just compiled): ``[(index name, WriteResult)]``. ``check`` only reports."""
    from mlspec.output.writer import INDEX_NAME, index_source, project_indexes, write_artifacts

    found = [(project, name) for project, name in project_indexes(out).items() if project not in keep]
    if (out / INDEX_NAME).is_file():
        found.append(("", INDEX_NAME))
    results = []
    for _, name in found:
        source = index_source(out, name)
        if source is None or (out / source).exists():
            continue
        results.append((name, write_artifacts([], out, source=source, check=check, index=name, retire=True)))
    return results
