"""`mlspec init`: a commented starter spec that validates.

The files are created the safe way: the folder is opened without following a final
symbolic link, and each file is created relative to it with ``O_CREAT | O_EXCL |
O_NOFOLLOW``, so a planted link (``mlproject.yaml -> ~/.bashrc``, or a dangling one that
would create its target) is refused instead of written through. ``--force`` replaces an
existing *regular* file atomically (a new file renamed over it), never a link.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

SPEC_NAME = "mlproject.yaml"
SCHEMA_NAME = "mlproject.schema.json"


class ScaffoldError(ValueError):
    """The folder or a file in it cannot be written safely."""


def project_name_for(directory: Path) -> str:
    """A valid project name derived from a folder name ('My Project' -> 'my-project')."""
    name = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:40].rstrip("-")
    return name or "my-model"


def init_project(directory: Path, *, name: str | None = None, force: bool = False) -> Path:
    from mlspec.schema import schema_text
    from mlspec.output.templating import render

    name = name or project_name_for(directory)
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", name):
        raise ValueError(f"invalid project name {name!r}: lowercase letters, digits and '-', "
                         "starting with a letter")
    text = render("init/mlproject.yaml.j2", name=name, module=name.replace("-", "_"), python="3.11")
    target = directory / SPEC_NAME
    with _folder(directory) as dir_fd:
        # Both entries are checked before either is written: no half-done scaffold.
        spec_exists = _entry(dir_fd, SPEC_NAME, directory)
        schema_exists = _entry(dir_fd, SCHEMA_NAME, directory)
        if spec_exists and not force:
            raise FileExistsError(f"{target} already exists")
        _write(dir_fd, SPEC_NAME, text, replace=spec_exists)
        # The modeline points here, so editors autocomplete offline from the first keystroke.
        # The schema file is mlspec's by name: refreshed when it is a regular file.
        _write(dir_fd, SCHEMA_NAME, schema_text(), replace=schema_exists)
    return target


@contextlib.contextmanager
def _folder(directory: Path) -> Iterator[int]:
    """The folder as a descriptor, created if missing; a symbolic link is refused."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        directory.mkdir(parents=True)
        st = os.lstat(directory)
    if stat.S_ISLNK(st.st_mode):
        raise ScaffoldError(f"{directory} is a symbolic link; mlspec init does not write through links")
    if not stat.S_ISDIR(st.st_mode):
        raise ScaffoldError(f"{directory} is not a folder")
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _entry(dir_fd: int, name: str, directory: Path) -> bool:
    """Whether ``name`` exists in the folder; refuses anything but a regular file."""
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise ScaffoldError(f"{directory / name} is a symbolic link; mlspec init does not write through links "
                            "(remove the link first)")
    if not stat.S_ISREG(st.st_mode):
        raise ScaffoldError(f"{directory / name} is in the way: it is not a regular file")
    return True


def _write(dir_fd: int, name: str, text: str, *, replace: bool) -> None:
    """Create ``name`` exclusively; with ``replace``, create a temporary file exclusively and
    rename it over the existing regular file (the rename replaces the entry, never follows)."""
    data = text.encode("utf-8")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    temp = f".{name}.{os.getpid()}.tmp" if replace else name
    fd = os.open(temp, flags, 0o644, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        if replace:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
        raise
