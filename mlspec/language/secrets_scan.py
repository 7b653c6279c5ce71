"""Find values that look like credentials, without ever printing them.

Structured (key-path aware) linting: provider patterns apply to every string; keyword and
entropy heuristics only where a secret would plausibly sit (environment values, keys that
name a secret). Measured as both cheaper and more precise than line scans.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from mlspec.diagnostics import SpecPath

_PROVIDERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rx)) for name, rx in (
        ("an AWS access key", r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b"),
        ("a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9_]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
        ("a GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("a Slack webhook URL", r"hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+"),
        ("a private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
        ("a JSON web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("an Anthropic API key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
        ("an OpenAI API key", r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}"),
        ("a Stripe key", r"\b(?:sk|rk)_live_[0-9a-zA-Z]{20,}"),
        ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
        ("a Hugging Face token", r"\bhf_[A-Za-z]{34}\b"),
        ("an npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("a PyPI token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20,}"),
        ("an Azure storage key", r"AccountKey=[A-Za-z0-9+/=]{40,}"),
        ("a password in a URI", r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@${}]+:[^/\s@${}]+@"),
    )
)
_SECRET_KEY = re.compile(r"(?i)(passw(or)?d|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"
                         r"credential|auth)")
_REFERENCE = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_.]*\}?$")
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{20,}")
_ALLOWED = re.compile(r"^(sha256:)?[a-f0-9]{40}$|^(sha256:)?[a-f0-9]{64}$")


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(token: str) -> bool:
    if _ALLOWED.match(token):
        return False
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    return has_digit and has_alpha and entropy(token) >= 4.0


def classify(value: str, key: str | None, sensitive_place: bool) -> str | None:
    """What kind of credential ``value`` looks like, or None."""
    for name, rx in _PROVIDERS:
        if rx.search(value):
            return name
    if not sensitive_place:
        return None
    if key and _SECRET_KEY.search(key) and value and not _REFERENCE.match(value) and len(value) >= 8 \
            and " " not in value:
        return "a secret (its key names one)"
    if sensitive_place and any(_looks_random(t) for t in _TOKEN.findall(value)):
        return "a high-entropy token"
    return None


def scan(data: Any) -> Iterator[tuple[SpecPath, str]]:
    """Yield ``(path, kind)`` for every string value in ``data`` that looks like a credential."""
    stack: list[tuple[SpecPath, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
        elif isinstance(node, str):
            key = next((p for p in reversed(path) if isinstance(p, str)), None)
            # Free-form maps are where a pasted secret would sit; language keys are not.
            sensitive = len(path) >= 2 and path[-2] in ("env", "params")
            kind = classify(node, key, sensitive)
            if kind:
                yield path, kind
