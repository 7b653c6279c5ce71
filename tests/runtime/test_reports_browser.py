"""Reports in a real browser: headless Chromium over the DevTools protocol (tests/browser.py).

Each page must open with no request but itself (and its own data: images), no console
message of level warning or error (Content-Security-Policy violations land there) and no
uncaught exception; the assertions are on the DOM (charts, verdicts, order), never on
pixels. The Mermaid blocks of the Markdown summaries are parsed by the real Mermaid parser
(tools/mermaid-check, installed by tools/setup.sh) inside the same browser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import Browser, Page
from tests.runtime.reports_data import DRIFT_ORDER, EPOCH, HOSTILE, write_drift_project, write_gate_project

pytestmark = pytest.mark.validator

REPO = Path(__file__).resolve().parents[2]
MERMAID_JS = REPO / "tools" / "mermaid-check" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser.start()
    try:
        yield b
    finally:
        b.close()


def open_report(browser: Browser, path: Path) -> Page:
    page = browser.new_page()
    url = path.resolve().as_uri()
    page.open(url)
    foreign = [r["url"][:120] for r in page.requests if r["url"] != url and not r["url"].startswith("data:")]
    assert foreign == [], f"the page asked for {foreign}"
    assert page.problems() == []
    return page


@pytest.fixture
def quiet_env(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def test_drift_report_opens_clean_with_one_chart_per_column(browser, project, mlspec, quiet_env, tmp_path):
    write_drift_project(project.root)
    mlspec("drift", "--no-push", "--report", "drift.html")
    page = open_report(browser, project.root / "drift.html")
    dom = page.evaluate("""(() => {
        const cols = [...document.querySelectorAll('section.column')];
        return {
          columns: cols.map(s => s.dataset.column),
          statuses: cols.map(s => s.dataset.status + '/' + s.dataset.severity),
          charts: cols.map(s => s.querySelectorAll('svg.chart.dist').length),
          bars: cols.map(s => s.querySelectorAll('svg.chart.dist rect.c').length > 0),
          verdict: document.getElementById('verdict').textContent,
          scripts: document.scripts.length,
          title: document.title,
          heading: cols[2].querySelector('h3').textContent,
        };
    })()""")
    assert dom["columns"] == DRIFT_ORDER
    assert dom["statuses"] == ["drift/critical", "drift/warning", "ok/warning", "ok/warning"]
    assert dom["charts"] == [1, 1, 1, 1] and all(dom["bars"])
    assert dom["verdict"] == "DRIFT 2 of 4 column(s) drifted, 1 critical"
    assert dom["scripts"] == 0 and dom["heading"] == HOSTILE      # shown as text, not run
    shot = page.screenshot(tmp_path / "drift.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    # The policy is in force: a fetch from the page is refused (and the refusal is what
    # page.problems() would have reported above).
    outcome = page.evaluate("fetch('http://127.0.0.1:9/x').then(() => 'fetched', () => 'refused')",
                            await_promise=True)
    assert outcome == "refused"
    assert any("Content Security Policy" in p for p in page.problems())
    assert not any("127.0.0.1:9" in r["url"] for r in page.requests)


def test_eval_report_opens_clean_with_its_image(browser, project, mlspec, quiet_env):
    write_gate_project(project.root)
    mlspec("gate", "--no-push", "--baseline", "baseline.json", "--report", "eval.html", "--attach", "roc.png",
           "--attach", "slices.csv")
    page = open_report(browser, project.root / "eval.html")
    dom = page.evaluate("""(() => ({
        gates: [...document.querySelectorAll('section.gate')].map(s => s.dataset.gate),
        charts: document.querySelectorAll('section.gate svg.chart.gate').length,
        rows: [...document.querySelectorAll('table.gates tbody tr')].map(r => r.cells[6].textContent),
        image: [...document.images].map(i => [i.complete, i.naturalWidth]),
        verdict: document.getElementById('verdict').textContent,
        text: document.querySelector('figure.text pre').textContent,
    }))()""")
    assert dom["gates"] == ["roc_auc_min", "p95_latency_ms_max", "roc_auc_baseline"] and dom["charts"] == 3
    assert dom["rows"] == ["pass", "pass", "FAIL"]
    assert dom["image"] == [[True, 2]]                      # the PNG decoded from its data: URI
    assert dom["verdict"] == "FAIL 1 of 3 gate(s) failed"
    assert HOSTILE in dom["text"]


def test_run_report_opens_clean(browser, tmp_path):
    import subprocess
    import sys

    from tests.test_run import write

    write(tmp_path, auc=0.9)
    proc = subprocess.run([sys.executable, "-m", "mlspec", "run", "--format", "json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    run_id = json.loads(proc.stdout)["run_id"]
    page = open_report(browser, tmp_path / ".mlspec" / "runs" / run_id / "report.html")
    dom = page.evaluate("""(() => ({
        bars: document.querySelectorAll('svg.timeline rect').length,
        logs: [...document.querySelectorAll('table.nodes a')].map(a => a.getAttribute('href')),
        resolved: [...document.querySelectorAll('table.nodes a')].map(a => a.href),
    }))()""")
    assert dom["bars"] == 6
    assert dom["logs"] == ["step_other.log", "step_prepare.log", "train.log", "evaluate.log", "gate.log",
                           "register.log"]
    for href in dom["resolved"]:                             # the links lead to the real logs
        assert Path(href.removeprefix("file://")).is_file(), href


# ------------------------------------------------------------------ Mermaid


@pytest.fixture(scope="module")
def mermaid(browser, tmp_path_factory) -> Page:
    if not MERMAID_JS.is_file():
        pytest.skip("the Mermaid parser is not installed: run `bash tools/setup.sh` (npm ci in tools/mermaid-check)")
    folder = tmp_path_factory.mktemp("mermaid")
    harness = folder / "mermaid.html"
    harness.write_text(f'<!DOCTYPE html><meta charset="utf-8"><script src="{MERMAID_JS.as_uri()}"></script>',
                       encoding="utf-8")
    page = browser.new_page()
    page.open(harness.as_uri())
    assert page.evaluate("typeof mermaid.parse") == "function"
    return page


def mermaid_parse(page: Page, text: str) -> str:
    """The diagram type the real parser finds, or ``error: …``."""
    return page.evaluate(f"mermaid.parse({json.dumps(text)}).then(r => r.diagramType, e => 'error: ' + e.message)",
                         await_promise=True)


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, re.S | re.M)


def test_mermaid_parser_rejects_broken_charts(mermaid):
    """The check can fail: the real parser refuses what is not Mermaid."""
    assert mermaid_parse(mermaid, "xychart-beta\n    bar [1, 2").startswith("error: ")
    assert mermaid_parse(mermaid, 'pie title "x"\n    "a" : b').startswith("error: ")


def test_summary_mermaid_blocks_parse(mermaid, project, mlspec, quiet_env):
    write_gate_project(project.root)
    mlspec("gate", "--no-push", "--baseline", "baseline.json", "--summary", "gate.md")
    write_drift_project(project.root)
    mlspec("drift", "--no-push", "--summary", "drift.md")
    gate_blocks = mermaid_blocks(Path("gate.md").read_text(encoding="utf-8"))
    drift_blocks = mermaid_blocks(Path("drift.md").read_text(encoding="utf-8"))
    assert len(gate_blocks) == 2 and len(drift_blocks) == 1
    assert [mermaid_parse(mermaid, b) for b in gate_blocks] == ["xychart", "xychart"]
    assert [mermaid_parse(mermaid, b) for b in drift_blocks] == ["pie"]


def test_hostile_labels_still_parse(mermaid):
    from types import SimpleNamespace

    from mlspec.runtime.reports.markdown import gate_chart

    gate = SimpleNamespace(id='a"b%%{init}%%#quot;', metric='m"] ; x', baseline=None, higher_is_better=True,
                           min=0.5, max=None)
    result = SimpleNamespace(gate=gate, value=1e-7, threshold_min=-1e12, threshold_max=None, baseline_value=None)
    block = "\n".join(gate_chart('m"] ; x', [result], {"m\"] ; x": 3.5})[1:-1])
    assert mermaid_parse(mermaid, block) == "xychart"
