"""What a spec change alters, in reviewer terms: ``diff_plans(old, new) -> PlanDiff``.

A one-line threshold change touches hundreds of generated lines; a reviewer wants to know
that a gate was loosened, that a secret now reaches another job, that a workflow may now
write to the repository or that an alert lost its route. This module compares two Plans
(and, when given, the artifacts compiled from them and the sha256 of the files the specs
name) and returns typed changes. It is pure: no disk, no git, no targets imported —
the caller compiles the artifacts (``mlspec.api.emit_artifacts``) and hashes the files.

Risky changes (``Change.risk`` set) are what a reviewer must not miss:

* a release gate or LLM eval removed or loosened (``min`` lowered or dropped, ``max`` raised
  or dropped, ``max_regression`` raised, the direction flipped);
* a secret reaching a node or GitHub job that did not receive it before;
* a GitHub job's token permissions widened (a scope raised in a job that existed, or a new
  job holding a write scope);
* approval dropped, its environment changed, or reviewers/approvers removed;
* an alert event that was routed somewhere no longer routed anywhere.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from mlspec.compiler.plan import Alert, Gate, Node, Plan, ResourceRequest, Serving
from mlspec.output.artifacts import Artifact

Effect = Literal["added", "removed", "changed", "loosened", "tightened", "widened", "narrowed"]

#: Sections in report order, with their headings.
SECTIONS: dict[str, str] = {
    "gates": "Gates and thresholds",
    "approval": "Approval",
    "secrets": "Secrets",
    "permissions": "Workflow permissions",
    "nodes": "Nodes",
    "edges": "Edges",
    "schedules": "Schedules",
    "images": "Images",
    "resources": "Resources",
    "alerts": "Alerts and routes",
    "data": "Data",
    "llm": "LLM prompts and model",
    "params": "Params",
    "settings": "Other settings",
}


@dataclass(frozen=True)
class Change:
    """One change, in reviewer terms. ``old``/``new`` are display strings (``None``: absent)."""

    section: str
    subject: str
    effect: Effect
    old: str | None = None
    new: str | None = None
    risk: str | None = None            # why a reviewer must look; None: not risky

    @property
    def risky(self) -> bool:
        return self.risk is not None

    def to_json(self) -> dict[str, Any]:
        return {"section": self.section, "subject": self.subject, "effect": self.effect,
                "old": self.old, "new": self.new, "risky": self.risky, "risk": self.risk}


@dataclass(frozen=True)
class ArtifactDelta:
    """A generated file that changes: lines added and removed in its body (headers excluded)."""

    path: str
    target: str
    status: Literal["added", "removed", "changed"]
    added: int
    removed: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "target": self.target, "status": self.status,
                "added": self.added, "removed": self.removed}


@dataclass(frozen=True)
class PlanDiff:
    changes: tuple[Change, ...] = ()
    artifacts: tuple[ArtifactDelta, ...] = ()
    old_project: str | None = None
    new_project: str | None = None

    @property
    def risky(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.risky)

    def section(self, name: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.section == name)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.artifacts

    def to_json(self) -> dict[str, Any]:
        return {"old_project": self.old_project, "new_project": self.new_project,
                "risky": [c.to_json() for c in self.risky],
                "changes": [c.to_json() for c in self.changes],
                "artifacts": [a.to_json() for a in self.artifacts],
                "summary": {"changes": len(self.changes), "risky": len(self.risky),
                            "artifacts": len(self.artifacts),
                            "lines_added": sum(a.added for a in self.artifacts),
                            "lines_removed": sum(a.removed for a in self.artifacts)}}


# ---------------------------------------------------------------------------- entry point


def diff_plans(
    old: Plan | None, new: Plan, *,
    old_artifacts: Sequence[Artifact] = (), new_artifacts: Sequence[Artifact] = (),
    old_files: Mapping[str, str | None] | None = None, new_files: Mapping[str, str | None] | None = None,
    old_targets: Sequence[str] = (), new_targets: Sequence[str] = (),
) -> PlanDiff:
    """Compare two Plans. ``old`` may be ``None`` (no spec at the base: everything is added).

    ``*_artifacts`` are the artifacts compiled from each plan (for workflow permissions, GitHub
    job secrets, images and changed-line counts); ``*_files`` map a spec-relative path to the
    sha256 of its content (``None``: missing), for prompt files; ``*_targets`` name the targets
    each side emits (a target switched off is told as such).
    """
    out = _Collector()
    _nodes(out, old, new)
    _gates(out, old, new)
    _evals(out, old, new)
    _monitoring_thresholds(out, old, new)
    _approval(out, old, new)
    _secrets(out, old, new)
    _schedules(out, old, new)
    _images(out, old, new)
    _resources(out, old, new)
    _alerts(out, old, new)
    _data(out, old, new)
    _llm(out, old, new, old_files or {}, new_files or {})
    _params(out, old, new)
    _settings(out, old, new)
    _targets(out, old_targets, new_targets)
    old_wf, new_wf = _workflows(old_artifacts), _workflows(new_artifacts)
    _permissions(out, old_wf, new_wf)
    _job_secrets(out, old_wf, new_wf)
    _artifact_images(out, old_artifacts, new_artifacts)
    order = {name: i for i, name in enumerate(SECTIONS)}
    changes = sorted(out.changes, key=lambda c: order[c.section])  # stable: keeps order within a section
    return PlanDiff(tuple(changes), _artifact_deltas(old_artifacts, new_artifacts),
                    old.project.name if old else None, new.project.name)


class _Collector:
    def __init__(self) -> None:
        self.changes: list[Change] = []

    def add(self, section: str, subject: str, effect: Effect, old: Any = None, new: Any = None,
            risk: str | None = None) -> None:
        self.changes.append(Change(section, subject, effect, _show(old), _show(new), risk))


def _show(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) >= 1e-4 or value == 0 else repr(value)
    if isinstance(value, (tuple, list, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return ", ".join(str(_show(v)) for v in items) if items else "(none)"
    return str(value)


def _by(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, Any]:
    return {key(i): i for i in items}


def _keys(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> list[Any]:
    """Keys of both mappings: old order first, then the new ones in their order."""
    return [*old, *(k for k in new if k not in old)]


def _scalar(out: _Collector, section: str, subject: str, old: Any, new: Any, risk: str | None = None) -> None:
    if old == new:
        return
    effect: Effect = "added" if old is None else "removed" if new is None else "changed"
    out.add(section, subject, effect, old, new, risk)


# ---------------------------------------------------------------------------- nodes and edges


def _all_nodes(plan: Plan | None) -> dict[str, Node]:
    return {n.id: n for n in (*plan.nodes, *plan.monitor_nodes)} if plan else {}


def _nodes(out: _Collector, old: Plan | None, new: Plan) -> None:
    a, b = _all_nodes(old), _all_nodes(new)
    for nid in _keys(a, b):
        if nid not in b:
            out.add("nodes", f"node {nid}", "removed", a[nid].title)
        elif nid not in a:
            needs = f"{b[nid].title}; needs {_show(b[nid].needs)}" if b[nid].needs else b[nid].title
            out.add("nodes", f"node {nid}", "added", None, needs)
        else:
            x, y = a[nid], b[nid]
            _scalar(out, "nodes", f"node {nid}: command", x.command, y.command)
            _scalar(out, "nodes", f"node {nid}: timeout (s)", x.timeout_seconds, y.timeout_seconds)
            _scalar(out, "nodes", f"node {nid}: retries", x.retries, y.retries)
            env_x, env_y = dict(x.env), dict(y.env)
            for name in _keys(env_x, env_y):
                _scalar(out, "nodes", f"node {nid}: env {name}", env_x.get(name), env_y.get(name))
            for what, xs, ys in (("inputs", x.inputs, y.inputs), ("outputs", x.outputs, y.outputs)):
                if set(xs) != set(ys):
                    out.add("nodes", f"node {nid}: {what}", "changed", xs, ys)
    edges_a = {(need, n.id) for n in a.values() for need in n.needs}
    edges_b = {(need, n.id) for n in b.values() for need in n.needs}
    both = a.keys() & b.keys()
    # Edges of added or removed nodes are told with the node; these are rewirings.
    for src, dst in sorted(edges_a - edges_b):
        if src in both and dst in both:
            out.add("edges", f"{src} → {dst}", "removed")
    for src, dst in sorted(edges_b - edges_a):
        if src in both and dst in both:
            out.add("edges", f"{src} → {dst}", "added")


# ---------------------------------------------------------------------------- gates and thresholds


@dataclass(frozen=True)
class _Bounds:
    """The effective bounds of every gate on one (metric, baseline): the strictest of each."""

    min: float | None = None
    max: float | None = None
    max_regression: float | None = None
    higher_is_better: bool = True


def _gate_bounds(gates: Iterable[Gate]) -> dict[tuple[str, str | None], _Bounds]:
    out: dict[tuple[str, str | None], _Bounds] = {}
    for g in gates:
        key = (g.metric, g.baseline)
        cur = out.get(key, _Bounds(higher_is_better=g.higher_is_better))
        lo = g.min if cur.min is None else cur.min if g.min is None else max(cur.min, g.min)
        hi = g.max if cur.max is None else cur.max if g.max is None else min(cur.max, g.max)
        reg = cur.max_regression
        if g.baseline:
            value = g.max_regression or 0.0  # no max_regression: no worsening allowed
            reg = value if reg is None else min(reg, value)
        out[key] = _Bounds(lo, hi, reg, g.higher_is_better)
    return out


def _bound(out: _Collector, section: str, subject: str, old: float | None, new: float | None,
           lower_is_looser: bool, risky: bool) -> None:
    """One bound: ``lower_is_looser`` for minimums (a lower min lets more through)."""
    if old == new:
        return
    if new is None:
        effect: Effect = "loosened"
    elif old is None:
        effect = "tightened"
    else:
        effect = "loosened" if (new < old) == lower_is_looser else "tightened"
    risk = None
    if risky and effect == "loosened":
        risk = f"{subject} dropped" if new is None else f"{subject} loosened from {_show(old)} to {_show(new)}"
    out.add(section, subject, effect, old, new, risk)


def _gate_name(metric: str, baseline: str | None) -> str:
    return f"gate {metric}" + (f" vs {baseline}" if baseline else "")


def _gates(out: _Collector, old: Plan | None, new: Plan) -> None:
    a, b = _gate_bounds(old.gates if old else ()), _gate_bounds(new.gates)
    for key in _keys(a, b):
        name = _gate_name(*key)
        if key not in b:
            out.add("gates", name, "removed", _describe_bounds(a[key]), None,
                    risk=f"{name} removed: models are released without it")
            continue
        if key not in a:
            out.add("gates", name, "added", None, _describe_bounds(b[key]))
            continue
        x, y = a[key], b[key]
        _bound(out, "gates", f"{name} min", x.min, y.min, lower_is_looser=True, risky=True)
        _bound(out, "gates", f"{name} max", x.max, y.max, lower_is_looser=False, risky=True)
        _bound(out, "gates", f"{name} max_regression", x.max_regression, y.max_regression,
               lower_is_looser=False, risky=True)
        if x.higher_is_better != y.higher_is_better:
            out.add("gates", f"{name} higher_is_better", "changed", x.higher_is_better, y.higher_is_better,
                    risk=f"{name}: the comparison with production is reversed")


def _describe_bounds(b: _Bounds) -> str:
    parts = []
    if b.min is not None:
        parts.append(f"min {_show(b.min)}")
    if b.max is not None:
        parts.append(f"max {_show(b.max)}")
    if b.max_regression is not None:
        parts.append(f"max_regression {_show(b.max_regression)}")
    return ", ".join(parts) or "no bound"


def _evals(out: _Collector, old: Plan | None, new: Plan) -> None:
    a = _by(old.llm.evals if old and old.llm else (), lambda e: e.name)
    b = _by(new.llm.evals if new.llm else (), lambda e: e.name)
    for name in _keys(a, b):
        subject = f"LLM eval {name}"
        if name not in b:
            out.add("gates", subject, "removed", a[name].scorer, None,
                    risk=f"{subject} removed: its bounds no longer hold releases back")
        elif name not in a:
            out.add("gates", subject, "added", None, b[name].scorer)
        else:
            _bound(out, "gates", f"{subject} min", a[name].min, b[name].min, lower_is_looser=True, risky=True)
            _bound(out, "gates", f"{subject} max", a[name].max, b[name].max, lower_is_looser=False, risky=True)
            _scalar(out, "gates", f"{subject} scorer", a[name].scorer, b[name].scorer)
            _scalar(out, "gates", f"{subject} dataset", a[name].dataset, b[name].dataset)


def _monitoring_thresholds(out: _Collector, old: Plan | None, new: Plan) -> None:
    """Alerting thresholds: reported as loosened/tightened, not risky (nothing is released by them)."""
    ma, mb = (old.monitoring if old else None), new.monitoring
    pa, pb = (ma.performance if ma else None), (mb.performance if mb else None)
    if pa or pb:
        if pa and pb and pa.metric == pb.metric:
            subject = f"live performance {pb.metric}"
            _bound(out, "gates", f"{subject} min", pa.min, pb.min, lower_is_looser=True, risky=False)
            _bound(out, "gates", f"{subject} max", pa.max, pb.max, lower_is_looser=False, risky=False)
            _scalar(out, "gates", f"{subject} window", pa.window, pb.window)
        else:
            _scalar(out, "gates", "live performance check", pa and pa.metric, pb and pb.metric)
    da = _by(ma.drift if ma else (), lambda d: (d.column, d.method))
    db = _by(mb.drift if mb else (), lambda d: (d.column, d.method))
    for key in _keys(da, db):
        subject = f"drift {key[0]} ({key[1]}) threshold"
        if key not in db:
            out.add("gates", f"drift check {key[0]} ({key[1]})", "removed", da[key].threshold)
        elif key not in da:
            out.add("gates", f"drift check {key[0]} ({key[1]})", "added", None, db[key].threshold)
        else:
            # A statistic alerts above its threshold; a test (ks, chi2) below its p-value.
            _bound(out, "gates", subject, da[key].threshold, db[key].threshold,
                   lower_is_looser=db[key].is_test, risky=False)
            _scalar(out, "gates", f"drift {key[0]} ({key[1]}) severity", da[key].severity, db[key].severity)
    sa = old.serving.slo if old and old.serving else None
    sb = new.serving.slo if new.serving else None
    if sa or sb:
        for attr, lower_is_looser in (("latency_p95_ms", False), ("error_rate", False), ("availability", True)):
            _bound(out, "gates", f"SLO {attr}", getattr(sa, attr, None), getattr(sb, attr, None),
                   lower_is_looser=lower_is_looser, risky=False)
    la = old.llm if old else None
    lb = new.llm
    for attr in ("cost_per_1k_requests_usd", "latency_p95_ms", "max_tokens_per_request"):
        _bound(out, "gates", f"LLM budget {attr}", getattr(la, attr, None), getattr(lb, attr, None),
               lower_is_looser=False, risky=False)


# ---------------------------------------------------------------------------- approval


def _approval(out: _Collector, old: Plan | None, new: Plan) -> None:
    a, b = (old.approval if old else None), new.approval
    if a and not b:
        out.add("approval", "approval before release", "removed", f"required in {a.environment}", None,
                risk="approval dropped: releases no longer wait for a person")
    elif b and not a:
        out.add("approval", "approval before release", "added", None, f"required in {b.environment}")
    elif a and b:
        if a.environment != b.environment:
            out.add("approval", "approval environment", "changed", a.environment, b.environment,
                    risk="approval environment changed: its protection rules decide who may approve")
        _members(out, "approval", "approval reviewer", a.reviewers, b.reviewers)
    ga = old.governance.approvers if old else ()
    _members(out, "approval", "governance approver", ga, new.governance.approvers)


def _members(out: _Collector, section: str, what: str, old: Sequence[str], new: Sequence[str]) -> None:
    for name in old:
        if name not in new:
            out.add(section, f"{what} {name}", "removed", risk=f"{what} {name} removed")
    for name in new:
        if name not in old:
            out.add(section, f"{what} {name}", "added")


# ---------------------------------------------------------------------------- secrets


def _receivers(plan: Plan | None) -> dict[str, tuple[str, ...]]:
    """Who receives which secrets: every node, and the serving deployment."""
    if plan is None:
        return {}
    out = {f"node {n.id}": n.secrets for n in (*plan.nodes, *plan.monitor_nodes)}
    if plan.serving:
        out["serving"] = plan.serving.secrets
    return out


def _secrets(out: _Collector, old: Plan | None, new: Plan) -> None:
    declared_a = old.environment.secrets if old else ()
    for name in declared_a:
        if name not in new.environment.secrets:
            out.add("secrets", f"secret {name} in environment.secrets", "removed")
    for name in new.environment.secrets:
        if name not in declared_a:
            out.add("secrets", f"secret {name} in environment.secrets", "added")
    _fan_out(out, _holders(_receivers(old)), _holders(_receivers(new)), "nodes", "")


def _holders(receivers: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """secret -> receivers holding it, in receiver order."""
    out: dict[str, list[str]] = {}
    for who, names in receivers.items():
        for name in names:
            out.setdefault(name, []).append(who)
    return out


def _fan_out(out: _Collector, old: Mapping[str, list[str]], new: Mapping[str, list[str]],
             scope: str, suffix: str) -> None:
    """One change per secret and direction: which receivers gained it (risky) or lost it."""
    for name in sorted(old.keys() | new.keys()):
        had, has = old.get(name, []), new.get(name, [])
        gained = [w for w in has if w not in had]
        lost = [w for w in had if w not in has]
        if gained:
            out.add("secrets", f"secret {name} → {scope}", "added", None, gained,
                    risk=f"secret {name} now reaches {', '.join(gained)}{suffix}")
        if lost:
            out.add("secrets", f"secret {name} → {scope}", "removed", lost, None)


# ---------------------------------------------------------------------------- schedules


def _batch(plan: Plan) -> Serving | None:
    """The plan's batch scoring: the serving itself (mode batch) or its serving.batch."""
    sv = plan.serving
    if sv is None:
        return None
    return sv if sv.mode == "batch" else sv.batch


