"""Generate the reference docs from the code: the language from the models, the codes
from the registry. ``python -m mlspec.docsgen`` rewrites them; tests fail when they drift.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from mlspec.diagnostics import CODES

PHASES = {"0": "Loading", "1": "Schema", "2": "References and graph", "3": "Semantic rules",
          "4": "Target capability", "5": "Writing artifacts", "6": "Runtime commands", "9": "Internal"}


def diagnostics_md() -> str:
    out = ["# Diagnostic codes", "",
           "Every problem mlspec reports has a stable code. The first digit names the phase that "
           "finds it. Codes are never reused. This page is generated from `mlspec/diagnostics.py` "
           "(`python -m mlspec.docsgen`).", ""]
    phase = None
    for code, info in CODES.items():
        if code[2] != phase:
            phase = code[2]
            out += [f"## {PHASES[phase]} (MS{phase}xx)", ""]
        # An explicit anchor: SARIF helpUri and `mlspec explain` link to `#ms201`.
        out += [f'<a id="{code.lower()}"></a>', "", f"### {code}: {info.title}", "", f"Severity: {info.severity.value}.", "", info.explanation, ""]
        if info.example:
            out += ["Example:", "", "```yaml", info.example, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def _type_name(annotation: Any, schema: dict[str, Any] | None = None) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = _type_name(args[0])
        for meta in args[1:]:
            js = getattr(meta, "json_schema", None)
            if isinstance(js, dict) and "pattern" in js:
                return f"{inner} (pattern `{js['pattern']}`)"
            if isinstance(js, dict) and "anyOf" in js:
                return " or ".join(sorted({s.get("type", "?") for s in js["anyOf"]}))
        return inner
    if origin is typing.Literal:
        return " \\| ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping of {_type_name(args[0]).split(' (')[0]} → {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if annotation is typing.Any:
        return "any"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(annotation, str(annotation))


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    stack = [root]
    while stack:
        model = stack.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            stack.extend(_nested(field.annotation))
    return seen


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _nested(a)]


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "see section"
        return f"`{json.dumps(value)}`" if value not in ([], {}) else "empty"
    if field.default is None or field.default is PydanticUndefined:
        return "—"
    return f"`{json.dumps(field.default)}`"


def _field_type(field: Any) -> str:
    """The field's type; pydantic moves a top-level Annotated's metadata to ``field.metadata``."""
    if field.metadata:
        return _type_name(typing.Annotated[(field.annotation, *field.metadata)])
    return _type_name(field.annotation)


def _model_table(model: type[BaseModel]) -> list[str]:
    doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
    rows = [f"### {model.__name__}", "", doc, "", "| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{key}` | {_field_type(field)} | {_default(field)} | {desc} |")
    return rows + [""]


def reference_md() -> str:
    from mlspec.language.models import Spec
    from mlspec.targets import available_targets

    out = ["# The `mlproject.yaml` language reference (version 1)", "",
           "Generated from the pydantic models in `mlspec/language/models.py` "
           "(`python -m mlspec.docsgen`); Every mapping also "
           "accepts keys starting with `x-` (extensions, ignored). Values are never coerced: "
           "quote versions (`\"3.10\"`), write booleans as `true`/`false`.", "",
           "Interpolations in `run` strings: `${params.NAME}`, `${data.NAME.uri}`, "
           "`${data.NAME.version}`, `${project.name}`, `${training.outputs.model}`, "
           "`${training.outputs.metrics}`, `${validation.metrics}`, `${registry.production.model}` "
           "(the deployed model, fetched from the registry before the command; see registry.md). "
           "Each value is shell-quoted "
           "where it lands; other `${…}` and `$VAR` are left to the shell; `$${` is a literal `${`.", "",
           "## Sections", ""]
    for model in _models(Spec):
        out += _model_table(model)
    out += ["## Targets", "", "Options under `targets.<name>`. Every target is enabled by default.", ""]
    for name, cls in available_targets().items():
        out += [f"### targets.{name}", "", cls.description, "", "| key | type | default | meaning |",
                "|---|---|---|---|"]
        for fname, field in cls.options_model.model_fields.items():
            desc = (field.description or "").replace("|", "\\|")
            out.append(f"| `{field.alias or fname}` | {_field_type(field)} | {_default(field)} | {desc} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _versioned_schema() -> str:
    from mlspec.schema import schema_text, versioned_id

    return schema_text(versioned_id())


def _catalog() -> str:
    """The SchemaStore catalog entry, listing every release's frozen schema copy."""
    from mlspec._resources import resource_dir
    from mlspec.schema import catalog_text

    versions = [p.parent.name.removeprefix("v") for p in resource_dir("schemas").glob("v*/mlproject.schema.json")]
    return catalog_text(versions)


def _versioned_path() -> str:
    from mlspec.schema import versioned_path

    return versioned_path()


DOCS = {"docs/diagnostics.md": diagnostics_md, "docs/reference.md": reference_md,
        # The release's frozen schema copy and the SchemaStore catalog entry (schemas/mlproject.schema.json
        # itself is `mlspec schema -o schemas/mlproject.schema.json`).
        _versioned_path(): _versioned_schema, "schemas/catalog.json": _catalog}


def main(root: Path = Path(".")) -> int:
    for rel, fn in DOCS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fn(), encoding="utf-8", newline="\n")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
