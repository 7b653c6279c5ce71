"""Put artifacts on disk: safely, deterministically, all or nothing, and nothing else.

The writer first plans every file without touching the disk: it validates each artifact
path, refuses symbolic links and anything that is not a plain file, and classifies what
is already there as mlspec's own untouched output (overwritten when it changes), edited
by hand (MS502) or foreign (MS501). Files mlspec wrote earlier but no longer produces are
removed. Any error means nothing is written. ``check=True`` stops after planning and
reports what a compile would change (MS503 stale, MS504 missing, MS507 orphan).

What the writer trusts is what it can verify on disk, not what its index says:

* A file with a comment syntax is mlspec's only when it carries mlspec's header with the
  hash of its body (:mod:`mlspec.output.artifacts`); a header with a wrong hash is mlspec's
  file edited by hand. The index ``.mlspec-manifest.<project>.json`` cannot vouch for such a file.
* A JSON artifact (no comments) is mlspec's only when the index lists it with the hash of
  its exact bytes, for the same target and kind, *and* its path is one mlspec generates
  for that target and kind (:data:`COMMENTLESS_PATHS`).
* Never the spec, never anything under ``.git``, never outside the output folder, never
  through a link. A file the index lists that fails these proofs is left in place and
  dropped from the index with a warning (MS508) — also with ``--force``, which overrides
  hand edits of mlspec's own files and foreign files at paths the spec produces, never a
  foreign file the index names.

Writing is journaled. Every new file is written and fsynced in a fresh staging folder
``.mlspec-staging-*``; every file about to be replaced or removed gets a backup there (a
hard link, or a copy); then the journal ``.mlspec-journal.json`` — the list of renames
about to happen — is fsynced into place, the renames run (removals first, the index last)
and the journal and staging folder are deleted. An error part-way is undone at once (the
backups go back: nothing written). A process killed part-way leaves the journal; the next
compile rolls it forward (every staged file is there) or back (from the backups), removes
staging folders no journal names, and reports what it cleaned (MS509, MS510). ``--check``
reports unfinished work (MS511) without touching it.

Several projects may share an output folder (a repository's root): each has its own index,
``.mlspec-manifest.<project>.json``, and a compile reads, rewrites and removes only what its
own index lists; a path another project's index lists is never written (MS514). The folder's
single ``.mlspec-manifest.json`` of earlier releases is adopted by the spec that wrote it.

Locking: an exclusive ``flock`` on the output folder itself (shared for ``check``), not on
a lock file, so there is no file to ignore in git and ``check`` writes nothing at all. A
second concurrent run gets MS506 instead of waiting. POSIX only (``fcntl``).
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import fcntl
import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlspec import diagnostics as codes
from mlspec.naming import sanitize_source
from mlspec.output.artifacts import Artifact, sha256_text, split_header
from mlspec.diagnostics import Diagnostic, Severity

__all__ = ["COMMENTLESS_PATHS", "INDEX_NAME", "JOURNAL_NAME", "STAGING_PREFIX", "FileChange", "WriteResult",
           "index_name", "is_index_name", "project_indexes", "write_artifacts"]

#: The index of a folder that holds one project's output, as mlspec wrote it before several
#: projects could share a folder; compiles now write one index per project (:func:`index_name`)
#: and adopt this one when it is theirs (same spec).
INDEX_NAME = ".mlspec-manifest.json"
_PROJECT_INDEX = re.compile(r"\.mlspec-manifest\.([a-z][a-z0-9-]{0,39})\.json")
JOURNAL_NAME = ".mlspec-journal.json"
STAGING_PREFIX = ".mlspec-staging-"
_INDEX_FORMAT = 1
_JOURNAL_FORMAT = 1
_FILE_MODE = 0o644
_MAX_INDEX_BYTES = 16 * 1024 * 1024
_COMPONENT = re.compile(r"[A-Za-z0-9._-]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STAGED_NAME = re.compile(r"[nb][0-9]{5}")
_STAGING_NAME = re.compile(re.escape(STAGING_PREFIX) + r"[A-Za-z0-9_]{1,64}")
_REGENERATE_HINT = "Run `mlspec compile` to bring the output up to date."

#: Where mlspec writes artifacts that have no comment syntax (JSON), by (target, kind). The
#: index alone never proves a file is mlspec's: its path must also be one of these.
COMMENTLESS_PATHS: dict[tuple[str, str], re.Pattern[str]] = {
    ("manifest", "lineage-lock"): re.compile(r"(?:[A-Za-z0-9_.-]+/)*mlspec(?:\.[a-z0-9][a-z0-9_-]*)?\.lock\.json"),
    ("grafana", "grafana-dashboard"): re.compile(r"(?:[A-Za-z0-9_.-]+/)*grafana/[a-z0-9][a-z0-9_.-]*\.json"),
}

Action = Literal["create", "update", "unchanged", "remove", "replace-foreign", "replace-edited"]
# What is on disk at a path before writing: nothing, exactly the new text, mlspec's own
# untouched output, mlspec's output edited by hand, or a file mlspec never wrote.
_State = Literal["absent", "same", "pristine", "edited", "foreign"]
_CHANGE_OF: dict[_State, Action] = {
    "pristine": "update", "edited": "replace-edited", "foreign": "replace-foreign",
}
#: What a write did: everything, nothing (refused, or failed and undone), part of it (a
#: journal is left for the next compile), no change needed, or only a check.
Outcome = Literal["written", "nothing", "partial", "unchanged", "checked"]


@dataclass(frozen=True)
class FileChange:
    """What writing does (or, with errors or ``check``, would do) to one file.

    ``path`` is relative to the output folder. ``target`` and ``kind`` come from the
    artifact (from the old index for removals; ``None`` for the index itself). ``diff`` is
    a unified diff from the file on disk to the new text, for files that change.
    """

    path: str
    action: Action
    target: str | None
    kind: str | None
    diff: str | None = None


@dataclass(frozen=True)
class WriteResult:
    """The planned changes (sorted by path, the index last), the diagnostics and what
    actually happened on disk (``outcome``)."""

    changes: list[FileChange]
    diagnostics: list[Diagnostic]
    outcome: Outcome = "nothing"


@dataclass(frozen=True)
class _IndexEntry:
    """What the index records of one generated file."""

    sha256: str
    target: str | None
    kind: str | None


@dataclass(frozen=True)
class _Plan:
    """What the writer will do with one path, decided before anything is written."""

    change: FileChange
    state: _State
    text: str | None  # the new text to write, None for removals and unchanged files


class _Refused(Exception):
    """Planning cannot go on; carries the diagnostics that say why."""

    def __init__(self, diags: list[Diagnostic]) -> None:
        super().__init__(diags)
        self.diags = diags


# ---------------------------------------------------------------------------- entry point


def index_name(project: str) -> str:
    """The index of one project's files: ``.mlspec-manifest.<project>.json``."""
    name = f".mlspec-manifest.{project}.json"
    assert _PROJECT_INDEX.fullmatch(name), project
    return name


