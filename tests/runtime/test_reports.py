"""Reports without a browser: content, escaping, determinism, size, CLI behaviour, Markdown.

The browser half (the pages open with no request and no console error, the Mermaid blocks
parse with the real parser) is in ``test_reports_browser.py``.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import time
from pathlib import Path

import cmarkgfm
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlspec.output.encoders import mermaid_label, mermaid_number
from tests.runtime.conftest import codes
from tests.runtime.reports_data import DRIFT_ORDER, EPOCH, HOSTILE, write_drift_project, write_gate_project


@pytest.fixture
def drift_project(project, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    write_drift_project(project.root)
    return project


@pytest.fixture
def gate_project(project, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    write_gate_project(project.root)
    return project


def sections(page: str) -> list[tuple[str, str, str]]:
    """(column, status, severity) of each column section, in page order."""
    found = re.findall(r'<section class="column [a-z]+" id="column-\d+" data-column="([^"]*)" '
                       r'data-status="([a-z]+)" data-severity="([a-z]+)">', page)
    return [(html.unescape(c), s, v) for c, s, v in found]


def assert_self_contained(page: str) -> None:
    """No script, no external reference; the CSP forbids every fetch."""
    assert "<script" not in page.lower()
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    policy = html.unescape(csp.group(1)) if csp else ""
    assert "default-src 'none'" in policy and "script-src" not in policy
    # The only URL-looking text: the SVG namespace (an identifier, never fetched).
    urls = set(re.findall(r"(?:https?|ftp|file)://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert all(v.startswith("data:") for v in re.findall(r'\ssrc="([^"]*)"', page))
    # Links are in-page anchors, data: or relative paths (logs), never another origin.
    assert all(v.startswith(("#", "data:")) or not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//", v)
               for v in re.findall(r'\shref="([^"]*)"', page))


# ------------------------------------------------------------------ drift


def test_drift_report_columns_worst_first_with_pictures(drift_project, mlspec):
    r = mlspec("drift", "--no-push", "--report", "out/drift.html", "--format", "json")
    assert r.exit_code == 1                                  # drift found: the verdict is unchanged
    assert r.json["report"]["path"] == "out/drift.html"
    page = Path("out/drift.html").read_text(encoding="utf-8")
    assert r.json["report"]["bytes"] == len(page.encode())
    assert [c for c, _, _ in sections(page)] == DRIFT_ORDER
    assert sections(page)[:2] == [("plan", "drift", "critical"), ("amount", "drift", "warning")]
    assert page.count('<svg class="chart dist') == 4          # one picture per checked column
    assert page.count('<svg class="chart dist categorical"') == 1
    assert "2 of 4 column(s) drifted, 1 critical" in page
    # The header names the data, their versions and the time from SOURCE_DATE_EPOCH.
    for text in ("snapshot-7", "day-2026-01-01", "ref.parquet", "cur.parquet", "2026-01-01 00:00:00 UTC",
                 "SOURCE_DATE_EPOCH", "4,000 rows"):
        assert text in page
    # The missing share of current amount (5 % nulls) is shown.
    assert re.search(r"current 5\.\d% \(2\d\d of 4,000 rows\)", page)
    assert_self_contained(page)


def test_hostile_column_name_is_shown_not_run(drift_project, mlspec):
    mlspec("drift", "--no-push", "--report", "r.html")
    page = Path("r.html").read_text(encoding="utf-8")
    assert HOSTILE not in page
    assert html.escape(HOSTILE) in page
    assert "<script" not in page


def test_drift_report_bytes_are_deterministic_and_ignore_row_order(drift_project, mlspec):
    mlspec("drift", "--no-push", "--report", "a.html")
    mlspec("drift", "--no-push", "--report", "b.html")
    write_drift_project(drift_project.root, shuffle_seed=99)        # same rows, other order
    mlspec("drift", "--no-push", "--report", "c.html")
    a, b, c = (Path(n).read_bytes() for n in ("a.html", "b.html", "c.html"))
    assert a == b == c


def test_drift_report_time_comes_from_the_data_without_source_date_epoch(drift_project, mlspec, monkeypatch):
    import os

    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    os.utime("cur.parquet", (1700000000, 1700000000))
    os.utime("ref.parquet", (1600000000, 1600000000))
    mlspec("drift", "--no-push", "--report", "r.html")
    page = Path("r.html").read_text(encoding="utf-8")
    assert "2023-11-14 22:13:20 UTC" in page and "newest data file modified" in page


def test_bad_source_date_epoch_is_refused_before_any_work(drift_project, mlspec, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    r = mlspec("drift", "--no-push", "--report", "r.html", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS642"]
    assert not Path("r.html").exists()


def test_unwritable_report_is_ms641(drift_project, mlspec):
    Path("taken").write_text("a file, not a folder")
    r = mlspec("drift", "--no-push", "--report", "taken/r.html", "--format", "json")
    assert r.exit_code == 1 and "MS641" in codes(r) and "report" not in r.json


@pytest.mark.slow
def test_a_million_rows_make_a_small_page(project, mlspec, monkeypatch, record_property):
    """Binned before drawing: the page's size does not grow with the rows."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    write_drift_project(project.root, n=1_000_000)
    started = time.perf_counter()
    r = mlspec("drift", "--no-push", "--report", "big.html", "--format", "json")
    seconds = time.perf_counter() - started
    assert r.exit_code == 1
    size = Path("big.html").stat().st_size
    record_property("drift_report_bytes_1e6_rows", size)
    record_property("drift_seconds_1e6_rows", round(seconds, 2))
    write_drift_project(project.root, n=1000)
    mlspec("drift", "--no-push", "--report", "small.html")
    small = Path("small.html").stat().st_size
    assert size < 120_000, size
    assert abs(size - small) < 0.1 * small      # the same bins, other numbers in the tooltips


