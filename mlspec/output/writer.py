"""Put artifacts on disk: safely, deterministically, all or nothing.

The writer first plans every file without touching the disk: it validates each artifact
path, refuses symbolic links and anything that is not a plain file, and classifies what
is already there as mlspec's own untouched output (overwritten when it changes), edited
by hand (MS502) or foreign (MS501). Files mlspec wrote earlier but no longer produces are
removed. Any error means nothing is written. ``check=True`` stops after planning and
reports what a compile would change (MS503 stale, MS504 missing, MS507 orphan).

Ownership has two proofs. Files with a comment syntax carry a header with the hash of
their body (:mod:`mlspec.output.artifacts`). Every written file is also listed, with the hash of
its full text, in the index ``.mlspec-manifest.json`` at the output folder's root; that is
the only proof for JSON, which has no comments. The index must be committed with the files.

Writing: every file (the index included) is first written and fsynced in a fresh staging
folder ``.mlspec-staging-*`` inside the output folder, so a full disk fails before anything
is replaced; then orphans are removed, each file is moved into place with ``os.replace``,
the index is replaced last and the folders are fsynced. The staging folder is removed even on
failure. Each replace is atomic but the set is not: a failure part-way leaves some files
new and some old, reported as MS505. Because the index is replaced last it still describes
the previous state, so ``compile --check`` reports the partial write (at least the index is
stale) and running compile again completes it. One residual case: a JSON artifact replaced
before the failure no longer matches the old index; the next run accepts it if the spec is
unchanged (same bytes) but would call it hand-edited if the spec changed in between.

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
from typing import Literal

from mlspec import diagnostics as codes
from mlspec.naming import sanitize_source
from mlspec.output.artifacts import Artifact, sha256_text, split_header
from mlspec.diagnostics import Diagnostic

__all__ = ["INDEX_NAME", "STAGING_PREFIX", "FileChange", "WriteResult", "write_artifacts"]

INDEX_NAME = ".mlspec-manifest.json"
STAGING_PREFIX = ".mlspec-staging-"
_INDEX_FORMAT = 1
_FILE_MODE = 0o644
_COMPONENT = re.compile(r"[A-Za-z0-9._-]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REGENERATE_HINT = "Run `mlspec compile` to bring the output up to date."

Action = Literal["create", "update", "unchanged", "remove", "replace-foreign", "replace-edited"]
# What is on disk at a path before writing: nothing, exactly the new text, mlspec's own
# untouched output, mlspec's output edited by hand, or a file mlspec never wrote.
_State = Literal["absent", "same", "pristine", "edited", "foreign"]
_CHANGE_OF: dict[_State, Action] = {
    "pristine": "update", "edited": "replace-edited", "foreign": "replace-foreign",
}


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
    """The planned changes (sorted by path, the index last) and the diagnostics.

    Files were written only when ``check`` was false and no diagnostic is an error.
    """

    changes: list[FileChange]
    diagnostics: list[Diagnostic]


@dataclass(frozen=True)
class _IndexEntry:
    sha256: str
    target: str | None
    kind: str | None


@dataclass(frozen=True)
class _Plan:
    change: FileChange
    state: _State
    text: str | None  # the new text to write, None for removals and unchanged files


class _Refused(Exception):
    """Planning cannot go on; carries the diagnostics that say why."""

    def __init__(self, diags: list[Diagnostic]) -> None:
        super().__init__(diags)
        self.diags = diags


# ---------------------------------------------------------------------------- entry point


def write_artifacts(
    artifacts: Sequence[Artifact],
    out_dir: Path,
    *,
    source: str,
    force: bool = False,
    check: bool = False,
    display_root: str | None = None,
    scope: Collection[str] | None = None,
) -> WriteResult:
    """Write ``artifacts`` under ``out_dir`` (or with ``check``, compare them with it).

    ``source`` is the spec's name for the headers (sanitized to safe ASCII). ``force``
    replaces foreign and hand-edited files and removes hand-edited orphans; it never
    overrides a safety refusal (MS505). ``display_root`` prefixes paths in diagnostics
    (default: ``out_dir`` as given). ``scope`` names the targets being written (``--target``):
    files the index lists for other targets are kept, tracked and never treated as orphans.
    """
    show = _Display(Path(out_dir), display_root)
    source = sanitize_source(source)
    try:
        texts = _render_all(artifacts, source, show)
        root = _prepare_root(Path(out_dir), create=not check, show=show)
        with _locked(root, shared=check, show=show):
            plans = _plan(artifacts, texts, root, source, force, show, scope)
            diags = [d for plan in plans for d in _diagnose(plan, check, force, show)]
            if not check and not codes.has_errors(diags) and any(
                    plan.change.action != "unchanged" for plan in plans):
                diags += _apply(root, plans, show)
            return WriteResult([plan.change for plan in plans], diags)
    except _Refused as refused:
        return WriteResult([], refused.diags)


# ---------------------------------------------------------------------------- validation


class _Display:
    """How paths under the output folder are shown in diagnostics."""

    def __init__(self, out_dir: Path, display_root: str | None) -> None:
        self.root = out_dir.as_posix() if display_root is None else display_root

    def __call__(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if rel else (self.root or ".")


def _unsafe(file: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(codes.UNSAFE_OUTPUT, message, file=file, hint=hint)


def _os_error(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _path_problem(rel: object) -> str | None:
    """Why ``rel`` is not a safe artifact path, or None.

    Targets build paths from whitelisted ids, so this is a guard against bugs (or a
    tampered index): relative POSIX, components of ``[A-Za-z0-9._-]``, no ``.``/``..``,
    and nothing that clashes with the writer's own files.
    """
    if not isinstance(rel, str):
        return "an output path must be a string"
    parts = rel.split("/")
    if any(part in (".", "..") or not _COMPONENT.fullmatch(part) for part in parts):
        return f"{rel!a} is not a relative path of [A-Za-z0-9._-] components"
    if parts[0] == INDEX_NAME or parts[0].startswith(STAGING_PREFIX):
        return f"{rel!a} is reserved for mlspec's own bookkeeping"
    return None


def _render_all(artifacts: Sequence[Artifact], source: str, show: _Display) -> dict[str, str]:
    """Each artifact's exact text by path; refuses unsafe, colliding or unwritable ones."""
    diags: list[Diagnostic] = []
    texts: dict[str, str] = {}
    by_folded: dict[str, str] = {}
    for artifact in artifacts:
        problem = _path_problem(artifact.path)
        if problem is not None:
            diags.append(_unsafe(show(""), f"an artifact of target {artifact.target}: {problem}"))
            continue
        text = artifact.render(source)
        problem = _collision(artifact.path, by_folded) or _text_problem(text)
        if problem is not None:
            diags.append(_unsafe(show(artifact.path), problem))
            continue
        texts[artifact.path] = text
        by_folded[artifact.path.lower()] = artifact.path
    folders = {folder for path in texts for folder in _folders(path)}
    diags += [_unsafe(show(path), "is both a file and the folder of other outputs")
              for path in sorted(folders & texts.keys())]
    if diags:
        raise _Refused(diags)
    return texts


