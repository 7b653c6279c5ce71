"""Render a :class:`~mlspec.compiler.diff.PlanDiff` as text, JSON or a pull-request comment.

Markdown is deterministic (no time, no absolute path) and built for GitHub's renderer
(cmark-gfm): every value from the spec goes through ``markdown_text``, so a spec cannot
inject links, HTML or table breaks into the comment. It starts with a hidden marker,
``<!-- mlspec-diff -->``, by which a workflow can find and update its earlier comment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlspec.reporters import clean
from mlspec.compiler.diff import SECTIONS, Change, PlanDiff
from mlspec.diagnostics import Diagnostic
from mlspec.output.encoders import markdown_text

MARKER = "<!-- mlspec-diff -->"
MAX_VALUE = 300  # characters of a value shown in text and Markdown (JSON has it whole)


@dataclass(frozen=True)
class Header:
    spec: str                # the spec as the user named it
    base: str                # what it is compared with ("merge base with origin/main", a file)
    commit: str | None       # the base commit, when the base is a revision


def _cut(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_VALUE:
        return value
    return value[:MAX_VALUE - 1] + "…"


def _counts(diff: PlanDiff) -> str:
    files = diff.artifacts
    plus, minus = sum(a.added for a in files), sum(a.removed for a in files)
    changes = f"{len(diff.changes)} change{'s' if len(diff.changes) != 1 else ''}"
    risky = f"{len(diff.risky)} risky"
    generated = f"{len(files)} generated file{'s' if len(files) != 1 else ''} (+{plus} −{minus} lines)"
    return f"{risky}, {changes}, {generated}"


def _against(header: Header) -> str:
    return header.base + (f" ({header.commit[:12]})" if header.commit else "")


# ---------------------------------------------------------------------------- text


def _text_change(c: Change) -> str:
    old, new = _cut(c.old), _cut(c.new)
    if old is not None and new is not None:
        detail = f": {old} → {new}"
    elif new is not None:
        detail = f": {new}"
    elif old is not None:
        detail = f" (was {old})"
    else:
        detail = ""
    return clean(f"  {c.effect:<9}  {c.subject}{detail}")


def render_text(diff: PlanDiff, header: Header) -> str:
    out = [clean(f"mlspec diff {header.spec} against {_against(header)}"),
           clean(f"project {diff.new_project}: {_counts(diff)}")]
    if diff.empty:
        out += ["", "no changes: the Plan and every generated file are the same"]
        return "\n".join(out) + "\n"
    if diff.risky:
        out += ["", "Risky changes"] + [clean(f"  ! {c.risk}") for c in diff.risky]
    for name, title in SECTIONS.items():
        changes = diff.section(name)
        if changes:
            out += ["", title] + [_text_change(c) for c in changes]
    if diff.artifacts:
        out += ["", "Generated files (lines added / removed)"]
        width = max(len(f"+{a.added} -{a.removed}") for a in diff.artifacts)
        out += [clean(f"  {a.status:<8} {f'+{a.added} -{a.removed}':>{width}}  {a.path}") for a in diff.artifacts]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- JSON


def render_json(diff: PlanDiff, header: Header, diagnostics: Sequence[Diagnostic] = ()) -> str:
    payload: dict[str, Any] = {"spec": header.spec, "base": header.base, "base_commit": header.commit}
    payload.update(diff.to_json())
    payload["diagnostics"] = [d.to_json() for d in diagnostics]
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- Markdown


def _md(value: str | None) -> str:
    return "—" if value is None else markdown_text(_cut(value) or "") or "—"


def render_markdown(diff: PlanDiff, header: Header, diagnostics: Sequence[Diagnostic] = ()) -> str:
    project = diff.new_project or "?"
    out = [MARKER, f"### mlspec diff: {markdown_text(project)}", "",
           f"{markdown_text(header.spec)} compared with {markdown_text(_against(header))}.", ""]
    plus = sum(a.added for a in diff.artifacts)
    minus = sum(a.removed for a in diff.artifacts)
    summary = (f"**{len(diff.risky)} risky** · {len(diff.changes)} change{'s' if len(diff.changes) != 1 else ''}"
               f" · {len(diff.artifacts)} generated file{'s' if len(diff.artifacts) != 1 else ''}"
               f" (+{plus} −{minus} lines)")
    out += [summary, ""]
    for d in diagnostics:
        out += [f"> **{d.severity.value} {d.code}**: {markdown_text(d.message)}", ""]
    if diff.empty:
        out += ["No changes: the Plan and every generated file are the same.", ""]
        return "\n".join(out).rstrip("\n") + "\n"
    if diff.risky:
        out += ["#### :warning: Risky changes", ""]
        out += [f"- {markdown_text(c.risk or '')}" for c in diff.risky]
        out.append("")
    for name, title in SECTIONS.items():
        changes = diff.section(name)
        if not changes:
            continue
        out += [f"#### {title}", "", "| change | what | before | after |", "|---|---|---|---|"]
        for c in changes:
            effect = f"**{c.effect}**" if c.risky else c.effect
            out.append(f"| {effect} | {markdown_text(c.subject)} | {_md(c.old)} | {_md(c.new)} |")
        out.append("")
    if diff.artifacts:
        out += ["<details>", f"<summary>Generated files: {len(diff.artifacts)} "
                             f"(+{plus} −{minus} lines)</summary>", "",
                "| file | target | change | lines |", "|---|---|---|---|"]
        out += [f"| {markdown_text(a.path)} | {markdown_text(a.target)} | {a.status} | +{a.added} −{a.removed} |"
                for a in diff.artifacts]
        out += ["", "</details>", ""]
    return "\n".join(out).rstrip("\n") + "\n"
