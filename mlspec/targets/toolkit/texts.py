"""The spec texts a node carries, for target checks that refuse what a platform cannot carry."""

from __future__ import annotations

from mlspec import diagnostics as dx
from mlspec.compiler.plan import Node, Plan
from mlspec.diagnostics import Diagnostic, SpecPath


def node_text_paths(plan: Plan, node: Node) -> list[tuple[SpecPath, str]]:
    """(spec path, text) of a node's command and environment values, for target checks.

    A value inherited from ``environment.env`` points there, not at the node.
    """
    shared = dict(plan.environment.env)
    out: list[tuple[SpecPath, str]] = []
    if node.command is not None:
        out.append(((*node.spec_path, "run") if node.kind in ("step", "train", "evaluate") else node.spec_path,
                    node.command))
    for key, value in node.env:
        where = ("environment", "env", key) if shared.get(key) == value else (*node.spec_path, "env", key)
        out.append((where, value))
    return out


def nul_errors(texts: list[tuple[SpecPath, str]], target: str) -> list[Diagnostic]:
    """NUL cannot be part of a process argument, an environment value or a file's text."""
    seen: set[SpecPath] = set()
    out = []
    for path, text in texts:
        if "\0" in text and path not in seen:
            seen.add(path)
            out.append(Diagnostic(dx.TARGET_CANNOT_EXPRESS, f"{target}: {dx.format_path(path)} contains a NUL "
                                  "character, which no command, environment or file can carry", path=path,
                                  hint="remove the \\0 escape"))
    return out
