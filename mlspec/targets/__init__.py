"""Targets are plugins: an entry point in the ``mlspec.targets`` group names a class.

Built-in targets register exactly the way third-party ones do (see ``pyproject.toml``),
so the core never learns about a particular target.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mlspec import diagnostics as dx
from mlspec.diagnostics import Diagnostic

if TYPE_CHECKING:
    from mlspec.output.artifacts import Artifact
    from mlspec.compiler.plan import Plan

GROUP = "mlspec.targets"


def _allow_extensions(schema: dict[str, Any]) -> None:
    schema["patternProperties"] = {"^x-": {"description": "extension, ignored by mlspec"}}


class TargetOptions(BaseModel):
    """Options every target has; targets subclass this for their own."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False,
                              json_schema_extra=_allow_extensions)

    enabled: bool = Field(True, description="Emit this target's artifacts.")


class Target:
    """Base class of a target plugin.

    ``check`` reports what the target cannot express (never drop silently); ``emit``
    turns the Plan into artifacts. Both see only the Plan and the target's own options.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    options_model: ClassVar[type[TargetOptions]] = TargetOptions

    def __init__(self, template_dirs: Sequence[Any] = ()) -> None:
        self.template_dirs = tuple(template_dirs)

    def check(self, plan: Plan) -> list[Diagnostic]:
        return []

    def emit(self, plan: Plan) -> list[Artifact]:  # pragma: no cover - interface
        raise NotImplementedError


@cache
def available_targets() -> dict[str, type[Target]]:
    """Installed targets by name, sorted."""
    found: dict[str, type[Target]] = {}
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        found[getattr(cls, "name", ep.name)] = cls
    return dict(sorted(found.items()))


def did_you_mean(name: str, names: Sequence[str]) -> str | None:
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.5)
    return f"did you mean {match[0]!r}?" if match else None


def validate_target_options(
    raw: dict[str, Any], doc: Any, selected: Sequence[str] = (),
) -> tuple[dict[str, TargetOptions], list[Diagnostic]]:
    """Validate ``targets:`` against each plugin's options.

    Returns the options of every installed target, enabled or not (targets may read each
    other's naming, e.g. the image name), and diagnostics for unknown names, in the spec or
    in ``selected`` (from ``--target``).
    """
    from pydantic import ValidationError

    from mlspec.language.validate import translate_errors

    targets = available_targets()
    diags: list[Diagnostic] = []
    options: dict[str, TargetOptions] = {}
    for name, value in raw.items():
        if name.startswith("x-"):
            continue
        if name not in targets:
            diags.append(Diagnostic(dx.UNKNOWN_TARGET, f"unknown target {name!r}",
                                    span=doc.span(("targets", name), key=True), path=("targets", name),
                                    hint=did_you_mean(name, list(targets))
                                    or f"installed targets: {', '.join(targets)}"))
    for name, cls in targets.items():
        value = raw.get(name, {})
        try:
            opts = cls.options_model.model_validate(value)
        except ValidationError as exc:
            # One stable code for every problem in a target's options; the message says which.
            diags.extend(replace(d, code=dx.TARGET_OPTION_INVALID)
                         for d in translate_errors(exc, doc, prefix=("targets", name), root=cls.options_model))
            continue
        options[name] = opts
    for name in selected:
        if name not in targets:
            diags.append(Diagnostic(dx.UNKNOWN_TARGET, f"unknown target {name!r} in --target",
                                    hint=did_you_mean(name, list(targets))
                                    or f"installed targets: {', '.join(targets)}"))
    return options, diags


def chosen_targets(options: dict[str, TargetOptions], selected: Sequence[str] = ()) -> list[str]:
    """The targets to check and emit: ``--target`` names, else the enabled ones."""
    return [n for n, o in options.items() if (n in selected if selected else o.enabled)]
