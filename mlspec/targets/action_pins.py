"""The GitHub Actions that generated workflows use, pinned to full commit SHAs (data only).

Each SHA is the commit its release tag points to, read from the action's own repository
(recorded with their release tags below). Never invent one: a release bump is a one-line change
here, and ``tests/targets/test_github_actions.py`` checks every pin is 40 lowercase hex
digits and that every ``uses:`` in a generated workflow is one of these pins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class ActionPin:
    """One action at one release: ``uses: <action>@<sha>  # <tag>``."""

    action: str
    tag: str
    sha: str

    @property
    def uses(self) -> str:
        return f"{self.action}@{self.sha}"


CHECKOUT = ActionPin("actions/checkout", "v7.0.1", "3d3c42e5aac5ba805825da76410c181273ba90b1")
SETUP_PYTHON = ActionPin("actions/setup-python", "v7.0.0", "5fda3b95a4ea91299a34e894583c3862153e4b97")
UPLOAD_ARTIFACT = ActionPin("actions/upload-artifact", "v7.0.0", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f")
DOWNLOAD_ARTIFACT = ActionPin("actions/download-artifact", "v8.0.1", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c")
BUILD_PUSH = ActionPin("docker/build-push-action", "v7.3.0", "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a")
LOGIN = ActionPin("docker/login-action", "v4.1.0", "4907a6ddec9925e35a0a9e82d7399ccc52663121")
SETUP_BUILDX = ActionPin("docker/setup-buildx-action", "v4.3.0", "37fe631027851001ddb9b187196cc803df7f5f0e")
METADATA = ActionPin("docker/metadata-action", "v6.2.0", "dc802804100637a589fabce1cb79ff13a1411302")

ALL: tuple[ActionPin, ...] = (
    CHECKOUT, SETUP_PYTHON, UPLOAD_ARTIFACT, DOWNLOAD_ARTIFACT,
    BUILD_PUSH, LOGIN, SETUP_BUILDX, METADATA,
)
BY_USES: dict[str, ActionPin] = {pin.uses: pin for pin in ALL}