# ------------------------------------------------------------------ gate


def test_gate_report_table_deltas_and_attachments(gate_project, mlspec):
    r = mlspec("gate", "--no-push", "--baseline", "baseline.json", "--report", "eval.html", "--attach", "roc.png",
               "--attach", "slices.csv", "--format", "json")
    assert r.exit_code == 1                                  # 0.82 < 0.84 - 0.01: the baseline gate fails
    page = Path("eval.html").read_text(encoding="utf-8")
    assert "1 of 3 gate(s) failed" in page
    assert page.count('<section class="card gate"') == 3 and page.count('<svg class="chart gate"') == 3
    assert "−0.02 <span class=\"muted\">worse</span>" in page          # 0.82 against production 0.84
    assert "+2 <span class=\"muted\">worse</span>" in page              # latency 42 against 40: a max gate
    assert "slices.new_customers.roc_auc" in page                       # nested metrics are listed
    assert 'src="data:image/png;base64,' in page
    assert html.escape(HOSTILE) in page and HOSTILE not in page          # the CSV is shown as text
    assert_self_contained(page)


def test_gate_report_is_deterministic(gate_project, mlspec):
    for name in ("a.html", "b.html"):
        mlspec("gate", "--no-push", "--baseline", "baseline.json", "--report", name, "--attach", "roc.png")
    assert Path("a.html").read_bytes() == Path("b.html").read_bytes()


