"""The JSON Schema of the language, for editors (autocomplete, hover, validation) and
``check-jsonschema``.

Built from the pydantic models plus each installed target's options, so the committed
``schemas/mlproject.schema.json`` and the compiler cannot disagree on anything a schema
can express. On top of what pydantic emits, editors get:

* ``markdownDescription`` on every property (the description, the allowed values with their
  meaning, the default, and a link to the reference), which yaml-language-server and VS Code
  show in completions and hovers;
* ``enumDescriptions``/``markdownEnumDescriptions`` for every enum value (from ``Choices``);
* ``defaultSnippets`` that fill in a working skeleton of each top-level section (``targets``
  completes its target names instead).

Where it lives: ``SCHEMA_ID`` (the file on the default branch) is stable and is what the
SchemaStore catalog entry (``schemas/catalog.json``) points at; each release also has a
frozen copy under ``schemas/v<version>/`` for projects that pin their mlspec version.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from mlspec._version import REPOSITORY_URL, __version__

SCHEMA_BASE = "https://raw.githubusercontent.com/mlspec/mlspec/main/schemas"
SCHEMA_ID = f"{SCHEMA_BASE}/mlproject.schema.json"
REFERENCE_URL = f"{REPOSITORY_URL}/blob/main/docs/reference.md"
CATALOG_ENTRY_NAME = "mlspec mlproject.yaml"
FILE_MATCH = ["mlproject.yaml", "mlproject.yml"]
_EXTENSION = {"^x-": {"description": "extension, ignored by mlspec"}}


def versioned_path(version: str = __version__) -> str:
    """The release's frozen copy, relative to the repository root."""
    return f"schemas/v{version}/mlproject.schema.json"


def versioned_id(version: str = __version__) -> str:
    return f"{SCHEMA_BASE}/v{version}/mlproject.schema.json"


def build_schema(schema_id: str = SCHEMA_ID) -> dict[str, Any]:
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
        opts.setdefault("description", cls.description or f"Options of the {name} target.")
        defs[def_name] = opts
        target_props[name] = {"$ref": f"#/$defs/{def_name}"}
    schema["properties"]["targets"] = {
        "title": "Targets", "type": "object",
        "description": schema["properties"]["targets"].get("description", ""),
        "properties": target_props, "additionalProperties": False, "patternProperties": _EXTENSION,
    }
    _walk(schema)
    _document(schema)
    ordered = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id}
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


# ---------------------------------------------------------------------------- editor documentation


def _anchor(owner: str) -> str:
    """The heading anchor of a model's table in docs/reference.md (GitHub's slug rules)."""
    if owner.startswith("Target_"):
        return "targets" + owner.removeprefix("Target_").lower()  # "### targets.airflow" -> #targetsairflow
    return owner.lower()


def _markdown(text: str) -> str:
    return text.replace("``", "`")


def _enum_docs(schema: dict[str, Any]) -> list[tuple[Any, str]]:
    """(value, meaning) of the enum a property holds, directly, in an anyOf, or in its items."""
    for node in (schema, *schema.get("anyOf", ()), schema.get("items") or {}):
        if isinstance(node, dict) and "enumDescriptions" in node:
            values = node.get("enum", [node.get("const")])
            return list(zip(values, node["enumDescriptions"]))
    return []


def _target_def(prop: dict[str, Any]) -> str | None:
    """The definition a property's value is (or is a list/mapping of), if any."""
    nodes = [prop, *prop.get("anyOf", ()), prop.get("items") or {}, prop.get("additionalProperties") or {},
             *(prop.get("patternProperties") or {}).values()]
    for node in nodes:
        if isinstance(node, dict) and "$ref" in node:
            return str(node["$ref"]).rsplit("/", 1)[-1]
    return None


