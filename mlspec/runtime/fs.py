"""One way to reach a file system by URI: local folders and object stores (s3://, gs://,
az:// and abfss://) through pyarrow's file systems, which the runtime already depends on
for reading data (one dependency, and the same code path against S3-compatible stores via
``endpoint``). Note: closing a pyarrow output stream — also when an exception leaves the
``with`` block — completes the upload, so a partial object can become visible; writers that
must be atomic upload to a temporary key and copy it into place (see ``runtime/store.py``).

Errors are :class:`FsError` with a message fit for a diagnostic; callers turn them into
positioned diagnostics (exit 1), never tracebacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

OBJECT_SCHEMES = ("s3", "gs", "gcs", "az", "abfss")


class FsError(Exception):
    """A store or file system could not be reached or used; the message says why."""


@dataclass(frozen=True)
class Location:
    fs: Any                            # pyarrow.fs.FileSystem
    root: str                          # path inside ``fs`` (no trailing slash)
    uri: str                           # as the user wrote it (for messages; never with credentials)
    remote: bool

    def join(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *(p.strip("/") for p in parts if p)])


def scheme_of(uri: str) -> str | None:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep else None


def open_location(uri: str, *, base_dir: str | os.PathLike[str] = ".", endpoint: str | None = None) -> Location:
    """The file system and root path of ``uri``: a relative folder (resolved against
    ``base_dir``), ``file://``, or an object store. ``endpoint`` points S3 clients at an
    S3-compatible server (MinIO, moto, Ceph); credentials come from the environment
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``GOOGLE_APPLICATION_CREDENTIALS``,
    ``AZURE_STORAGE_*``), never from the spec."""
    try:
        import pyarrow.fs as pafs
    except ImportError:
        raise FsError(f"opening {uri!r} needs pyarrow, which the runtime extra installs: "
                      "pip install 'mlspec-compiler[runtime]'") from None

    scheme = scheme_of(uri)
    # The AWS convention, which pyarrow does not read by itself.
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    if scheme is None or scheme == "file":
        path = urlsplit(uri).path if scheme == "file" else os.path.join(os.fspath(base_dir), uri)
        return Location(pafs.LocalFileSystem(), os.path.abspath(path), uri, remote=False)
    if scheme not in OBJECT_SCHEMES:
        raise FsError(f"unsupported store scheme {scheme + '://'!r}: use s3://, gs://, az://, abfss:// or a "
                      "relative folder")
    try:
        if scheme == "s3":
            parts = urlsplit(uri)
            kwargs: dict[str, Any] = {}
            if endpoint:
                ep = urlsplit(endpoint)
                kwargs["endpoint_override"] = ep.netloc
                kwargs["scheme"] = ep.scheme or "https"
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            if region:
                kwargs["region"] = region
            fs = pafs.S3FileSystem(**kwargs)
            return Location(fs, f"{parts.netloc}{parts.path}".rstrip("/"), uri, remote=True)
        fs, path = pafs.FileSystem.from_uri(uri)
        return Location(fs, path.rstrip("/"), uri, remote=True)
    except (OSError, ValueError, TypeError) as exc:   # pyarrow raises ArrowInvalid (a ValueError) and OSError
        raise FsError(f"cannot open store {uri!r}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
