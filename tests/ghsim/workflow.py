"""Reading a workflow file the way GitHub does, and deciding whether an event triggers it.

GitHub parses workflows as YAML 1.2 (core schema): ``on``/``yes``/``no``/``off`` are strings,
``010`` is ten and ``2024-01-01`` is text. PyYAML's safe loader speaks YAML 1.1, where a bare
``on:`` key becomes ``True``; :class:`WorkflowLoader` swaps in the 1.2 core resolvers so that
every key and value reads as GitHub reads it, and duplicate keys are an error as on GitHub.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class InvalidWorkflow(Exception):
    """The workflow file would be rejected by GitHub before any job starts."""


class WorkflowLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with YAML 1.2 core-schema scalars."""


WorkflowLoader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+0123456789."),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    WorkflowLoader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


def _construct_int(loader: WorkflowLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _construct_bool(loader: WorkflowLoader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node).lower() == "true"


def _construct_mapping(loader: WorkflowLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise InvalidWorkflow(f"line {key_node.start_mark.line + 1}: '{key}' is already defined")
        seen.add(key)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


WorkflowLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
WorkflowLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
WorkflowLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


@dataclass(frozen=True)
class Workflow:
    path: Path
    name: str
    on: dict[str, Any]  # event name -> its filter mapping (empty when given bare)
    data: dict[str, Any]

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        return self.data["jobs"]


def load_workflow(path: Path | str) -> Workflow:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=WorkflowLoader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as exc:
        raise InvalidWorkflow(f"{path.name}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidWorkflow(f"{path.name}: the workflow is not a mapping")
    if True in data:  # only a YAML 1.1 document could produce this; keep the guard explicit
        data["on"] = data.pop(True)
    if "on" not in data:
        raise InvalidWorkflow(f"{path.name}: missing required key 'on'")
    jobs = data.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise InvalidWorkflow(f"{path.name}: 'jobs' must be a non-empty mapping")
    for job_id, job in jobs.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(job_id)):
            raise InvalidWorkflow(f"{path.name}: invalid job id '{job_id}'")
        if not isinstance(job, dict):
            raise InvalidWorkflow(f"{path.name}: job '{job_id}' is not a mapping")
        needs = job.get("needs", [])
        for need in [needs] if isinstance(needs, str) else needs:
            if need not in jobs:
                raise InvalidWorkflow(f"{path.name}: job '{job_id}' depends on unknown job '{need}'")
    raw_on = data["on"]
    if isinstance(raw_on, str):
        on = {raw_on: {}}
    elif isinstance(raw_on, list):
        on = {str(e): {} for e in raw_on}
    elif isinstance(raw_on, dict):
        on = {str(k): (v if v is not None else {}) for k, v in raw_on.items()}
    else:
        raise InvalidWorkflow(f"{path.name}: 'on' must be a string, list or mapping")
    return Workflow(path=path, name=str(data.get("name") or _workflow_path_name(path)), on=on, data=data)


def _workflow_path_name(path: Path) -> str:
    # Unnamed workflows show their path relative to the repository root.
    parts = path.parts
    if ".github" in parts:
        return "/".join(parts[parts.index(".github"):])
    return path.name


def topological_order(jobs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Jobs in ``needs`` order; among ready jobs, the one defined first goes first."""
    needs = {j: set(_as_list(spec.get("needs"))) for j, spec in jobs.items()}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(jobs):
        ready = [j for j in jobs if j not in done and needs[j] <= done]
        if not ready:
            cycle = sorted(j for j in jobs if j not in done)
            raise InvalidWorkflow(f"the jobs {cycle} depend on each other in a cycle")
        order.append(ready[0])
        done.add(ready[0])
    return order


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


# --- filter patterns (branches, tags, paths) -----------------------------------------------------

def filter_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern syntax: ``*`` (not ``/``), ``**``, ``?``/``+`` (of the preceding
    character), ``[...]``; everything else literal."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c in "?+":
            out.append(c)
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
                i += 1
            else:
                out.append("[" + pattern[i + 1:j].replace("\\", "\\\\") + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def filter_matches(patterns: Sequence[str], value: str) -> bool:
    """Patterns apply in order; a later ``!pattern`` excludes, a later positive one re-includes."""
    included = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if filter_regex(pattern[1:] if negate else pattern).match(value):
            included = not negate
    return included


def _pair(filters: Mapping[str, Any], key: str, event: str) -> tuple[list[str] | None, list[str] | None]:
    inc, exc = filters.get(key), filters.get(f"{key}-ignore")
    if inc is not None and exc is not None:
        raise InvalidWorkflow(f"on.{event}: '{key}' and '{key}-ignore' cannot be used together")
    return (_as_list(inc) if inc is not None else None, _as_list(exc) if exc is not None else None)


def _passes(inc: list[str] | None, exc: list[str] | None, value: str) -> bool:
    if inc is not None:
        return filter_matches(inc, value)
    if exc is not None:
        return not filter_matches(exc, value)
    return True


def paths_pass(filters: Mapping[str, Any], event: str, changed: Iterable[str]) -> tuple[bool, str]:
    inc, exc = _pair(filters, "paths", event)
    files = list(changed)
    if inc is not None and not any(filter_matches(inc, f) for f in files):
        return False, f"no changed file matches on.{event}.paths {inc} (changed: {files})"
    if exc is not None and files and all(filter_matches(exc, f) for f in files):
        return False, f"every changed file matches on.{event}.paths-ignore {exc} (changed: {files})"
    return True, ""


def push_filters_pass(filters: Mapping[str, Any], ref: str, changed: Iterable[str]) -> tuple[bool, str]:
    branches, branches_ignore = _pair(filters, "branches", "push")
    tags, tags_ignore = _pair(filters, "tags", "push")
    has_branch_filter = branches is not None or branches_ignore is not None
    has_tag_filter = tags is not None or tags_ignore is not None
    if ref.startswith("refs/tags/"):
        name = ref[len("refs/tags/"):]
        if has_branch_filter and not has_tag_filter:
            return False, "on.push filters branches only, and this push is a tag"
        if not _passes(tags, tags_ignore, name):
            return False, f"tag '{name}' does not pass on.push.tags/tags-ignore"
        return True, ""  # GitHub does not evaluate paths filters for tag pushes
    name = ref[len("refs/heads/"):]
    if has_tag_filter and not has_branch_filter:
        return False, "on.push filters tags only, and this push is a branch"
    if not _passes(branches, branches_ignore, name):
        return False, f"branch '{name}' does not pass on.push.branches/branches-ignore"
    return paths_pass(filters, "push", changed)
