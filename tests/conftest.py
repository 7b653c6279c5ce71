"""Project-wide pytest hooks.

Validator policy: a test marked ``@pytest.mark.validator`` runs a real third-party validator
(see ``tests/validators.py``). On a developer machine it may skip when a tool is missing; in CI
(env ``CI`` set and not false/0) or with ``MLSPEC_REQUIRE_VALIDATORS=1`` such a skip -- and an
xfail, which would hide a finding just as well -- is reported as a FAILURE carrying the reason.
Skips must happen inside the test (``tests/validators.py`` does that): a module-level
``pytest.skip``/``importorskip`` skips before any test exists and cannot be seen here.

Every validator test also carries the JUnit property ``mlspec_validator=true`` so that
``.ci/run`` can re-check the JUnit XML for skipped validator tests (belt and braces).
"""

from __future__ import annotations

import os

import pytest

VALIDATOR_PROPERTY = "mlspec_validator"


def validators_required() -> bool:
    if os.environ.get("MLSPEC_REQUIRE_VALIDATORS", "").strip() not in ("", "0"):
        return True
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_report_header(config):
    mode = "required (a skip fails)" if validators_required() else "optional (a skip is a skip)"
    return f"mlspec validator tests: {mode}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("validator") is not None:
            # Set on the item (what record_property does) so that even reports of tests
            # skipped before any fixture ran carry it into the JUnit XML.
            item.user_properties.append((VALIDATOR_PROPERTY, "true"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or item.get_closest_marker("validator") is None or not validators_required():
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
        f"validator test did not run its validator ({reason}); in CI every validator test must run "
        "and pass. Install the tools with `bash tools/setup.sh`."
    )
