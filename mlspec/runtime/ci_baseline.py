"""`mlspec ci-baseline export|fetch`: the production model's metrics for pull requests.

A pull request's pipeline job holds no credentials (the code under review must not see the
store's), so it cannot read the registry to compare its candidate with production. The train
workflow's register job exports the production version's metrics as a workflow artifact
(``export``); the pull request's job finds the newest such artifact made on the base branch
of this repository through the GitHub REST API with its read-only token and unpacks it
(``fetch``); `mlspec gate --baseline-dir` then writes the deltas into the job summary.

What ``fetch`` reads is data from another run: size-bounded, only the two expected members of
the zip, JSON without NaN or Infinity, never a path written from the archive. Anything that
goes wrong is a warning (MS628) and the gate runs without a baseline: a pull request is never
failed because production could not be shown.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec.naming import CI_BASELINE_DIR, ci_baseline_artifact
from mlspec.runtime.common import Context, Outcome, json_text, run_command, utc, write_atomic

METRICS_FILE = "metrics.json"
INFO_FILE = "baseline.json"
MAX_ARCHIVE_BYTES = 8 * 1024 * 1024
MAX_MEMBER_BYTES = 4 * 1024 * 1024
TIMEOUT_SECONDS = 15.0
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")

SPEC = click.argument("spec", required=False, default="mlproject.yaml", type=click.Path(dir_okay=False))
OUT = click.option("--out", "out", default=CI_BASELINE_DIR, show_default=True, type=click.Path(file_okay=False),
                   help="Folder for metrics.json and baseline.json (relative to the working folder).")
FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="Output format.")


@click.group(name="ci-baseline")
def ci_baseline() -> None:
    """The production model's metrics for pull requests (a workflow artifact; no credentials)."""


@ci_baseline.command()
@SPEC
@OUT
@FORMAT
def export(spec: str, out: str, fmt: str) -> None:
    """Write the production version's metrics to OUT (the register job uploads it)."""
    run_command("ci-baseline export", spec, fmt, lambda ctx: _export(ctx, Path(out)))


@ci_baseline.command()
@SPEC
@OUT
@click.option("--branch", metavar="BRANCH",
              help="Branch whose train runs count (default: $GITHUB_BASE_REF, the pull request's base).")
@FORMAT
def fetch(spec: str, out: str, branch: str | None, fmt: str) -> None:
    """Download the newest production metrics the train workflow exported on BRANCH."""
    run_command("ci-baseline fetch", spec, fmt, lambda ctx: _fetch(ctx, Path(out), branch))


# ------------------------------------------------------------------ export


def _export(ctx: Context, out: Path) -> Outcome:
    from mlspec.runtime import registry

    prod = registry.production(ctx)
    if prod is None:
        return Outcome(True, {"exported": False, "reason": "no production model"},
                       "no production model: nothing to export\n")
    version, metrics = prod
    info = {"project": ctx.project, "version": str(version), "exported": utc(time.time()),
            "run_id": os.environ.get("GITHUB_RUN_ID"), "commit": os.environ.get("GITHUB_SHA")}
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / METRICS_FILE, json_text(metrics))
    write_atomic(out / INFO_FILE, json_text(info))
    return Outcome(True, {"exported": True, "version": str(version), "out": ctx.shown(out)},
                   f"production {version}: metrics written to {ctx.shown(out / METRICS_FILE)}\n")


# ------------------------------------------------------------------ fetch


class _Unavailable(Exception):
    """The baseline cannot be shown; the message says why (a warning, never a failure)."""


def _fetch(ctx: Context, out: Path, branch_opt: str | None) -> Outcome:
    env = os.environ
    name = ci_baseline_artifact(ctx.project)
    branch = branch_opt or env.get("GITHUB_BASE_REF") or env.get("GITHUB_REF_NAME") or ""
    try:
        found = _newest(env, name, branch)
        if found is None:
            return Outcome(True, {"fetched": False, "artifact": name, "branch": branch},
                           f"no artifact {name} from branch {branch!r}: the gate runs without a baseline\n")
        metrics, info = _download(env, found)
    except _Unavailable as exc:
        ctx.warn(dx.CI_BASELINE_UNAVAILABLE, f"production metrics unavailable: {exc}",
                 hint="the gate runs without a baseline; the train workflow's register job exports them")
        return Outcome(True, {"fetched": False, "artifact": name, "branch": branch, "problem": str(exc)},
                       "the gate runs without a baseline\n")
    run = found.get("workflow_run") or {}
    info = {**info, "artifact_id": found.get("id"), "created_at": found.get("created_at"),
            "run_id": run.get("id"), "head_sha": run.get("head_sha")}
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / METRICS_FILE, json_text(metrics))
    write_atomic(out / INFO_FILE, json_text(info))
    version = info.get("version") or "?"
    return Outcome(True, {"fetched": True, "artifact": name, "version": version, "out": ctx.shown(out)},
                   f"production {version} (train run {run.get('id')}): metrics written to "
                   f"{ctx.shown(out / METRICS_FILE)}\n")


