"""The one way mlspec reads a user's file: bounded, regular files only, never blocking.

Every file a user names or a command finds (the spec, metrics JSON, monitoring state,
registry pointers, the run cache, data files, models to hash) is opened here, because the
obvious ``open(path).read()`` has three hazards a hostile or simply unlucky path exploits:

* a FIFO blocks ``open`` (and then ``read``) forever; a character device such as
  ``/dev/zero`` never ends, and its ``st_size`` is 0, so a size check that trusts
  ``stat`` lets it fill memory (6.5 GB in 4 s was measured before this module);
* a symbolic link where a link is a hazard (a registry pointer turned into a link to a
  credentials file) reads a file the command should never see;
* an unbounded read of a huge file.

So: open with ``O_NONBLOCK`` (a FIFO opens at once instead of waiting for a writer), then
``fstat`` the *descriptor* (no race with a rename) and refuse anything but a regular file;
optionally ``O_NOFOLLOW``; then read at most ``max_bytes + 1`` bytes, whatever ``st_size``
says, and refuse when the extra byte arrives. Refusals are :class:`ReadRefused` with a
reason fit for a diagnostic: it never contains the file's content.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from typing import BinaryIO

__all__ = ["ReadRefused", "open_regular", "read_bytes", "read_text"]

_CHUNK = 1 << 20


class ReadRefused(Exception):
    """A file that cannot or may not be read. ``reason`` completes "<file> …"."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> BinaryIO:
    """``path`` opened for binary reading, after proving it is a regular file.

    Raises :class:`ReadRefused` for a missing file, a symbolic link (with
    ``follow_symlinks=False``), a folder, FIFO, device or socket, or any OS error.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ReadRefused("does not exist", missing=True) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise ReadRefused("is a symbolic link, which mlspec does not follow here") from None
        raise ReadRefused(f"cannot be opened: {exc.strerror or type(exc).__name__}") from None
    except ValueError:  # a NUL in the path
        raise ReadRefused("is not a valid path") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ReadRefused(f"is {_kind(mode)}, not a regular file")
        # Regular files ignore O_NONBLOCK, but clear it so the descriptor behaves as usual.
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):
            raise ReadRefused(f"cannot be read: {exc.strerror or type(exc).__name__}") from None
        raise


def read_bytes(path: str | os.PathLike[str], max_bytes: int, *, follow_symlinks: bool = True) -> bytes:
    """At most ``max_bytes`` of a regular file; :class:`ReadRefused` when it holds more."""
    with open_regular(path, follow_symlinks=follow_symlinks) as fh:
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        try:
            while remaining > 0:
                chunk = fh.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        except OSError as exc:
            raise ReadRefused(f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise ReadRefused(f"is larger than the {_size(max_bytes)} limit")
    return data


def read_text(path: str | os.PathLike[str], max_bytes: int, *, follow_symlinks: bool = True) -> str:
    """A bounded regular file as UTF-8 (a byte-order mark is dropped)."""
    data = read_bytes(path, max_bytes, follow_symlinks=follow_symlinks)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadRefused(f"is not UTF-8 (byte {exc.start} cannot be decoded)") from None


def _size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"
