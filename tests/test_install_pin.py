"""Every generated artifact installs exactly the mlspec release that generated it.

The distribution is ``mlspec-compiler`` (``mlspec`` on PyPI is an unrelated project), pinned
to ``__version__`` so that ``compile --check`` notices a compiler upgrade. The scan looks at
every artifact of every example for a requirement naming mlspec on a pip line or in the
``MLSPEC_INSTALL`` variable the workflows pass to pip.
"""

from __future__ import annotations

import re

import pytest

from mlspec import __version__
from tests.golden import EXAMPLES, compiled

# A requirement word that names mlspec: `mlspec`, `mlspec[runtime]`, `mlspec-compiler[x]==1`, …
_REQ = re.compile(r"""(?<![\w$/.-])(mlspec(?:[-_]compiler)?(?:\[[\w,\s-]*\])?(?:\s*(?:[=<>!~]=?|@)\s*[^\s'"]+)?)(?=['"\s]|$)""")
_PINNED = re.compile(r"mlspec-compiler\[(?:mlflow,)?runtime\]==" + re.escape(__version__))


def mlspec_requirements(text: str) -> list[str]:
    """The mlspec requirements a text installs: words on pip lines and MLSPEC_INSTALL values."""
    found: list[str] = []
    for line in text.splitlines():
        if "pip install" in line or "pip3 install" in line or "MLSPEC_INSTALL" in line:
            found += [m.group(1) for m in _REQ.finditer(line)]
    return found


def test_scanner_catches_unpinned_and_foreign() -> None:
    assert mlspec_requirements("RUN pip install -r r.txt 'mlspec[runtime]'") == ["mlspec[runtime]"]
    assert mlspec_requirements('  MLSPEC_INSTALL: "mlspec==0.4.0"') == ["mlspec==0.4.0"]
    assert mlspec_requirements("pip install mlspec") == ["mlspec"]
    assert mlspec_requirements("mlspec gate --all") == []               # a command, not an install
    for bad in ("mlspec[runtime]", "mlspec==0.4.0", "mlspec-compiler[runtime]", "mlspec-compiler[runtime]==0.0.1"):
        assert not _PINNED.fullmatch(bad)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_artifact_installs_the_pinned_distribution(example: str) -> None:
    seen: dict[str, list[str]] = {}
    for path, (text, _target, _kind) in compiled(example).items():
        reqs = mlspec_requirements(text)
        if reqs:
            seen[path] = reqs
        bad = [r for r in reqs if not _PINNED.fullmatch(r)]
        assert not bad, f"{example}/{path} installs {bad}, not mlspec-compiler[...]=={__version__}"
    assert seen, f"{example}: no artifact installs mlspec at all"
