"""`mlspec gate --report PAGE.html`: the gate table, deltas against production, attachments.

Drawn from :class:`~mlspec.runtime.gates.GateResult` (what `mlspec gate` decided) and the
metrics files it read. Attachments — the files evaluation writes (plots, confusion
matrices, per-slice tables) — come from ``--attach FILE`` and, when the spec language has
it, ``validation.outputs`` (:func:`spec_outputs`); images are inlined as ``data:`` URIs,
text files are shown, anything else is listed with its size and hash.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec.runtime.reports import html as H
from mlspec.runtime.reports import svg

MAX_ATTACHMENT = 5 * 1024 * 1024          # bytes of one attachment embedded in a page
MAX_ATTACHMENTS = 20 * 1024 * 1024        # bytes of all of them
MAX_TEXT_SHOWN = 20_000                   # characters of a text attachment shown
MAX_METRICS_ROWS = 200
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
               (b"GIF89a", "image/gif"))


@dataclass(frozen=True)
class Attachment:
    shown: str                 # the path as the user wrote it
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def mime(self) -> str | None:
        """An image type a browser shows from a data: URI, by content (not by name)."""
        for magic, mime in IMAGE_MAGIC:
            if self.data.startswith(magic):
                return mime
        if self.data[:4] == b"RIFF" and self.data[8:12] == b"WEBP":
            return "image/webp"
        # SVG in <img> runs no script and loads nothing, so it is as safe as a PNG.
        if self.shown.lower().endswith(".svg") and b"<svg" in self.data[:4096]:
            return "image/svg+xml"
        return None

    @property
    def text(self) -> str | None:
        if b"\0" in self.data[:8192]:
            return None
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None


class AttachmentError(ValueError):
    """An attachment that cannot be read or is too large (MS640)."""

    def __init__(self, message: str, shown: str) -> None:
        super().__init__(message)
        self.shown = shown


def load_attachments(paths: Sequence[tuple[Path, str]]) -> list[Attachment]:
    """Read ``(path, shown)`` pairs in order; duplicates (same shown path) once."""
    out: list[Attachment] = []
    total = 0
    for path, shown in dict.fromkeys(paths):
        try:
            if path.is_dir():
                raise AttachmentError(f"report attachment {shown} is a directory", shown)
            size = path.stat().st_size
            if size > MAX_ATTACHMENT:
                raise AttachmentError(f"report attachment {shown} is too large to embed ({size:,} bytes; at most "
                                      f"{MAX_ATTACHMENT:,})", shown)
            data = path.read_bytes()
        except FileNotFoundError:
            raise AttachmentError(f"report attachment {shown} does not exist", shown) from None
        except OSError as exc:
            raise AttachmentError(f"cannot read report attachment {shown}: {exc.strerror or exc}", shown) from None
        total += len(data)
        if total > MAX_ATTACHMENTS:
            raise AttachmentError(f"report attachments exceed {MAX_ATTACHMENTS:,} bytes in all (at {shown})", shown)
        out.append(Attachment(shown, data))
    return out


def spec_outputs(plan: Any) -> tuple[str, ...]:
    """``validation.outputs`` (spec-relative paths)."""
    return tuple(plan.eval_outputs)


def flatten(metrics: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every finite number in a metrics JSON, nested keys joined with dots."""
    if isinstance(metrics, dict):
        for k in metrics:
            yield from flatten(metrics[k], f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
    elif isinstance(metrics, (int, float)) and not isinstance(metrics, bool):
        try:
            f = float(metrics)
        except OverflowError:
            return
        if math.isfinite(f):
            yield prefix, f


def delta_text(value: float | None, base: float | None, higher_is_better: bool | None = None) -> tuple[str, str]:
    """``("+0.012", "better"|"worse"|"same"|"")`` for a value against the production value."""
    if value is None or base is None:
        return "", ""
    d = value - base
    sign = "+" if d > 0 else ("±" if d == 0 else "−")
    shown = sign + H.num(abs(d), 4)
    if higher_is_better is None or d == 0:
        return shown, "same" if d == 0 else ""
    return shown, "better" if (d > 0) == higher_is_better else "worse"


def direction(gate: Any) -> bool | None:
    """Whether higher is better for a gate's metric: its ``higher_is_better`` when it compares
    with production; otherwise what its bound says (a ``min`` only: higher; a ``max`` only: lower)."""
    if gate.baseline:
        return bool(gate.higher_is_better)
    if gate.min is not None and gate.max is None:
        return True
    if gate.max is not None and gate.min is None:
        return False
    return None


def baseline_value(r: Any, baseline: dict[str, Any] | None) -> float | None:
    """The production value of a gate's metric: what the gate compared with, else the baseline file's."""
    if r.baseline_value is not None:
        return float(r.baseline_value)
    if baseline is None:
        return None
    from mlspec.runtime.gates import metric_value

    v, _ = metric_value(baseline, r.gate.metric)
    return v


def _attachment_html(a: Attachment) -> H.Html:
    head = (f"<figcaption><code>{H.text(a.shown)}</code> · {len(a.data):,} bytes · sha256 "
            f"<code>{a.sha256[:16]}</code></figcaption>")
    mime = a.mime
    if mime is not None:
        uri = f"data:{mime};base64,{base64.b64encode(a.data).decode('ascii')}"
        return H.Html(f'<figure class="attachment image"><img src="{H.attr(uri)}" alt="{H.attr(a.shown)}">'
                      f"{head}</figure>\n")
    text = a.text
    if text is not None:
        cut = text[:MAX_TEXT_SHOWN]
        more = f"\n… {len(text) - len(cut):,} more characters" if len(cut) < len(text) else ""
        lines = "\n".join(H.text(line, limit=MAX_TEXT_SHOWN) for line in (cut + more).splitlines())
        return H.Html(f'<figure class="attachment text"><pre>{lines}</pre>{head}</figure>\n')
    return H.Html(f'<figure class="attachment binary">{head}</figure>\n')


def render(*, project: str, spec: str, metrics_file: str, baseline_label: str | None, results: Sequence[Any],
           metrics: dict[str, Any], baseline: dict[str, Any] | None, attachments: Sequence[Attachment],
           when: H.ReportTime | None) -> str:
    """The evaluation page. ``results`` are :class:`~mlspec.runtime.gates.GateResult`."""
    failed = [r for r in results if not r.passed]
    verdict = (f"{len(failed)} of {len(results)} gate(s) failed" if failed else
               f"All {len(results)} gate(s) passed")
    meta = [("spec", H.Html(f"<code>{H.text(spec)}</code>")),
            ("metrics", H.Html(f"<code>{H.text(metrics_file)}</code>")),
            ("compared with", H.text(baseline_label) if baseline_label else
             H.Html('<span class="muted">no production model</span>'))]
    if when is not None:
        meta.append(("as of", when.html()))
    body = [f"<header><h1>Evaluation report: {H.text(project)}</h1>\n"
            f'<p class="verdict" id="verdict">{H.badge("fail" if failed else "pass", "FAIL" if failed else "PASS")} '
            f"{H.text(verdict)}</p>\n{H.meta_list(meta)}</header>\n<h2>Gates</h2>\n"]
    rows = []
    for r in results:
        base = baseline_value(r, baseline)
        delta, how = delta_text(r.value, base, direction(r.gate))
        rows.append([H.text(r.gate.id), H.text(r.gate.metric), H.text(H.num(r.value, 6)), H.text(r.bound),
                     H.text(H.num(base, 6) if base is not None else ""),
                     H.Html(f'{H.text(delta)} <span class="muted">{H.text(how)}</span>' if delta else ""),
                     H.badge("pass" if r.passed else "fail", "pass" if r.passed else "FAIL"),
                     H.text(r.problem or r.note or "")])
    body.append(H.table(["gate", "metric", "value", "bound", "production", "Δ", "result", "note"], rows,
                        numeric=(2, 4, 5), cls="gates"))
    body.append('<div class="legend"><span><span class="sw zone"></span>allowed by the gate</span>'
                '<span><span class="sw val"></span>this model</span><span><span class="sw base"></span>production</span>'
                "</div>\n")
    for r in results:
        base = baseline_value(r, baseline)
        body.append(f'<section class="card gate" data-gate="{H.attr(r.gate.id)}"><div class="head">'
                    f"<h3>{H.text(r.gate.id)}</h3>{H.badge('pass' if r.passed else 'fail', 'pass' if r.passed else 'FAIL')}"
                    f'<span class="muted">{H.text(r.gate.metric)} {H.text(r.bound)}</span></div>\n')
        body.append(svg.bound_scale(r.value, r.threshold_min, r.threshold_max, base, passed=r.passed,
                                    title=f"{r.gate.metric}: value against its bound"))
        body.append("</section>\n")
    flat = dict(flatten(metrics))
    base_flat = dict(flatten(baseline)) if baseline is not None else {}
    if flat:
        names = sorted(flat)[:MAX_METRICS_ROWS]
        mrows = []
        for name in names:
            d, _ = delta_text(flat[name], base_flat.get(name))
            mrows.append([H.text(name), H.text(H.num(flat[name], 6)),
                          H.text(H.num(base_flat[name], 6) if name in base_flat else ""), H.text(d)])
        body.append("<h2>All metrics</h2>\n")
        body.append(H.table(["metric", "value", "production", "Δ"], mrows, numeric=(1, 2, 3), cls="metrics"))
        if len(flat) > MAX_METRICS_ROWS:
            body.append(f'<p class="muted">{len(flat) - MAX_METRICS_ROWS:,} more metrics not shown.</p>\n')
    if attachments:
        body.append("<h2>Evaluation outputs</h2>\n")
        body += [_attachment_html(a) for a in attachments]
    return H.page(f"Evaluation report: {project}", body, kind="eval")
