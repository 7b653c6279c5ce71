"""Prometheus text exposition of the ``mlspec_*`` metrics, the textfile and the Pushgateway.

The metric names, types, help texts and label names come from :mod:`mlspec.metrics` only:
:func:`sample` refuses a label set that differs from the definition, so the runtime cannot
push a series the generated rules and dashboards do not know.

No ``prometheus_client`` dependency: the text format (version 0.0.4) is a few lines, the
Pushgateway API is one HTTP ``PUT`` per group, and keeping to the standard library lets
``gate`` and ``performance`` push from a bare CI image.
"""

from __future__ import annotations

import base64
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mlspec.metrics import JOB_LABEL, MetricDef

JOB = JOB_LABEL
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class PushError(Exception):
    """The Pushgateway could not be reached or refused the metrics."""


@dataclass(frozen=True)
class Sample:
    metric: MetricDef
    labels: tuple[tuple[str, str], ...]      # in the definition's label order
    value: float
    suffix: str = ""                         # a histogram's series: _bucket (with le), _sum, _count


def sample(metric: MetricDef, value: float, /, **labels: object) -> Sample:
    """One series of ``metric``; ``labels`` must be exactly the metric's labels."""
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, got {tuple(sorted(labels))}")
    return Sample(metric, tuple((name, str(labels[name])) for name in metric.labels), float(value))


def histogram(metric: MetricDef, bounds: tuple[float, ...], values: list[float], /, **labels: object) -> list[Sample]:
    """The series of one histogram of ``values``: cumulative ``_bucket{le}`` per bound and
    ``+Inf``, ``_sum`` and ``_count``."""
    if metric.type != "histogram":
        raise ValueError(f"{metric.name} is a {metric.type}, not a histogram")
    base = sample(metric, 0, **labels).labels
    out = [Sample(metric, (*base, ("le", format_value(b))), float(sum(v <= b for v in values)), "_bucket")
           for b in sorted(bounds)]
    out.append(Sample(metric, (*base, ("le", "+Inf")), float(len(values)), "_bucket"))
    out += [Sample(metric, base, float(sum(values)), "_sum"), Sample(metric, base, float(len(values)), "_count")]
    return out


# ------------------------------------------------------------------ text format


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def exposition(samples: Iterable[Sample]) -> str:
    """Samples as exposition text: ``# HELP``/``# TYPE`` once per metric, in first-seen order.

    A repeated label set keeps its last value (a series may appear only once).
    """
    by_metric: dict[str, tuple[MetricDef, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for s in samples:
        by_metric.setdefault(s.metric.name, (s.metric, {}))[1][(s.suffix, s.labels)] = s.value
    out: list[str] = []
    for name, (metric, series) in by_metric.items():
        out.append(f"# HELP {name} {escape_help(metric.help)}")
        out.append(f"# TYPE {name} {metric.type}")
        for (suffix, labels), value in series.items():
            for label, _ in labels:
                if not _LABEL_NAME.match(label):
                    raise ValueError(f"invalid label name {label!r}")
            body = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
            series_name = name + suffix
            out.append(f"{series_name}{{{body}}} {format_value(value)}" if body
                       else f"{series_name} {format_value(value)}")
    return "\n".join(out) + ("\n" if out else "")


def write_textfile(path: Path, samples: Iterable[Sample]) -> None:
    """For node_exporter's textfile collector: written atomically; the name should end in .prom."""
    from mlspec.runtime.common import write_atomic

    write_atomic(Path(path), exposition(samples))


def textfile_value(path: Path, sample_like: Sample) -> float | None:
    """The value a textfile holds for ``sample_like``'s series (metric and labels), or None.

    Reads back only files this module wrote, so the series is found by its exact text."""
    labels = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sample_like.labels)
    prefix = f"{sample_like.metric.name}{{{labels}}} " if labels else f"{sample_like.metric.name} "
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        if line.startswith(prefix):
            try:
                return float(line[len(prefix):].strip())
            except ValueError:
                return None
    return None


# ------------------------------------------------------------------ Pushgateway


def grouping_path(grouping: Iterable[tuple[str, str]]) -> str:
    """``/metrics/job/<job>/<label>/<value>…``; values with ``/`` (or empty) use ``@base64``."""
    parts = ["metrics"]
    items = list(grouping)
    if not items or items[0][0] != "job":
        raise ValueError("the grouping key starts with the job label")
    for name, value in items:
        if not _LABEL_NAME.match(name):
            raise ValueError(f"invalid grouping label {name!r}")
        if value == "" or "/" in value:
            encoded = base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii") or "="
            parts += [f"{name}@base64", encoded]
        else:
            parts += [name, urllib.parse.quote(value, safe="")]
    return "/" + "/".join(parts)


def url_problem(base: str) -> str | None:
    """Why ``base`` is not a Pushgateway URL (``http(s)://host[:port][/path]``), or None."""
    try:
        parsed = urllib.parse.urlsplit(base)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"{base!a} is not a URL ({exc})"
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"{base!a} is not an http(s) URL with a host"
    if parsed.query or parsed.fragment or any(c.isspace() or not c.isprintable() for c in base):
        return f"{base!a} has a query, a fragment or a blank; give the gateway's base URL"
    return None


def push_url(base: str, grouping: Iterable[tuple[str, str]]) -> str:
    problem = url_problem(base)
    if problem:
        raise PushError(problem)
    return base.rstrip("/") + grouping_path(grouping)


def push(base: str, samples: list[Sample], grouping: Iterable[tuple[str, str]], *, method: str = "PUT",
         timeout: float = 10.0) -> None:
    """Replace the group's metrics (``PUT``) or the pushed metric families in it (``POST``)."""
    url = push_url(base, grouping)
    body = exposition(samples).encode("utf-8")
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": CONTENT_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            if resp.status >= 300:
                raise PushError(f"HTTP {resp.status} from {url}")
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            detail = exc.read(300).decode("utf-8", "replace").strip()
        except OSError:
            pass
        raise PushError(f"HTTP {exc.code} from {url}" + (f": {detail}" if detail else "")) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise PushError(f"{url}: {reason}") from None
