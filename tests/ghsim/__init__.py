"""A GitHub Actions runner simulation for tests: run a workflow file against a git repository.

    sim = Simulator(tmp_path / "sim", wheelhouse=wheels)
    result = sim.run(repo / ".github/workflows/ci.yml", repo, PullRequest(base="main", head="feature"))
    result.assert_success()

It consumes only workflow YAML and a git repository. See docs/testing.md, "GitHub runner simulation".
"""

from .commands import Annotation
from .events import EventError, PullRequest, Push, RepositoryDispatch, Schedule, WorkflowDispatch
from .expressions import ExpressionError
from .result import Artifact, CacheEvent, EnvironmentGate, JobResult, RunResult, StepResult
from .runner import ActionFailed, Approval, Approve, Reject, Simulator, StubContext, UnsupportedFeature
from .workflow import InvalidWorkflow, load_workflow

__all__ = [
    "ActionFailed", "Annotation", "Approval", "Approve", "Artifact", "CacheEvent", "EnvironmentGate",
    "EventError", "ExpressionError", "InvalidWorkflow", "JobResult", "PullRequest", "Push", "Reject",
    "RepositoryDispatch", "RunResult", "Schedule", "Simulator", "StepResult", "StubContext",
    "UnsupportedFeature", "WorkflowDispatch", "load_workflow",
]