def is_index_name(name: str) -> bool:
    return name == INDEX_NAME or _PROJECT_INDEX.fullmatch(name) is not None


def project_indexes(out_dir: Path) -> dict[str, str]:
    """``{project: index file name}`` of every per-project index directly in ``out_dir``."""
    try:
        names = os.listdir(out_dir)
    except OSError:
        return {}
    return {m[1]: name for name in sorted(names) if (m := _PROJECT_INDEX.fullmatch(name))}


def index_source(out_dir: Path, name: str) -> str | None:
    """The spec an index says it was written from (relative to ``out_dir``), when readable."""
    try:
        data = (out_dir / name).read_bytes() if not (out_dir / name).is_symlink() else b""
        source = json.loads(data).get("source")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return source if isinstance(source, str) else None


def write_artifacts(
    artifacts: Sequence[Artifact],
    out_dir: Path,
    *,
    source: str,
    force: bool = False,
    check: bool = False,
    display_root: str | None = None,
    scope: Collection[str] | None = None,
    protected: Collection[str | os.PathLike[str]] = (),
    index: str = INDEX_NAME,
    retire: bool = False,
) -> WriteResult:
    """Write ``artifacts`` under ``out_dir`` (or with ``check``, compare them with it).

    ``source`` is the spec's name for the headers (sanitized to safe ASCII). ``force``
    replaces hand-edited files and foreign files at output paths, and removes hand-edited
    orphans; it never overrides a safety refusal (MS505) nor removes a file the index
    lists without proof. ``display_root`` prefixes paths in diagnostics (default:
    ``out_dir`` as given). ``scope`` names the targets being written (``--target``): files
    the index lists for other targets are kept, tracked and never treated as orphans.
    ``protected`` are files never written or removed whatever an artifact or the index
    says (the spec).

    ``index`` names this project's index (:func:`index_name`). Several projects may share
    ``out_dir``: a path another project's index lists is never written (MS514), and a
    legacy ``.mlspec-manifest.json`` written from the same spec is adopted — the files it
    lists that the project no longer produces (the old names) are removed with it.
    ``retire`` (with no artifacts) removes every file of the index and the index itself:
    the project's spec is gone.
    """
    show = _Display(Path(out_dir), display_root)
    source = sanitize_source(source)
    try:
        guard = _Guard(Path(out_dir).resolve(), protected)
        texts = _render_all(artifacts, source, show, guard)
        root = _prepare_root(Path(out_dir), create=not check, show=show)
        with _locked(root, shared=check, show=show):
            diags = _recover(root, check, show, guard)
            plans, skipped = _plan(artifacts, texts, root, source, force, show, scope, guard, index, retire)
            diags += skipped
            diags += [d for plan in plans for d in _diagnose(plan, check, force, show)]
            if check:
                return WriteResult([plan.change for plan in plans], diags, "checked")
            if codes.has_errors(diags):
                # A journal that failed to replay may have moved some files already.
                stuck = any(d.code == codes.UNFINISHED_WRITE for d in diags)
                return WriteResult([plan.change for plan in plans], diags, "partial" if stuck else "nothing")
            if not any(plan.change.action != "unchanged" for plan in plans):
                return WriteResult([plan.change for plan in plans], diags, "unchanged")
            applied, outcome = _apply(root, plans, show)
            return WriteResult([plan.change for plan in plans], diags + applied, outcome)
    except _Refused as refused:
        return WriteResult([], refused.diags, "nothing")


# ---------------------------------------------------------------------------- validation