def test_missing_attachment_is_ms640_and_nothing_is_written(gate_project, mlspec):
    r = mlspec("gate", "--no-push", "--report", "eval.html", "--attach", "nope.png", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS640"]
    assert r.json["diagnostics"][0]["file"] == "nope.png"
    assert not Path("eval.html").exists()
    assert not Path(".mlspec/gates/result.json").exists()


def test_attach_needs_report(gate_project, mlspec):
    r = mlspec("gate", "--no-push", "--attach", "roc.png")
    assert r.exit_code == 2 and "--attach needs --report" in r.output


# ------------------------------------------------------------------ Markdown summaries


def _render(md: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(md)


def test_gate_summary_renders_as_a_table_with_deltas_and_charts(gate_project, mlspec):
    r = mlspec("gate", "--no-push", "--baseline", "baseline.json", "--summary", "summary.md", "--format", "json")
    assert r.json["summary"] == "summary.md"
    md = Path("summary.md").read_text(encoding="utf-8")
    assert md.startswith("### mlspec gate: reports — ❌ 1 of 3 gate(s) failed\n")
    out = _render(md)
    rows = re.findall(r"<tr>(.*?)</tr>", out, re.S)
    assert len(rows) == 4                                    # header + one row per gate
    assert "−0.02 worse" in rows[1] and "<strong>FAIL</strong>" in rows[3]
    blocks = re.findall(r'<pre lang="mermaid"><code>(.*?)</code></pre>', out, re.S)
    assert len(blocks) == 2 and all(html.unescape(b).startswith("xychart-beta\n") for b in blocks)
    assert 'bar [0.82, 0.75, 0.83, 0.84]' in html.unescape(blocks[0])


def test_summary_appends_to_github_step_summary(gate_project, mlspec, monkeypatch):
    target = gate_project.root / "step-summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    mlspec("gate", "--no-push", "--baseline", "baseline.json")
    mlspec("gate", "--no-push", "--baseline", "baseline.json")
    text = target.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n") and text.count("### mlspec gate: reports") == 2
    mlspec("gate", "--no-push", "--no-summary")
    assert target.read_text(encoding="utf-8") == text


def test_drift_summary_escapes_user_text(drift_project, mlspec):
    mlspec("drift", "--no-push", "--summary", "drift.md")
    md = Path("drift.md").read_text(encoding="utf-8")
    out = _render(md)
    assert "<script" not in out and html.escape(HOSTILE) in out
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>", out, re.S)
    assert [html.unescape(c) for c in rows] == DRIFT_ORDER
    assert '<pre lang="mermaid">' in out and "pie title" in out


@given(st.text(max_size=80))
def test_mermaid_label_keeps_to_a_safe_alphabet(s):
    out = mermaid_label(s)
    assert out and re.fullmatch(r"[A-Za-z0-9 _.,()+/=-]{1,60}", out)
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,60}", s):
        assert out == s                                   # metric names pass unchanged


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_mermaid_number_is_plain_decimal(v):
    out = mermaid_number(v)
    assert re.fullmatch(r"-?\d+(\.\d{1,6})?", out), out
    assert abs(float(out) - v) <= 5e-7 + 1e-15 * abs(v)


# ------------------------------------------------------------------ run


def test_run_writes_its_report_beside_the_logs(tmp_path, monkeypatch):
    import subprocess
    import sys

    from tests.test_run import write

    write(tmp_path, auc=0.5)
    proc = subprocess.run([sys.executable, "-m", "mlspec", "run", "--format", "json", "--report", "out/run.html"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    payload = json.loads(proc.stdout)
    assert proc.returncode == 1
    run_dir = tmp_path / ".mlspec" / "runs" / payload["run_id"]
    default = (run_dir / "report.html").read_text(encoding="utf-8")
    extra = (tmp_path / "out" / "run.html").read_text(encoding="utf-8")
    assert payload["reports"] == [f".mlspec/runs/{payload['run_id']}/report.html", "out/run.html"]
    assert 'href="gate.log"' in default                                      # beside the logs
    assert f'href="../.mlspec/runs/{payload["run_id"]}/gate.log"' in extra     # relative from out/
    statuses = re.findall(r'<span class="badge ([a-z]+)">', default.split("<h2>Nodes</h2>")[1])
    assert statuses == ["ok", "ok", "ok", "ok", "failed", "skipped"]
    assert default.count("<rect class=\"s-") == 6 and "1 FAILED" in default
    assert_self_contained(default)


# ------------------------------------------------------------------ the churn example's screenshot

CHURN = Path(__file__).resolve().parents[2] / "examples" / "churn"
SCREENSHOT = CHURN / "docs" / "drift-report.png"
SCREENSHOT_HASH = CHURN / "docs" / "drift-report.html.sha256"
UPDATE_ENV = "MLSPEC_UPDATE_SCREENSHOTS"


def test_churn_readme_screenshot_is_of_the_current_report(mlspec, monkeypatch, tmp_path):
    """The README shows a screenshot of `mlspec drift --report` on the example's data. The
    sha256 of the report's bytes is recorded beside the PNG: when the report changes, the
    screenshot is stale. Pixels are never compared (they differ between Chromium builds);
    `MLSPEC_UPDATE_SCREENSHOTS=1 python -m pytest -k churn_readme_screenshot` retakes it."""
    monkeypatch.chdir(CHURN)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    page = tmp_path / "drift-report.html"
    r = mlspec("drift", "mlproject.yaml", "--no-push", "--state-dir", str(tmp_path / "state"), "--report", str(page))
    assert r.exit_code == 1                                  # the example's current data drifted
    digest = hashlib.sha256(page.read_bytes()).hexdigest()
    recorded = SCREENSHOT_HASH.read_text(encoding="utf-8").split()[0] if SCREENSHOT_HASH.exists() else None
    if recorded != digest and os.environ.get(UPDATE_ENV) == "1":
        from tests.browser import Browser

        with Browser.start() as browser:
            tab = browser.new_page()
            tab.open(page.as_uri())
            assert tab.problems() == []
            SCREENSHOT.parent.mkdir(exist_ok=True)
            tab.screenshot(SCREENSHOT)
        SCREENSHOT_HASH.write_text(f"{digest}  drift-report.html (SOURCE_DATE_EPOCH={EPOCH})\n", encoding="utf-8")
        recorded = digest
    assert recorded == digest, (f"{SCREENSHOT.relative_to(CHURN.parent.parent)} is stale: the drift report changed. "
                                f"Retake it with {UPDATE_ENV}=1 python -m pytest -k churn_readme_screenshot")
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](docs/drift-report.png)" in (CHURN / "README.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------ distributions (what the pictures draw)


def _measure(method: str, ref: list, cur: list, contract_type: str | None = None):
    import pyarrow as pa

    from mlspec.compiler.plan import DriftCheck
    from mlspec.runtime.drift import measure

    check = DriftCheck("x", method, 0.2, method in ("ks", "chi2"), "warning")
    return measure(check, pa.chunked_array([pa.array(ref)]), pa.chunked_array([pa.array(cur)]), contract_type)


@pytest.mark.parametrize("ref, cur, bins, integer", [
    ([1, 2, 3, 3], [3, 4, 5], 5, True),                              # one bin per integer value
    ([0.1, 0.5, 0.9], [2.5], 30, False),                             # shared equal-width bins
    ([7.0, 7.0], [7.0], 1, True),                                    # one value in all
    ([1.0, 1.0000000000000002], [1.0], 1, False),                    # a range of one ulp
    ([-1e308, 1.7e308], [0.0], 30, False),                           # a range that overflows
    ([1.5, None, float("nan"), float("inf")], [2.5, None], 30, False),
])
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")   # PSI's quantiles of ±1e308
def test_histograms_share_bins_and_count_every_finite_value(ref, cur, bins, integer):
    import warnings

    import numpy as np

    from mlspec.runtime.drift import _histogram

    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # binning itself never overflows
        finite = [v for v in ref if v is not None and np.isfinite(v)]
        _histogram(np.array(finite, dtype=float), np.array([v for v in cur if v is not None], dtype=float))
    result, d = _measure("psi", ref, cur)
    assert d.kind == "numeric" and len(d.edges) == bins + 1 and d.integer_bins is integer
    assert list(d.edges) == sorted(set(d.edges))
    assert sum(d.reference) == result["reference"]["values"] and sum(d.current) == result["current"]["values"]
    assert d.reference_missing == result["reference"]["nulls"] + result["reference"]["non_finite"]


def test_categories_beyond_the_top_are_summed_as_other():
    ref = [f"c{i:02d}" for i in range(20) for _ in range(20 - i)]
    result, d = _measure("chi2", ref, ["c00", "new"] * 5)
    assert d.kind == "categorical" and len(d.labels) == 12 and d.labels[:2] == ("c00", "new")
    assert d.other_categories == 21 - 12
    assert sum(d.reference) + d.other_reference == len(ref)
    assert result["status"] == "drift"


def test_dates_are_drawn_on_a_time_axis(project, mlspec, monkeypatch):
    import datetime as dt

    _, d = _measure("ks", [dt.date(2025, 1, 1), dt.date(2025, 3, 1)], [dt.date(2025, 6, 1)])
    assert d.time_axis and not d.integer_bins
    from mlspec.runtime.reports.svg import histogram_ticks

    assert histogram_ticks(d.edges, True, False)[0][1] == "2025-01-01"