def _document_property(key: str, prop: dict[str, Any], defs: dict[str, Any], owner: str, owner_title: str) -> None:
    if prop.get("title") == key.replace("_", " ").title() or prop.get("title") == key.title():
        del prop["title"]  # pydantic's generated titles would head every hover with the key again
    if "default" in prop and prop["default"] is None:
        del prop["default"]  # "absent" is no value to suggest: editors would insert `key: null`
    target = _target_def(prop)
    if not prop.get("description") and target:
        prop["description"] = defs[target].get("description", "")
    description = prop.get("description")
    if not description:
        return  # the schema tests name every property without a description
    prop["description"] = description = _markdown(description)
    parts = [_markdown(description)]
    if target and defs[target].get("description") and defs[target]["description"] != description:
        parts.append(_markdown(defs[target]["description"]))
    values = _enum_docs(prop)
    if values:
        parts.append("Values:\n\n" + "\n".join(f"- `{v if isinstance(v, str) else json.dumps(v)}`: {_markdown(doc)}"
                                               for v, doc in values))
    default = prop.get("default")
    if default not in (None, [], {}):
        parts.append(f"Default: `{json.dumps(default)}`.")
    if target:
        name = f"targets.{target.removeprefix('Target_')}" if target.startswith("Target_") else target
        parts.append(f"[Reference: {name}]({REFERENCE_URL}#{_anchor(target)})")
    else:
        parts.append(f"[Reference: {owner_title}]({REFERENCE_URL}#{_anchor(owner)})")
    prop["markdownDescription"] = "\n\n".join(parts)


def _document(schema: dict[str, Any]) -> None:
    defs: dict[str, Any] = schema["$defs"]
    owners = [("Spec", "top level", schema)]
    owners += [(name, f"targets.{name.removeprefix('Target_')}" if name.startswith("Target_") else name, node)
               for name, node in defs.items()]
    def visit(node: dict[str, Any], owner: str, title: str) -> None:
        for key, prop in node.get("properties", {}).items():
            _document_property(key, prop, defs, owner, title)
            if isinstance(prop, dict) and "properties" in prop:
                visit(prop, owner, title)  # an inline object, such as `targets`

    for owner, title, node in owners:
        if node.get("description"):
            node["description"] = _markdown(node["description"])
            node.setdefault("markdownDescription", node["description"])
        visit(node, owner, title)
    schema["title"] = "mlproject.yaml"
    schema["description"] = _markdown(schema.get("description", ""))
    schema["markdownDescription"] = (f"{schema['description']}\n\n"
                                     f"[Language reference]({REFERENCE_URL})")
    for key, snippet in SNIPPETS.items():
        prop = schema["properties"].get(key)
        if prop is not None:
            label, description, body = snippet
            if "$ref" in prop:
                # yaml-language-server ignores a snippet beside a `$ref` (and inserts the bare key);
                # an equivalent `allOf` keeps it.
                prop["allOf"] = [{"$ref": prop.pop("$ref")}]
            prop["defaultSnippets"] = [{"label": label, "description": description, "body": copy.deepcopy(body)}]


