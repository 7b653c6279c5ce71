"""The must-run policy of tests/conftest.py and .ci/run: in CI a skipped validator or server test fails."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

INNER = """
import pytest

@pytest.mark.server
def test_server_skips():
    pytest.skip("prometheus not found")

@pytest.mark.validator
def test_validator_xfails():
    pytest.xfail("tool broken")

@pytest.fixture
def needs_binary():
    pytest.skip("skipped in a fixture")

@pytest.mark.server
def test_server_fixture_skips(needs_binary):
    pass

def test_plain_skip():
    pytest.skip("unmarked: a skip is a skip")

@pytest.mark.server
def test_server_passes():
    pass
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, required: bool) -> tuple[pytest.RunResult, Path]:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("MLSPEC_REQUIRE_VALIDATORS", "1" if required else "0")
    pytester.makeconftest('pytest_plugins = ["tests.conftest"]')
    pytester.makepyfile(test_inner=INNER)
    junit = pytester.path / "junit.xml"
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--junitxml={junit}", "-rA"), junit


def test_required_skips_and_xfails_of_marked_tests_fail(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result, junit = _run(pytester, monkeypatch, required=True)
    result.assert_outcomes(passed=1, failed=2, errors=1, skipped=1)  # a skip in a fixture fails at setup
    out = result.stdout.str()
    assert "server test did not run against its real server (skip (prometheus not found))" in out
    assert "server test did not run against its real server (skip (skipped in a fixture))" in out
    assert "validator test did not run its validator (xfail (tool broken))" in out
    props = {case.get("name"): {p.get("name") for p in case.iter("property")}
             for case in ET.parse(junit).getroot().iter("testcase")}
    assert props["test_server_skips"] == {"mlspec_server"}
    assert props["test_validator_xfails"] == {"mlspec_validator"}
    assert props["test_plain_skip"] == set()


def test_optional_skips_stay_skips(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = _run(pytester, monkeypatch, required=False)
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)


def _ci_junit_check() -> str:
    """The JUnit checker embedded in .ci/run (a python heredoc)."""
    text = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r"python - \"\$JUNIT\" <<'PY' \|\| check=\$\?\n(.*?)\nPY\n", text, re.S)
    assert match, ".ci/run no longer embeds its JUnit check"
    return match.group(1)


def _junit(tmp_path: Path, cases: list[tuple[str, list[str], bool]]) -> Path:
    body = "".join(
        f'<testcase classname="t" name="{name}"><properties>'
        + "".join(f'<property name="{p}" value="true"/>' for p in props)
        + "</properties>" + ('<skipped type="pytest.skip" message="gone"/>' if skipped else "") + "</testcase>"
        for name, props, skipped in cases)
    path = tmp_path / "junit.xml"
    path.write_text(f'<testsuites><testsuite name="pytest">{body}</testsuite></testsuites>', encoding="utf-8")
    return path


@pytest.mark.parametrize("cases, ok, message", [
    ([("a", ["mlspec_validator"], False), ("b", ["mlspec_server"], False), ("c", [], True)], True,
     "3 test cases, 1 validator tests, 1 server tests, 0 of them skipped"),
    ([("a", ["mlspec_validator"], False), ("b", ["mlspec_server"], True)], False, "t::b (server): pytest.skip: gone"),
    ([("a", ["mlspec_validator"], False)], False, "no server test ran"),
    ([("b", ["mlspec_server"], False)], False, "no validator test ran"),
])
def test_ci_run_rechecks_the_junit_xml(tmp_path: Path, cases: list, ok: bool, message: str) -> None:
    r = subprocess.run([sys.executable, "-", str(_junit(tmp_path, cases))], input=_ci_junit_check(),
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    assert message in r.stdout + r.stderr
