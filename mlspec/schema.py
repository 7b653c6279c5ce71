"""The JSON Schema of the language, for IDE autocomplete and `check-jsonschema`.

Built from the pydantic models plus each installed target's options, so the committed
``schemas/mlproject.schema.json`` and the compiler cannot disagree on anything a schema
can express.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_ID = "https://mlspec.dev/schemas/mlproject.schema.json"
_EXTENSION = {"^x-": {"description": "extension, ignored by mlspec"}}


def build_schema() -> dict[str, Any]:
    from mlspec.language.models import Spec
    from mlspec.targets import available_targets

    schema = Spec.model_json_schema(by_alias=True, mode="validation")
    defs = schema.setdefault("$defs", {})
    target_props: dict[str, Any] = {}
    for name, cls in available_targets().items():
        opts = cls.options_model.model_json_schema(by_alias=True, mode="validation",
                                                   ref_template="#/$defs/{model}")
        for key, value in opts.pop("$defs", {}).items():
            defs.setdefault(key, value)
        def_name = f"Target_{name}"
        defs[def_name] = opts
        target_props[name] = {"$ref": f"#/$defs/{def_name}"}
    schema["properties"]["targets"] = {
        "title": "Targets", "type": "object",
        "description": schema["properties"]["targets"].get("description", ""),
        "properties": target_props, "additionalProperties": False, "patternProperties": _EXTENSION,
    }
    _walk(schema)
    ordered = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID}
    ordered.update(schema)
    return ordered


def _walk(node: Any) -> None:
    """Let ``x-`` keys through everywhere, also in name-keyed mappings."""
    if isinstance(node, dict):
        keyed = node.get("patternProperties")
        if node.get("type") == "object" and keyed and "^x-" not in keyed:
            # A name-keyed mapping: only names of the right shape, plus extensions.
            node["patternProperties"] = {**keyed, **_EXTENSION}
            node["additionalProperties"] = False
        names = node.get("propertyNames")
        if isinstance(names, dict) and "pattern" in names:
            node["propertyNames"] = {"anyOf": [names, {"pattern": "^x-"}]}
            node["patternProperties"] = dict(_EXTENSION)
        for value in node.values():
            _walk(value)
    elif isinstance(node, list):
        for value in node:
            _walk(value)


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
