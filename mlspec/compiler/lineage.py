"""The lineage record of a Plan: what makes a run reproducible that the compiler knows and the
spec alone does not say (its hash stands for everything it states): the generating mlspec,
the resolved base image, the requirements file's and its lock file's hashes, data versions
the pipeline's shape and, for LLM projects, each prompt's and rubric's hash. Nodes list only their direct needs and their direct inputs (the files they declare and the
outputs of the nodes they need), so the record stays linear in size.
The content hashes of every input and output of a run are the run records that
``mlspec store save`` writes (``runs/<run>/<node>.json`` in the artifact store)."""

from __future__ import annotations

from typing import Any

from mlspec._version import DISTRIBUTION, __version__
from mlspec.compiler.plan import Node, Plan


def _node(n: Node) -> dict[str, Any]:
    # Node.inputs are direct (declared files and what its needs write): the lock stays linear.
    return {"id": n.id, "needs": list(n.needs), "inputs": list(n.inputs), "outputs": list(n.outputs)}


def lock_data(plan: Plan) -> dict[str, Any]:
    """The lineage record of a Plan as plain data: the manifest target writes it as the lock, and
    `register` stamps every registered version with it."""
    env = plan.environment
    requirements = None
    if env.requirements:
        requirements = {"file": env.requirements, "sha256": env.requirements_sha256}
        if env.requirements_lock:
            requirements["lock"] = {"file": env.requirements_lock[0], "sha256": env.requirements_lock[1]}
    return {
        "lock_version": 3,
        "project": plan.project.name,
        "spec": {"file": plan.spec_file, "sha256": plan.spec_sha256},
        "generator": f"{DISTRIBUTION}=={__version__}",
        "environment": {"python": env.python, "base_image": env.base_image, "requirements": requirements},
        "data": {d.name: {"uri": d.uri, "version": d.version} for d in plan.data},
        "pipeline": [_node(n) for n in plan.nodes],
        "monitoring": [_node(n) for n in plan.monitor_nodes],
        "store": plan.storage.uri,
        **({"llm": llm_lineage(plan)} if plan.llm else {}),
    }


def prompt_sha256(plan: Plan) -> dict[str, str | None]:
    """Each prompt's sha256 at compile time (None: the file was missing), by prompt name."""
    return {pr.name: pr.sha256 for pr in plan.llm.prompts} if plan.llm else {}


def llm_lineage(plan: Plan) -> dict[str, Any] | None:
    """Prompts as versioned assets: the file hashes the spec does not state (each prompt, each
    rubric) and the judge, as the lock records them and `register` stamps them on a version."""
    llm = plan.llm
    if llm is None:
        return None
    return {
        "prompt_sha256": prompt_sha256(plan),
        "judge": ({"provider": llm.judge.provider, "model": llm.judge.model} if llm.judge else None),
        "evals": {e.name: {"prompts": list(e.prompts), "rubric_sha256": e.rubric_sha256} for e in llm.evals},
    }