def _api(env: Any) -> tuple[str, str, str | None]:
    repo = env.get("GITHUB_REPOSITORY", "")
    if not _REPOSITORY.fullmatch(repo):
        raise _Unavailable("GITHUB_REPOSITORY is not set (not a GitHub Actions job)")
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    if urllib.parse.urlsplit(api).scheme not in ("https", "http"):
        raise _Unavailable(f"GITHUB_API_URL {api!r} is not an http(s) URL")
    return api, repo, env.get("GITHUB_TOKEN") or None


def _request(url: str, token: str | None, limit: int) -> bytes:
    from mlspec.runtime.github_api import headers

    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers(token)), timeout=TIMEOUT_SECONDS) as resp:
            return _read(resp, limit, url)
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location") if exc.code in (301, 302, 303, 307, 308) else None
        if not location:
            raise _Unavailable(f"{_shown(url)} answered HTTP {exc.code}") from None
        # The archive lives behind a short-lived signed URL: fetched without the token, which
        # is for GitHub's API and must not travel to another host.
        target = urllib.parse.urljoin(url, location)
        if urllib.parse.urlsplit(target).scheme not in ("https", "http"):
            raise _Unavailable(f"{_shown(url)} redirected to a non-http URL") from None
        try:
            with urllib.request.urlopen(urllib.request.Request(target, headers={"User-Agent": "mlspec"}),  # noqa: S310
                                        timeout=TIMEOUT_SECONDS) as resp:
                return _read(resp, limit, target)
        except urllib.error.HTTPError as exc2:
            raise _Unavailable(f"the artifact download answered HTTP {exc2.code}") from None
        except (urllib.error.URLError, OSError) as exc2:
            raise _Unavailable(f"the artifact download failed: {getattr(exc2, 'reason', exc2)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise _Unavailable(f"{_shown(url)} could not be read: {getattr(exc, 'reason', exc)}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _read(resp: Any, limit: int, url: str) -> bytes:
    body = resp.read(limit + 1)
    if len(body) > limit:
        raise _Unavailable(f"{_shown(url)} answered more than {limit} bytes")
    return bytes(body)


def _shown(url: str) -> str:
    """A URL without its query (signed URLs carry credentials there)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _json(data: bytes, what: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(data.decode("utf-8"), parse_constant=refuse)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _Unavailable(f"{what} is not valid JSON ({type(exc).__name__})") from None


def _newest(env: Any, name: str, branch: str) -> dict[str, Any] | None:
    """The newest unexpired artifact ``name`` uploaded by a run of this repository (not a fork)
    on ``branch``: a pull request cannot plant its own "production" metrics."""
    api, repo, token = _api(env)
    query = urllib.parse.urlencode({"name": name, "per_page": 100})
    url = f"{api}/repos/{repo}/actions/artifacts?{query}"
    doc = _json(_request(url, token, MAX_MEMBER_BYTES), "the artifact list")
    items = doc.get("artifacts") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise _Unavailable(f"{_shown(url)} did not answer an artifact list")
    candidates = []
    for a in items:
        if not isinstance(a, dict) or a.get("name") != name or a.get("expired") is not False:
            continue
        run = a.get("workflow_run")
        if not isinstance(run, dict) or run.get("head_branch") != branch:
            continue
        if run.get("head_repository_id") is not None and run.get("head_repository_id") != run.get("repository_id"):
            continue
        if not isinstance(a.get("archive_download_url"), str) or not isinstance(a.get("created_at"), str):
            continue
        candidates.append(a)
    return max(candidates, key=lambda a: (a["created_at"], a.get("id") or 0), default=None)


def _download(env: Any, artifact: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    api, _, token = _api(env)
    url = artifact["archive_download_url"]
    # The token goes only to the API host GitHub told the job about.
    same_host = urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(api).netloc
    data = _request(url, token if same_host else None, MAX_ARCHIVE_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = {i.filename: i for i in zf.infolist()}
            found = {}
            for member in (METRICS_FILE, INFO_FILE):
                info = members.get(member)
                if info is None:
                    raise _Unavailable(f"the artifact has no {member}")
                if info.file_size > MAX_MEMBER_BYTES:
                    raise _Unavailable(f"{member} in the artifact is larger than {MAX_MEMBER_BYTES} bytes")
                with zf.open(info) as fh:
                    body = fh.read(MAX_MEMBER_BYTES + 1)
                if len(body) > MAX_MEMBER_BYTES:
                    raise _Unavailable(f"{member} in the artifact is larger than {MAX_MEMBER_BYTES} bytes")
                found[member] = _json(body, member)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise _Unavailable(f"the artifact is not a readable zip ({type(exc).__name__})") from None
    metrics, info = found[METRICS_FILE], found[INFO_FILE]
    if not isinstance(metrics, dict) or not isinstance(info, dict):
        raise _Unavailable("the artifact's files are not JSON objects")
    version = info.get("version")
    return metrics, {"version": str(version)[:40] if isinstance(version, (str, int)) else None}
