"""GitHub Markdown summaries for pull requests and job pages, with Mermaid charts.

GitHub renders ```` ```mermaid ```` blocks itself, so a chart needs no image hosting. The
summaries are what `mlspec gate --summary` and `mlspec drift --summary` write (appended to
``$GITHUB_STEP_SUMMARY`` by default inside GitHub Actions). User text goes through
:func:`~mlspec.output.encoders.markdown_text` (tables) and
:func:`~mlspec.output.encoders.mermaid_label` (charts).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlspec.output.encoders import markdown_text, mermaid_label, mermaid_number
from mlspec.runtime.common import num
from mlspec.runtime.reports.eval_report import baseline_value, delta_text, direction

MAX_CHARTS = 6                 # metrics charted in one summary
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def _cell(value: object) -> str:
    return markdown_text(str(value)) if value not in (None, "") else ""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    out = ["| " + " | ".join(markdown_text(h) for h in headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def gate_chart(metric: str, results: Sequence[Any], baseline: dict[str, Any] | None) -> list[str]:
    """A Mermaid ``xychart-beta`` bar chart: this model's value, each gate's bound, production."""
    bars: list[tuple[str, float]] = []
    value = next((r.value for r in results if r.value is not None), None)
    if value is not None:
        bars.append(("this model", value))
    for r in results:
        for bound, word in ((r.threshold_min, "min"), (r.threshold_max, "max")):
            if bound is not None:
                bars.append((f"{r.gate.id} {word}", bound))
    base = next((b for b in (baseline_value(r, baseline) for r in results) if b is not None), None)
    if base is not None:
        bars.append(("production", base))
    if len(bars) < 2:
        return []
    labels = ", ".join(f'"{mermaid_label(label, 30)}"' for label, _ in bars)
    values = ", ".join(mermaid_number(v) for _, v in bars)
    return ["```mermaid", "xychart-beta", f'    title "{mermaid_label(metric)}: model vs bounds"',
            f"    x-axis [{labels}]", f'    y-axis "{mermaid_label(metric)}"', f"    bar [{values}]", "```"]


def gate_summary(*, project: str, metrics_file: str, baseline_label: str | None, results: Sequence[Any],
                 baseline: dict[str, Any] | None, attachments: Sequence[str] = (), report: str | None = None) -> str:
    """The gate table with deltas against production, and one chart per gated metric."""
    failed = [r for r in results if not r.passed]
    head = (f"❌ {len(failed)} of {len(results)} gate(s) failed" if failed else
            f"✅ all {len(results)} gate(s) passed")
    lines = [f"### mlspec gate: {markdown_text(project)} — {head}", ""]
    compared = f"compared with {markdown_text(baseline_label)}" if baseline_label else "no production model to compare with"
    lines += [f"Metrics from {markdown_text(metrics_file)}; {compared}.", ""]
    rows = []
    for r in results:
        base = baseline_value(r, baseline)
        delta, how = delta_text(r.value, base, direction(r.gate))
        rows.append([_cell(r.gate.id), _cell(r.gate.metric), _cell(num(r.value)), _cell(r.bound),
                     _cell(num(base) if base is not None else ""), _cell(f"{delta} {how}".strip()),
                     "✅ pass" if r.passed else "❌ **FAIL**", _cell(r.problem or r.note or "")])
    lines += _table(["gate", "metric", "value", "bound", "production", "Δ", "result", "note"], rows, right=(2, 4, 5))
    by_metric: dict[str, list[Any]] = {}
    for r in results:
        by_metric.setdefault(r.gate.metric, []).append(r)
    charts = [gate_chart(m, rs, baseline) for m, rs in list(by_metric.items())[:MAX_CHARTS]]
    charts = [c for c in charts if c]
    if charts:
        lines += ["", "<details open><summary>Charts</summary>", ""]
        for c in charts:
            lines += c + [""]
        lines += ["</details>"]
    if attachments:
        lines += ["", "Evaluation outputs: " + ", ".join(markdown_text(a) for a in attachments)]
    if report:
        lines += ["", f"Full report: {markdown_text(report)}"]
    return "\n".join(lines) + "\n"


def drift_summary(*, project: str, reference: str, current: str, results: Sequence[dict[str, Any]],
                  report: str | None = None) -> str:
    """The drift checks, most severe first, and a pie of their verdicts."""
    from mlspec.runtime.reports.drift_report import SEVERITY_RANK, STATUS_RANK, VERDICT

    ordered = sorted(enumerate(results), key=lambda ir: (STATUS_RANK.get(ir[1]["status"], 9),
                                                         SEVERITY_RANK.get(ir[1]["severity"], 9), ir[0]))
    drifted = [r for r in results if r["status"] == "drift"]
    head = (f"⚠️ {len(drifted)} of {len(results)} check(s) drifted" if drifted else
            f"✅ no drift in {len(results)} check(s)")
    lines = [f"### mlspec drift: {markdown_text(project)} — {head}", "",
             f"Reference {markdown_text(reference)}, current {markdown_text(current)}.", ""]
    rows = []
    for _, r in ordered:
        bound = f"p < {num(r['threshold'])}" if r["test"] else f"> {num(r['threshold'])}"
        verdict = VERDICT.get(r["status"], r["status"])
        rows.append([_cell(r["column"]), _cell(r["method"]), _cell(num(r.get("statistic"), 4)),
                     _cell(num(r.get("p_value"), 4)), _cell(bound),
                     f"**{verdict}**" if r["status"] == "drift" else _cell(verdict), _cell(r["severity"]),
                     _cell(r.get("note") or "")])
    lines += _table(["column", "method", "statistic", "p-value", "drift when", "verdict", "severity", "note"], rows,
                    right=(2, 3))
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    if len(counts) > 1:
        lines += ["", "```mermaid", f'pie title "{mermaid_label(project)} drift checks"']
        lines += [f'    "{mermaid_label(VERDICT.get(s, s))}" : {n}' for s, n in
                  sorted(counts.items(), key=lambda kv: STATUS_RANK.get(kv[0], 9))]
        lines += ["```"]
    if report:
        lines += ["", f"Full report: {markdown_text(report)}"]
    return "\n".join(lines) + "\n"


def summary_target(option: str | None, disabled: bool) -> tuple[Path, bool] | None:
    """Where a summary goes: ``(path, append)``. ``--summary PATH`` writes PATH; without it,
    inside GitHub Actions (``$GITHUB_STEP_SUMMARY`` set) the job summary is appended to."""
    if disabled:
        return None
    if option:
        return Path(option), False
    env = os.environ.get(SUMMARY_ENV)
    return (Path(env), True) if env else None


def write_summary(target: tuple[Path, bool], text: str) -> None:
    path, append = target
    if append:
        with path.open("a", encoding="utf-8", newline="\n") as fh:
            fh.write(text + "\n")
    else:
        from mlspec.runtime.common import write_atomic

        write_atomic(path, text)
