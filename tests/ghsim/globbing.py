"""The ``@actions/glob`` pattern dialect (hashFiles, upload-artifact, cache paths).

Unlike the filter patterns of ``on.<event>.paths``, here ``?`` is one character, ``*`` and ``?``
also match dot files, ``**`` as a whole segment spans directories, a ``!`` line excludes, and a
matched directory brings every file below it (``implicitDescendants``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_GLOB_CHARS = set("*?[")


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = segment.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = segment[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Pattern:
    negate: bool
    absolute: str  # normalised, absolute, may contain glob characters
    search_path: Path
    regex: re.Pattern[str]
    dirs_only: bool

    def matches(self, path: str) -> bool:
        return bool(self.regex.match(path))


def parse_pattern(line: str, cwd: Path, home: Path) -> Pattern | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    negate = False
    while text.startswith("!"):
        negate = not negate
        text = text[1:].strip()
    if text == "~" or text.startswith("~/"):
        text = str(home) + text[1:]
    dirs_only = text.endswith("/") and len(text) > 1
    path = text if os.path.isabs(text) else os.path.join(str(cwd), text)
    segments = [s for s in os.path.normpath(path).split("/") if s]
    literal: list[str] = []
    for s in segments:
        if _GLOB_CHARS & set(s):
            break
        literal.append(s)
    regex = ""
    for idx, s in enumerate(segments):
        if s == "**":
            regex += "(?:/.*)?" if idx == len(segments) - 1 else "(?:/[^/]+)*"
        else:
            regex += "/" + _segment_regex(s)
    return Pattern(negate, "/" + "/".join(segments), Path("/" + "/".join(literal)),
                   re.compile(regex + r"\Z"), dirs_only)


def _walk(root: Path) -> Iterable[tuple[str, bool]]:
    """(path, is_dir) for root and everything below it."""
    if root.is_file():
        yield str(root), False
        return
    if not root.is_dir():
        return
    yield str(root), True
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                if os.path.isdir(full):
                    yield full, True
                continue
            yield full, True
        for f in sorted(filenames):
            yield os.path.join(dirpath, f), False


def _files_below(path: str) -> list[str]:
    return [p for p, is_dir in _walk(Path(path)) if not is_dir]


def glob_files(lines: Iterable[str], cwd: Path, home: Path, *,
               include_hidden: bool = True) -> tuple[list[Path], list[Path]]:
    """(matched files, sorted and unique; the search paths of the include patterns)."""
    patterns = [p for p in (parse_pattern(line, cwd, home) for line in lines) if p is not None]
    includes = [p for p in patterns if not p.negate]
    excludes = [p for p in patterns if p.negate]
    found: set[str] = set()
    for pat in includes:
        for path, is_dir in _walk(pat.search_path):
            if pat.dirs_only and not is_dir:
                continue
            if pat.matches(path):
                if is_dir:
                    found.update(_files_below(path))
                else:
                    found.add(path)
    result: list[Path] = []
    for f in sorted(found):
        if any(ex.matches(f) or any(ex.matches(str(parent)) for parent in Path(f).parents) for ex in excludes):
            continue
        if not include_hidden:
            # @actions/glob checks the name of every item it walks, the search path itself included.
            root = next((p.search_path for p in includes if f == str(p.search_path)
                         or f.startswith(str(p.search_path) + os.sep)), Path(f))
            rel = Path(f).relative_to(root.parent)
            if any(part.startswith(".") for part in rel.parts):
                continue
        result.append(Path(f))
    return result, [p.search_path for p in includes]


def hash_files(patterns: Iterable[str], workspace: Path, home: Path) -> str:
    """``hashFiles()``: SHA-256 over the SHA-256 of each matched file inside the workspace, or ''."""
    files, _ = glob_files(patterns, workspace, home)
    outer = hashlib.sha256()
    count = 0
    for f in files:
        if not str(f).startswith(str(workspace) + os.sep) or not f.is_file():
            continue
        outer.update(hashlib.sha256(f.read_bytes()).digest())
        count += 1
    return outer.hexdigest() if count else ""


def least_common_ancestor(paths: list[Path]) -> Path:
    return Path(os.path.commonpath([str(p) for p in paths]))
