"""Triggering events and the simulated GitHub remote they happen on.

The caller's git repository plays the GitHub repository. For each run the harness makes a bare
mirror of it (the "remote" that ``actions/checkout`` clones from, with
``uploadpack.allowAnySHA1InWant`` as on github.com) and, for pull requests, creates
``refs/pull/N/head`` and GitHub's test merge commit ``refs/pull/N/merge`` exactly as GitHub does
before it runs a ``pull_request`` workflow.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ZERO_SHA = "0" * 40
GIT_ENV = {
    "GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
}


class EventError(Exception):
    """The event cannot happen as described (unknown branch, unmergeable pull request, bad inputs)."""


def git(*args: str, cwd: Path | None = None, check: bool = True, env: Mapping[str, str] | None = None) -> str:
    full_env = {**os.environ, **GIT_ENV, "HOME": os.environ.get("HOME", "/root"), **(env or {})}
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=full_env,
                       stdin=subprocess.DEVNULL, timeout=300)
    if check and r.returncode != 0:
        raise EventError(f"git {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout.strip() if r.returncode == 0 else ""


@dataclass(frozen=True)
class Push:
    """A push of ``ref`` (a branch name, ``refs/heads/x`` or ``refs/tags/x``) to ``sha``.
    ``before`` is the previous tip (default: the commit's first parent) for ``paths`` filters."""

    ref: str = "main"
    sha: str | None = None
    before: str | None = None
    name: str = field(default="push", init=False)


@dataclass(frozen=True)
class PullRequest:
    """A pull request from branch ``head`` into ``base``. ``fork=True`` makes the head repository
    a fork (no secrets, no vars, read-only token)."""

    base: str = "main"
    head: str = "feature"
    action: str = "opened"
    number: int = 1
    fork: bool = False
    title: str = "Simulated pull request"
    draft: bool = False
    labels: tuple[str, ...] = ()
    name: str = field(default="pull_request", init=False)


@dataclass(frozen=True)
class WorkflowDispatch:
    ref: str = "main"
    inputs: Mapping[str, Any] = field(default_factory=dict)
    name: str = field(default="workflow_dispatch", init=False)


@dataclass(frozen=True)
class Schedule:
    """A scheduled run on the default branch; ``cron`` defaults to the workflow's first schedule."""

    cron: str | None = None
    name: str = field(default="schedule", init=False)


@dataclass(frozen=True)
class RepositoryDispatch:
    event_type: str
    client_payload: Mapping[str, Any] = field(default_factory=dict)
    name: str = field(default="repository_dispatch", init=False)


Event = Push | PullRequest | WorkflowDispatch | Schedule | RepositoryDispatch


def branch_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


@dataclass
class Remote:
    """The simulated github.com copy of the repository for one run."""

    path: Path
    full_name: str
    default_branch: str

    @classmethod
    def mirror(cls, source: Path, path: Path, full_name: str, default_branch: str) -> Remote:
        if not (source / ".git").exists() and not (source / "HEAD").exists():
            raise EventError(f"{source} is not a git repository")
        git("clone", "--quiet", "--mirror", str(source), str(path))
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=path)
        git("config", "uploadpack.allowFilter", "true", cwd=path)
        return cls(path=path, full_name=full_name, default_branch=default_branch)

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def resolve(self, ref: str) -> str:
        sha = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=self.path, check=False)
        if not sha:
            raise EventError(f"'{ref}' does not exist in the repository")
        return sha

    def changed_files(self, base: str, head: str) -> list[str]:
        out = git("diff", "--name-only", "--no-renames", base, head, cwd=self.path)
        return [line for line in out.splitlines() if line]

    def files_of(self, sha: str) -> list[str]:
        out = git("ls-tree", "-r", "--name-only", sha, cwd=self.path)
        return [line for line in out.splitlines() if line]

    def parent(self, sha: str) -> str | None:
        return git("rev-parse", "--verify", "--quiet", f"{sha}^", cwd=self.path, check=False) or None

    def commit_info(self, sha: str) -> dict[str, Any]:
        fmt = git("show", "-s", "--format=%an%x00%ae%x00%cI%x00%B", sha, cwd=self.path)
        name, email, date, message = (fmt.split("\x00") + ["", "", "", ""])[:4]
        return {"id": sha, "tree_id": git("rev-parse", f"{sha}^{{tree}}", cwd=self.path),
                "message": message.strip(), "timestamp": date,
                "author": {"name": name, "email": email}, "committer": {"name": name, "email": email},
                "distinct": True, "url": f"https://github.com/{self.full_name}/commit/{sha}"}

    def create_pull_refs(self, number: int, base_sha: str, head_sha: str) -> str:
        """GitHub's test merge commit of head into base, at ``refs/pull/N/merge``."""
        git("update-ref", f"refs/pull/{number}/head", head_sha, cwd=self.path)
        merged = subprocess.run(["git", "merge-tree", "--write-tree", base_sha, head_sha], cwd=self.path,
                                capture_output=True, text=True, env={**os.environ, **GIT_ENV})
        if merged.returncode != 0:
            raise EventError("the pull request is not mergeable (conflicts); GitHub runs no pull_request "
                             f"workflow for it:\n{merged.stdout.strip()}")
        tree = merged.stdout.split()[0]
        merge_sha = git("commit-tree", tree, "-p", base_sha, "-p", head_sha, "-m",
                        f"Merge {head_sha} into {base_sha}", cwd=self.path)
        git("update-ref", f"refs/pull/{number}/merge", merge_sha, cwd=self.path)
        return merge_sha


def repository_payload(full_name: str, default_branch: str, fork: bool = False) -> dict[str, Any]:
    owner, name = full_name.split("/", 1)
    return {"id": 1, "name": name, "full_name": full_name, "private": False, "fork": fork,
            "owner": {"login": owner, "id": 1, "type": "Organization"},
            "default_branch": default_branch, "html_url": f"https://github.com/{full_name}",
            "clone_url": f"https://github.com/{full_name}.git"}
