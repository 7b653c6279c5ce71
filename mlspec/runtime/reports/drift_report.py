"""`mlspec drift --report PAGE.html`: both distributions of every checked column, worst first.

The page is drawn from what `mlspec drift` computed: the check results of
:func:`mlspec.runtime.drift.measure` and the :class:`~mlspec.runtime.drift.Distribution`
decoded from the same values, binned before drawing, so a page of a million rows is as
small as a page of a hundred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlspec.runtime.drift import Distribution
from mlspec.runtime.reports import html as H
from mlspec.runtime.reports import svg

STATUS_RANK = {"drift": 0, "error": 1, "ok": 2, "skipped": 3}
SEVERITY_RANK = {"critical": 0, "warning": 1}
VERDICT = {"drift": "DRIFT", "ok": "ok", "skipped": "not measured", "error": "error"}


@dataclass(frozen=True)
class DataSide:
    """One data set as the header names it."""

    shown: str                         # path or URI as the user wrote it
    source: str | None                 # the spec's data source name, if it is one
    version: str | None                # the source's declared version
    rows: int


@dataclass
class ColumnReport:
    column: str
    order: int                                  # position of its first check in the spec
    checks: list[dict[str, Any]] = field(default_factory=list)   # drift.measure() results
    distribution: Distribution | None = None

    @property
    def status(self) -> str:
        return min((c["status"] for c in self.checks), key=lambda s: STATUS_RANK.get(s, 9))

    @property
    def severity(self) -> str:
        pool = [c for c in self.checks if c["status"] == self.status] or self.checks
        return min((c["severity"] for c in pool), key=lambda s: SEVERITY_RANK.get(s, 9))

    def sort_key(self) -> tuple[int, int, int]:
        return STATUS_RANK.get(self.status, 9), SEVERITY_RANK.get(self.severity, 9), self.order


def group(results: Sequence[dict[str, Any]], distributions: dict[str, Distribution]) -> list[ColumnReport]:
    """One report per column (a column may have several checks), most severe first:
    drifted critical, drifted warning, errors, fine, not measured; then spec order."""
    by_column: dict[str, ColumnReport] = {}
    for i, r in enumerate(results):
        rep = by_column.setdefault(r["column"], ColumnReport(r["column"], i))
        rep.checks.append(r)
    for rep in by_column.values():
        rep.distribution = distributions.get(rep.column)
    return sorted(by_column.values(), key=ColumnReport.sort_key)


def _side(label: str, side: DataSide) -> tuple[str, H.Html]:
    parts = [f"<code>{H.text(side.shown)}</code>"]
    if side.source:
        parts.append(f"data source <code>{H.text(side.source)}</code>")
    parts.append(f"version <code>{H.text(side.version)}</code>" if side.version else
                 '<span class="muted">no version pinned</span>')
    parts.append(f"{side.rows:,} rows")
    return label, H.Html(" · ".join(parts))


def _bound(r: dict[str, Any]) -> str:
    return f"p < {H.num(r['threshold'], 6)}" if r["test"] else f"> {H.num(r['threshold'], 6)}"


def _checks_table(rep: ColumnReport) -> H.Html:
    rows = []
    for r in rep.checks:
        rows.append([H.text(r["method"]), H.text(H.num(r.get("statistic"))), H.text(H.num(r.get("p_value"))),
                     H.text(_bound(r)), H.badge(r["status"], VERDICT.get(r["status"], r["status"])),
                     H.badge(r["severity"]), H.text(r.get("note") or "")])
    return H.table(["method", "statistic", "p-value", "drift when", "verdict", "severity", "note"], rows,
                   numeric=(1, 2), cls="checks")


def _chart(rep: ColumnReport) -> H.Html:
    d = rep.distribution
    title = f"{rep.column}: reference vs current"
    if d is None or (not d.reference and not d.current and not d.other_reference and not d.other_current):
        return H.Html('<p class="muted">No picture: no values to draw.</p>\n')
    rtot = sum(d.reference) + d.other_reference
    ctot = sum(d.current) + d.other_current
    if d.kind == "categorical":
        slots = [svg.Slot(label, label, r, c) for label, r, c in zip(d.labels, d.reference, d.current)]
        if d.other_categories:
            other = f"other ({d.other_categories})"
            slots.append(svg.Slot(other, f"{d.other_categories} other categories", d.other_reference,
                                  d.other_current))
        chart = svg.paired_bars(slots, rtot, ctot, title=title, rotate=len(slots) > 6,
                                cls="chart dist categorical")
        what = f"{len(d.labels) + d.other_categories} categories"
    else:
        edges = d.edges
        integer_bins = d.integer_bins
        slots = []
        for i, (r, c) in enumerate(zip(d.reference, d.current)):
            a, b = edges[i], edges[i + 1]
            hover = (f"{H.num(a + 0.5, 6)}" if integer_bins else
                     f"[{svg._axis_label(a, d.time_axis, edges[-1] - edges[0])}, "
                     f"{svg._axis_label(b, d.time_axis, edges[-1] - edges[0])}{']' if i == len(d.reference) - 1 else ')'}")
            slots.append(svg.Slot("", hover, r, c))
        ticks = svg.histogram_ticks(edges, d.time_axis, integer_bins)
        chart = svg.paired_bars(slots, rtot, ctot, title=title, ticks=ticks, cls="chart dist numeric")
        what = f"{len(slots)} shared bins" + (" (one per value)" if integer_bins else "")
    legend = ('<div class="legend"><span><span class="sw ref"></span>reference</span>'
              '<span><span class="sw cur"></span>current</span>'
              f"<span>share of each sample's values · {H.text(what)}</span></div>\n")
    missing = (f'<p class="muted">missing (null, NaN, ±inf): reference {H.text(H.pct(d.reference_missing, d.reference_rows))}'
               f" ({d.reference_missing:,} of {d.reference_rows:,} rows) · current "
               f"{H.text(H.pct(d.current_missing, d.current_rows))} ({d.current_missing:,} of {d.current_rows:,} rows)</p>\n")
    return H.Html(legend + chart + "\n" + missing)


def render(*, project: str, spec: str, reference: DataSide, current: DataSide,
           results: Sequence[dict[str, Any]], distributions: dict[str, Distribution],
           when: H.ReportTime | None) -> str:
    """The drift page. ``results`` are `mlspec drift`'s check results (JSON form)."""
    columns = group(results, distributions)
    drifted = [c for c in columns if c.status == "drift"]
    critical = [c for c in drifted if c.severity == "critical"]
    errors = [c for c in columns if c.status == "error"]
    if drifted:
        verdict = (f"{len(drifted)} of {len(columns)} column(s) drifted"
                   + (f", {len(critical)} critical" if critical else ""))
    else:
        verdict = f"No drift in {len(columns)} column(s)"
    if errors:
        verdict += f"; {len(errors)} could not be checked"
    meta = [("spec", H.Html(f"<code>{H.text(spec)}</code>")), _side("reference", reference), _side("current", current),
            ("checks", H.Html(f"{len(results)} check(s) on {len(columns)} column(s)"))]
    if when is not None:
        meta.append(("as of", when.html()))
    body = [f'<header><h1>Drift report: {H.text(project)}</h1>\n'
            f'<p class="verdict" id="verdict">{H.badge("drift" if drifted else ("error" if errors else "ok"), "DRIFT" if drifted else ("ERROR" if errors else "OK"))} '
            f"{H.text(verdict)}</p>\n{H.meta_list(meta)}</header>\n"]
    overview = []
    for i, c in enumerate(columns, 1):
        overview.append([f'<a href="#column-{i}">{H.text(c.column)}</a>', H.badge(c.status, VERDICT.get(c.status)),
                         H.badge(c.severity), H.text(", ".join(r["method"] for r in c.checks))])
    body.append("<h2>Columns, most severe first</h2>\n")
    body.append(H.table(["column", "verdict", "severity", "checks"], overview, cls="overview"))
    for i, c in enumerate(columns, 1):
        body.append(f'<section class="column {H.attr(c.status)}" id="column-{i}" data-column="{H.attr(c.column)}" '
                    f'data-status="{H.attr(c.status)}" data-severity="{H.attr(c.severity)}">\n'
                    f'<div class="head"><h3>{H.text(c.column)}</h3>{H.badge(c.status, VERDICT.get(c.status))}'
                    f"{H.badge(c.severity)}</div>\n")
        body.append(_checks_table(c))
        body.append(_chart(c))
        body.append("</section>\n")
    return H.page(f"Drift report: {project}", body, kind="drift")