class _Display:
    """How paths under the output folder are shown in diagnostics."""

    def __init__(self, out_dir: Path, display_root: str | None) -> None:
        self.root = out_dir.as_posix() if display_root is None else display_root

    def __call__(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if rel else (self.root or ".")


class _Guard:
    """Paths under the output folder that nothing may write or remove: the spec(s)."""

    def __init__(self, root: Path, protected: Collection[str | os.PathLike[str]]) -> None:
        self.protected: set[str] = set()
        for p in protected:
            with contextlib.suppress(OSError, ValueError):
                resolved = Path(p).resolve()
                if resolved.is_relative_to(root):
                    self.protected.add(resolved.relative_to(root).as_posix().casefold())

    def problem(self, rel: str) -> str | None:
        if rel.casefold() in self.protected:
            return f"{rel!a} is the spec itself"
        return None


def _unsafe(file: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(codes.UNSAFE_OUTPUT, message, file=file, hint=hint)


def _os_error(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _path_problem(rel: object) -> str | None:
    """Why ``rel`` is not a path mlspec may ever write, or None.

    Targets build paths from whitelisted ids, so this is a guard against bugs (or a
    tampered index): relative POSIX, components of ``[A-Za-z0-9._-]``, no ``.``/``..``,
    nothing inside a ``.git`` folder (in any case), and nothing that clashes with the
    writer's own files.
    """
    if not isinstance(rel, str):
        return "an output path must be a string"
    parts = rel.split("/")
    if any(part in (".", "..") or not _COMPONENT.fullmatch(part) for part in parts):
        return f"{rel!a} is not a relative path of [A-Za-z0-9._-] components"
    if any(part.casefold() == ".git" for part in parts):
        return f"{rel!a} is inside a .git folder"
    if is_index_name(parts[0]) or parts[0] == JOURNAL_NAME or parts[0].startswith(STAGING_PREFIX):
        return f"{rel!a} is reserved for mlspec's own bookkeeping"
    return None


def _render_all(artifacts: Sequence[Artifact], source: str, show: _Display, guard: _Guard) -> dict[str, str]:
    """Each artifact's exact text by path; refuses unsafe, colliding or unwritable ones."""
    diags: list[Diagnostic] = []
    texts: dict[str, str] = {}
    for artifact in artifacts:
        problem = _path_problem(artifact.path)
        if problem is not None:
            diags.append(_unsafe(show(""), f"an artifact of target {artifact.target}: {problem}"))
            continue
        text = artifact.render(source)
        problem = ("is produced twice" if artifact.path in texts else None) or guard.problem(artifact.path) \
            or _text_problem(text)
        if problem is not None:
            diags.append(_unsafe(show(artifact.path), problem))
            continue
        texts[artifact.path] = text
    diags += _case_collisions(texts, show)
    if diags:
        raise _Refused(diags)
    return texts


def _case_collisions(texts: Mapping[str, str], show: _Display) -> list[Diagnostic]:
    """Files and folders whose paths differ only in case (or are a file and a folder at
    once): one entry on the case-insensitive file systems of macOS and Windows checkouts."""
    folders = {folder for path in texts for folder in _folders(path)}
    diags = [_unsafe(show(path), "is both a file and the folder of other outputs")
             for path in sorted(folders & texts.keys())]
    seen: dict[str, str] = {}
    for path in sorted(texts.keys() | folders):
        key = path.casefold()
        other = seen.setdefault(key, path)
        if other != path:
            what = "file" if path in texts else "folder"
            diags.append(_unsafe(show(path), f"this {what} differs from {other} only in case, which is one "
                                             f"name on case-insensitive file systems"))
    return diags


def _folders(path: str) -> Iterator[str]:
    """``a/b/c`` -> ``a``, ``a/b``."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def _text_problem(text: str) -> str | None:
    if "\r" in text:
        return "the generated text contains a carriage return (output is LF only)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the generated text cannot be encoded as UTF-8"
    return None


# ---------------------------------------------------------------------------- the output folder


def _prepare_root(out_dir: Path, *, create: bool, show: _Display) -> Path:
    """The output folder, resolved; created when writing. A missing one is fine for ``check``."""
    try:
        if create:
            out_dir.mkdir(parents=True, exist_ok=True)
        elif not out_dir.exists():
            return out_dir.resolve()
        if not out_dir.is_dir():
            raise _Refused([_unsafe(show(""), "the output folder is not a folder")])
        return out_dir.resolve(strict=True)
    except OSError as exc:
        message = f"the output folder cannot be used: {_os_error(exc)}"
        raise _Refused([_unsafe(show(""), message)]) from None


@contextlib.contextmanager
def _locked(root: Path, *, shared: bool, show: _Display) -> Iterator[None]:
    """Hold ``flock`` on the output folder itself; MS506 if another run holds it.

    A ``check`` of a folder that does not exist yet has nothing to lock.
    """
    if not root.is_dir():
        yield
        return
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _Refused([_unsafe(show(""), f"cannot be locked: {_os_error(exc)}")]) from None
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _Refused([Diagnostic(
                codes.LOCKED, "another mlspec run is writing to this folder", file=show(""),
                hint="Wait for it to finish, then run again.")]) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _walk_problem(root: Path, rel: str) -> str | None:
    """Why ``root/rel`` may not be written through: a symlink or non-folder on the way, or
    something other than a plain file at the end. Checked with ``lstat``, component by
    component, so a committed ``out/dags -> /elsewhere`` link is never followed."""
    parts = rel.split("/")
    current = root
    for depth, part in enumerate(parts, start=1):
        current, shown = current / part, "/".join(parts[:depth])
        try:
            st = _lstat(current)
        except OSError as exc:
            return f"{shown} cannot be inspected: {_os_error(exc)}"
        if st is None:
            break
        if stat.S_ISLNK(st.st_mode):
            return f"{shown} is a symbolic link; mlspec does not write through links"
        if depth < len(parts) and not stat.S_ISDIR(st.st_mode):
            return f"{shown} is in the way: it should be a folder"
        if depth == len(parts) and not stat.S_ISREG(st.st_mode):
            return f"{shown} is in the way: it is not a regular file"
    if not (root / rel).resolve().is_relative_to(root):
        return "resolves outside the output folder"
    return None


def _read(root: Path, rel: str, show: _Display, limit: int | None = None) -> bytes | None:
    """The bytes at ``root/rel`` (a regular file, never through a final link), or None if absent."""
    from mlspec.bounded import ReadRefused, read_bytes

    try:
        return read_bytes(root / rel, limit if limit is not None else 1 << 30, follow_symlinks=False)
    except ReadRefused as exc:
        if exc.missing:
            return None
        raise _Refused([_unsafe(show(rel), f"cannot be read: it {exc.reason}")]) from None


# ---------------------------------------------------------------------------- the index


def _read_index(root: Path, force: bool, show: _Display, name: str = INDEX_NAME) -> dict[str, _IndexEntry]:
    """The previous run's index. A missing one is empty; an unreadable one is refused
    (hand-edited) unless ``force``, which rebuilds it (then no orphans are removed)."""
    problem = _walk_problem(root, name)
    if problem is not None:
        raise _Refused([_unsafe(show(name), problem)])
    try:
        data = _read(root, name, show, _MAX_INDEX_BYTES)
    except _Refused:
        data = b""
    if data is None:
        return {}
    entries = _parse_index(data)
    if entries is None and not force:
        raise _Refused([Diagnostic(
            codes.HAND_EDITED, "the index of generated files is not in mlspec's format",
            file=show(name),
            hint="Restore it from version control, or pass --force to rebuild it (files it "
                 "listed that the spec no longer produces are then left in place).")])
    return entries or {}


def _parse_index(data: bytes) -> dict[str, _IndexEntry] | None:
    try:
        index = json.loads(data)
        files = index["files"]
        if index.get("format") != _INDEX_FORMAT or not isinstance(files, dict):
            return None
        entries = {path: _IndexEntry(e["sha256"], e.get("target"), e.get("kind"))
                   for path, e in files.items()}
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
    if all(isinstance(e.sha256, str) and _SHA256.fullmatch(e.sha256)
           and isinstance(e.target, (str, type(None))) and isinstance(e.kind, (str, type(None)))
           for e in entries.values()):
        return entries
    return None


def _index_text(artifacts: Sequence[Artifact], texts: Mapping[str, str], source: str,
                kept: Mapping[str, _IndexEntry]) -> str:
    files = {path: {"kind": e.kind, "sha256": e.sha256, "target": e.target} for path, e in kept.items()}
    files.update({a.path: {"kind": a.kind, "sha256": sha256_text(texts[a.path]), "target": a.target}
                  for a in artifacts})
    index = {"files": files, "format": _INDEX_FORMAT, "source": source}
    return json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- planning


def _left_in_place(show: _Display, rel: str, why: str) -> Diagnostic:
    return Diagnostic(codes.UNPROVEN_FILE, f"the index lists this file, but {why}; it is left in place and "
                      "dropped from the index", Severity.WARNING, file=show(rel),
                      hint="Delete it yourself if it is an old generated file; mlspec removes only files it "
                           "can prove it wrote.")


def _bad_entry(show: _Display, path: object, problem: str, index: str = INDEX_NAME) -> Diagnostic:
    return Diagnostic(codes.UNPROVEN_FILE, f"lists {str(path)!a}, which mlspec never writes ({problem}); the "
                      "entry is dropped and nothing there is touched", Severity.WARNING, file=show(index),
                      hint="An index is rewritten by every compile; if someone edited it, review who and why.")


def _plan(
    artifacts: Sequence[Artifact], texts: Mapping[str, str], root: Path, source: str,
    force: bool, show: _Display, scope: Collection[str] | None, guard: _Guard,
    index_file: str = INDEX_NAME, retire: bool = False,
) -> tuple[list[_Plan], list[Diagnostic]]:
    """Classify every output and orphan (sorted by path), then the index; reads only.
    Returns the plans and warnings about index entries that are not removed."""
    old = _read_index(root, force, show, index_file)
    owner = _read_source(root, index_file) if index_file != INDEX_NAME else None
    if owner is not None and owner != source and not retire and _lstat(root / owner) is not None:
        # Same project name, another spec that still exists: its files are not ours to replace.
        raise _Refused([Diagnostic(
            codes.DUPLICATE_PROJECT, f"this index belongs to {owner!a}, another spec with the same project name",
            file=show(index_file),
            hint="Give one of the projects another `project.name` (file names carry it), or delete the other "
                 "spec and compile again.")])
    legacy: _Plan | None = None
    others = _other_indexes(root, index_file)
    if index_file != INDEX_NAME and INDEX_NAME in others and not old and _read_source(root, INDEX_NAME) == source:
        # The folder's single index from before per-project indexes, written from this very
        # spec: its files are this project's (under their old names), it is retired.
        old = _read_index(root, force, show, INDEX_NAME)
        del others[INDEX_NAME]
        legacy = _Plan(FileChange(INDEX_NAME, "remove", None, None), "pristine", None)
    taken = sorted((path, name) for name, paths in others.items() for path in paths if path in texts)
    if taken:
        raise _Refused([Diagnostic(
            codes.OTHER_PROJECTS_FILE, f"another project's index ({name}) lists this file", file=show(path),
            hint="Two projects in one output folder need different project names (`project.name`): "
                 "file names carry it. Compile the other project again if it was renamed.")
            for path, name in taken])
    # Files of targets outside this run's scope are neither outputs nor orphans: keep them.
    kept = {p: e for p, e in old.items() if scope is not None and e.target is not None
            and e.target not in scope and p not in texts and _path_problem(p) is None
            and guard.problem(p) is None}
    old = {p: e for p, e in old.items() if p not in kept}
    warnings: list[Diagnostic] = []
    orphans: dict[str, _IndexEntry] = {}
    for path, entry in sorted(old.items()):
        if path in texts:
            continue
        problem = _path_problem(path) or guard.problem(path)
        if problem is not None:
            warnings.append(_bad_entry(show, path, problem, index_file))
            continue
        problem = _walk_problem(root, path)
        if problem is not None:
            warnings.append(_left_in_place(show, path, problem))
            continue
        orphans[path] = entry
    unsafe = [_unsafe(show(path), problem) for path in sorted(texts)
              if (problem := _walk_problem(root, path)) is not None]
    if unsafe:
        raise _Refused(unsafe)
    produced = {a.path: a for a in artifacts}
    plans = []
    for path in sorted(texts.keys() | orphans.keys()):
        if path in produced:
            artifact = produced[path]
            plans.append(_plan_output(root, artifact, texts[path], old.get(path), show))
            continue
        orphan, why = _plan_orphan(root, path, orphans[path], show)
        if orphan is not None:
            plans.append(orphan)
        elif why is not None:
            warnings.append(_left_in_place(show, path, why))
    if legacy is not None:
        plans.append(legacy)
    if retire and not artifacts and not kept:
        if _read_index_bytes(root, show, index_file) is None:
            return plans, warnings  # nothing to retire: no index, nothing listed
        # The index goes last, as a write would: until then it describes what is left.
        return [*plans, _Plan(FileChange(index_file, "remove", None, None), "pristine", None)], warnings
    index = _index_text(artifacts, texts, source, kept)
    return [*plans, _plan_index(root, index, show, index_file)], warnings


def _other_indexes(root: Path, own: str) -> dict[str, frozenset[str]]:
    """The paths every other index in the folder lists (legacy included), by index name."""
    names = [n for n in project_indexes(root).values() if n != own]
    if own != INDEX_NAME and _lstat(root / INDEX_NAME) is not None:
        names.append(INDEX_NAME)
    out: dict[str, set[str]] = {}
    for name in names:
        try:
            st = os.lstat(root / name)
        except OSError:
            st = None
        # `compile --all` writes one project after another into one folder: each reads every
        # other index, so an index unchanged on disk (same file, size and time) is parsed once.
        key = (os.fspath(root), name)
        signature = (st.st_ino, st.st_size, st.st_mtime_ns) if st is not None else None
        cached = _INDEX_PATHS.get(key)
        if signature is not None and cached is not None and cached[0] == signature:
            out[name] = cached[1]
            continue
        try:
            data = _read(root, name, _Display(root, None), _MAX_INDEX_BYTES)
        except _Refused:
            continue
        entries = _parse_index(data) if data is not None else None
        out[name] = frozenset(entries or ())
        if signature is not None and data is not None:
            _INDEX_PATHS[key] = (signature, out[name])
    return out


_INDEX_PATHS: dict[tuple[str, str], tuple[tuple[int, int, int], frozenset[str]]] = {}


def _read_source(root: Path, name: str) -> str | None:
    return index_source(root, name) if _walk_problem(root, name) is None else None


def _plan_index(root: Path, text: str, show: _Display, name: str = INDEX_NAME) -> _Plan:
    """The index is mlspec's by name; it is rewritten whatever it holds."""
    data = _read_index_bytes(root, show, name)
    if data is None:
        return _Plan(FileChange(name, "create", None, None), "absent", text)
    if data == text.encode("utf-8"):
        return _Plan(FileChange(name, "unchanged", None, None), "same", None)
    return _Plan(FileChange(name, "update", None, None, _diff(name, data, text)), "pristine", text)


def _read_index_bytes(root: Path, show: _Display, name: str = INDEX_NAME) -> bytes | None:
    try:
        return _read(root, name, show, _MAX_INDEX_BYTES)
    except _Refused:
        return b""


def _plan_output(root: Path, artifact: Artifact, text: str, entry: _IndexEntry | None, show: _Display) -> _Plan:
    """Create, keep, update or (with a refusal unless forced) replace one produced file."""
    path, target, kind = artifact.path, artifact.target, artifact.kind
    data = _read(root, path, show)
    if data is None:
        return _Plan(FileChange(path, "create", target, kind), "absent", text)
    if data == text.encode("utf-8"):
        return _Plan(FileChange(path, "unchanged", target, kind), "same", None)
    state = _state(data, path, entry, commentless=artifact.comment is None, target=target, kind=kind)
    change = FileChange(path, _CHANGE_OF[state], target, kind, _diff(path, data, text))
    return _Plan(change, state, text)


def _plan_orphan(root: Path, path: str, entry: _IndexEntry, show: _Display) -> tuple[_Plan | None, str | None]:
    """Remove a file the old index lists and the spec no longer produces: ``(plan, None)``;
    ``(None, None)`` when it is already gone; ``(None, why)`` when it is not provably mlspec's."""
    data = _read(root, path, show)
    if data is None:
        return None, None
    commentless = (entry.target, entry.kind) in COMMENTLESS_PATHS and split_header_bytes(data) is None
    state = _state(data, path, entry, commentless=commentless, target=entry.target, kind=entry.kind)
    # Without a header, only the exact recorded bytes prove a JSON file is mlspec's: an
    # edited one may as well be someone else's file, and --force never removes those.
    if state == "foreign" or (commentless and state != "pristine"):
        return None, "it carries no mlspec header with a matching hash (nor, for JSON, the hash the index records " \
                     "at a path mlspec generates)"
    return _Plan(FileChange(path, "remove", entry.target, entry.kind), state, None), None


def split_header_bytes(data: bytes) -> tuple[str, str] | None:
    try:
        return split_header(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def _state(data: bytes, path: str, entry: _IndexEntry | None, *, commentless: bool,
           target: str | None, kind: str | None) -> _State:
    """Whose file this is, from what is on disk: mlspec's untouched output, mlspec's output
    edited by hand, or foreign."""
    header = split_header_bytes(data)
    if header is not None:
        digest, body = header
        return "pristine" if sha256_text(body) == digest else "edited"
    if not commentless:
        return "foreign"          # mlspec's files with comments always carry the header
    pattern = COMMENTLESS_PATHS.get((target or "", kind or ""))
    vouched = (entry is not None and (entry.target, entry.kind) == (target, kind)
               and pattern is not None and pattern.fullmatch(path) is not None)
    if not vouched:
        return "foreign"
    assert entry is not None
    return "pristine" if hashlib.sha256(data).hexdigest() == entry.sha256 else "edited"


def _diff(path: str, old: bytes, new: str) -> str:
    lines = difflib.unified_diff(
        old.decode("utf-8", errors="replace").splitlines(keepends=True),
        new.splitlines(keepends=True), fromfile=f"a/{path}", tofile=f"b/{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _diagnose(plan: _Plan, check: bool, force: bool, show: _Display) -> list[Diagnostic]:
    """What to tell about one plan: refusals always (unless ``force`` when writing), and
    with ``check`` every difference between the disk and the spec."""
    file, orphan = show(plan.change.path), plan.change.action == "remove"
    if plan.state == "foreign" and (check or not force):
        return [Diagnostic(codes.FOREIGN_FILE, "exists and was not written by mlspec", file=file,
                           hint="Move the file away, or pass --force to replace it.")]
    if plan.state == "edited" and (check or not force):
        what = "no longer produced by the spec but was edited by hand" if orphan else \
            "was edited by hand since mlspec wrote it"
        return [Diagnostic(codes.HAND_EDITED, what, file=file, hint=(
            "Delete it, or pass --force to remove it." if orphan else
            "Move the change into the spec or a template override, or pass --force to "
            "overwrite it."))]
    if not check or plan.change.action == "unchanged":
        return []
    code, message = {
        "create": (codes.MISSING_ARTIFACT, "is missing"),
        "update": (codes.STALE_ARTIFACT, "is out of date"),
        "remove": (codes.ORPHAN_ARTIFACT, "is no longer produced by the spec"),
    }[plan.change.action]
    return [Diagnostic(code, message, file=file, hint=_REGENERATE_HINT)]


# ---------------------------------------------------------------------------- the journal


@dataclass
class _Op:
    """One rename of a journaled write.

    ``write``: ``staged`` (``nNNNNN`` in the staging folder) replaces ``path``; ``sha256``
    is the new content's hash; ``backup`` (``bNNNNN``) holds the old file, if there was one.
    ``remove``: ``path`` moves to ``backup``; ``sha256`` is the removed content's hash.
    """

    op: Literal["write", "remove"]
    path: str
    sha256: str
    staged: str | None = None
    backup: str | None = None
    folders: tuple[str, ...] = ()     # folders a write creates (deepest last); an undo removes them

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "path": self.path, "sha256": self.sha256, "staged": self.staged,
                "backup": self.backup, "folders": list(self.folders)}


def _journal_text(staging: str, ops: Sequence[_Op]) -> str:
    return json.dumps({"format": _JOURNAL_FORMAT, "staging": staging, "ops": [o.to_json() for o in ops]},
                      indent=2, sort_keys=True) + "\n"


def _parse_journal(data: bytes) -> tuple[str, list[_Op]] | None:
    """The journal's staging folder and operations, when every part is what mlspec writes."""
    try:
        doc = json.loads(data)
        staging, raw = doc["staging"], doc["ops"]
        if doc.get("format") != _JOURNAL_FORMAT or not isinstance(staging, str) or not isinstance(raw, list):
            return None
        ops = [_Op(o["op"], o["path"], o["sha256"], o.get("staged"), o.get("backup"), tuple(o.get("folders", ())))
               for o in raw]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
    if not _STAGING_NAME.fullmatch(staging):
        return None
    for o in ops:
        if o.op not in ("write", "remove") or not isinstance(o.sha256, str) or not _SHA256.fullmatch(o.sha256):
            return None
        if not is_index_name(o.path) and _path_problem(o.path) is not None:
            return None
        for name in (o.staged, o.backup):
            if name is not None and (not isinstance(name, str) or not _STAGED_NAME.fullmatch(name)):
                return None
        if (o.op == "write") != (o.staged is not None) or (o.op == "remove" and o.backup is None):
            return None
        if any(not isinstance(f, str) or _path_problem(f) is not None or not o.path.startswith(f + "/")
               for f in o.folders):
            return None
    return staging, ops


def _digest(path: Path) -> str | None:
    """The sha256 of a regular file (never through a link), or None if there is none."""
    from mlspec.bounded import ReadRefused, open_regular

    try:
        with open_regular(path, follow_symlinks=False) as fh:
            h = hashlib.sha256()
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            return h.hexdigest()
    except (ReadRefused, OSError):
        return None


def _recover(root: Path, check: bool, show: _Display, guard: _Guard) -> list[Diagnostic]:
    """Finish what an interrupted compile left: roll its journal forward or back, remove
    staging folders no journal names, and say so. With ``check``: only report (MS511)."""
    if not root.is_dir():
        return []
    diags: list[Diagnostic] = []
    journal = root / JOURNAL_NAME
    named: str | None = None
    st = _lstat(journal)
    if st is not None:
        if check:
            diags.append(Diagnostic(codes.UNFINISHED_WRITE, "an interrupted compile left unfinished work",
                                    file=show(JOURNAL_NAME), hint="Run `mlspec compile`: it completes or undoes it."))
        else:
            named, diag = _replay(root, journal, show, guard)
            diags.append(diag)
    for entry in sorted(os.listdir(root)):
        if not entry.startswith(STAGING_PREFIX) or entry == named:
            continue
        path = root / entry
        lst = _lstat(path)
        if lst is None:
            continue
        if check:
            diags.append(Diagnostic(codes.STALE_STAGING, "a staging folder left by an interrupted compile; the "
                                    "next compile removes it (the output was not changed)", Severity.WARNING,
                                    file=show(entry)))
            continue
        _remove_tree(path, lst)
        diags.append(Diagnostic(codes.STALE_STAGING, "removed this staging folder, left by an interrupted compile "
                                "before it changed any output file", Severity.WARNING, file=show(entry)))
    if named is not None and _lstat(journal) is None:   # a journal that failed to replay keeps its files
        _remove_tree(root / named, _lstat(root / named))
    if diags and not check:
        with contextlib.suppress(OSError):
            _fsync_dir(root)
    return diags


def _remove_tree(path: Path, st: os.stat_result | None) -> None:
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)   # rmtree never follows links inside
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _replay(root: Path, journal: Path, show: _Display, guard: _Guard) -> tuple[str | None, Diagnostic]:
    """Roll an interrupted compile forward (when every staged file is there) or back (from
    the backups); then delete the journal. Returns the staging folder it named.

    A journal is a file in the output folder like any other, so it earns no trust: its
    paths must be ones mlspec may write (not the spec, not ``.git``, no link on the way),
    and a file it would replace or remove must look like mlspec's own (its header, or for
    JSON a generated path and the recorded hash). Otherwise nothing is replayed.
    """
    from mlspec.bounded import ReadRefused, read_bytes

    try:
        parsed = _parse_journal(read_bytes(journal, _MAX_INDEX_BYTES, follow_symlinks=False))
    except ReadRefused:
        parsed = None
    if parsed is not None and any(guard.problem(o.path) or _walk_problem(root, o.path) for o in parsed[1]):
        parsed = None
    if parsed is None:
        with contextlib.suppress(OSError):
            os.unlink(journal)
        return None, Diagnostic(codes.STALE_STAGING, "removed an unreadable journal of an interrupted compile; "
                                "files it may have changed are checked like any other", Severity.WARNING,
                                file=show(JOURNAL_NAME))
    staging_name, ops = parsed
    staging = root / staging_name
    st = _lstat(staging)
    staging_ok = st is not None and stat.S_ISDIR(st.st_mode)

    def new_in_place(o: _Op) -> bool:
        return _lstat(root / o.path) is None if o.op == "remove" else _digest(root / o.path) == o.sha256

    def can_forward(o: _Op) -> bool:
        if new_in_place(o):
            return True
        if o.op == "remove":
            return _digest(root / o.path) == o.sha256 and _looks_ours(root / o.path, o.path)
        return (staging_ok and o.staged is not None and _digest(staging / o.staged) == o.sha256
                and _looks_ours(staging / o.staged, o.path)
                and (_lstat(root / o.path) is None or _looks_ours(root / o.path, o.path)))

    def can_back(o: _Op) -> bool:
        if not new_in_place(o):
            return True                       # not done yet: nothing to undo
        if o.op == "write" and not _looks_ours(root / o.path, o.path):
            return False
        if o.op == "write" and o.backup is None:
            return True                       # a new file: removing it undoes it
        return staging_ok and o.backup is not None and _lstat(staging / o.backup) is not None

    done: list[str] = []
    try:
        if all(can_forward(o) for o in ops):
            for o in ops:
                if new_in_place(o):
                    continue
                if o.op == "remove":
                    os.unlink(root / o.path)
                    _prune_empty_folders(root, (root / o.path).parent)
                else:
                    assert o.staged is not None
                    _move_into_place(root, staging / o.staged, o.path)
                done.append(o.path)
            verdict = "completed an interrupted compile"
        elif all(can_back(o) for o in ops):
            for o in reversed(ops):
                if new_in_place(o):
                    _undo(root, staging, o)
                    done.append(o.path)
                elif o.op == "write":
                    _remove_new_folders(root, o)   # the kill may have come right after a mkdir
            verdict = "undid an interrupted compile"
        else:
            os.unlink(journal)
            return staging_name, Diagnostic(
                codes.STALE_STAGING, "an interrupted compile could neither be completed nor undone (its staged "
                "files are gone); files it changed are checked like any other", Severity.WARNING,
                file=show(JOURNAL_NAME))
        _fsync_dir(root)
        os.unlink(journal)
    except OSError as exc:
        # The journal and its staging folder stay: the next compile tries again.
        return staging_name, Diagnostic(
            codes.UNFINISHED_WRITE, f"an interrupted compile could not be finished: {_os_error(exc)}",
            file=show(JOURNAL_NAME), hint="Fix the cause (permissions, disk space) and run `mlspec compile` again.")
    shown = ", ".join(done[:5]) + (f" and {len(done) - 5} more" if len(done) > 5 else "")
    if not done:
        what = ("nothing had been changed yet" if verdict.startswith("undid") else
                "every file was already in place") + "; removed its journal"
    elif verdict.startswith("undid"):
        what = f"{len(done)} file(s) restored ({shown})"
    else:
        what = f"{len(done)} file(s) moved into place or removed ({shown})"
    return staging_name, Diagnostic(
        codes.RECOVERED, f"{verdict}: {what}", Severity.WARNING, file=show(JOURNAL_NAME),
        hint="Nothing to do: the output is consistent again; review it as usual.")


def _looks_ours(path: Path, rel: str) -> bool:
    """What a journal may replace or remove: mlspec's index, a file with mlspec's header
    (edited or not), or JSON at a path mlspec generates."""
    if is_index_name(rel):
        return True
    from mlspec.bounded import ReadRefused, read_bytes

    try:
        data = read_bytes(path, 1 << 30, follow_symlinks=False)
    except ReadRefused:
        return False
    if split_header_bytes(data) is not None:
        return True
    return any(pattern.fullmatch(rel) for pattern in COMMENTLESS_PATHS.values())


def _undo(root: Path, staging: Path, o: _Op) -> None:
    """Put back what one done operation replaced or removed."""
    dest = root / o.path
    if o.backup is not None and _lstat(staging / o.backup) is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / o.backup, dest)
    elif _lstat(dest) is not None:
        os.unlink(dest)                       # a file the write created
    _remove_new_folders(root, o)


def _remove_new_folders(root: Path, o: _Op) -> None:
    """Remove the folders a write created, if they are empty again (never any other)."""
    for folder in reversed(o.folders):
        try:
            (root / folder).rmdir()
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            break


# ---------------------------------------------------------------------------- writing


def _apply(root: Path, plans: Sequence[_Plan], show: _Display) -> tuple[list[Diagnostic], Outcome]:
    """Carry out ``plans`` (the index last) under a journal.

    An ``OSError`` part-way is undone at once (MS505, nothing written); if the undo fails
    too, the journal stays for the next compile (MS505, partial). Other exceptions
    (``KeyboardInterrupt``, ``SystemExit``) are what a killed process looks like: nothing
    is cleaned up here, the journal and staging folder wait for the next compile.
    """
    staging = Path(tempfile.mkdtemp(dir=root, prefix=STAGING_PREFIX))
    ops: list[_Op] = []
    done: list[_Op] = []
    journaled = False
    try:
        ops = _stage(root, staging, plans)
        _write_journal(root, staging, ops)
        journaled = True
        touched = {root}
        for o in ops:
            touched.add(_do(root, staging, o))
            done.append(o)
        for folder in sorted(touched):
            if folder.is_dir():  # removing a later orphan may have pruned an earlier one's folder
                _fsync_dir(folder)
        os.unlink(root / JOURNAL_NAME)
        _fsync_dir(root)
    except OSError as exc:
        failed = f"writing stopped at {_failed_at(ops, done) or 'staging'}: {_os_error(exc)}"
        try:
            if journaled and len(done) < len(ops):
                _remove_new_folders(root, ops[len(done)])     # the failed write may have made some
            for o in reversed(done):
                _undo(root, staging, o)
            if journaled:
                os.unlink(root / JOURNAL_NAME)
            _fsync_dir(root)
        except OSError as undo_exc:
            return [_unsafe(show(""), f"{failed}; undoing it failed too ({_os_error(undo_exc)})", (
                f"{len(done)} file(s) were already changed. The journal {JOURNAL_NAME} records them: the next "
                "`mlspec compile` completes or undoes the write. Fix the cause first."))], "partial"
        shutil.rmtree(staging, ignore_errors=True)
        restored = f"; the {len(done)} file(s) already changed were restored" if done else ""
        return [_unsafe(show(""), f"{failed}{restored}: nothing written",
                        "Fix the cause and run `mlspec compile` again.")], "nothing"
    shutil.rmtree(staging, ignore_errors=True)
    return [], "written"


def _failed_at(ops: Sequence[_Op], done: Sequence[_Op]) -> str | None:
    return ops[len(done)].path if len(done) < len(ops) else None


def _stage(root: Path, staging: Path, plans: Sequence[_Plan]) -> list[_Op]:
    """Write every new file and a backup of every file about to change into ``staging``;
    return the operations in the order they run: removals, writes, the index."""
    removes, writes = [], []
    *files, index = plans
    for number, plan in enumerate([*files, index]):
        rel = plan.change.path
        if plan.change.action == "remove":
            data = _read(root, rel, _Display(root, None))
            assert data is not None
            removes.append(_Op("remove", rel, hashlib.sha256(data).hexdigest(), None, f"b{number:05d}"))
        elif plan.text is not None:
            staged = f"n{number:05d}"
            _write_new(staging / staged, plan.text)
            backup = None
            if _lstat(root / rel) is not None:
                backup = f"b{number:05d}"
                _backup(root / rel, staging / backup)
            folders = tuple(f for f in _folders(rel) if _lstat(root / f) is None)
            writes.append(_Op("write", rel, sha256_text(plan.text), staged, backup, folders))
    # The index is written last: until then it still describes the previous output.
    writes.sort(key=lambda o: is_index_name(o.path))
    return removes + writes


def _backup(src: Path, dst: Path) -> None:
    """Keep the old file: a hard link (free, same file system), else a copy."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copyfile(src, dst, follow_symlinks=False)
        with open(dst, "rb") as f:
            os.fsync(f.fileno())


def _write_journal(root: Path, staging: Path, ops: Sequence[_Op]) -> None:
    tmp = staging / "journal"
    _write_new(tmp, _journal_text(staging.name, ops))
    _fsync_dir(staging)
    os.replace(tmp, root / JOURNAL_NAME)
    _fsync_dir(root)


def _do(root: Path, staging: Path, o: _Op) -> Path:
    """Carry out one operation; returns the folder it changed."""
    dest = root / o.path
    if o.op == "remove":
        assert o.backup is not None
        # Moved into the staging folder, not unlinked: the backup is what an undo restores.
        os.replace(dest, staging / o.backup)
        return _prune_empty_folders(root, dest.parent)
    assert o.staged is not None
    return _move_into_place(root, staging / o.staged, o.path)


def _move_into_place(root: Path, staged: Path, rel: str) -> Path:
    """``os.replace`` the staged file to ``root/rel``, creating folders; returns the folder."""
    folder = (root / rel).parent
    folder.mkdir(parents=True, exist_ok=True)
    os.replace(staged, root / rel)
    return folder


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to a new file, mode 0644, flushed to disk."""
    with open(path, "x", newline="\n", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fchmod(f.fileno(), _FILE_MODE)
        os.fsync(f.fileno())


def _prune_empty_folders(root: Path, folder: Path) -> Path:
    """Remove ``folder`` and its parents below ``root`` while empty; the first one kept."""
    while folder != root:
        try:
            folder.rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            break
        folder = folder.parent
    return folder


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
