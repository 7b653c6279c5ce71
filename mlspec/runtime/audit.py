"""The audit log: an append-only, hash-chained record of every registration, promotion,
rollback and prune of a registered model, and the evidence each registration rests on.

Layout, beside the versions of the model (``<registry>/<model>/audit/``; with ``backend:
mlflow``, ``<storage>/registry/<model>/audit/``)::

    audit/00000001.json     one record per event, numbered from 1 without gaps
    audit/head.json         {"seq": n, "record_sha256": …} of the newest record
    audit/anchor.json       after a prune: the last removed record, where the chain now starts

Every record carries ``record_sha256``, the SHA-256 of its own canonical JSON (sorted keys, no
whitespace) without that field, and ``prev_sha256``, the ``record_sha256`` of the record before
it. Changing a byte of a record breaks its own hash; removing or reordering records breaks the
chain or the numbering; removing the newest record disagrees with ``head.json``; a registered
version whose metadata says it was audited but has no record, or whose metadata no longer
hashes to what its record says, is reported too. A writer able to recompute every hash can
rewrite the log: the record hash `mlspec register` prints (kept by the CI log) anchors it
outside the store. See docs/governance.md.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from mlspec import diagnostics as dx
from mlspec.runtime.common import Failure, finite, json_text, utc

RECORD_VERSION = 1
_NAME = re.compile(r"^([0-9]{8})\.json$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
APPROVER_ENV = "MLSPEC_APPROVER"            # who approved (mlspec run --approver, Airflow's HITL response)
APPROVED_AT_ENV = "MLSPEC_APPROVED_AT"      # when (ISO 8601)
APPROVAL_SOURCE_ENV = "MLSPEC_APPROVAL_SOURCE"  # local, airflow, …
DAY = 86400.0


def now() -> float:
    """The clock of every audit decision (records, retention); one place for tests to move."""
    return time.time()


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def record_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in doc.items() if k != "record_sha256"})).hexdigest()


# ------------------------------------------------------------------ the log


class AuditLog:
    """The records under ``audit/`` of a registry byte store (:class:`mlspec.runtime.registry.Store`)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.shown = f"{store.shown}/audit"

    def numbers(self) -> list[int]:
        return sorted(int(m.group(1)) for n in self.store.entries("audit") if (m := _NAME.match(n)))

    def _json(self, rel: str) -> Any:
        raw = self.store.read(rel)
        if raw is None:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _Unreadable()

    def anchor(self) -> dict[str, Any] | None:
        doc = self._json("audit/anchor.json")
        if doc is None:
            return None
        if (not isinstance(doc, dict) or not isinstance(doc.get("seq"), int)
                or not _SHA.match(str(doc.get("record_sha256")))):
            return {"seq": 0, "record_sha256": "", "damaged": True}
        return doc

    def append(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Add one record after the newest; numbers are claimed with create-if-absent, so
        concurrent writers never share one and each chains to the record before its own."""
        for _ in range(200):
            numbers = self.numbers()
            anchor = self.anchor()
            if numbers:
                last = self._json(f"audit/{numbers[-1]:08d}.json")
                prev = last.get("record_sha256") if isinstance(last, dict) else None
                if not isinstance(prev, str) or not _SHA.match(prev):
                    raise Failure(dx.AUDIT_TAMPERED, f"the newest audit record {self.shown}/{numbers[-1]:08d}.json "
                                  "is damaged; nothing can be chained to it", hint="run `mlspec audit` to see the log's state")
                seq = numbers[-1] + 1
            elif anchor is not None and not anchor.get("damaged"):
                seq, prev = anchor["seq"] + 1, anchor["record_sha256"]
            else:
                seq, prev = 1, None
            t = now()
            doc = {"record_version": RECORD_VERSION, "seq": seq, "prev_sha256": prev, "kind": kind,
                   "time": utc(t), "timestamp": round(t, 3), **body}
            doc["record_sha256"] = record_hash(doc)
            if self.store.create(f"audit/{seq:08d}.json", json_text(doc).encode("utf-8")):
                head = {"seq": seq, "record_sha256": doc["record_sha256"]}
                current = self._json("audit/head.json")
                if not (isinstance(current, dict) and isinstance(current.get("seq"), int) and current["seq"] > seq):
                    self.store.write("audit/head.json", json_text(head).encode("utf-8"))
                return doc
        raise Failure(dx.REGISTRY_CONFLICT, f"could not append to {self.shown}: other writers kept taking the number")

    def read(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every record in order, and the problems found: tampering, gaps, a broken chain."""
        problems: list[str] = []
        anchor = self.anchor()
        if anchor is not None and anchor.get("damaged"):
            problems.append(f"{self.shown}/anchor.json is not an anchor written by `mlspec registry prune`")
            anchor = None
        start = anchor["seq"] if anchor else 0
        prev = anchor["record_sha256"] if anchor else None
        expected = start + 1
        records: list[dict[str, Any]] = []
        for n in self.numbers():
            if n <= start:
                continue                 # left behind by an interrupted prune: outside the chain
            name = f"{self.shown}/{n:08d}.json"
            if n != expected:
                gap = f"{expected:08d}" + (f" to {n - 1:08d}" if n - 1 > expected else "")
                problems.append(f"audit record {gap} is missing from {self.shown} (the log jumps to {n:08d})")
            doc = self._json(f"audit/{n:08d}.json")
            if not isinstance(doc, dict):
                problems.append(f"{name} is not a JSON audit record")
                prev, expected = None, n + 1
                continue
            if doc.get("seq") != n:
                problems.append(f"{name} says it is record {doc.get('seq')!r}")
            try:
                own = record_hash(doc)
            except (TypeError, ValueError):
                own = ""
            if doc.get("record_sha256") != own:
                problems.append(f"{name} was changed after it was written: its content hashes to {own[:16]}…, "
                                f"not the {str(doc.get('record_sha256'))[:16]}… it was recorded with")
            if n == expected and doc.get("prev_sha256") != prev:
                problems.append(f"{name} does not follow the record before it (prev_sha256 differs): "
                                "a record before it was replaced or removed")
            records.append(doc)
            prev, expected = doc.get("record_sha256"), n + 1
        head = self._json("audit/head.json")
        if head is not None:
            if not isinstance(head, dict) or not isinstance(head.get("seq"), int):
                problems.append(f"{self.shown}/head.json is not a head document")
            elif head["seq"] >= expected:
                problems.append(f"{self.shown}/head.json names record {head['seq']:08d}, but the log ends at "
                                f"{expected - 1:08d}: the newest records were removed")
            else:
                match = next((r for r in records if r.get("seq") == head["seq"]), None)
                if match is not None and match.get("record_sha256") != head.get("record_sha256"):
                    problems.append(f"record {head['seq']:08d} is not the record {self.shown}/head.json recorded")
        elif records:
            problems.append(f"{self.shown}/head.json is missing")
        if anchor is not None and not any(r.get("kind") == "prune" and r.get("anchor") == {
                "seq": anchor["seq"], "record_sha256": anchor["record_sha256"]} for r in records):
            problems.append(f"{self.shown}/anchor.json starts the log at record {anchor['seq']:08d}, but no prune "
                            "record says so")
        return records, problems


class _Unreadable:
    """A document that is not JSON (distinct from a missing one)."""


def audit_store(ctx: Any) -> Any:
    """The byte store the audit log of ``ctx``'s model lives in."""
    from mlspec.runtime import registry

    reg = ctx.plan.registry
    if reg.backend != "mlflow":
        return registry.local_registry(ctx).store
    from mlspec.runtime.fs import FsError, open_location
    from mlspec.runtime.store import StoreError, effective_storage

    try:
        storage = effective_storage(ctx.plan)
        loc = open_location(f"{storage.uri.rstrip('/')}/registry", base_dir=ctx.spec_dir, endpoint=storage.endpoint)
    except (StoreError, FsError) as exc:
        raise Failure(dx.REGISTRY_ERROR, f"the audit log's store: {getattr(exc, 'message', exc)}",
                      path=("storage",)) from None
    return registry.Store(loc, reg.model_name)


# ------------------------------------------------------------------ evidence: who, what code, which run


def github_approval(env: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    """Who approved this GitHub run's environment: ``(approval, problem)``.

    ``GET /repos/{repo}/actions/runs/{run_id}/approvals`` with the job's token (the job needs
    ``actions: read``). The API gives no time for a review; the time recorded is when the
    register job read it (the approval was given before the job could start)."""
    repo, run = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo) or not run.isdigit():
        return None, "GITHUB_REPOSITORY or GITHUB_RUN_ID is not set"
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    url = f"{api}/repos/{repo}/actions/runs/{run}/approvals"
    try:
        from mlspec.runtime.github_api import get_json

        data = get_json(url, env.get("GITHUB_TOKEN") or None)
    except urllib.error.HTTPError as exc:
        return None, f"{url} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError, UnicodeDecodeError) as exc:
        return None, f"{url} could not be read: {getattr(exc, 'reason', exc)}"
    if not isinstance(data, list):
        return None, f"{url} did not answer a list of approvals"
    by: list[str] = []
    comments: list[str] = []
    environments: list[str] = []
    for item in data:
        if not isinstance(item, dict) or item.get("state") != "approved":
            continue
        login = (item.get("user") or {}).get("login") if isinstance(item.get("user"), dict) else None
        if isinstance(login, str) and login not in by:
            by.append(login[:100])
        if isinstance(item.get("comment"), str) and item["comment"].strip():
            comments.append(item["comment"].strip()[:500])
        for e in item.get("environments") or []:
            if isinstance(e, dict) and isinstance(e.get("name"), str) and e["name"] not in environments:
                environments.append(e["name"][:100])
    if not by:
        return None, f"{url} lists no approval for this run"
    return {"source": "github", "by": by, "time": utc(now()), "time_is": "read by the register job",
            "environments": environments, "comment": "\n".join(comments) or None}, None


def approval(plan: Any, approver: str | None, env: dict[str, str] | None = None) -> tuple[dict[str, Any] | None,
                                                                                          str | None]:
    """Who signed this model off, from the most trustworthy source available."""
    env = dict(os.environ) if env is None else env
    if approver:
        return {"source": "command line", "by": [approver], "time": utc(now()), "time_is": "registration"}, None
    # In GitHub Actions the environment's reviewers are the approvers, whatever the job's env
    # says; `mlspec run` on a runner is a local run, approved by whoever runs it.
    if env.get("GITHUB_ACTIONS") == "true" and plan.approval is not None and \
            env.get(APPROVAL_SOURCE_ENV) != "mlspec run":
        return github_approval(env)
    if env.get(APPROVER_ENV):
        return {"source": env.get(APPROVAL_SOURCE_ENV) or "local", "by": [env[APPROVER_ENV][:100]],
                "time": env.get(APPROVED_AT_ENV) or utc(now()),
                "time_is": "approval" if env.get(APPROVED_AT_ENV) else "registration"}, None
    if plan.approval is None:
        return None, None
    return None, "no approval response was passed (MLSPEC_APPROVER) and this is not a GitHub Actions run"


def operator() -> str:
    """The person running a command here: ``$GITHUB_ACTOR`` in GitHub Actions, else the user name."""
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return actor[:100]
    try:
        return getpass.getuser()[:100]
    except (OSError, KeyError):
        return "unknown"


def read_git_head(start: Path) -> str | None:
    """The commit HEAD names, read from ``.git`` without the git binary (loose or packed refs)."""
    cur = start.resolve()
    for folder in (cur, *cur.parents):
        dot = folder / ".git"
        if dot.is_file():               # a worktree or submodule: "gitdir: <path>"
            try:
                text = dot.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                return None
            if not text.startswith("gitdir:"):
                return None
            gitdir = (folder / text[7:].strip()).resolve()
        elif dot.is_dir():
            gitdir = dot
        else:
            continue
        return _resolve_head(gitdir)
    return None


def _resolve_head(gitdir: Path) -> str | None:
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", head):
        return head
    if not head.startswith("ref: "):
        return None
    ref = head[5:].strip()
    if not re.fullmatch(r"refs/[A-Za-z0-9._/-]+", ref) or ".." in ref:
        return None
    common = gitdir
    try:   # a linked worktree keeps its branches in the main repository (commondir)
        common = (gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    except (OSError, UnicodeDecodeError):
        pass
    for base in (gitdir, common):
        try:
            value = (base / ref).read_text(encoding="utf-8").strip()
            if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", value):
                return value
        except (OSError, UnicodeDecodeError):
            pass
        try:
            for line in (base / "packed-refs").read_text(encoding="utf-8").splitlines():
                parts = line.split(" ")
                if len(parts) == 2 and parts[1] == ref and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", parts[0]):
                    return parts[0]
        except (OSError, UnicodeDecodeError):
            pass
    return None


def code_commit(spec_dir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ) if env is None else env
    sha = env.get("GITHUB_SHA", "")
    if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha):
        return {"commit": sha, "source": "GITHUB_SHA", "ref": env.get("GITHUB_REF") or None}
    head = read_git_head(spec_dir)
    return {"commit": head, "source": ".git HEAD" if head else None, "ref": None}


def run_info(spec_dir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The run that registers: its id (the store's run records) and where to see it."""
    from mlspec.runtime.store import run_id_from_env

    env = dict(os.environ) if env is None else env
    run_id = run_id_from_env(env)
    url = None
    platform = "local"
    if env.get("GITHUB_RUN_ID"):
        platform = "github"
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        if env.get("GITHUB_REPOSITORY"):
            url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
            if env.get("GITHUB_RUN_ATTEMPT", "1") != "1":
                url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
    elif env.get("AIRFLOW_CTX_DAG_RUN_ID"):
        platform = "airflow"
        base = env.get("AIRFLOW__API__BASE_URL", "").rstrip("/")
        if base:
            from urllib.parse import quote

            url = f"{base}/dags/{quote(env.get('AIRFLOW_CTX_DAG_ID', ''), safe='')}/runs/" \
                  f"{quote(env['AIRFLOW_CTX_DAG_RUN_ID'], safe='')}"
    elif env.get("MLSPEC_RUN_ID"):
        url = f".mlspec/runs/{run_id}"
    return {"id": run_id, "platform": platform, "url": url}


# ------------------------------------------------------------------ evidence: data, files, prompts


def content_hash(loc: Any) -> str | None:
    """``sha256:<hex>`` of data at a :class:`mlspec.runtime.data.Location`: a file's bytes, or a
    folder's files (relative paths and contents); None when it cannot be read as either."""
    from mlspec.runtime.registry import sha256_file, sha256_tree

    try:
        if loc.local:
            p = Path(loc.path)
            if p.is_file():
                return "sha256:" + sha256_file(p)
            if p.is_dir():
                return "sha256:" + sha256_tree(p)
            return None
        h = hashlib.sha256()
        with loc.fs.open_input_stream(loc.path) as fh:
            while chunk := fh.read(8 << 20):
                h.update(chunk)
        return "sha256:" + h.hexdigest()
    except Exception:  # noqa: BLE001 - a remote folder or an unreadable object: no hash, said as such
        return None


def dvc_md5(path: Path) -> str | None:
    """The md5 a ``<data>.dvc`` file beside the data records for it."""
    dvc = path.with_name(path.name + ".dvc")
    try:
        text = dvc.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    m = re.search(r"^\s*-?\s*md5:\s*([0-9a-f]{32})(?:\.dir)?\s*$", text, re.M)
    return m.group(1) if m else None


def pin_verdict(pin: str | None, digest: str | None, local_path: Path | None) -> tuple[bool | None, str]:
    """Whether the data read is the data pinned: True, False, or None (not checkable here)."""
    from mlspec.language import pins

    parsed = pins.parse(pin) if pin else None
    if parsed is None:
        return None, "not a content pin" if pin else "no pin"
    kind, value = parsed
    if kind == "sha256":
        if digest is None:
            return None, "content not readable here"
        return digest == f"sha256:{value}", "sha256 of the data read"
    if kind == "dvc" and len(value) == 32 and local_path is not None:
        md5 = dvc_md5(local_path)
        if md5 is None:
            return None, "no .dvc file beside the data"
        return md5 == value, "md5 in the .dvc file beside the data"
    return None, f"{kind} pins are resolved by {kind} itself"


DATA_REF = "runs/{run}/data/{name}.json"


def record_data_read(store: Any, run: str, name: str, doc: dict[str, Any]) -> None:
    store.write_ref(DATA_REF.format(run=run, name=name), (json_text(doc)).encode("utf-8"))


def pipeline_sources(plan: Any) -> list[Any]:
    """The sources the pipeline reads (what a model is trained and judged on): not the live data
    and labels monitoring reads."""
    return [d for d in plan.data if d.role not in ("live", "labels", "reference") or
            any(n.id == f"check.{d.name}" for n in plan.nodes)]


def store_evidence(ctx: Any, run: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str | None]:
    """From the artifact store, for ``run``: the files its nodes read and wrote (path → sha256,
    with the node) and the data its checks read (source → record). Never fails a registration:
    a store that cannot be read is said in the third value."""
    from mlspec.runtime.store import StoreError, open_store

    try:
        store = open_store(ctx.plan, ctx.spec_dir)
        names = store.list_refs(f"runs/{run}")
    except StoreError as exc:
        return {}, {}, exc.message
    files: dict[str, Any] = {}
    data: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            raw = store.read_ref(name)
            doc = json.loads((raw or b"").decode("utf-8"))
        except (StoreError, UnicodeDecodeError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        if name.startswith(f"runs/{run}/data/"):
            src = name[len(f"runs/{run}/data/"):].removesuffix(".json")
            data[src] = {**doc, "record": f"{store.uri.rstrip('/')}/refs/{name}"}
            continue
        node = doc.get("node")
        for kind in ("inputs", "outputs"):
            for path, digest in (doc.get(kind) or {}).items():
                if isinstance(path, str) and isinstance(digest, str) and _SHA.match(digest):
                    entry = files.setdefault(path, {"sha256": digest, "written_by": None, "read_by": []})
                    if kind == "outputs":
                        entry["written_by"] = node
                    elif node not in entry["read_by"]:
                        entry["read_by"].append(node)
    return dict(sorted(files.items())), data, None


def data_evidence(ctx: Any, from_store: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per pipeline source: its pin, the hash of what was read, and whether it matches the pin."""
    from mlspec.runtime import data as rdata

    out: dict[str, Any] = {}
    for src in pipeline_sources(ctx.plan):
        entry: dict[str, Any] = {"uri": src.uri, "role": src.role, "pin": src.version}
        rec = from_store.get(src.name)
        local = ctx.spec_path(src.uri) if "://" not in src.uri or src.uri.startswith("file://") else None
        if rec and isinstance(rec.get("sha256"), str):
            entry.update(sha256=rec["sha256"], hashed="when the pipeline read it (check-data)",
                         evidence=rec.get("record"))
        elif local is None:
            # Remote data is hashed where the pipeline reads it (check-data), not read again here.
            entry.update(sha256=None, hashed="not hashed (remote data without a check-data record in this run)",
                         evidence=None)
        else:
            digest = content_hash(rdata.Location(src.uri, str(local)))
            entry.update(sha256=digest, hashed="at registration" if digest else "not readable at registration",
                         evidence=None)
        verified, how = pin_verdict(src.version, entry["sha256"], local)
        entry.update(pin_verified=verified, pin_check=how)
        out[src.name] = entry
    return out


def prompt_evidence(ctx: Any, files: dict[str, Any]) -> dict[str, Any]:
    from mlspec.runtime.registry import sha256_file

    out: dict[str, Any] = {}
    llm = ctx.plan.llm
    for p in (llm.prompts if llm else ()):
        if p.file in files:
            out[p.name] = {"file": p.file, "sha256": files[p.file]["sha256"], "hashed": "store run record"}
            continue
        path = ctx.spec_path(p.file)
        try:
            out[p.name] = {"file": p.file, "sha256": sha256_file(path), "hashed": "at registration"}
        except OSError:
            out[p.name] = {"file": p.file, "sha256": None, "hashed": "not readable at registration"}
    return out


def gate_table(results: list[Any]) -> list[dict[str, Any]]:
    return [{"gate": r.gate.id, "metric": r.gate.metric, "value": finite(r.value), "bound": r.bound,
             "condition": r.gate.condition(), "passed": r.passed, "baseline": r.baseline_label,
             "baseline_value": finite(r.baseline_value), "problem": r.problem, "note": r.note}
            for r in results]


# ------------------------------------------------------------------ reading the log for people


def events(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every change, oldest first: registrations, promotions, rollbacks, prunes."""
    out = []
    for r in records:
        kind = r.get("kind")
        row = {"seq": r.get("seq"), "time": r.get("time"), "action": kind, "version": r.get("version"),
               "stage": r.get("stage"), "previous": r.get("previous"), "by": None, "reason": r.get("reason")}
        if kind == "register":
            appr = r.get("approval") or {}
            row["by"] = ", ".join(appr.get("by") or []) or None
            row["moved"] = r.get("moved")
            row["reason"] = "gates passed" if r.get("gates_passed") else (
                "gates FAILED" if r.get("gates") else None)
        elif kind in ("promote", "rollback", "prune"):
            row["by"] = r.get("by")
        if kind == "prune":
            row["version"] = ", ".join(r.get("removed_versions") or []) or None
        out.append(row)
    return out


def stage_from_log(records: list[dict[str, Any]], stage: str) -> str | None:
    """The version the log says ``stage`` points at now."""
    current = None
    for r in records:
        if r.get("stage") != stage:
            continue
        if r.get("kind") == "register" and r.get("moved"):
            current = r.get("version")
        elif r.get("kind") in ("promote", "rollback"):
            current = r.get("version")
    return current


def registration(records: list[dict[str, Any]], version: str) -> dict[str, Any] | None:
    return next((r for r in reversed(records) if r.get("kind") == "register" and r.get("version") == version), None)
