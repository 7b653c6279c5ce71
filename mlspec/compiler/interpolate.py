"""``${…}`` interpolation in ``run`` strings.

Only the mlspec namespaces (``params``, ``data``, ``project``, ``training``, ``validation``,
``registry``)
are interpolated; any other ``${…}`` and ``$VAR`` belong to the shell and pass through
untouched. ``$${`` writes a literal ``${``. Every value is shell-quoted where it lands.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

NAMESPACES = ("params", "data", "project", "training", "validation", "registry")
PRODUCTION_MODEL = "registry.production.model"   # the deployed model, fetched before the command


@dataclass(frozen=True)
class Token:
    """A piece of a run string: literal text, or a reference with its offset in the string."""

    text: str
    ref: str | None = None
    offset: int = 0


class InterpolationError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


_REF = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")


def tokenize(command: str) -> list[Token]:
    """Split ``command`` into literal text and mlspec references."""
    if "$" not in command:
        return [Token(command)] if command else []
    tokens: list[Token] = []
    buf: list[str] = []
    i = 0
    while i < len(command):
        if command.startswith("$${", i):
            buf.append("${")
            i += 3
            continue
        if command.startswith("${", i):
            end = command.find("}", i + 2)
            if end < 0:
                raise InterpolationError("'${' is not closed; write '$${' for a literal '${'", i)
            inner = command[i + 2:end]
            if not inner.strip():
                raise InterpolationError("empty '${}'", i)
            namespace = inner.split(".", 1)[0]
            if namespace in NAMESPACES and _REF.fullmatch(inner):
                if buf:
                    tokens.append(Token("".join(buf)))
                    buf = []
                tokens.append(Token(command[i:end + 1], ref=inner, offset=i))
            else:
                buf.append(command[i:end + 1])  # the shell's own ${VAR…}
            i = end + 1
            continue
        # Literal text up to the next '$' in one slice (not character by character).
        nxt = command.find("$", i + 1)
        nxt = len(command) if nxt < 0 else nxt
        buf.append(command[i:nxt])
        i = nxt
    if buf:
        tokens.append(Token("".join(buf)))
    return tokens


def references(command: str) -> list[Token]:
    return [t for t in tokenize(command) if t.ref]


def shell_value(value: object) -> str:
    """A scalar as one shell word."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return shlex.quote(str(value))


def expand(command: str, lookup: Callable[[str], object]) -> str:
    """``command`` with each reference replaced by its shell-quoted value."""
    return "".join(shell_value(lookup(t.ref)) if t.ref else t.text for t in tokenize(command))


def uses_production(command: str | None) -> bool:
    """Whether ``command`` reads ``${registry.production.model}``."""
    if not command or PRODUCTION_MODEL not in command:
        return False
    try:
        return any(t.ref == PRODUCTION_MODEL for t in tokenize(command))
    except InterpolationError:
        return False
