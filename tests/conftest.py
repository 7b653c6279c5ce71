"""Project-wide pytest hooks.

Must-run policy: a test marked ``@pytest.mark.validator`` runs a real third-party validator (see
``tests/validators.py``); one marked ``@pytest.mark.server`` starts a real server on loopback (the
fixtures of ``tests/servers``). On a developer machine either may skip when a tool is missing; in CI
(env ``CI`` set and not false/0) or with ``MLSPEC_REQUIRE_VALIDATORS=1`` such a skip -- and an
xfail, which would hide a finding just as well -- is reported as a FAILURE carrying the reason.
Skips must happen inside the test or its fixtures (``tests/validators.py`` and ``tests/servers`` do
that): a module-level ``pytest.skip``/``importorskip`` skips before any test exists and cannot be
seen here.

Every such test also carries the JUnit property ``mlspec_<marker>=true`` (``mlspec_validator``,
``mlspec_server``) so that ``.ci/run`` can re-check the JUnit XML for skipped ones (belt and braces).
"""

from __future__ import annotations

import os

import pytest

# The real-server fixtures (s3_server, mlflow_server, prom_stack, ...): see tests/servers/__init__.py.
pytest_plugins = ["pytester", "tests.servers.plugin", "tests.servers.s3", "tests.servers.mlflow_server", "tests.servers.prom"]

# Marker -> what a developer is told when a test with it did not run in CI.
MUST_RUN = {
    "validator": "validator test did not run its validator",
    "server": "server test did not run against its real server",
}


def junit_property(marker: str) -> str:
    return f"mlspec_{marker}"


# A network guard: any S3 client the suite opens without an explicit endpoint (a spec's
# s3://bucket that no test meant to reach) talks to a closed port on loopback, never a cloud.
# Tests that use the S3 server set their own endpoint. Also no EC2 metadata look-ups.
os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def validators_required() -> bool:
    """Must-run tests may not skip (CI, or MLSPEC_REQUIRE_VALIDATORS=1)."""
    if os.environ.get("MLSPEC_REQUIRE_VALIDATORS", "").strip() not in ("", "0"):
        return True
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _must_run_marker(item: pytest.Item) -> str | None:
    return next((m for m in MUST_RUN if item.get_closest_marker(m) is not None), None)


def pytest_report_header(config):
    mode = "required (a skip fails)" if validators_required() else "optional (a skip is a skip)"
    return f"mlspec {' and '.join(MUST_RUN)} tests: {mode}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker in MUST_RUN:
            if item.get_closest_marker(marker) is not None:
                # Set on the item (what record_property does) so that even reports of tests
                # skipped before any fixture ran carry it into the JUnit XML.
                item.user_properties.append((junit_property(marker), "true"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not validators_required() or (marker := _must_run_marker(item)) is None:
        return
    if hasattr(report, "wasxfail"):
        reason = f"xfail ({report.wasxfail or 'no reason given'})"
        del report.wasxfail
    elif isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = f"skip ({str(report.longrepr[2]).removeprefix('Skipped: ')})"
    else:
        reason = f"skip ({report.longrepr})"
    report.outcome = "failed"
    report.longrepr = (
        f"{MUST_RUN[marker]} ({reason}); in CI every {marker} test must run and pass. "
        "Install the tools with `bash tools/setup.sh`."
    )
