"""Data pins that identify content: what ``governance.require_pinned_data`` accepts.

A tag such as ``v3`` or ``2026-11-01`` names data that can change under the same name; these
forms name one content, so a registered version says exactly what it was trained on:

``sha256:<64 hex>``        the SHA-256 of the data's bytes (a folder: of its files' relative
                            paths and contents, as ``mlspec audit`` prints it); checked whenever
                            the pipeline reads the data
``dvc:<32 or 40 hex>``     the md5 DVC records for the data (its ``.dvc`` file or ``dvc.lock``),
                            checked against a ``<uri>.dvc`` beside the data; or the full git
                            commit of a DVC revision
``lakefs:<64 hex>``        a lakeFS commit id (the URI names the repository and path)
``s3-version:<id>``        an S3 object version id (``s3://`` sources in a versioned bucket)
"""

from __future__ import annotations

import re

FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "sha256": (re.compile(r"[0-9a-f]{64}"), "64 lowercase hex digits"),
    "dvc": (re.compile(r"[0-9a-f]{32}|[0-9a-f]{40}"), "a 32-hex-digit md5 or a 40-hex-digit git commit"),
    "lakefs": (re.compile(r"[0-9a-f]{64}"), "a 64-hex-digit lakeFS commit id"),
    "s3-version": (re.compile(r"[A-Za-z0-9._]{1,190}"), "an S3 version id (letters, digits, '.', '_')"),
}
HINT = ("pin the content: 'sha256:<hex>' (the data's SHA-256), 'dvc:<md5 or commit>', 'lakefs:<commit id>' or "
        "'s3-version:<version id>'; a tag or a date can name different data tomorrow")


def parse(pin: str) -> tuple[str, str] | None:
    """``(kind, value)`` of a content pin, or None when ``pin`` is not one of the forms."""
    kind, sep, value = pin.partition(":")
    form = FORMATS.get(kind)
    if not sep or form is None or not form[0].fullmatch(value):
        return None
    return kind, value


def problem(pin: str, uri: str) -> str | None:
    """Why ``pin`` does not identify the content of the data at ``uri``; None when it does."""
    kind, sep, value = pin.partition(":")
    form = FORMATS.get(kind)
    if not sep or form is None:
        return f"{pin!r} is a name, not a content pin"
    if not form[0].fullmatch(value):
        return f"{pin!r} is not a {kind} pin: after '{kind}:' comes {form[1]}"
    if kind == "s3-version" and not uri.startswith("s3://"):
        return f"{pin!r} is an S3 object version, but the data is not in S3 ({uri[:100]})"
    return None