def _schedules(out: _Collector, old: Plan | None, new: Plan) -> None:
    def get(plan: Plan | None) -> dict[str, str | None]:
        if plan is None:
            return {}
        return {"monitoring": plan.monitoring.schedule_text if plan.monitoring else None,
                "retraining": plan.retraining.schedule_text if plan.retraining else None,
                "batch serving": _batch(plan).schedule if _batch(plan) else None}

    a, b = get(old), get(new)
    for what in _keys(a, b):
        _scalar(out, "schedules", f"{what} schedule", a.get(what), b.get(what))


# ---------------------------------------------------------------------------- images


def _images(out: _Collector, old: Plan | None, new: Plan) -> None:
    ea = old.environment if old else None
    eb = new.environment
    _scalar(out, "images", "base image", ea and ea.base_image, eb.base_image)
    if ea and ea.base_image_pinned and not eb.base_image_pinned:
        out.add("images", "base image digest pin", "removed", "pinned", "unpinned")
    _scalar(out, "images", "Python version", ea and ea.python, eb.python)
    pa = set(ea.system_packages) if ea else set()
    for pkg in sorted(pa - set(eb.system_packages)):
        out.add("images", f"system package {pkg}", "removed")
    for pkg in sorted(set(eb.system_packages) - pa):
        out.add("images", f"system package {pkg}", "added")
    _scalar(out, "images", "requirements file", ea and ea.requirements, eb.requirements)


