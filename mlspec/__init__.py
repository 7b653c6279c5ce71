"""mlspec: one declarative mlproject.yaml compiled into reviewed pipeline artifacts.

The public API is small and imported lazily, so ``import mlspec`` (and the CLI) start fast:

    from mlspec import load_document, validate_spec, resolve_plan, check_project, compile_project
"""

from __future__ import annotations

from typing import Any

from mlspec._version import __version__

_EXPORTS = {
    "load_document": "mlspec.language.loader",
    "validate_spec": "mlspec.language.validate",
    "resolve_plan": "mlspec.compiler.resolve",
    "check_project": "mlspec.api",
    "compile_project": "mlspec.api",
    "emit_artifacts": "mlspec.api",
    "write_artifacts": "mlspec.output.writer",
    "build_schema": "mlspec.schema",
    "Diagnostic": "mlspec.diagnostics",
    "Artifact": "mlspec.output.artifacts",
    "Plan": "mlspec.compiler.plan",
    "Spec": "mlspec.language.models",
    "Target": "mlspec.targets",
    "TargetOptions": "mlspec.targets",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mlspec' has no attribute {name!r}")
