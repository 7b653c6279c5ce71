"""The page shell every HTML report shares: one self-contained, deterministic file.

No script, no external style sheet, font or image: the CSS is inline and allowed by its
hash, pictures are inline SVG or ``data:`` URIs, and a ``Content-Security-Policy`` meta tag
forbids every fetch (``default-src 'none'``), so opening a report — from a CI artifact, a
mail attachment, a laptop without network — never contacts anything. Links (to logs) are
relative and only followed when clicked.

User text (column names, category values, metric names, file names, notes) goes through
:func:`text`, i.e. :func:`mlspec.output.encoders.html_text` after terminal-style escaping
of control characters, so a column named ``<script>`` is shown, not run.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlspec import __version__
from mlspec.output.encoders import html_text

MAX_TEXT = 200                 # characters of one piece of user text shown in a cell


class Html(str):
    """Markup that is already safe (built here from escaped parts)."""


def text(value: object, limit: int = MAX_TEXT) -> Html:
    """User text as HTML: control and bidi characters shown as escapes, then HTML-escaped."""
    from mlspec.reporters import clean

    s = clean(str(value))
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return Html(html_text(s))


def attr(value: object) -> Html:
    """An attribute value (always written in double quotes); never shortened (data: URIs)."""
    from mlspec.reporters import clean

    return Html(html_text(clean(str(value))))


def num(value: float | int | None, digits: int = 4) -> str:
    """A number for people: ``n/a`` for none, integers as integers, else ``digits`` significant."""
    from mlspec.runtime.common import num as _num

    return _num(value, digits)


def pct(part: int, whole: int) -> str:
    return "n/a" if whole <= 0 else f"{100.0 * part / whole:.1f}%"


def utc_text(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class BadEpoch(ValueError):
    pass


def source_date_epoch() -> int | None:
    """``$SOURCE_DATE_EPOCH`` (reproducible-builds.org): the time a report names, if set."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise BadEpoch(f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not {raw[:40]!r}")
    return int(raw)


@dataclass(frozen=True)
class ReportTime:
    """When a report is about; never the wall clock, so a report is a function of its inputs."""

    timestamp: float
    what: str                  # "SOURCE_DATE_EPOCH", "newest data file", "metrics file", "run started"

    def html(self) -> Html:
        return Html(f'<time datetime="{attr(_dt.datetime.fromtimestamp(self.timestamp, _dt.timezone.utc).isoformat(timespec="seconds"))}">'
                    f"{text(utc_text(self.timestamp))}</time> <span class=\"muted\">({text(self.what)})</span>")


def report_time(fallback: float | None, what: str) -> ReportTime | None:
    epoch = source_date_epoch()
    if epoch is not None:
        return ReportTime(float(epoch), "SOURCE_DATE_EPOCH")
    return ReportTime(float(int(fallback)), what) if fallback is not None else None


