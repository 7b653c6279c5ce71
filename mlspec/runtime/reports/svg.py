"""Hand-written inline SVG charts: grouped bars, a bound scale for gates, a run timeline.

Why not a chart library: the pages must load nothing (no JavaScript chart runtime), stay
small, and be byte-identical for the same data. matplotlib's SVG backend embeds dates and
random ids unless configured, writes glyph outlines (tens of kB a chart) and costs ~40 MB
and a second of import; Vega/Plotly need a script. The three charts here are a few hundred
lines, draw with a fixed coordinate precision (one decimal), and take their colours from
CSS classes of the page. Hover text is an SVG ``<title>`` (no script needed).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mlspec.runtime.reports.html import Html, attr, num, pct, text


def _f(v: float) -> str:
    """A coordinate: one decimal, no ``-0.0``."""
    s = f"{v:.1f}"
    return "0.0" if s == "-0.0" else s


def _nice_max(v: float) -> float:
    """The smallest 1/2/2.5/5×10^k at or above ``v`` (the top of a share axis)."""
    if v <= 0:
        return 1.0
    exp = math.floor(math.log10(v))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        top = m * 10.0 ** exp
        if top >= v - 1e-12:
            return top
    return 10.0 ** (exp + 1)


def _axis_label(value: float, time_axis: bool, span: float) -> str:
    if time_axis:
        t = _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
        return t.strftime("%Y-%m-%d %H:%M" if span < 3 * 86400 else "%Y-%m-%d")
    return num(value, 4)


def _share_axis(out: list[str], left: float, top: float, width: float, height: float, ymax: float) -> None:
    for i in range(5):
        y = top + height - height * i / 4
        out.append(f'<line class="gr" x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + width)}" y2="{_f(y)}"/>')
        out.append(f'<text class="tk" x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end">'
                   f"{text(f'{100 * ymax * i / 4:g}%')}</text>")
    out.append(f'<line class="ax" x1="{_f(left)}" y1="{_f(top + height)}" x2="{_f(left + width)}" '
               f'y2="{_f(top + height)}"/>')


@dataclass(frozen=True)
class Slot:
    """One group of two bars: reference and current counts, with their hover text."""

    label: str          # shown under the slot ("" for none)
    hover: str          # what the slot covers, for the tooltip
    reference: int
    current: int


def paired_bars(slots: Sequence[Slot], ref_total: int, cur_total: int, *, title: str,
                ticks: Sequence[tuple[float, str]] = (), rotate: bool = False, cls: str = "chart") -> Html:
    """Reference (grey) and current (blue) shares side by side, one pair per slot.

    Shares are of each sample's own non-missing values, so samples of different sizes
    compare. ``ticks`` are ``(position in slots, label)`` for a numeric axis (positions are
    slot boundaries); without them each slot's label is written under it.
    """
    width, height = 880.0, 250.0 if not rotate else 290.0
    left, right, top = 56.0, 30.0, 12.0
    bottom = height - 212.0
    pw, ph = width - left - right, height - top - bottom
    rshares = [s.reference / ref_total if ref_total else 0.0 for s in slots]
    cshares = [s.current / cur_total if cur_total else 0.0 for s in slots]
    ymax = _nice_max(max(rshares + cshares + [0.0]))
    out = [f'<svg class="{attr(cls)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} {_f(height)}" '
           f'role="img" aria-label="{attr(title)}"><title>{text(title)}</title>']
    _share_axis(out, left, top, pw, ph, ymax)
    n = max(len(slots), 1)
    slot_w = pw / n
    bar_w = max(slot_w * 0.42, 0.6)
    pad = (slot_w - 2 * bar_w) / 2
    base = top + ph
    for i, s in enumerate(slots):
        x0 = left + i * slot_w + pad
        hover = (f"{s.hover}: reference {pct(s.reference, ref_total)} ({s.reference}), "
                 f"current {pct(s.current, cur_total)} ({s.current})")
        for k, (share, klass) in enumerate(((rshares[i], "r"), (cshares[i], "c"))):
            h = ph * share / ymax
            if h <= 0:
                continue
            out.append(f'<rect class="{klass}" x="{_f(x0 + k * bar_w)}" y="{_f(base - h)}" width="{_f(bar_w)}" '
                       f'height="{_f(max(h, 0.5))}"><title>{text(hover, 400)}</title></rect>')
        if not ticks and s.label:
            cx = left + (i + 0.5) * slot_w
            if rotate:
                out.append(f'<text class="tk" x="{_f(cx)}" y="{_f(base + 14)}" text-anchor="end" '
                           f'transform="rotate(-35 {_f(cx)} {_f(base + 14)})">{text(s.label, 18)}</text>')
            else:
                out.append(f'<text class="tk" x="{_f(cx)}" y="{_f(base + 16)}" text-anchor="middle">'
                           f"{text(s.label, 18)}</text>")
    for pos, label in ticks:
        x = left + pos * slot_w
        out.append(f'<line class="ax" x1="{_f(x)}" y1="{_f(base)}" x2="{_f(x)}" y2="{_f(base + 4)}"/>')
        out.append(f'<text class="tk" x="{_f(x)}" y="{_f(base + 17)}" text-anchor="middle">{text(label, 24)}</text>')
    out.append("</svg>")
    return Html("".join(out))


def histogram_ticks(edges: Sequence[float], time_axis: bool, integer_bins: bool) -> list[tuple[float, str]]:
    """About six labels along a histogram's x axis, at bin edges (or integer bin centres)."""
    bins = len(edges) - 1
    if bins <= 0:
        return []
    span = edges[-1] - edges[0]
    step = max(1, math.ceil(bins / 6))
    if integer_bins:
        return [(i + 0.5, num(edges[i] + 0.5, 6)) for i in range(0, bins, step)]
    idx = list(range(0, bins + 1, step))
    if idx[-1] != bins and bins - idx[-1] >= step / 2:
        idx.append(bins)
    return [(float(i), _axis_label(edges[i], time_axis, span)) for i in idx]


