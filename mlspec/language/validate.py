"""Document → Spec: validate loaded data against the language models.

Pydantic errors are translated into diagnostics with stable codes, the user's position
(value span by default, key span for unknown keys, the parent for missing ones) and a
hint, usually "did you mean …".
"""

from __future__ import annotations

import types
import typing
import unicodedata
from typing import Any

from pydantic import BaseModel, ValidationError

from mlspec import diagnostics as dx
from mlspec.diagnostics import Diagnostic, SpecPath
from mlspec.suggest import closest, did_you_mean
from mlspec.language.document import Document
from mlspec.language.models import Spec
from mlspec.language.types import type_word

# Mappings whose keys are the user's data, not language keys: `x-` is not special there.
_DATA_KEYED = (("data", "*", "schema"),)


# The last document's stripped copy: validation and three rules strip the same data in a row.
# The cache holds the source object itself, so `is` cannot match a new object at a reused id.
_last_stripped: tuple[Any, Any] | None = None


def strip_extensions(data: Any, path: SpecPath = ()) -> Any:
    """A copy of ``data`` without ``x-`` keys (extensions), except in data-keyed mappings.
    The copy of a whole document is shared by its callers, which only read it."""
    global _last_stripped
    if path:
        return _strip(data, path)
    if _last_stripped is not None and _last_stripped[0] is data:
        return _last_stripped[1]
    result = _strip(data, ())
    _last_stripped = (data, result)
    return result


def _strip(data: Any, path: SpecPath) -> Any:
    if isinstance(data, dict):
        keep_all = any(_matches(path, pattern) for pattern in _DATA_KEYED)
        return {k: _strip(v, (*path, k)) for k, v in data.items()
                if keep_all or not k.startswith("x-")}
    if isinstance(data, list):
        return [_strip(v, (*path, i)) for i, v in enumerate(data)]
    return data


def _matches(path: SpecPath, pattern: tuple[str, ...]) -> bool:
    return len(path) == len(pattern) and all(p == "*" or p == q for p, q in zip(pattern, path))


def validate_spec(doc: Document) -> tuple[Spec | None, list[Diagnostic]]:
    """Validate ``doc.data`` against :class:`Spec`; never raises for bad input."""
    global _last_stripped
    if doc.keys and not any(isinstance(p[-1], str) and p[-1].startswith("x-") for p in doc.keys):
        _last_stripped = (doc.data, doc.data)  # the loader's key table says there is nothing to strip
    data = strip_extensions(doc.data)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        return None, translate_errors(exc, doc)
    return _inherit_schemas(spec, doc)


def _inherit_schemas(spec: Spec, doc: Document) -> tuple[Spec | None, list[Diagnostic]]:
    """Resolve ``schema_from``: every later stage sees the contract as if written in place."""
    pending = {n: s.schema_from[len("data."):] for n, s in spec.data.items() if s.schema_from}
    if not pending:
        return spec, []
    diags: list[Diagnostic] = []

    def err(name: str, code: str, message: str, hint: str) -> None:
        path = ("data", name, "schema_from")
        diags.append(Diagnostic(code, message, span=doc.span(path), path=path, hint=hint))

    data = dict(spec.data)
    for name, target in sorted(pending.items()):
        if spec.data[name].schema_ is not None:
            err(name, dx.SCHEMA_FROM, f"data source {name!r} has both `schema` and `schema_from`",
                "keep one: the contract comes from one place")
            continue
        seen, current = [name], target
        while current in pending and current not in seen:
            seen.append(current)
            current = pending[current]
        if current not in spec.data:
            err(name, dx.UNKNOWN_REFERENCE, f"unknown reference 'data.{current}' in data.{name}.schema_from",
                did_you_mean(f"data.{current}", [f"data.{d}" for d in spec.data]) or "name a data source that has a `schema`")
        elif current in seen:
            err(name, dx.SCHEMA_FROM, "schema_from loops: " + " → ".join(f"data.{s}" for s in [*seen, current]),
                "one source in the loop must write its `schema`")
        elif spec.data[current].schema_ is None:
            err(name, dx.SCHEMA_FROM, f"data.{current} has no `schema` to share with data.{name}",
                f"write the contract under data.{current}.schema")
        else:
            data[name] = spec.data[name].model_copy(update={"schema_": spec.data[current].schema_})
    if diags:
        return None, dx.sort_diagnostics(diags)
    return spec.model_copy(update={"data": data}), []


def translate_errors(exc: ValidationError, doc: Document, prefix: SpecPath = (),
                     root: type[BaseModel] = Spec) -> list[Diagnostic]:
    """Diagnostics for a pydantic error of ``root`` validated at ``prefix`` of ``doc``."""
    return dx.sort_diagnostics(
        _translate(err, doc, prefix, root) for err in exc.errors(include_url=False))


# --------------------------------------------------------------------------- translation

_TYPE_EXPECTED = {
    "string_type": "a string", "int_type": "an integer", "float_type": "a number",
    "bool_type": "true or false", "dict_type": "a mapping", "list_type": "a list",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "int_from_float": "an integer",
    "none_required": "null",
}
_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number",
          "too_long", "too_short", "multiple_of"}
_BOOLISH = {"yes", "no", "on", "off", "y", "n", "True", "False", "TRUE", "FALSE", "Yes", "No"}


