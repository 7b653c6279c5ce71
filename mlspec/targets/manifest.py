"""The `manifest` target: a lineage lock of the resolved plan.

``mlspec.<project>.lock.json`` records what a model is made from — spec hash, data versions,
params, commands, expected outputs and gates — so `mlspec register` can stamp every
registered model with it and a reviewer can see what a spec change really changes.
"""

from __future__ import annotations

from mlspec.output.artifacts import GENERATED_MARK, Artifact
from mlspec.compiler.lineage import lock_data
from mlspec.compiler.plan import Plan
from mlspec.targets import Target, TargetOptions

def lock_file(project: str) -> str:
    """The lock's name carries the project's, so projects can share a folder."""
    return f"mlspec.{project}.lock.json"


class ManifestOptions(TargetOptions):
    """Options of the manifest target."""


class ManifestTarget(Target):
    name = "manifest"
    description = "mlspec.<project>.lock.json: the lineage lock of the resolved plan."
    options_model = ManifestOptions

    def emit(self, plan: Plan) -> list[Artifact]:
        from mlspec.output.encoders import json_dump

        lock = {"$comment": f"{GENERATED_MARK} from {plan.source}; DO NOT EDIT.", **lock_data(plan)}
        return [Artifact(lock_file(plan.project.name), json_dump(lock), self.name, "lineage-lock", comment=None)]
