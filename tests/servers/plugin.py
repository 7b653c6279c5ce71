"""pytest hooks shared by the server fixtures: server output on failure, start-up times at the end.

When a test fails (in setup or call), each server that was running meanwhile -- and each webhook
receiver -- adds a report section with what it logged *during that test* (``mark`` at setup, read
back at the report), so a failing end-to-end test shows the server's side of the story.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.servers._process import LIVE, STARTUPS

_MARKS = pytest.StashKey[dict[int, int]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    # Servers already up (session-scoped ones) report from here; ones started later from their start.
    item.stash[_MARKS] = {id(s): s.mark() for s in LIVE}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or report.when == "teardown":
        return
    marks = item.stash.get(_MARKS, {})
    for server in list(LIVE):
        text = server.report_since(marks.get(id(server), 0))
        if text:
            report.sections.append((f"{server.name} output during this test", text))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if STARTUPS:
        times = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in STARTUPS)
        terminalreporter.write_line(f"real servers started ({len(STARTUPS)}): {times}")
