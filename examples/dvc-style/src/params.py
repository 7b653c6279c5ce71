"""params.yaml, read by each stage itself: the DVC convention this example keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def load(section: str) -> dict[str, Any]:
    return yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8"))[section]