CSS = """\
:root{--ok:#15803d;--ok-bg:#dcfce7;--bad:#b91c1c;--bad-bg:#fee2e2;--warn:#a16207;--warn-bg:#fef9c3;
--muted:#64748b;--line:#e2e8f0;--ref:#94a3b8;--cur:#2563eb;--ink:#0f172a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:#f8fafc}
main{max-width:1060px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}h3{font-size:15px;margin:0}
header{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:10px 0 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.verdict{font-size:16px;font-weight:600;margin:8px 0 0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.badge.drift,.badge.fail,.badge.failed,.badge.interrupted{background:var(--bad-bg);color:var(--bad)}
.badge.ok,.badge.pass,.badge.approved{background:var(--ok-bg);color:var(--ok)}
.badge.error,.badge.alert{background:var(--warn-bg);color:var(--warn)}
.badge.skipped,.badge.cached,.badge.info{background:#e2e8f0;color:#334155}
.badge.critical{background:var(--bad);color:#fff}.badge.warning{background:#fde68a;color:#713f12}
section.column,section.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:14px 0}
section.column.drift{border-left:5px solid var(--bad)}section.column.error{border-left:5px solid var(--warn)}
section.column.ok{border-left:5px solid var(--ok)}section.column.skipped{border-left:5px solid var(--ref)}
.head{display:flex;gap:10px;align-items:center;flex-wrap:wrap}
table{border-collapse:collapse;width:100%;margin:8px 0;background:#fff}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
th{font-weight:600;color:#334155;background:#f1f5f9}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.legend{display:flex;gap:14px;font-size:12px;color:var(--muted);margin:4px 0}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.sw.ref{background:var(--ref)}.sw.cur{background:var(--cur)}.sw.zone{background:#dcfce7}
.sw.val{background:#0f172a;width:3px}.sw.base{background:#7c3aed;width:3px}
svg.chart{display:block;width:100%;height:auto;max-width:920px}svg.chart.gate{max-width:620px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
.note{color:var(--warn);font-size:13px;margin:6px 0 0}
figure{margin:10px 0}figcaption{color:var(--muted);font-size:12px}
figure img{max-width:100%;height:auto;border:1px solid var(--line)}
pre{background:#f1f5f9;padding:8px;overflow:auto;max-height:360px;font-size:12px}
footer{color:var(--muted);font-size:12px;margin-top:28px}
a{color:#1d4ed8}
.r{fill:var(--ref)}.c{fill:var(--cur)}.ax{stroke:#94a3b8;stroke-width:1}.gr{stroke:#e2e8f0;stroke-width:1}
.tk{font-size:11px;fill:#475569}.lb{font-size:12px;fill:#0f172a}.ok{fill:#15803d}.bad{fill:#b91c1c}
.zone{fill:#dcfce7}.val{stroke:#0f172a;stroke-width:2}.base{stroke:#7c3aed;stroke-width:2;stroke-dasharray:4 3}
.s-ok,.s-approved{fill:#16a34a}.s-cached{fill:#94a3b8}.s-skipped{fill:#cbd5e1}.s-failed,.s-interrupted{fill:#dc2626}
.s-alert{fill:#ca8a04}
.k-ok,.k-approved{background:#16a34a}.k-cached{background:#94a3b8}.k-skipped{background:#cbd5e1}
.k-failed,.k-interrupted{background:#dc2626}.k-alert{background:#ca8a04}
"""


def csp(style: str) -> str:
    """No fetch of any kind; the one inline style sheet allowed by hash; images only as data:."""
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; base-uri 'none'; "
            "form-action 'none'")


def page(title: str, body: Iterable[str], *, kind: str) -> str:
    """The whole document. ``title`` is user text; ``body`` parts are safe markup."""
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f'<meta http-equiv="Content-Security-Policy" content="{attr(csp(CSS))}">\n',
        '<meta name="referrer" content="no-referrer">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f'<meta name="generator" content="mlspec {attr(__version__)}">\n',
        f'<meta name="mlspec-report" content="{attr(kind)}">\n',
        '<link rel="icon" href="data:,">\n',
        f"<title>{text(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        *body,
        f'<footer>Written by mlspec {text(__version__)}. This page is self-contained: it loads nothing '
        "and runs no script.</footer>\n</main>\n</body>\n</html>\n",
    ])


def badge(status: str, label: str | None = None) -> Html:
    return Html(f'<span class="badge {attr(status)}">{text(label or status)}</span>')


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = (),
          cls: str = "") -> Html:
    """A table; header texts are escaped, cells must already be safe markup (:func:`text`)."""
    out = [f'<table{f" class={chr(34)}{attr(cls)}{chr(34)}" if cls else ""}><thead><tr>']
    out += [f"<th>{text(h)}</th>" for h in headers]
    out.append("</tr></thead><tbody>\n")
    for row in rows:
        out.append("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                     for i, c in enumerate(row)) + "</tr>\n")
    out.append("</tbody></table>\n")
    return Html("".join(out))


def meta_list(items: Iterable[tuple[str, str]]) -> Html:
    """A definition list; labels are escaped, values must be safe markup."""
    return Html('<dl class="meta">' + "".join(f"<dt>{text(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>\n")


def write(path: Path, html: str) -> int:
    """Write atomically; returns the size in bytes."""
    from mlspec.runtime.common import write_atomic

    write_atomic(path, html)
    os.chmod(path, 0o644)        # a page to share (the temporary file it was renamed from is 0600)
    return len(html.encode("utf-8"))
