"""The few GitHub REST calls the runtime makes with a job's token (``$GITHUB_API_URL``)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def headers(token: str | None) -> dict[str, str]:
    out = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "mlspec"}
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


def get_json(url: str, token: str | None, timeout: float = 10.0, limit: int = 1 << 22) -> Any:
    """GET ``url`` as JSON (at most ``limit`` bytes read); urllib's errors reach the caller."""
    req = urllib.request.Request(url, headers=headers(token))
    with urllib.request.urlopen(req, timeout=timeout) as resp:   # noqa: S310 - an https/http API URL from the runner
        return json.loads(resp.read(limit).decode("utf-8"))