#: A working skeleton for each top-level section (``${n:text}`` are the editor's tab stops).
#: Values an editor would insert unquoted must still read back as the right type, so numbers
#: are literal numbers and no placeholder text could parse as a number, a boolean or a comment.
SNIPPETS: dict[str, tuple[str, str, Any]] = {
    "project": ("project", "Name, description and owners",
                {"name": "${1:my-model}", "description": "${2:What the model predicts.}",
                 "owners": ["${3:ml-team@example.com}"]}),
    "environment": ("environment", "Requirements and secret names",
                    {"requirements": "${1:requirements.txt}", "secrets": ["${2:AWS_ACCESS_KEY_ID}"]}),
    "params_file": ("params file", "Parameters from a DVC-style params.yaml", "${1:params.yaml}"),
    "params": ("params", "A named parameter", {"${1:n_estimators}": 100}),
    "data": ("data source", "A versioned data source with a column contract",
             {"${1:customers}": {"uri": "${2:data/customers.csv}", "version": "${3:v1}", "role": "training",
                                 "schema": {"${4:customer_id}": {"type": "string", "nullable": False}}}}),
    "steps": ("step", "A pipeline step with its inputs and outputs",
              {"${1:prepare}": {"run": "${2:python -m my_model.prepare}", "needs": ["${3:data.customers}"],
                                "outputs": ["${4:data/prepared.parquet}"]}}),
    "training": ("training", "The training command and its model file",
                 {"run": "${1:python -m my_model.train}", "outputs": {"model": "${2:models/model.joblib}"}}),
    "validation": ("validation", "Evaluation, a gate and human approval",
                   {"run": "${1:python -m my_model.evaluate}", "metrics": "${2:metrics/eval.json}",
                    "gates": [{"metric": "${3:roc_auc}", "min": 0.8}],
                    "approval": {"required": True, "reviewers": ["${4:ml-leads}"]}}),
    "registry": ("registry", "Version approved models in a local folder", {"backend": "local"}),
    "storage": ("storage", "Keep outputs and the registry in an object store",
                {"uri": "${1:s3://my-bucket/my-model}", "secrets": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]}),
    "serving": ("online serving", "An HTTP service with an SLO",
                {"mode": "online", "run": "${1:uvicorn my_model.api:app --host 0.0.0.0 --port 8080}",
                 "port": 8080, "slo": {"latency_p95_ms": 200, "error_rate": 0.01}}),
    "monitoring": ("monitoring", "Drift between reference and live data, routed by e-mail",
                   {"reference": "${1:data.customers}", "current": "${2:data.scoring_log}",
                    "drift": [{"columns": ["${3:tenure_months}"], "method": "psi", "threshold": 0.2}],
                    "alerts": [{"channel": "email", "to": "${4:ml-team@example.com}"}]}),
    "retraining": ("retraining", "Weekly retraining, and on drift",
                   {"schedule": "${1:0 3 * * 1}", "on": ["data_drift"]}),
    "governance": ("governance", "Risk level and approvers",
                   {"risk_level": "medium", "approvers": ["${1:ml-leads}"], "require_pinned_data": True}),
    "llm": ("llm", "A hosted model and a prompt",
            {"model": {"provider": "${1:anthropic}", "name": "${2:claude-sonnet}"},
             "prompts": {"${3:answer}": {"file": "${4:prompts/answer.md}"}}}),
}

_PLACEHOLDER = re.compile(r"\$\{\d+:([^}]*)\}")


def expand_snippet(body: Any) -> Any:
    """A snippet body as an editor inserts it with every placeholder left at its default."""
    if isinstance(body, dict):
        return {_PLACEHOLDER.sub(r"\1", k): expand_snippet(v) for k, v in body.items()}
    if isinstance(body, list):
        return [expand_snippet(v) for v in body]
    if isinstance(body, str):
        return _PLACEHOLDER.sub(r"\1", body)
    return body


def schema_text(schema_id: str = SCHEMA_ID) -> str:
    return json.dumps(build_schema(schema_id), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def catalog_text(versions: list[str] | None = None) -> str:
    """``schemas/catalog.json``: the entry for SchemaStore's catalog, in its format."""
    from mlspec.language.models import Spec

    found = sorted({*(versions or []), __version__}, key=_version_key)
    entry = {
        "name": CATALOG_ENTRY_NAME,
        "description": (Spec.__doc__ or "").strip().splitlines()[0].replace("`", "")
        + " Compiled by mlspec into CI workflows, Airflow DAGs, Dockerfiles and monitoring.",
        "fileMatch": FILE_MATCH,
        "url": SCHEMA_ID,
        "versions": {v: versioned_id(v) for v in found},
    }
    catalog = {"$schema": "https://json.schemastore.org/schema-catalog.json", "version": 1, "schemas": [entry]}
    return json.dumps(catalog, indent=2, ensure_ascii=False) + "\n"


def _version_key(version: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.+-]", version))
