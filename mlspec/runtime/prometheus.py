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


def sample(metric: MetricDef, value: float, /, **labels: object) -> Sample:
    """One series of ``metric``; ``labels`` must be exactly the metric's labels."""
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, got {tuple(sorted(labels))}")
    return Sample(metric, tuple((name, str(labels[name])) for name in metric.labels), float(value))


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
    by_metric: dict[str, tuple[MetricDef, dict[tuple[tuple[str, str], ...], float]]] = {}
    for s in samples:
        by_metric.setdefault(s.metric.name, (s.metric, {}))[1][s.labels] = s.value
    out: list[str] = []
    for name, (metric, series) in by_metric.items():
        out.append(f"# HELP {name} {escape_help(metric.help)}")
        out.append(f"# TYPE {name} {metric.type}")
        for labels, value in series.items():
            for label, _ in labels:
                if not _LABEL_NAME.match(label):
                    raise ValueError(f"invalid label name {label!r}")
            body = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
            out.append(f"{name}{{{body}}} {format_value(value)}" if body else f"{name} {format_value(value)}")
    return "\n".join(out) + ("\n" if out else "")


def write_textfile(path: Path, samples: Iterable[Sample], *, keep: Iterable[MetricDef] = ()) -> None:
    """For node_exporter's textfile collector: written atomically; the name should end in .prom.

    ``keep``: metrics whose series the file already holds survive unless ``samples`` sets the same
    series again -- a textfile is replaced whole, unlike a Pushgateway ``POST``, so a failed run
    would otherwise erase the last success time the staleness alerts read.
    """
    from mlspec.runtime.common import write_atomic

    samples = list(samples)
    keep = tuple(keep)
    if keep:
        try:
            old = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            old = ""
        fresh = {(s.metric.name, s.labels) for s in samples}
        samples += [s for s in read_samples(old, keep) if (s.metric.name, s.labels) not in fresh]
    write_atomic(Path(path), exposition(samples))


_SAMPLE_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?[ \t]*$')
_LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def read_samples(text: str, metrics: Iterable[MetricDef]) -> list[Sample]:
    """The series of ``metrics`` in exposition ``text`` (what :func:`exposition` writes); lines that
    do not parse, or whose labels differ from the metric's definition, are skipped."""
    wanted = {m.name: m for m in metrics}
    out: list[Sample] = []
    for line in text.splitlines():
        m = _SAMPLE_LINE.match(line)
        if not m or m.group(1) not in wanted:
            continue
        labels: dict[str, str] = {}
        body = m.group(2) or ""
        pos = 0
        while pos < len(body):
            pair = _LABEL_PAIR.match(body, pos)
            if not pair or pair.end() == pos:
                labels = {}
                break
            labels[pair.group(1)] = re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1),
                                           pair.group(2))
            pos = pair.end()
        try:
            value = float(m.group(3))
            out.append(sample(wanted[m.group(1)], value, **labels))
        except ValueError:
            continue
    return out


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
