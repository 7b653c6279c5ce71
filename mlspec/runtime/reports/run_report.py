"""`mlspec run`'s page: every node on a timeline (ran, cached, skipped, failed), with logs.

Written by default beside the run's logs as ``.mlspec/runs/<run id>/report.html`` (so the
links to ``<node>.log`` are plain file names), and wherever ``--report PAGE.html`` says;
links are relative to the page. Drawn from :class:`~mlspec.runtime.execute.RunResult`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlspec.runtime.reports import html as H
from mlspec.runtime.reports import svg

STATUS_TEXT = {"ok": "ran", "cached": "cached", "failed": "FAILED", "alert": "alert", "skipped": "skipped",
               "interrupted": "interrupted", "approved": "approved"}


def _href(target: str, base: Path, page_dir: Path) -> str:
    """A link from the page to a file given relative to the spec's folder, as a relative URL."""
    rel = os.path.relpath(base / target, page_dir)
    return "/".join(_quote(part) for part in Path(rel).as_posix().split("/"))


def _quote(part: str) -> str:
    from urllib.parse import quote

    return quote(part, safe="._-~") if part not in (".", "..") else part


def render(*, project: str, spec: str, result: Any, plan: Any, base: Path, page_dir: Path,
           outputs: Sequence[str] = ()) -> str:
    """The run page. ``base`` is the spec's folder (logs are relative to it), ``page_dir``
    the folder the page is written to; ``outputs`` are evaluation outputs to link."""
    results = list(result.results)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    failed = [r for r in results if r.status in ("failed", "interrupted")]
    state = "interrupted" if result.interrupted else ("failed" if failed else "ok")
    summary = ", ".join(f"{n} {STATUS_TEXT.get(s, s)}" for s, n in sorted(counts.items()))
    total = max([r.started + r.seconds for r in results] + [0.0])
    meta = [("spec", H.Html(f"<code>{H.text(spec)}</code>")), ("run", H.Html(f"<code>{H.text(result.run_id)}</code>")),
            ("started", H.ReportTime(float(int(result.started)), "run start").html()),
            ("nodes", H.text(summary or "none")), ("wall time", H.text(f"{total:.1f} s"))]
    body = [f"<header><h1>Run report: {H.text(project)}</h1>\n"
            f'<p class="verdict" id="verdict">{H.badge(state, state.upper() if state != "ok" else "OK")} '
            f"{H.text(f'{len(results)} node(s): {summary}' if results else 'no node ran')}</p>\n"
            f"{H.meta_list(meta)}</header>\n<h2>Timeline</h2>\n"]
    titles = {}
    for n in list(getattr(plan, "nodes", ())) + list(getattr(plan, "monitor_nodes", ())):
        titles[n.id] = n.title
    spans = [svg.Span(r.id, r.status, r.started, r.seconds,
                      f"{r.id}: {STATUS_TEXT.get(r.status, r.status)}"
                      + (f", {r.seconds:.2f} s" if r.seconds else "") + (f" ({r.note})" if r.note else ""))
             for r in results]
    if spans:
        shown = [s for s in STATUS_TEXT if s in counts]
        body.append('<div class="legend">' + "".join(f'<span><span class="sw k-{s}"></span>{H.text(STATUS_TEXT[s])}</span>'
                                                     for s in shown) + "</div>\n")
        body.append(svg.timeline(spans, title=f"run {result.run_id}: nodes over time"))
    rows = []
    for r in results:
        log = (f'<a href="{H.attr(_href(r.log, base, page_dir))}">{H.text(Path(r.log).name)}</a>' if r.log else "")
        rows.append([H.text(r.id), H.text(titles.get(r.id, "")),
                     H.badge(r.status, STATUS_TEXT.get(r.status, r.status)),
                     H.text(f"{r.started:.1f}"), H.text(f"{r.seconds:.2f}" if r.seconds else ""),
                     H.text(str(r.attempts) if r.attempts else ""),
                     H.text("" if r.exit_code is None else str(r.exit_code)), H.Html(log), H.text(r.note or "")])
    body.append("<h2>Nodes</h2>\n")
    body.append(H.table(["node", "what", "status", "start (s)", "seconds", "attempts", "exit", "log", "note"], rows,
                        numeric=(3, 4, 5, 6), cls="nodes"))
    present = [o for o in outputs if (base / o).exists()]
    if present:
        body.append("<h2>Evaluation outputs</h2>\n<ul>\n")
        body += [f'<li><a href="{H.attr(_href(o, base, page_dir))}">{H.text(o)}</a></li>\n' for o in present]
        body.append("</ul>\n")
    return H.page(f"Run report: {project}", body, kind="run")
