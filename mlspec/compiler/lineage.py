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
    }
