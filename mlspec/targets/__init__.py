"""Targets are plugins: an entry point in the ``mlspec.targets`` group names a class.

Built-in targets register exactly the way third-party ones do (see ``pyproject.toml``),
so the core never learns about a particular target. A target sees the Plan and its own
options only; it never imports another target. Helpers that several targets share live in
``mlspec.targets.toolkit``, and what a target cannot express is declared once in its
:class:`Capabilities`, so "target X cannot do Y" reads the same for every target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from mlspec import diagnostics as dx
from mlspec.diagnostics import Diagnostic
from mlspec.language.target_options import TargetOptions
from mlspec.suggest import did_you_mean

if TYPE_CHECKING:
    from mlspec.output.artifacts import Artifact
    from mlspec.compiler.plan import Plan

GROUP = "mlspec.targets"


@dataclass(frozen=True)
class Capabilities:
    """What a target can express of a Plan. A feature the Plan uses and the target cannot
    express is reported by :func:`capability_diagnostics`, never dropped silently."""

    gpu: bool = True              # nodes' resources.gpu
    resources: bool = True        # nodes' cpu/memory requests
    approval: bool = True         # a human approval before registration
    retries: bool = True          # nodes' retries
    timeouts: bool = True         # nodes' timeouts
    schedules: bool = True        # retraining/monitoring schedules
    hint: str | None = None       # how to get what is missing (an option to set)


class Target:
    """Base class of a target plugin.

    ``check`` reports what the target cannot express beyond its :class:`Capabilities`
    (never drop silently); ``emit`` turns the Plan into artifacts. Both see only the Plan
    and ``self.options``, the target's own validated options.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    options_model: ClassVar[type[TargetOptions]] = TargetOptions

    def __init__(self, options: TargetOptions | None = None, template_dirs: Sequence[Any] = ()) -> None:
        self.options = options if options is not None else self.options_model()
        self.template_dirs = tuple(template_dirs)

    def capabilities(self) -> Capabilities:
        """What this target can express; may depend on ``self.options`` (an operator, a runner)."""
        return Capabilities()

    def check(self, plan: Plan) -> list[Diagnostic]:
        return []

    def emit(self, plan: Plan) -> list[Artifact]:  # pragma: no cover - interface
        raise NotImplementedError


_FEATURES: tuple[tuple[str, str], ...] = (
    ("gpu", "resources.gpu"), ("resources", "resources"), ("retries", "retries"), ("timeouts", "timeout"),
)


def capability_diagnostics(target: Target, plan: Plan) -> list[Diagnostic]:
    """One diagnostic per Plan feature the target cannot express, at the spec path that asks for it."""
    caps = target.capabilities()
    out: list[Diagnostic] = []

    def cannot(what: str, path: tuple[Any, ...]) -> None:
        out.append(Diagnostic(dx.TARGET_CANNOT_EXPRESS, f"{target.name}: cannot express {what}",
                              severity=dx.Severity.WARNING, path=path, hint=caps.hint))

    for node in plan.nodes + plan.monitor_nodes:
        r = node.resources
        asked = {"gpu": bool(r.gpu), "resources": r.cpu is not None or r.memory is not None,
                 "retries": node.retries > 0, "timeouts": node.timeout_seconds is not None}
        for feature, key in _FEATURES:
            if asked[feature] and not getattr(caps, feature):
                cannot(f"{key} of {node.id}", (*node.spec_path, *key.split(".")))
    if plan.approval is not None and not caps.approval:
        cannot("the approval before registration", ("validation", "approval"))
    if not caps.schedules:
        if plan.retraining is not None and plan.retraining.schedule:
            cannot("the retraining schedule", ("retraining", "schedule"))
        if plan.monitoring is not None:
            cannot("the monitoring schedule", ("monitoring", "schedule"))
    return out


@cache
def available_targets() -> dict[str, type[Target]]:
    """Installed targets by name, sorted."""
    found: dict[str, type[Target]] = {}
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        found[getattr(cls, "name", ep.name)] = cls
    return dict(sorted(found.items()))


def validate_target_options(
    raw: dict[str, Any], doc: Any, selected: Sequence[str] = (),
) -> tuple[dict[str, TargetOptions], list[Diagnostic]]:
    """Validate ``targets:`` against each plugin's options.

    Returns the options of every installed target, enabled or not (the image settings under
    ``targets.docker`` decide the Plan's images even when only another target is emitted), and
    diagnostics for unknown names, in the spec or in ``selected`` (from ``--target``).
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
