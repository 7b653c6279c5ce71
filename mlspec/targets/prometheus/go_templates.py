"""Go templates: Prometheus expands alert annotations and labels, and Alertmanager its notifier
fields, as Go templates. User text never sits next to template actions: text holding a brace is
emitted as a Go string constant (``{{ "..." }}``), which prints it verbatim. :func:`expand` is
what Prometheus prints for a template, so the rule tests can expect exact annotations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mlspec.targets.toolkit.promql import name as promql_name


def go_text(s: str) -> str:
    """User text for a Go-template field: verbatim, or a string constant when it holds a brace.

    ``{{ "..." }}`` prints the constant as is; JSON escapes are a subset of Go's and
    ``ensure_ascii=False`` keeps non-BMP characters whole.
    """
    if "{" in s or "}" in s:
        return "{{ " + json.dumps(s, ensure_ascii=False) + " }}"
    return s


@dataclass(frozen=True)
class User:
    """User-derived text: encoded by :func:`go_text`, expands to itself."""

    text: str


@dataclass(frozen=True)
class Label:
    """``{{ $labels.NAME }}``: a label value of the alerting series."""

    name: str


@dataclass(frozen=True)
class Value:
    """``$value`` printed one of a few ways whose Go output Python reproduces exactly."""

    style: Literal["g4", "pct", "duration", "int"]


Part = str | User | Label | Value
_GO_VALUE = {
    "g4": '{{ printf "%.4g" $value }}',
    "pct": "{{ humanizePercentage $value }}",
    "duration": "{{ humanizeDuration $value }}",
    "int": '{{ printf "%.0f" $value }}',
}


def template(parts: Sequence[Part]) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            if "{" in part or "}" in part:  # pragma: no cover - a bug in this module
                raise ValueError(f"static annotation text must not hold braces: {part!r}")
            out.append(part)
        elif isinstance(part, User):
            out.append(go_text(part.text))
        elif isinstance(part, Label):
            out.append("{{ $labels." + promql_name(part.name, label=True) + " }}")
        else:
            out.append(_GO_VALUE[part.style])
    return "".join(out)


def _humanize_duration(v: float) -> str:
    """Prometheus' ``humanizeDuration`` for |v| >= 1 (what the tests produce)."""
    if abs(v) < 1:  # pragma: no cover - generated tests never get here
        raise ValueError("only durations of at least a second are reproduced")
    sign = "-" if v < 0 else ""
    v = abs(v)
    total = int(v)
    seconds, minutes, hours, days = total % 60, total // 60 % 60, total // 3600 % 24, total // 86400
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{sign}{minutes}m {seconds}s"
    return f"{sign}{v:.4g}s"


def expand(parts: Sequence[Part], labels: dict[str, str], value: float) -> str:
    """What Prometheus prints for ``template(parts)`` (Go's %g equals C's for a given precision)."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, User):
            out.append(part.text)
        elif isinstance(part, Label):
            out.append(labels.get(part.name, "<no value>"))
        elif part.style == "g4":
            out.append(f"{value:.4g}")
        elif part.style == "pct":
            out.append(f"{value * 100:.4g}%")
        elif part.style == "duration":
            out.append(_humanize_duration(value))
        else:
            out.append(f"{value:.0f}")
    return "".join(out)


