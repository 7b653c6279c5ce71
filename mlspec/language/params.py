"""Parameters: ``params_file`` (read with the spec's own strict loader) merged with ``params``.

The result is one tree of values; every node depends only on the keys it interpolates
(``${params.train.n_est}``) or lists under its own ``params:``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mlspec import diagnostics as dx
from mlspec.diagnostics import Diagnostic, Severity, Span, SpecPath
from mlspec.language.document import Document
from mlspec.language.models import Spec
from mlspec.language.types import ParamValue


@dataclass(frozen=True)
class LoadedParams:
    """The parameters in effect, and where each was written."""

    values: dict[str, Any]                               # the merged tree
    spans: dict[tuple[str, ...], Span] = field(default_factory=dict)   # key spans in the params file
    file: str | None = None                              # the params file as diagnostics name it


def load_params(spec: Spec, doc: Document) -> tuple[LoadedParams, list[Diagnostic]]:
    """The parameter tree and the problems of ``params_file`` (positioned in that file)."""
    from mlspec.language.loader import load_document

    params: dict[str, Any] = dict(spec.params)
    if spec.params_file is None:
        return LoadedParams(params), []
    base = doc.path.parent if doc.path is not None else Path(".")
    # Named like the spec is named (relative to where the user stands), so file:line:col opens.
    shown = posixpath.normpath(posixpath.join(posixpath.dirname(doc.file.replace("\\", "/")), spec.params_file))
    where: SpecPath = ("params_file",)
    path = base / spec.params_file
    if not path.is_file():
        return LoadedParams(params), [Diagnostic(dx.PARAMS_FILE, f"params file {spec.params_file!r} does not exist",
                                   span=doc.span(where), path=where,
                                   hint="create it, or remove `params_file`")]
    pdoc, diags = load_document(path, display_name=shown)
    if pdoc is None:
        return LoadedParams(params, file=shown), diags
    data = pdoc.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return LoadedParams(params, file=shown), [Diagnostic(dx.PARAMS_FILE, f"params file {spec.params_file!r} must hold a mapping of "
                                   "parameters", file=shown, span=pdoc.span(()), hint="write `name: value` lines")]
    out: list[Diagnostic] = list(diags)
    adapter = TypeAdapter(ParamValue)
    for key, value in data.items():
        try:
            checked = adapter.validate_python({key: value})
        except ValidationError as exc:
            err = exc.errors()[0]
            code = err["type"] if err["type"].startswith("MS") else dx.WRONG_TYPE
            out.append(Diagnostic(code, f"params file: {err['msg']}", file=shown, span=pdoc.span((key,)),
                                  hint=(err.get("ctx") or {}).get("hint") or None))
            continue
        if key in params:
            out.append(Diagnostic(dx.PARAM_DEFINED_TWICE, f"parameter {key!r} is defined in `params` and in "
                                  f"{shown}", span=doc.span(("params", key), key=True), path=("params", key),
                                  hint="keep one of the two"))
            out.append(Diagnostic(dx.PARAM_DEFINED_TWICE, f"parameter {key!r} is also defined in `params`",
                                  file=shown, span=pdoc.span((key,), key=True), hint="keep one of the two",
                                  severity=Severity.ERROR))
            continue
        params[key] = checked[key]
    spans = {tuple(str(k) for k in path): span for path, span in pdoc.keys.items()}
    return LoadedParams(params, spans, shown), out


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every dotted key of the tree with its value: mappings as their own entry and their leaves."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        out[dotted] = value
        if isinstance(value, dict):
            out.update(flatten(value, dotted + "."))
    return out


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Only the leaves (scalars and lists) by dotted key: what the lock records."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
