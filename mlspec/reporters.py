"""Render diagnostics as text (with a caret snippet), JSON, GitHub workflow commands or SARIF."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from mlspec.diagnostics import CREDENTIAL_VALUE, Diagnostic, Severity


def clean(text: str) -> str:
    """Escape anything that could drive a terminal (controls, bidi overrides)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _location(d: Diagnostic) -> str:
    loc = clean(d.file or "<spec>")
    if d.span:
        loc += f":{d.span.line}:{d.span.column}"
    return loc


def render_text(diags: Iterable[Diagnostic], sources: Mapping[str, str] | None = None) -> str:
    """One block per diagnostic: ``file:line:col: severity[CODE]: message``, snippet, hint."""
    out: list[str] = []
    sources = sources or {}
    for d in diags:
        out.append(f"{_location(d)}: {d.severity.value}[{d.code}]: {clean(d.message)}")
        text = sources.get(d.file or "")
        if text is not None and d.span:
            out.extend(_snippet(text, d))
        if d.hint:
            out.append(f"  hint: {clean(d.hint)}")
    return "\n".join(out) + ("\n" if out else "")


def _snippet(text: str, d: Diagnostic) -> list[str]:
    assert d.span
    lines = text.splitlines()
    if not 0 < d.span.line <= len(lines):
        return []
    raw = lines[d.span.line - 1]
    line = "".join(c if c.isprintable() else "?" for c in raw)[:200]
    start = max(d.span.column - 1, 0)
    if d.span.end_line == d.span.line and d.span.end_column and d.span.end_column > d.span.column:
        width = d.span.end_column - d.span.column
    else:
        width = 1
    width = max(1, min(width, len(line) - start if len(line) > start else 1))
    if d.code == CREDENTIAL_VALUE:
        # The value looks like a secret: the snippet shows where, never what.
        end = start + width if d.span.end_line == d.span.line else len(line)
        line = line[:start] + "*" * max(0, min(end, len(line)) - start) + line[end:]
    number = str(d.span.line)
    pad = " " * len(number)
    return [f"  {number} | {line}", f"  {pad} | {' ' * start}{'^' * width}"]


def summary(diags: list[Diagnostic]) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diags)
    warnings = len(diags) - errors
    parts = [f"{errors} error{'s' if errors != 1 else ''}"]
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts)


def render_json(diags: Iterable[Diagnostic], **extra: object) -> str:
    payload = dict(extra)
    payload["diagnostics"] = [d.to_json() for d in diags]
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diags: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands, which annotate the PR diff."""
    out = []
    for d in diags:
        props = []
        if d.file:
            props.append(f"file={_gh_prop(clean(d.file))}")
        if d.span:
            props.append(f"line={d.span.line},col={d.span.column}")
        props.append(f"title={_gh_prop(d.code)}")
        message = clean(d.message) + (f"\nhint: {clean(d.hint)}" if d.hint else "")
        level = "error" if d.severity is Severity.ERROR else "warning"
        out.append(f"::{level} {','.join(props)}::{_gh_data(message)}")
    return "\n".join(out) + ("\n" if out else "")


SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def render_sarif(diags: Iterable[Diagnostic]) -> str:
    """One SARIF 2.1.0 log (one run) for code scanning: a rule per code used, a result per diagnostic.

    Columns count characters like every mlspec position (``columnKind: unicodeCodePoints``);
    regions end exclusively, as SARIF's do. Paths are relative to the working folder, which is
    the repository root when CI runs ``mlspec`` there.
    """
    from mlspec._version import REPOSITORY_URL, __version__
    from mlspec.diagnostics import CODES, help_uri

    diags = list(diags)
    codes = sorted({d.code for d in diags})
    index = {code: i for i, code in enumerate(codes)}
    rules = []
    for code in codes:
        info = CODES.get(code)
        title = info.title if info else code
        explanation = info.explanation if info else title
        level = _sarif_level(info.severity if info else Severity.ERROR)
        rules.append({
            "id": code,
            "name": "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", title)),
            "shortDescription": {"text": title},
            "fullDescription": {"text": explanation},
            "helpUri": help_uri(code),
            "help": {"text": f"{explanation} See {help_uri(code)}",
                     "markdown": f"{explanation}\n\n[{code} in the mlspec docs]({help_uri(code)})"},
            "defaultConfiguration": {"level": level},
        })
    results = [_sarif_result(d, index[d.code]) for d in diags]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "mlspec", "version": __version__, "semanticVersion": __version__,
                                "informationUri": REPOSITORY_URL, "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _sarif_level(severity: Severity) -> str:
    return "error" if severity is Severity.ERROR else "warning"


def _sarif_uri(file: str) -> str:
    """A relative URI reference for ``file`` (percent-encoded), or a file URI outside the cwd."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return path.resolve().as_uri()
    posix = PurePosixPath(*path.parts).as_posix() if path.parts else file
    return quote(posix.replace(os.sep, "/"), safe="/")


def _sarif_result(d: Diagnostic, rule_index: int) -> dict[str, Any]:
    text = clean(d.message) + (f"\nhint: {clean(d.hint)}" if d.hint else "")
    result: dict[str, Any] = {"ruleId": d.code, "ruleIndex": rule_index, "level": _sarif_level(d.severity),
                              "message": {"text": text}}
    location: dict[str, Any] = {}
    if d.file:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _sarif_uri(d.file), "uriBaseId": "%SRCROOT%"}}
        if d.span:
            line, column = d.span.line, max(d.span.column, 1)
            end = (d.span.end_line or line, d.span.end_column or column + 1)
            if end <= (line, column):
                end = (line, column + 1)
            physical["region"] = {"startLine": line, "startColumn": column,
                                  "endLine": end[0], "endColumn": end[1]}
        location["physicalLocation"] = physical
    if d.path:
        location["logicalLocations"] = [{"fullyQualifiedName": d.dotted_path, "kind": "member"}]
    if location:
        result["locations"] = [location]
    return result


REPORTERS: dict[str, Callable[..., str]] = {"text": render_text, "json": render_json, "github": render_github,
                                            "sarif": render_sarif}
