"""Small naming helpers every stage shares, one of each."""

from __future__ import annotations

import re

_UNSAFE_SOURCE_CHARS = re.compile(r"[^A-Za-z0-9._/+-]")


def sanitize_source(source: str) -> str:
    """``source`` as a relative POSIX path of safe ASCII: other characters become ``_``."""
    return _UNSAFE_SOURCE_CHARS.sub("_", source.replace("\\", "/")).lstrip("/") or "_"


def strip_namespace(ref: str) -> str:
    """``data.customers`` → ``customers``; ``steps.prepare`` → ``prepare``; ``training`` stays."""
    head, dot, rest = ref.partition(".")
    return rest if dot and head in ("data", "steps") else ref


def ci_baseline_artifact(project: str) -> str:
    """The workflow artifact holding the production model's metrics: the train workflow's
    register job uploads it, a pull request's pipeline job reads it (`mlspec ci-baseline`)."""
    return f"mlspec-{project}-production-metrics"


CI_BASELINE_DIR = ".mlspec/ci-baseline"