_FROM = re.compile(r"^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)
_IMAGE_KEY = re.compile(r"^\s*-?\s*image:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)


def _image_refs(artifacts: Sequence[Artifact]) -> dict[str, set[str]]:
    """Images each artifact builds from or runs: Dockerfile ``FROM`` lines (not earlier stages)
    and ``image:`` keys in YAML (Kubernetes pods, workflow containers)."""
    out: dict[str, set[str]] = {}
    for a in artifacts:
        name = a.path.rsplit("/", 1)[-1]
        refs: set[str] = set()
        if "Dockerfile" in name:
            stages: set[str] = set()
            for m in _FROM.finditer(a.content):
                if m[1].lower() not in stages:
                    refs.add(m[1])
                if m[2]:
                    stages.add(m[2].lower())
        elif name.endswith((".yml", ".yaml")):
            refs = set(_IMAGE_KEY.findall(a.content))
        if refs:
            out[a.path] = refs
    return out


def _artifact_images(out: _Collector, old: Sequence[Artifact], new: Sequence[Artifact]) -> None:
    a, b = _image_refs(old), _image_refs(new)
    for path in sorted(a.keys() | b.keys()):
        gone, came = sorted(a.get(path, set()) - b.get(path, set())), sorted(b.get(path, set()) - a.get(path, set()))
        if len(gone) == 1 and len(came) == 1:
            out.add("images", f"image in {path}", "changed", gone[0], came[0])
            continue
        for ref in gone:
            out.add("images", f"image in {path}", "removed", ref, None)
        for ref in came:
            out.add("images", f"image in {path}", "added", None, ref)


# ---------------------------------------------------------------------------- resources


def _res(r: ResourceRequest | None) -> str | None:
    if r is None:
        return None
    parts = []
    if r.cpu_text is not None or r.cpu is not None:
        parts.append(f"cpu {r.cpu_text or _show(r.cpu)}")
    if r.memory:
        parts.append(f"memory {r.memory}")
    if r.gpu:
        parts.append(f"gpu {r.gpu}")
    return ", ".join(parts) or None


def _resources(out: _Collector, old: Plan | None, new: Plan) -> None:
    a, b = _all_nodes(old), _all_nodes(new)
    for nid in _keys(a, b):
        if nid in a and nid in b:
            _scalar(out, "resources", f"node {nid}", _res(a[nid].resources), _res(b[nid].resources))
    sa, sb = (old.serving if old else None), new.serving
    if sa and sb:
        _scalar(out, "resources", "serving resources", _res(sa.resources), _res(sb.resources))
        _scalar(out, "resources", "serving replicas", sa.replicas, sb.replicas)
        _scalar(out, "resources", "serving min_replicas", sa.min_replicas, sb.min_replicas)
        _scalar(out, "resources", "serving max_replicas", sa.max_replicas, sb.max_replicas)
        _scalar(out, "resources", "serving target_cpu_percent", sa.target_cpu_percent, sb.target_cpu_percent)


# ---------------------------------------------------------------------------- alerts


def _alerts(out: _Collector, old: Plan | None, new: Plan) -> None:
    la: tuple[Alert, ...] = old.monitoring.alerts if old and old.monitoring else ()
    lb: tuple[Alert, ...] = new.monitoring.alerts if new.monitoring else ()
    a, b = _by(la, lambda x: (x.channel, x.to)), _by(lb, lambda x: (x.channel, x.to))
    for key in _keys(a, b):
        route = f"alert route {key[0]} {key[1]}"
        if key not in b:
            out.add("alerts", route, "removed", f"{_show(a[key].on)} ({a[key].severity}+)", None)
        elif key not in a:
            out.add("alerts", route, "added", None, f"{_show(b[key].on)} ({b[key].severity}+)")
        else:
            x, y = a[key], b[key]
            for event in x.on:
                if event not in y.on:
                    out.add("alerts", f"{route}: {event}", "removed")
            for event in y.on:
                if event not in x.on:
                    out.add("alerts", f"{route}: {event}", "added")
            _scalar(out, "alerts", f"{route} lowest severity", x.severity, y.severity)
    routed_a = {e for x in la for e in x.on}
    routed_b = {e for x in lb for e in x.on}
    for event in sorted(routed_a - routed_b):
        channels = ", ".join(f"{x.channel} {x.to}" for x in la if event in x.on)
        out.add("alerts", f"{event} alerts", "removed", channels, None,
                risk=f"{event} alerts lost their route: nobody is told any more")


# ---------------------------------------------------------------------------- data, llm, params


def _data(out: _Collector, old: Plan | None, new: Plan) -> None:
    a, b = _by(old.data if old else (), lambda d: d.name), _by(new.data, lambda d: d.name)
    for name in _keys(a, b):
        subject = f"data {name}"
        if name not in b:
            out.add("data", subject, "removed", a[name].uri)
            continue
        if name not in a:
            out.add("data", subject, "added", None, f"{b[name].uri} @ {b[name].version}" if b[name].version else b[name].uri)
            continue
        x, y = a[name], b[name]
        _scalar(out, "data", f"{subject} version", x.version, y.version)
        _scalar(out, "data", f"{subject} uri", x.uri, y.uri)
        _scalar(out, "data", f"{subject} format", x.format, y.format)
        _scalar(out, "data", f"{subject} role", x.role, y.role)
        _bound(out, "data", f"{subject} freshness (s)", x.freshness_seconds, y.freshness_seconds,
               lower_is_looser=False, risky=False)
        ca = _by(x.columns or (), lambda c: c.name)
        cb = _by(y.columns or (), lambda c: c.name)
        for col in _keys(ca, cb):
            if col not in cb:
                out.add("data", f"{subject} column {col}", "removed", ca[col].type)
            elif col not in ca:
                out.add("data", f"{subject} column {col}", "added", None, cb[col].type)
            else:
                c, d = ca[col], cb[col]
                _scalar(out, "data", f"{subject} column {col} type", c.type, d.type)
                if c.nullable != d.nullable:
                    out.add("data", f"{subject} column {col} nullable", "loosened" if d.nullable else "tightened",
                            c.nullable, d.nullable)
                _bound(out, "data", f"{subject} column {col} min", c.min, d.min, lower_is_looser=True, risky=False)
                _bound(out, "data", f"{subject} column {col} max", c.max, d.max, lower_is_looser=False, risky=False)
                if c.values != d.values:
                    out.add("data", f"{subject} column {col} values", "changed", c.values, d.values)


def _llm(out: _Collector, old: Plan | None, new: Plan,
         old_files: Mapping[str, str | None], new_files: Mapping[str, str | None]) -> None:
    la, lb = (old.llm if old else None), new.llm
    if la or lb:
        _scalar(out, "llm", "LLM model", la and f"{la.provider}/{la.model}", lb and f"{lb.provider}/{lb.model}")
        if la and lb:
            _scalar(out, "llm", "LLM model version", la.version, lb.version)
    pa = {pr.name: pr.file for pr in (la.prompts if la else ())}
    pb = {pr.name: pr.file for pr in (lb.prompts if lb else ())}
    for name in _keys(pa, pb):
        subject = f"prompt {name}"
        if name not in pb:
            out.add("llm", subject, "removed", pa[name])
        elif name not in pa:
            out.add("llm", subject, "added", None, f"{pb[name]} sha256 {_short(new_files.get(pb[name]))}")
        else:
            _scalar(out, "llm", f"{subject} file", pa[name], pb[name])
            ha, hb = old_files.get(pa[name]), new_files.get(pb[name])
            if ha != hb:
                out.add("llm", f"{subject} content (sha256)", "changed", _short(ha), _short(hb))


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "missing"


def _params(out: _Collector, old: Plan | None, new: Plan) -> None:
    a, b = dict(old.params if old else ()), dict(new.params)
    for name in _keys(a, b):
        _scalar(out, "params", f"param {name}", a.get(name), b.get(name))


def _settings(out: _Collector, old: Plan | None, new: Plan) -> None:
    ra, rb = (old.registry if old else None), new.registry
    _scalar(out, "settings", "registry", ra and f"{ra.backend} {ra.uri} ({ra.model_name})",
            rb and f"{rb.backend} {rb.uri} ({rb.model_name})")
    sa, sb = (old.serving if old else None), new.serving
    _scalar(out, "settings", "serving mode", sa and sa.mode, sb and sb.mode)
    if sa and sb:
        _scalar(out, "settings", "serving command", sa.command, sb.command)
        _scalar(out, "settings", "serving port", sa.port, sb.port)
        _scalar(out, "settings", "serving rollout", f"{sa.rollout_strategy} {_show(sa.canary_steps)}",
                f"{sb.rollout_strategy} {_show(sb.canary_steps)}")
    ga, gb = (old.governance if old else None), new.governance
    _scalar(out, "settings", "governance risk_level", ga and ga.risk_level, gb.risk_level)
    if ga and ga.require_pinned_data != gb.require_pinned_data:
        out.add("settings", "governance require_pinned_data", "loosened" if ga.require_pinned_data else "tightened",
                ga.require_pinned_data, gb.require_pinned_data)
    if ga and ga.model_card != gb.model_card:
        out.add("settings", "governance model_card", "changed", ga.model_card, gb.model_card)
    _scalar(out, "settings", "governance audit_retention_days", ga and ga.audit_retention_days,
            gb.audit_retention_days)
    ma, mb = (old.monitoring if old else None), new.monitoring
    _scalar(out, "settings", "monitoring", "on" if ma else None, "on" if mb else None)
    if ma and mb:
        _scalar(out, "settings", "monitoring reference", ma.reference, mb.reference)
        _scalar(out, "settings", "monitoring current", ma.current, mb.current)
        _scalar(out, "settings", "monitoring schema_checks", ma.schema_checks, mb.schema_checks)
        _scalar(out, "settings", "monitoring pushgateway", ma.pushgateway, mb.pushgateway)
    rta, rtb = (old.retraining if old else None), new.retraining
    _scalar(out, "settings", "retraining triggers", rta and _show(rta.on), rtb and _show(rtb.on))
    if rta and rtb:
        _scalar(out, "settings", "retraining cooldown", rta.cooldown, rtb.cooldown)
    _scalar(out, "settings", "tracking", old and old.tracking_backend, new.tracking_backend)
    _scalar(out, "settings", "training seed", old and old.seed, new.seed)


def _targets(out: _Collector, old: Sequence[str], new: Sequence[str]) -> None:
    for name in sorted(set(old) - set(new)):
        out.add("settings", f"target {name}", "removed", "enabled", "disabled")
    for name in sorted(set(new) - set(old)):
        out.add("settings", f"target {name}", "added", None, "enabled")


# ---------------------------------------------------------------------------- GitHub workflows

#: Every scope a GitHub token permission block may name.
_SCOPES = ("actions", "attestations", "checks", "contents", "deployments", "discussions", "id-token",
           "issues", "models", "packages", "pages", "pull-requests", "repository-projects",
           "security-events", "statuses")
_LEVEL = {"none": 0, "read": 1, "write": 2}
_SECRET_REF = re.compile(r"\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)")

Job = tuple[str, str]                       # (workflow path, job id)


@dataclass(frozen=True)
class _Workflows:
    permissions: dict[Job, dict[str, int]] = field(default_factory=dict)
    secrets: dict[Job, frozenset[str]] = field(default_factory=dict)


def _permission_levels(block: Any) -> dict[str, int]:
    """A ``permissions:`` value as scope -> level. Absent means the repository's default token,
    which may write: counted as write to every scope."""
    if block is None or block == "write-all":
        return dict.fromkeys(_SCOPES, 2)
    if block == "read-all":
        return dict.fromkeys(_SCOPES, 1)
    if isinstance(block, dict):
        return {scope: _LEVEL.get(str(block.get(scope, "none")), 0) for scope in _SCOPES}
    return dict.fromkeys(_SCOPES, 0)


def _workflows(artifacts: Sequence[Artifact]) -> _Workflows:
    out = _Workflows()
    for a in artifacts:
        if not a.path.startswith(".github/workflows/") and "/.github/workflows/" not in a.path:
            continue
        try:
            doc = yaml.safe_load(a.content)
        except yaml.YAMLError:
            continue  # not ours to judge here: `compile` validates workflows
        if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), dict):
            continue
        top = doc.get("permissions")
        for job_id, job in doc["jobs"].items():
            if not isinstance(job, dict):
                continue
            key = (a.path, str(job_id))
            out.permissions[key] = _permission_levels(job.get("permissions", top))
            out.secrets[key] = frozenset(_SECRET_REF.findall(yaml.safe_dump(job)))
    return out


