"""The lineage record of a Plan: what a model is made from (spec hash, data versions, params,
commands, expected outputs and gates)."""

from __future__ import annotations

from typing import Any

from mlspec.compiler.plan import Node, Plan


def _node(n: Node) -> dict[str, Any]:
    return {
        "id": n.id, "kind": n.kind, "command": n.command, "needs": list(n.needs),
        "inputs": list(n.inputs), "outputs": list(n.outputs), "data": list(n.data),
        "params": list(n.params), "env": dict(n.env), "secrets": list(n.secrets),
        "timeout_seconds": n.timeout_seconds, "retries": n.retries,
    }


def lock_data(plan: Plan) -> dict[str, Any]:
    """The lineage record of a Plan as plain data: the manifest target writes it as the lock, and
    `register` stamps every registered version with it."""
    return {
        "lock_version": 1,
        "project": plan.project.name,
        "spec": {"file": plan.spec_file, "sha256": plan.spec_sha256},
        "environment": {"python": plan.environment.python, "base_image": plan.environment.base_image,
                        "requirements": plan.environment.requirements,
                        "system_packages": list(plan.environment.system_packages)},
        "params": dict(plan.params),
        "data": {d.name: {"uri": d.uri, "version": d.version, "format": d.format, "role": d.role}
                 for d in plan.data},
        "pipeline": [_node(n) for n in plan.nodes],
        "monitoring": [_node(n) for n in plan.monitor_nodes],
        "outputs": {"model": plan.model_path, "train_metrics": plan.train_metrics_path,
                    "eval_metrics": plan.eval_metrics_path},
        "gates": [{"id": g.id, "metric": g.metric, "min": g.min, "max": g.max, "baseline": g.baseline,
                   "max_regression": g.max_regression, "higher_is_better": g.higher_is_better}
                  for g in plan.gates],
        "seed": plan.seed,
        "registry": ({"backend": plan.registry.backend, "uri": plan.registry.uri,
                      "model_name": plan.registry.model_name} if plan.registry else None),
        "llm": llm_lineage(plan),
    }


def prompt_sha256(plan: Plan) -> dict[str, str | None]:
    """Each prompt's sha256 at compile time (None: the file was missing), by prompt name."""
    return {pr.name: pr.sha256 for pr in plan.llm.prompts} if plan.llm else {}


def llm_lineage(plan: Plan) -> dict[str, Any] | None:
    """Prompts as versioned assets: the model, each prompt's hash, the judge and each eval's
    rubric hash and prompts, as the lock records them and `register` stamps them on a version."""
    llm = plan.llm
    if llm is None:
        return None
    return {
        "model": {"provider": llm.provider, "name": llm.model, "version": llm.version},
        "prompt_sha256": prompt_sha256(plan),
        "prompts": {pr.name: {"file": pr.file, "sha256": pr.sha256} for pr in llm.prompts},
        "judge": ({"provider": llm.judge.provider, "model": llm.judge.model} if llm.judge else None),
        "evals": {e.name: {"scorer": e.scorer, "dataset": e.dataset, "prompts": list(e.prompts),
                           "rubric": e.rubric, "rubric_sha256": e.rubric_sha256, "min": e.min, "max": e.max}
                  for e in llm.evals},
    }
