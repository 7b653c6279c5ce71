"""What a simulated run produced: per job and step conclusions, logs, outputs, artifacts, caches."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .commands import Annotation

LOG_TAIL_LINES = 40


@dataclass
class StepResult:
    index: int
    name: str
    id: str | None
    uses: str | None = None
    run: str | None = None  # the script after expression substitution (masked)
    shell: str | None = None  # the exact command line GitHub would use, e.g. "bash -e {0}"
    outcome: str = "success"  # success | failure | cancelled | skipped (before continue-on-error)
    conclusion: str = "success"  # after continue-on-error
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # the step's own env: (masked)
    inputs: dict[str, str] = field(default_factory=dict)  # with: after evaluation (masked)
    log: list[str] = field(default_factory=list)
    summary: str = ""
    groups: list[str] = field(default_factory=list)
    stubbed: bool = False
    error: str | None = None  # why the step failed, when not an exit code
    duration: float = 0.0

    @property
    def log_text(self) -> str:
        return "\n".join(self.log)


@dataclass
class EnvironmentGate:
    name: str
    url: str | None
    protected: bool
    approved: bool | None = None
    reviewer: str | None = None
    comment: str | None = None


@dataclass
class JobResult:
    id: str
    name: str
    conclusion: str  # success | failure | cancelled | skipped
    matrix: dict[str, Any] | None = None
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)  # effective GITHUB_TOKEN permissions
    permissions_declared: Any = None  # the job's own permissions: value, None when inherited
    environment: EnvironmentGate | None = None
    concurrency: dict[str, Any] | None = None
    runs_on: Any = None
    error: str | None = None  # a job-level failure (bad expression, rejected deployment, timeout)
    duration: float = 0.0
    secrets_available: bool = True

    def step(self, key: str) -> StepResult:
        for s in self.steps:
            if key in (s.id, s.name):
                return s
        raise KeyError(f"job {self.id} has no step named or with id {key!r}: {[s.name for s in self.steps]}")

    @property
    def log(self) -> str:
        return "\n".join(f"[{s.name}] {line}" for s in self.steps for line in s.log)

    def failing_step(self) -> StepResult | None:
        for s in self.steps:
            if s.outcome == "failure" and s.conclusion == "failure":
                return s
        return None


@dataclass
class Artifact:
    name: str
    path: Path
    files: list[str]
    job: str
    digest: str


@dataclass
class CacheEvent:
    job: str
    step: str
    action: str  # restore | save
    key: str
    hit: str  # exact | partial | miss | saved | skipped
    matched_key: str | None = None


@dataclass
class RunResult:
    workflow: str
    event_name: str
    triggered: bool
    reason: str = ""
    conclusion: str = "skipped"
    jobs: dict[str, list[JobResult]] = field(default_factory=dict)  # job id -> its runs (matrix legs)
    order: list[str] = field(default_factory=list)  # job ids in the order they ran
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    cache_events: list[CacheEvent] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    stubs_used: list[str] = field(default_factory=list)  # "job/step: action"
    permissions: Any = None  # the workflow-level permissions value
    concurrency: dict[str, Any] | None = None
    github: dict[str, Any] = field(default_factory=dict)  # the github context (without token)
    duration: float = 0.0

    def job(self, job_id: str) -> JobResult:
        legs = self.jobs.get(job_id)
        if not legs:
            raise KeyError(f"no job {job_id!r} in this run: {list(self.jobs)}")
        if len(legs) > 1:
            raise KeyError(f"job {job_id!r} ran as a matrix ({len(legs)} legs); use .jobs[{job_id!r}]")
        return legs[0]

    def result_of(self, job_id: str) -> str:
        return aggregate([leg.conclusion for leg in self.jobs.get(job_id, [])])

    def failure_message(self) -> str:
        if not self.triggered:
            return f"workflow not triggered: {self.reason}"
        lines = [f"workflow {self.workflow!r} on {self.event_name}: {self.conclusion}"]
        for job_id in self.order:
            for leg in self.jobs[job_id]:
                lines.append(f"  job {leg.name} ({job_id}): {leg.conclusion}"
                             + (f" -- {leg.error}" if leg.error else ""))
                bad = leg.failing_step()
                if bad is not None:
                    why = bad.error or f"exit code {bad.exit_code}"
                    lines.append(f"    step {bad.name!r} failed: {why}; last log lines:")
                    lines.extend(f"      | {line}" for line in bad.log[-LOG_TAIL_LINES:])
        errors = [a for a in self.annotations if a.level == "error"]
        if errors:
            lines.append("  annotations:")
            lines.extend(f"    {a}" for a in errors[:20])
        return "\n".join(lines)

    def assert_success(self) -> None:
        assert self.triggered and self.conclusion == "success", self.failure_message()


def aggregate(conclusions: list[str]) -> str:
    """needs.<job>.result of a (matrix) job from the conclusions of its legs."""
    if not conclusions:
        return "skipped"
    for c in ("failure", "cancelled"):
        if c in conclusions:
            return c
    if all(c == "skipped" for c in conclusions):
        return "skipped"
    return "success"