def _level_name(level: int) -> str:
    return {0: "none", 1: "read", 2: "write"}[level]


def _permissions(out: _Collector, old: _Workflows, new: _Workflows) -> None:
    for key in _keys(old.permissions, new.permissions):
        path, job = key
        subject = f"{path} job {job}"
        if key not in new.permissions:
            continue  # a job that went away takes its token with it
        after = new.permissions[key]
        before = old.permissions.get(key)
        for scope in _SCOPES:
            x = before[scope] if before is not None else 0
            y = after[scope]
            if x == y:
                continue
            if y < x:
                out.add("permissions", f"{subject}: {scope}", "narrowed", _level_name(x), _level_name(y))
                continue
            if before is None and y < 2:
                out.add("permissions", f"{subject}: {scope}", "added", None, _level_name(y))
                continue
            what = "new job" if before is None else "job"
            out.add("permissions", f"{subject}: {scope}", "widened", _level_name(x), _level_name(y),
                    risk=f"{what} {job} in {path} may now {_level_name(y)} {scope}")


def _job_secrets(out: _Collector, old: _Workflows, new: _Workflows) -> None:
    """Which GitHub jobs reference ``secrets.NAME``, per workflow file."""
    for path in sorted({p for p, _ in old.secrets} | {p for p, _ in new.secrets}):
        a = {f"job {job}": names for (p, job), names in old.secrets.items() if p == path}
        b = {f"job {job}": names for (p, job), names in new.secrets.items() if p == path}
        _fan_out(out, _holders(a), _holders(b), f"jobs in {path}", f" in {path}")


# ---------------------------------------------------------------------------- artifacts


def _artifact_deltas(old: Sequence[Artifact], new: Sequence[Artifact]) -> tuple[ArtifactDelta, ...]:
    a, b = _by(old, lambda x: x.path), _by(new, lambda x: x.path)
    out = []
    for path in sorted(a.keys() | b.keys()):
        x, y = a.get(path), b.get(path)
        before = x.content.splitlines() if x else []
        after = y.content.splitlines() if y else []
        if x is not None and y is not None and before == after:
            continue
        added = removed = 0
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
            if tag != "equal":
                removed += i2 - i1
                added += j2 - j1
        status: Literal["added", "removed", "changed"] = "added" if x is None else "removed" if y is None else "changed"
        out.append(ArtifactDelta(path, (y or x).target, status, added, removed))  # type: ignore[union-attr]
    return tuple(out)
