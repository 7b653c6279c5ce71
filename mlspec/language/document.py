"""The Document: plain data loaded from YAML plus a side table of source positions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlspec.diagnostics import Span, SpecPath


class SpanTable(Mapping[SpecPath, Span]):
    """Positions as the loader records them, ``(line, column, end_line, end_column)`` tuples,
    made :class:`Span` objects when read: a 1,000-step spec has 16,000 positions, and only
    the few that a diagnostic points at are ever read."""

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[SpecPath, tuple[int, int, int, int]]) -> None:
        self._raw = raw

    def __getitem__(self, path: SpecPath) -> Span:
        return Span(*self._raw[path])

    def __contains__(self, path: object) -> bool:
        return path in self._raw

    def __iter__(self) -> Iterator[SpecPath]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def get(self, path: SpecPath, default: Any = None) -> Any:  # type: ignore[override]
        raw = self._raw.get(path)
        return default if raw is None else Span(*raw)


@dataclass(frozen=True)
class Document:
    """A loaded spec.

    ``data`` holds only ``dict`` (str keys, insertion order), ``list``, ``str``, ``int``,
    ``float``, ``bool`` and ``None``. ``values`` maps the path of every node to the span of
    its value; ``keys`` maps the path of every mapping entry to the span of its key.
    Positions are 1-based (line, column), columns counted in characters.
    """

    file: str
    text: str
    data: dict[str, Any]
    values: Mapping[SpecPath, Span] = field(default_factory=dict)
    keys: Mapping[SpecPath, Span] = field(default_factory=dict)
    path: Path | None = None
    #: ``(path, value, is_key)`` of every key and every str or float value, in document order,
    #: as the loader met them (None for a Document built another way).
    leaves: Sequence[tuple[SpecPath, Any, bool]] | None = field(default=None, compare=False, repr=False)

    @property
    def base_dir(self) -> Path:
        return (self.path.parent if self.path else Path.cwd()).resolve()

    def span(self, path: SpecPath, *, key: bool = False) -> Span | None:
        """The span at ``path`` (its key's span when ``key``), else the nearest ancestor's."""
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while True:
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return None
            path = path[:-1]

    def get(self, path: SpecPath, default: Any = None) -> Any:
        node: Any = self.data
        for item in path:
            try:
                node = node[item]
            except (KeyError, IndexError, TypeError):
                return default
        return node
