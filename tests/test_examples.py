"""Every example validates, and its committed artifacts are exactly what the compiler writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(ROOT.glob("examples/*/mlproject.yaml"))


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_validates_strictly_apart_from_known_warnings(spec: Path) -> None:
    from mlspec.api import check_project

    checked = check_project(spec)
    assert checked.ok, [d.to_json() for d in checked.diagnostics]
    # The reference example (the language's full example) names files it does not ship (MS307; its eval
    # set: MS350) and leaves targets.prometheus.runbook_url unset (its rules tests read relative links).
    # support-assistant runs offline with a local registry, which GitHub runners would throw away (MS410).
    allowed = {"reference": {"MS307", "MS350", "MS420"}, "support-assistant": {"MS410"}}.get(spec.parent.name, set())
    assert {d.code for d in checked.diagnostics} <= allowed


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_committed_artifacts_are_fresh(spec: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mlspec", "compile", "--check", str(spec)],
                            capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{result.stderr}\nregenerate with: mlspec compile {spec.relative_to(ROOT)}")
