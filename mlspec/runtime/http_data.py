"""Data sources at ``https://`` URLs: downloaded once per read into the project's cache, then read
like a local file.

- Plain ``http://`` is refused except to this machine (a test server, a local proxy): data read
  over an unauthenticated channel could be swapped on the way, and a pinned hash is the only
  defence left.
- A source pinned as ``version: sha256:<hex>`` is checked after the download; a mismatch is an
  error and the file is not kept.
- The file's modification time is the server's ``Last-Modified`` (else the download time), so
  ``mlspec freshness`` judges the data's age, not the download's.
- The size is bounded by ``$MLSPEC_MAX_DATA_BYTES`` like every other data read.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import posixpath
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from mlspec import diagnostics as dx
from mlspec.runtime.common import Failure

CACHE_DIR = ".mlspec/cache/http"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
TIMEOUT_SECONDS = 60
_CHUNK = 1 << 20


def _limit() -> int:
    from mlspec.runtime.data import DEFAULT_MAX_DATA_BYTES, MAX_DATA_BYTES_ENV

    try:
        return int(os.environ.get(MAX_DATA_BYTES_ENV) or DEFAULT_MAX_DATA_BYTES)
    except ValueError:
        return DEFAULT_MAX_DATA_BYTES


def cache_path(url: str, base: Path) -> Path:
    """Where ``url`` is kept: one folder per URL, the file keeping its name (its format)."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path) or "data"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:200].lstrip(".") or "data"
    return base / CACHE_DIR / hashlib.sha256(url.encode("utf-8")).hexdigest()[:24] / safe


def download(url: str, base: Path, shown: str, pin: str | None = None) -> Path:
    """Fetch ``url`` into the cache under ``base``; returns the local file."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK_HOSTS:
        raise Failure(dx.DATA_UNREADABLE, f"refusing to read {shown} over plain http://", file=shown,
                      hint="serve the data over https://, or pin it with `version: sha256:<hex>` and use https")
    want = pin.removeprefix("sha256:").lower() if pin and pin.startswith("sha256:") else None
    target = cache_path(url, base)
    target.parent.mkdir(parents=True, exist_ok=True)
    limit = _limit()
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "mlspec"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as resp:
            size = 0
            while chunk := resp.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise Failure(dx.DATA_UNREADABLE, f"{shown} is larger than the {limit} byte limit", file=shown,
                                  hint="raise it with MLSPEC_MAX_DATA_BYTES, or check a sample")
                digest.update(chunk)
                out.write(chunk)
            modified = resp.headers.get("Last-Modified")
        if want is not None and digest.hexdigest() != want:
            raise Failure(dx.DATA_UNREADABLE, f"{shown} does not match its pin: sha256 {digest.hexdigest()}, "
                          f"the spec pins {want}", file=shown,
                          hint="the data changed at its source: review it and update `version`, or restore it")
        os.replace(tmp, target)
    except urllib.error.HTTPError as exc:
        raise Failure(dx.DATA_UNREADABLE, f"cannot read {shown}: HTTP {exc.code} {exc.reason}", file=shown) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise Failure(dx.DATA_UNREADABLE, f"cannot read {shown}: {reason}", file=shown) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    stamp = _http_date(modified)
    if stamp is not None:
        os.utime(target, (stamp, stamp))
    return target


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
