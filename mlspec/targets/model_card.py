"""The `model_card` target: the model card *template* built from the spec (``governance.model_card``).

It is written at compile time, before any training, so it states the bars and not the scores;
the card of a registered version, filled from its audit record, is ``mlspec registry card``."""

from __future__ import annotations

from typing import Any

from mlspec.output.artifacts import Artifact
from mlspec.compiler.plan import Plan
from mlspec.targets import Target, TargetOptions


class ModelCardOptions(TargetOptions):
    """Options of the model card target."""


def _none(value: Any) -> Any:
    return "—" if value in (None, "", ()) else value


def card_context(plan: Plan) -> dict[str, Any]:
    """Plain values for the template; every string is encoded by the template's filters."""
    train = next((n for n in plan.nodes if n.kind == "train"), None)
    mon = plan.monitoring
    monitoring: list[str] = []
    if mon:
        monitoring.append(f"Runs on schedule '{mon.schedule_text}'.")
        for d in mon.drift:
            rule = "p-value below" if d.is_test else "statistic above"
            monitoring.append(f"Drift of '{d.column}' by {d.method}: {d.severity} when the {rule} {d.threshold:g}.")
        if mon.performance:
            pf = mon.performance
            bounds = " and ".join(x for x in (f"min {pf.min:g}" if pf.min is not None else "",
                                              f"max {pf.max:g}" if pf.max is not None else "") if x)
            monitoring.append(f"Live {pf.metric} over {pf.window}: {bounds}.")
        if mon.schema_checks:
            monitoring.append("Live data is checked against its column contract.")
        for c in mon.checks:
            bounds = "; ".join(f"{b.metric} " + " and ".join(x for x in (
                f"min {b.min:g}" if b.min is not None else "", f"max {b.max:g}" if b.max is not None else "") if x)
                for b in c.bounds)
            what = f" ({c.description})" if c.description else ""
            monitoring.append(f"Check {c.name}{what}: {bounds}; raises {c.event} ({c.severity}).")
        for name in mon.freshness:
            monitoring.append(f"Freshness of {name}: {plan.source_named(name).freshness}.")
        for a in mon.alerts:
            monitoring.append(f"Alerts ({a.severity} and above) for {', '.join(a.on)} go to {a.channel} {a.to}.")
    if plan.retraining:
        r = plan.retraining
        when = [f"schedule '{r.schedule_text}'"] if r.schedule_text else []
        when += [f"on {', '.join(r.on)} (cooldown {r.cooldown})"] if r.on else []
        monitoring.append("Retrains " + " and ".join(when) + ".")
    llm = None
    if plan.llm:
        l = plan.llm
        llm = [("Model", f"{l.provider} {l.model}" + (f" ({l.version})" if l.version else ""))]
        llm += [(f"Prompt {n}", f"{f}" + (f" — {d}" if d else "")) for n, f, d in ((p.name, p.file, p.description) for p in l.prompts)]
        llm += [(f"Eval {e.name}", f"{e.scorer} on data.{e.dataset}"
                 + (f", min {e.min:g}" if e.min is not None else "")
                 + (f", max {e.max:g}" if e.max is not None else "")) for e in l.evals]
        for label, value in (("Cost per 1k requests (USD)", l.cost_per_1k_requests_usd),
                             ("Latency p95 (ms)", l.latency_p95_ms), ("Max tokens per request", l.max_tokens_per_request)):
            if value is not None:
                llm.append((label, f"{value:g}"))
    return {
        "project": plan.project, "governance": plan.governance,
        "owners": _none(", ".join(plan.project.owners)),
        "approvers": _none(", ".join(plan.governance.approvers)),
        "repository": _none(plan.project.repository),
        "spec_file": plan.spec_file, "spec_sha256": plan.spec_sha256[:12],
        "data": [{"name": d.name, "role": d.role, "uri": d.uri, "version": _none(d.version),
                  "format": _none(d.format),
                  "columns": _none(", ".join(c.name for c in d.columns or ()))} for d in plan.data],
        "training": train and {
            "command": train.command or "", "seed": _none(plan.seed), "model": plan.model_path,
            "tracking": plan.tracking_backend + (f" ({plan.tracking_experiment})" if plan.tracking_experiment else ""),
        },
        "params": [(k, str(v)) for k, v in plan.params],
        "gates": [{"metric": g.metric, "condition": g.condition()} for g in plan.gates],
        "approval": plan.approval and {"environment": plan.approval.environment,
                                       "reviewers": _none(", ".join(plan.approval.reviewers))},
        "monitoring": monitoring, "llm": llm,
        "card": {"intended_use": plan.governance.intended_use, "limitations": plan.governance.limitations,
                 "ethical_considerations": plan.governance.ethical_considerations,
                 "out_of_scope_uses": list(plan.governance.out_of_scope_uses)},
    }


class ModelCardTarget(Target):
    name = "model_card"
    description = ("MODEL_CARD.<project>.md: the template of the model card, from the project, data, training, "
                   "gates, monitoring and governance (`mlspec registry card` fills it for a registered version).")
    options_model = ModelCardOptions

    def emit(self, plan: Plan) -> list[Artifact]:
        if not plan.governance.model_card:
            return []
        from mlspec.output.templating import render

        text = render("model_card/MODEL_CARD.md.j2", extra_dirs=self.template_dirs, **card_context(plan))
        return [Artifact(f"MODEL_CARD.{plan.project.name}.md", text, self.name, "model-card", comment="<!--")]