def show(value: Any, limit: int = 60) -> str:
    """A user value for a message: quoted, escaped (no terminal control), shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _translate(err: dict[str, Any], doc: Document, prefix: SpecPath,
               root: type[BaseModel]) -> Diagnostic:
    kind: str = err["type"]
    loc = tuple(err["loc"])
    local: SpecPath = tuple(x for x in loc if x != "[key]")
    value = err.get("input")
    ctx = err.get("ctx") or {}
    path: SpecPath = (*prefix, *local)
    key_error = bool(loc) and loc[-1] == "[key]"
    where = dx.format_path(path) or "the top level"
    hint = ctx.get("hint") or None
    span = doc.span(path, key=key_error)

    if kind == "extra_forbidden":
        parent, key = path[:-1], path[-1]
        known = _known_keys(root, local[:-1])
        message = f"unknown key {show(key)} in {dx.format_path(parent) or 'the top level'}"
        hint = _did_you_mean(str(key), known) or (
            f"allowed keys: {', '.join(known)}" if known else None)
        odd = _non_ascii_note(str(key))
        if odd:
            hint = f"{hint}; {odd}" if hint else odd
        return Diagnostic(dx.UNKNOWN_KEY, message, span=doc.span(path, key=True), path=path, hint=hint)

    if kind == "missing":
        parent, key = path[:-1], path[-1]
        if path == ("mlspec",):
            hint = "start the file with 'mlspec: 1'"
        description = _field_description(root, local[:-1], str(key))
        return Diagnostic(dx.MISSING_KEY, f"missing required key {show(key)} in "
                          f"{dx.format_path(parent) or 'the top level'}",
                          span=doc.span(parent, key=True) if parent else doc.span(()),
                          path=path, hint=hint or description)

    if path == ("mlspec",):
        return Diagnostic(dx.UNSUPPORTED_VERSION,
                          f"unsupported language version {show(value)}; this mlspec reads version 1",
                          span=span, path=path, hint="write 'mlspec: 1' (an integer, not a string)")

    if kind.startswith("MS"):
        message = err["msg"]
        return Diagnostic(kind, f"{message} in {where}", span=span, path=path, hint=hint)

    if kind in _TYPE_EXPECTED:
        expected = _TYPE_EXPECTED[kind]
        message = f"expected {expected} in {where}, got {type_word(value)}"
        if isinstance(value, (str, int, float)):  # bool is an int
            message += f" {show(value)}"
        raw = _raw_text(doc, path)
        if kind == "string_type" and isinstance(value, (int, float)) and raw:
            hint = f'quote it to keep it as text: "{raw}"' if raw.replace(".", "").replace("-", "").isdigit() \
                else "quote it to make it text"
        elif kind == "string_type" and isinstance(value, bool):
            hint = "quote it to make it text"
        elif kind == "bool_type" and isinstance(value, str) and value in _BOOLISH:
            hint = "only true and false are booleans in mlspec"
        elif kind in ("int_type", "float_type") and isinstance(value, str):
            hint = "write a plain number without quotes, such as 3 or 0.5"
        elif kind == "int_from_float":
            hint = "write a whole number such as 3"
        return Diagnostic(dx.WRONG_TYPE, message, span=span, path=path, hint=hint)

    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        message = f"invalid value {show(value)} in {where}; expected {expected}"
        hint = _did_you_mean(str(value), options) if isinstance(value, str) else None
        return Diagnostic(dx.INVALID_CHOICE, message, span=span, path=path, hint=hint)

    if kind == "string_pattern_mismatch":
        return Diagnostic(dx.INVALID_NAME, f"invalid value {show(value)} in {where}: must match "
                          f"{ctx.get('pattern')}", span=span, path=path)

    if kind in ("string_too_long", "string_too_short"):
        return Diagnostic(dx.INVALID_STRING, f"{err['msg']} in {where}", span=span, path=path)

    if kind in _RANGE:
        bound = err["msg"].replace("Input should be ", "must be ").replace("Value should have", "must have")
        subject = show(value) if isinstance(value, (int, float, str)) else "the value"
        return Diagnostic(dx.OUT_OF_RANGE, f"{subject} is out of range in {where}: {bound}", span=span, path=path)

    # A pydantic error kind we did not anticipate: still a clean, positioned diagnostic.
    return Diagnostic(dx.WRONG_TYPE, f"{err['msg']} in {where}", span=span, path=path)


def _raw_text(doc: Document, path: SpecPath) -> str | None:
    """The value's text as the user wrote it (``3.10``, not ``3.1``)."""
    span = doc.values.get(path)
    if not span or span.end_line != span.line or span.end_column is None:
        return None
    lines = doc.text.splitlines()
    if not 0 < span.line <= len(lines):
        return None
    return lines[span.line - 1][span.column - 1: span.end_column - 1] or None


def _did_you_mean(word: str, options: list[str]) -> str | None:
    match = closest(word, options)
    return f"did you mean {show(match)}?" if match else None


def _non_ascii_note(key: str) -> str | None:
    odd = [c for c in key if not c.isascii()]
    if not odd:
        return None
    c = odd[0]
    return f"the key contains the non-ASCII character U+{ord(c):04X} {unicodedata.name(c, '?')}"


# --------------------------------------------------------------------------- model walking


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated layers to the interesting type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def model_at(path: SpecPath, root: type[BaseModel] = Spec) -> Any:
    """The model class (or container type) that validates the value at ``path`` under ``root``."""
    current: Any = root
    for item in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _field(current, str(item))
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
    return _unwrap(current)


def _field(model: type[BaseModel], key: str):
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return field
    return None


def _known_keys(root: type[BaseModel], path: SpecPath) -> list[str]:
    model = model_at(path, root)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _field_description(root: type[BaseModel], path: SpecPath, key: str) -> str | None:
    model = model_at(path, root)
    if isinstance(model, type) and issubclass(model, BaseModel):
        field = _field(model, key)
        if field is not None and field.description:
            return f"{key}: {field.description}"
    return None