def _collision(path: str, by_folded: Mapping[str, str]) -> str | None:
    """Two outputs at one path, or at paths that differ only in case (one file on macOS/Windows)."""
    other = by_folded.get(path.lower())
    if other is None:
        return None
    return "is produced twice" if other == path else f"differs from {other} only in case"


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


def _read(root: Path, rel: str, show: _Display) -> bytes | None:
    """The bytes at ``root/rel`` (never through a final symlink), or None if absent."""
    try:
        fd = os.open(root / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Refused([_unsafe(show(rel), f"cannot be read: {_os_error(exc)}")]) from None


# ---------------------------------------------------------------------------- the index


def _read_index(root: Path, force: bool, show: _Display) -> dict[str, _IndexEntry]:
    """The previous run's index. A missing one is empty; an unreadable one is refused
    (hand-edited) unless ``force``, which rebuilds it (then no orphans are removed)."""
    problem = _walk_problem(root, INDEX_NAME)
    if problem is not None:
        raise _Refused([_unsafe(show(INDEX_NAME), problem)])
    data = _read(root, INDEX_NAME, show)
    if data is None:
        return {}
    entries = _parse_index(data)
    if entries is None and not force:
        raise _Refused([Diagnostic(
            codes.HAND_EDITED, "the index of generated files is not in mlspec's format",
            file=show(INDEX_NAME),
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
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if all(isinstance(e.sha256, str) and _SHA256.fullmatch(e.sha256) for e in entries.values()):
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


def _plan(
    artifacts: Sequence[Artifact], texts: Mapping[str, str], root: Path, source: str,
    force: bool, show: _Display, scope: Collection[str] | None = None,
) -> list[_Plan]:
    """Classify every output and orphan (sorted by path), then the index; reads only."""
    old = _read_index(root, force, show)
    # Files of targets outside this run's scope are neither outputs nor orphans: keep them.
    kept = {p: e for p, e in old.items() if scope is not None and e.target is not None
            and e.target not in scope and p not in texts}
    old = {p: e for p, e in old.items() if p not in kept}
    unsafe = [_unsafe(show(INDEX_NAME), f"lists an unsafe path: {problem}") for path in sorted(old)
              if (problem := _path_problem(path)) is not None]
    if unsafe:
        raise _Refused(unsafe)
    paths = sorted(texts.keys() | old.keys())
    unsafe = [_unsafe(show(path), problem) for path in paths
              if (problem := _walk_problem(root, path)) is not None]
    if unsafe:
        raise _Refused(unsafe)
    produced = {a.path: a for a in artifacts}
    plans = []
    for path in paths:
        if path in produced:
            artifact = produced[path]
            plans.append(_plan_output(root, path, artifact.target, artifact.kind, texts[path],
                                      old.get(path), show))
        elif (orphan := _plan_orphan(root, path, old[path], show)) is not None:
            plans.append(orphan)
    index = _index_text(artifacts, texts, source, kept)
    return [*plans, _plan_output(root, INDEX_NAME, None, None, index, None, show)]


def _plan_output(
    root: Path, path: str, target: str | None, kind: str | None, text: str,
    entry: _IndexEntry | None, show: _Display,
) -> _Plan:
    """Create, keep, update or (with a refusal unless forced) replace one produced file."""
    data = _read(root, path, show)
    if data is None:
        return _Plan(FileChange(path, "create", target, kind), "absent", text)
    if data == text.encode("utf-8"):
        return _Plan(FileChange(path, "unchanged", target, kind), "same", None)
    # The index is mlspec's by name; it is rewritten whatever it holds.
    state: _State = "pristine" if path == INDEX_NAME else _state(data, entry)
    change = FileChange(path, _CHANGE_OF[state], target, kind, _diff(path, data, text))
    return _Plan(change, state, text)


def _plan_orphan(root: Path, path: str, entry: _IndexEntry, show: _Display) -> _Plan | None:
    """Remove a file the old index lists and the spec no longer produces (None: already gone)."""
    data = _read(root, path, show)
    if data is None:
        return None
    return _Plan(FileChange(path, "remove", entry.target, entry.kind), _state(data, entry), None)


def _state(data: bytes, entry: _IndexEntry | None) -> _State:
    """Whose file this is: untouched mlspec output, edited mlspec output, or foreign."""
    if entry is not None and hashlib.sha256(data).hexdigest() == entry.sha256:
        return "pristine"
    try:
        header = split_header(data.decode("utf-8"))
    except UnicodeDecodeError:
        header = None
    if header is not None:
        digest, body = header
        return "pristine" if sha256_text(body) == digest else "edited"
    return "edited" if entry is not None else "foreign"


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


# ---------------------------------------------------------------------------- writing


def _apply(root: Path, plans: Sequence[_Plan], show: _Display) -> list[Diagnostic]:
    """Carry out ``plans`` (the index last); an OS error part-way becomes an MS505."""
    try:
        _write_and_remove(root, plans)
    except OSError as exc:
        return [_unsafe(
            show(""), f"writing stopped part-way: {_os_error(exc)}",
            "Files already moved into place stay; the index still describes the previous "
            "output, so `mlspec compile --check` lists what is out of date. Fix the cause "
            "and run `mlspec compile` again.")]
    return []


def _write_and_remove(root: Path, plans: Sequence[_Plan]) -> None:
    """Stage every new file, remove orphans, move each file into place, fsync folders.

    ``plans`` ends with the index, so it is replaced only after everything else.
    """
    *files, index = plans
    staging = Path(tempfile.mkdtemp(dir=root, prefix=STAGING_PREFIX))
    try:
        staged = [(plan.change.path, _stage(staging, number, plan.text))
                  for number, plan in enumerate(files) if plan.text is not None]
        staged_index = _stage(staging, len(files), index.text) if index.text is not None else None
        touched = {root}
        # Orphans go first: on a case-insensitive file system an orphan `A.py` and a new
        # `a.py` are one file, which removing afterwards would delete.
        for plan in files:
            if plan.change.action == "remove":
                os.unlink(root / plan.change.path)
                touched.add(_prune_empty_folders(root, (root / plan.change.path).parent))
        for rel, tmp in staged:
            touched.add(_move_into_place(root, tmp, rel))
        if staged_index is not None:
            touched.add(_move_into_place(root, staged_index, INDEX_NAME))
        for folder in sorted(touched):
            if folder.is_dir():  # removing a later orphan may have pruned an earlier one's folder
                _fsync_dir(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(root: Path, staged: Path, rel: str) -> Path:
    """``os.replace`` the staged file to ``root/rel``, creating folders; returns the folder."""
    folder = (root / rel).parent
    folder.mkdir(parents=True, exist_ok=True)
    os.replace(staged, root / rel)
    return folder


def _stage(staging: Path, number: int, text: str) -> Path:
    """Write ``text`` to a new file in the staging folder, mode 0644, flushed to disk."""
    path = staging / f"{number:05d}"
    with open(path, "x", newline="\n", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fchmod(f.fileno(), _FILE_MODE)
        os.fsync(f.fileno())
    return path


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