def bound_scale(value: float | None, low: float | None, high: float | None, baseline: float | None, *,
                title: str, passed: bool) -> Html:
    """One gate on a number line: the allowed zone, the model's value, the baseline's."""
    width, height = 560.0, 72.0
    left, right = 14.0, 14.0
    pts = [v for v in (value, low, high, baseline) if v is not None]
    if not pts:
        pts = [0.0, 1.0]
    lo, hi = min(pts), max(pts)
    span = hi - lo or max(abs(hi), 1.0)
    lo, hi = lo - 0.15 * span, hi + 0.15 * span

    def x(v: float) -> float:
        return left + (width - left - right) * (v - lo) / (hi - lo)

    y0, y1 = 22.0, 48.0          # the zone's band; the value is written above it, bounds below
    out = [f'<svg class="chart gate" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} {_f(height)}" '
           f'role="img" aria-label="{attr(title)}"><title>{text(title)}</title>']
    zx0 = x(low) if low is not None else left
    zx1 = x(high) if high is not None else width - right
    if low is not None or high is not None:
        out.append(f'<rect class="zone" x="{_f(zx0)}" y="{_f(y0)}" width="{_f(max(zx1 - zx0, 0.5))}" '
                   f'height="{_f(y1 - y0)}"><title>{text("allowed: " + _zone_text(low, high))}</title></rect>')
    out.append(f'<line class="ax" x1="{_f(left)}" y1="{_f(y1)}" x2="{_f(width - right)}" y2="{_f(y1)}"/>')
    for bound in (low, high):
        if bound is not None:
            out.append(f'<text class="tk" x="{_f(x(bound))}" y="{_f(y1 + 15)}" text-anchor="middle">'
                       f"{text(num(bound, 6))}</text>")
    if baseline is not None:
        out.append(f'<line class="base" x1="{_f(x(baseline))}" y1="{_f(y0 - 2)}" x2="{_f(x(baseline))}" '
                   f'y2="{_f(y1)}"><title>{text("production " + num(baseline, 6))}</title></line>')
    if value is not None:
        out.append(f'<line class="val" x1="{_f(x(value))}" y1="{_f(y0 - 4)}" x2="{_f(x(value))}" y2="{_f(y1 + 3)}">'
                   f"<title>{text('this model ' + num(value, 6))}</title></line>")
        out.append(f'<text class="lb {"ok" if passed else "bad"}" x="{_f(x(value))}" y="{_f(y0 - 8)}" '
                   f'text-anchor="middle">{text(num(value, 6))}</text>')
    out.append("</svg>")
    return Html("".join(out))


def _zone_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{num(low, 6)} … {num(high, 6)}"
    return f">= {num(low, 6)}" if low is not None else f"<= {num(high, 6)}"


@dataclass(frozen=True)
class Span:
    label: str
    status: str           # a NodeResult status: ok, cached, failed, alert, skipped, interrupted, approved
    start: float          # seconds after the run started
    seconds: float
    hover: str


def timeline(spans: Sequence[Span], *, title: str) -> Html:
    """One row per node: a bar from its start for its duration, coloured by status."""
    row_h, top, left, right = 22.0, 8.0, 200.0, 16.0
    width = 880.0
    total = max([s.start + s.seconds for s in spans] + [0.001])
    height = top + row_h * len(spans) + 28.0
    pw = width - left - right
    out = [f'<svg class="chart timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} {_f(height)}" '
           f'role="img" aria-label="{attr(title)}"><title>{text(title)}</title>']
    axis_y = top + row_h * len(spans) + 4
    for i in range(5):
        x = left + pw * i / 4
        out.append(f'<line class="gr" x1="{_f(x)}" y1="{_f(top)}" x2="{_f(x)}" y2="{_f(axis_y)}"/>')
        out.append(f'<text class="tk" x="{_f(x)}" y="{_f(axis_y + 14)}" text-anchor="middle">'
                   f"{text(_seconds(total * i / 4))}</text>")
    for i, s in enumerate(spans):
        y = top + i * row_h
        out.append(f'<text class="lb" x="{_f(left - 8)}" y="{_f(y + 15)}" text-anchor="end">{text(s.label, 28)}</text>')
        x = left + pw * s.start / total
        w = max(pw * s.seconds / total, 3.0)
        out.append(f'<rect class="s-{attr(s.status)}" x="{_f(x)}" y="{_f(y + 4)}" width="{_f(w)}" '
                   f'height="{_f(row_h - 8)}"><title>{text(s.hover, 400)}</title></rect>')
    out.append("</svg>")
    return Html("".join(out))


def _seconds(v: float) -> str:
    if v >= 120:
        return f"{v / 60:.1f} min"
    return f"{v:.1f} s" if v < 10 else f"{v:.0f} s"
