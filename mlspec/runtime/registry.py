"""The model registry: a folder or object store (the ``local`` backend), or MLflow.

``local`` keeps ``<registry.uri>/<model_name>/`` on a relative folder or a store URI (s3://,
gs://, az://) through ``runtime.fs``: immutable version folders committed by their
``metadata.json``, ``production``/``staging`` pointer documents moved by compare-and-set,
one history document per change. The layout and the guarantees are in docs/registry.md.

``mlflow`` logs the model as a real MLflow model (the sklearn flavour, or a pyfunc wrapper)
in the training run, registers it and moves the ``production`` alias.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from mlspec import diagnostics as dx
from mlspec.runtime.common import Failure, finite, json_text, utc

STAGES = ("production", "staging")
_NUMBER = re.compile(r"^[1-9][0-9]{0,8}$")


# ------------------------------------------------------------------ hashing and lineage


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(path: Path) -> str:
    """A folder's hash: its files' relative POSIX paths and contents, in sorted order."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode("utf-8") + b"\0")
        h.update(sha256_file(f).encode("ascii") + b"\n")
    return h.hexdigest()


def git_info(folder: Path) -> dict[str, Any] | None:
    """Commit and dirtiness of the git work tree holding ``folder``, or None."""
    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=False,
                               stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def clean_metrics(metrics: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Metrics for metadata: finite numbers kept, nested objects (dvclive's ``{"roc_auc":
    {"test": 0.93}}``) kept as objects so gates' dotted paths read them back, anything else
    recorded as null."""
    return {str(k): clean_metrics(v, depth + 1) if isinstance(v, dict) and depth < 8 else finite(v)
            for k, v in metrics.items()}


def flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metrics as dotted keys (``roc_auc.test``), for registries that take flat names."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update(flat_metrics(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def build_metadata(plan: Any, *, model_name: str, version: str, stage: str, model_file: str,
                   model_source: str, model_sha256: str, model_size: int, is_dir: bool,
                   metrics: dict[str, Any], metrics_source: str | None, spec_dir: Path) -> dict[str, Any]:
    from mlspec._version import __version__
    from mlspec.compiler.lineage import lock_data

    now = time.time()
    return {
        "metadata_version": 1,
        "model_name": model_name,
        "version": version,
        "stage": stage,
        "created": utc(now),
        "created_timestamp": round(now, 3),
        "project": plan.project.name,
        "model": {"file": model_file, "source": model_source, "sha256": model_sha256,
                  "size_bytes": model_size, "kind": "folder" if is_dir else "file"},
        "metrics": clean_metrics(metrics),
        "metrics_source": metrics_source,
        "params": {k: v for k, v in plan.params},
        "data": {d.name: {"uri": d.uri, "version": d.version} for d in plan.data},
        "spec": {"file": plan.spec_file, "sha256": plan.spec_sha256},
        "git": git_info(spec_dir),
        "mlspec_version": __version__,
        "lineage": lock_data(plan),
    }


# ------------------------------------------------------------------ registry storage
#
# One code path for a local folder and an object store (through ``runtime.fs``). Object
# stores have no rename and pyarrow exposes no conditional PUT, so a version becomes visible
# by its ``metadata.json`` (written last: a reader ignores a version folder without it only
# while a registration is in flight) and numbers and pointers are claimed by
# write-then-verify; on a local folder the same steps use the real atomic primitives
# (O_EXCL, rename, an flock around the pointer compare-and-set).

_MAX_DOC = 1 << 20                     # pointers, metadata and history are small JSON documents
_SETTLE = 0.25                         # seconds a remote writer waits before verifying its write
POINTER_VERSION = 1


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Damaged(Failure):
    """The registry folder was edited by hand or is inconsistent (MS660)."""

    def __init__(self, message: str) -> None:
        super().__init__(dx.REGISTRY_DAMAGED, message,
                         hint="registry folders are written by `mlspec register`/`mlspec registry promote` only; "
                              "restore the folder from its store's versioning, or promote a valid version")


class Store:
    """Byte-level access to ``<registry>/<model_name>/`` on a local folder or an object store."""

    def __init__(self, loc: Any, model_name: str) -> None:
        self.loc = loc
        self.fs = loc.fs
        self.base = loc.join(model_name)
        self.shown = f"{loc.uri.rstrip('/')}/{model_name}"

    def path(self, rel: str) -> str:
        return f"{self.base}/{rel}" if rel else self.base

    def fail(self, what: str, exc: BaseException) -> Failure:
        from mlspec.runtime.fs import first_line

        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc)
        return Failure(dx.REGISTRY_ERROR, f"cannot {what} the registry {self.shown}: {text}")

    def _guard(self, rel: str) -> None:
        """Refuse symbolic links anywhere below the model folder (a local registry only)."""
        if self.loc.remote:
            return
        cur = Path(self.base)
        if cur.is_symlink():
            raise Damaged(f"{self.shown} is a symbolic link")
        for part in [p for p in rel.split("/") if p]:
            cur = cur / part
            if cur.is_symlink():
                raise Damaged(f"{self.shown}/{rel} goes through a symbolic link ({part})")

    def _errors(self) -> tuple[type[BaseException], ...]:
        """What a failed store operation raises: OSError, and pyarrow's errors for a store."""
        if not self.loc.remote:
            return (OSError,)
        import pyarrow as pa

        return (OSError, pa.ArrowException)

    def read(self, rel: str, limit: int = _MAX_DOC) -> bytes | None:
        self._guard(rel)
        try:
            if self.loc.remote:
                with self.fs.open_input_stream(self.path(rel)) as fh:
                    data = fh.read(limit + 1)
            else:
                # The bounded reader: a FIFO or device planted in the registry is refused, not waited on.
                from mlspec.bounded import ReadRefused, open_regular

                try:
                    fh = open_regular(self.path(rel), follow_symlinks=False)
                except ReadRefused as exc:
                    if exc.missing:
                        return None
                    raise Damaged(f"{self.shown}/{rel} {exc.reason}") from None
                with fh:
                    data = fh.read(limit + 1)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise Damaged(f"{self.shown}/{rel} is a folder, not a file") from None
        except self._errors() as exc:
            text = str(exc).lower()
            if "not found" in text or "does not exist" in text or "no such file" in text:
                return None
            if "directory" in text:
                raise Damaged(f"{self.shown}/{rel} is a folder, not a file") from None
            raise self.fail("read", exc) from None
        if len(data) > limit:
            raise Damaged(f"{self.shown}/{rel} is larger than {limit} bytes")
        return bytes(data)

    def write(self, rel: str, data: bytes) -> None:
        """Replace ``rel`` as a whole: readers see the old or the new bytes, never a mix."""
        self._guard(rel)
        try:
            if self.loc.remote:
                with self.fs.open_output_stream(self.path(rel)) as fh:     # one PUT: visible when complete
                    fh.write(data)
                return
            target = Path(self.path(rel))
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except self._errors() as exc:
            raise self.fail("write", exc) from None

    def create(self, rel: str, data: bytes) -> bool:
        """Write ``rel`` only if it does not exist; False when another writer has it."""
        if not self.loc.remote:
            target = Path(self.path(rel))
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            except OSError as exc:
                raise self.fail("write", exc) from None
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return True
        # Write-then-verify: of writers racing for the same key, the last PUT wins and every
        # writer reads back after the others' PUTs have landed (the settle delay), so exactly
        # one sees its own bytes. Residual race: a PUT slower than the delay.
        if self.read(rel) is not None:
            return False
        self.write(rel, data)
        time.sleep(_SETTLE)
        return self.read(rel) == data

    def entries(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (empty when it does not exist), sorted."""
        self._guard(rel)
        try:
            if not self.loc.remote:
                return sorted(os.listdir(self.path(rel))) if os.path.isdir(self.path(rel)) else []
            import pyarrow.fs as pafs

            infos = self.fs.get_file_info(pafs.FileSelector(self.path(rel), allow_not_found=True))
            return sorted(i.base_name for i in infos)
        except self._errors() as exc:
            raise self.fail("list", exc) from None

    def files(self, rel: str) -> list[str]:
        """Relative paths of all files below ``rel``, sorted; a symbolic link is damage."""
        root = self.path(rel)
        out = []
        try:
            if not self.loc.remote:
                for dirpath, dirnames, filenames in os.walk(root):
                    for name in dirnames + filenames:
                        full = os.path.join(dirpath, name)
                        if os.path.islink(full):
                            raise Damaged(f"{self.shown}/{rel}/{os.path.relpath(full, root)} is a symbolic link")
                    out.extend(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
                               for f in filenames)
                return sorted(out)
            import pyarrow.fs as pafs

            infos = self.fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
            return sorted(i.path[len(root):].lstrip("/") for i in infos if i.type == pafs.FileType.File)
        except self._errors() as exc:
            raise self.fail("list", exc) from None

    def upload(self, local: Path, rel: str) -> None:
        try:
            if not self.loc.remote:
                Path(self.path(rel)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local, self.path(rel))
                return
            with local.open("rb") as src, self.fs.open_output_stream(self.path(rel)) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except self._errors() as exc:
            raise self.fail("write", exc) from None

    def download(self, rel: str, dest: Path) -> str:
        """Copy ``rel`` to ``dest``; its sha256."""
        self._guard(rel)
        h = hashlib.sha256()
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            opener = self.fs.open_input_stream if self.loc.remote else (lambda p: open(p, "rb"))
            with opener(self.path(rel)) as src, dest.open("wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    h.update(chunk)
                    dst.write(chunk)
        except FileNotFoundError:
            raise Damaged(f"{self.shown}/{rel} is missing") from None
        except self._errors() as exc:
            if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
                raise Damaged(f"{self.shown}/{rel} is missing") from None
            raise self.fail("read", exc) from None
        return h.hexdigest()

    def copy(self, src: str, dst: str) -> None:
        try:
            self.fs.copy_file(self.path(src), self.path(dst))
        except self._errors() as exc:
            raise self.fail("write", exc) from None

    def remove(self, rel: str) -> None:
        """Best effort: clean-up of a failed or superseded write."""
        try:
            if not self.loc.remote:
                path = self.path(rel)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                elif os.path.lexists(path):
                    os.unlink(path)
                return
            import pyarrow.fs as pafs

            info = self.fs.get_file_info(self.path(rel))
            if info.type == pafs.FileType.Directory:
                self.fs.delete_dir(self.path(rel))
            elif info.type == pafs.FileType.File:
                self.fs.delete_file(self.path(rel))
        except Exception:  # noqa: BLE001 - clean-up never hides the original outcome
            pass

    def rename_dir(self, src: str, dst: str) -> bool:
        """Local only: atomically move a folder into place; False when ``dst`` exists."""
        target = Path(self.path(dst))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(target)               # reserve: rename onto an existing empty folder would succeed
        except FileExistsError:
            return False
        try:
            os.rename(self.path(src), target)   # replaces the empty folder we just made, atomically
        except OSError:
            os.rmdir(target)
            raise
        return True


class _PointerLock:
    """An flock around a local pointer's compare-and-set; nothing for object stores."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.fh: Any = None

    def __enter__(self) -> None:
        if self.store.loc.remote:
            return
        import fcntl

        path = Path(self.store.path(".lock"))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("a")
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()


# ------------------------------------------------------------------ the registry


class LocalRegistry:
    """``<uri>/<model_name>/`` on a folder or object store; see docs/registry.md for the layout::

        versions/<n>/<model file or folder>   immutable copy of the model
        versions/<n>/metadata.json            lineage; written last, its presence commits the version
        production, staging                   pointer documents {"version": n, "metadata_sha256": …}
        history/<time>-<n>-<stage>.json       one document per registration or promotion
        claims/<n>                            version number reservations
        incoming/<id>/                        registrations in flight (object stores)
    """

    def __init__(self, loc: Any, model_name: str) -> None:
        self.store = Store(loc, model_name)
        self.model_name = model_name
        self.shown = self.store.shown

    # -------------------------------------------------------------- reading

    def versions(self) -> list[int]:
        """Committed version numbers (a folder with metadata.json), ascending."""
        out = []
        for name in self.store.entries("versions"):
            if _NUMBER.match(name) and self.store.read(f"versions/{name}/metadata.json") is not None:
                out.append(int(name))
        return sorted(out)

    def _taken(self) -> int:
        names = self.store.entries("versions") + self.store.entries("claims")
        return max([int(n) for n in names if _NUMBER.match(n)] or [0])

    def pointer(self, stage: str) -> dict[str, Any] | None:
        """The stage's pointer document, checked; None when the stage is unset."""
        raw = self.store.read(stage, 4096)
        if raw is None:
            return None
        where = f"the {stage} pointer {self.shown}/{stage}"
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Damaged(f"{where} is not a pointer document (JSON with version and metadata_sha256)") from None
        if (not isinstance(doc, dict) or not isinstance(doc.get("version"), int) or isinstance(doc["version"], bool)
                or doc["version"] < 1 or not isinstance(doc.get("metadata_sha256"), str)):
            raise Damaged(f"{where} is not a pointer document (JSON with version and metadata_sha256)")
        meta_raw = self.store.read(f"versions/{doc['version']}/metadata.json")
        if meta_raw is None:
            raise Damaged(f"{where} names version {doc['version']}, which is not in the registry "
                          "(no versions/{0}/metadata.json)".format(doc["version"]))
        if _digest(meta_raw) != doc["metadata_sha256"]:
            raise Damaged(f"{where} names version {doc['version']}, whose metadata.json does not match the "
                          "hash the pointer recorded (edited after registration)")
        doc["_raw"] = raw
        return doc

    def metadata(self, number: int) -> dict[str, Any]:
        rel = f"versions/{number}/metadata.json"
        raw = self.store.read(rel)
        if raw is None:
            raise Damaged(f"version {number} has no metadata.json in {self.shown}/versions/{number}")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Damaged(f"{self.shown}/{rel} is not valid JSON") from None
        model = data.get("model") if isinstance(data, dict) else None
        if (not isinstance(model, dict) or not isinstance(model.get("file"), str)
                or not isinstance(model.get("sha256"), str) or not isinstance(data.get("metrics"), dict)
                or data.get("version") != f"v{number}"):
            raise Damaged(f"{self.shown}/{rel} is not the metadata of version {number} "
                          "(model, metrics or version missing or different)")
        name = model["file"]
        if not name or name in (".", "..", "metadata.json") or "/" in name or "\\" in name:
            raise Damaged(f"{self.shown}/{rel} names a model file outside its version folder")
        return data

    def stage_version(self, stage: str) -> str | None:
        doc = self.pointer(stage)
        return None if doc is None else f"v{doc['version']}"

    def production(self) -> tuple[str, dict[str, Any]] | None:
        """``(version, metrics)`` of the production model, or None before the first one."""
        doc = self.pointer("production")
        if doc is None:
            return None
        meta = self.metadata(doc["version"])
        return f"v{doc['version']}", meta["metrics"]

    def fetch(self, number: int, out: Path) -> dict[str, Any]:
        """Download version ``number``'s model to ``out`` (a file, or a folder for a folder model),
        verifying its sha256; the version's metadata."""
        meta = self.metadata(number)
        model = meta["model"]
        prefix = f"versions/{number}/{model['file']}"
        tmp = out.with_name(f".{out.name}.fetching")
        if tmp.is_dir():
            shutil.rmtree(tmp)
        else:
            tmp.unlink(missing_ok=True)
        try:
            if model.get("kind") == "folder":
                files = self.store.files(prefix)
                for rel in files:
                    self.store.download(f"{prefix}/{rel}", tmp / rel)
                digest = sha256_tree(tmp) if files else ""
            else:
                digest = self.store.download(prefix, tmp)
            if digest != model["sha256"]:
                raise Damaged(f"the model of version {number} in {self.shown} does not match the sha256 in its "
                              "metadata.json (edited after registration)")
            if out.is_dir() and not out.is_symlink():
                shutil.rmtree(out)
            elif out.exists() or out.is_symlink():
                out.unlink()
            os.replace(tmp, out)
        except Damaged:
            raise
        except Failure as exc:
            if "No such file" in exc.message or "not found" in exc.message.lower():
                raise Damaged(f"version {number} in {self.shown} has no model {model['file']!r}") from None
            raise
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists():
                tmp.unlink()
        return meta

    # -------------------------------------------------------------- writing

    def register(self, plan: Any, model: Path, model_shown: str, metrics: dict[str, Any],
                 metrics_source: str | None, stage: str, spec_dir: Path) -> dict[str, Any]:
        if model.is_symlink():
            raise Failure(dx.DATA_UNREADABLE, f"model {model_shown} is a symbolic link; register the file itself")
        is_dir = model.is_dir()
        files = sorted(p for p in model.rglob("*") if p.is_file()) if is_dir else [model]
        digest = sha256_tree(model) if is_dir else sha256_file(model)
        size = sum(f.stat().st_size for f in files)
        token = uuid.uuid4().hex
        staging = f"incoming/{token}"
        number = 0
        committed = False
        try:
            for f in files:                                       # upload once, outside any lock
                rel = f.relative_to(model).as_posix() if is_dir else ""
                self.store.upload(f, f"{staging}/{model.name}/{rel}".rstrip("/"))
            for _ in range(1000):
                number = self._taken() + 1
                if self.store.create(f"claims/{number}", token.encode()):
                    break
            else:
                raise Failure(dx.REGISTRY_CONFLICT, f"could not claim a version number in {self.shown}")
            version = f"v{number}"
            meta = build_metadata(plan, model_name=self.model_name, version=version, stage=stage,
                                  model_file=model.name, model_source=model_shown, model_sha256=digest,
                                  model_size=size, is_dir=is_dir, metrics=metrics,
                                  metrics_source=metrics_source, spec_dir=spec_dir)
            meta_bytes = json_text(meta).encode("utf-8")
            if self.store.loc.remote:
                for f in files:                                   # server-side copies, metadata last
                    rel = f.relative_to(model).as_posix() if is_dir else ""
                    tail = f"{model.name}/{rel}".rstrip("/")
                    self.store.copy(f"{staging}/{tail}", f"versions/{number}/{tail}")
                self.store.write(f"versions/{number}/metadata.json", meta_bytes)
            else:
                self.store.write(f"{staging}/metadata.json", meta_bytes)
                if not self.store.rename_dir(staging, f"versions/{number}"):
                    raise Failure(dx.REGISTRY_CONFLICT, f"version {number} appeared in {self.shown} although "
                                  "this registration claimed its number")
            committed = True
            previous = None
            if stage in STAGES:
                previous = self._move(stage, number, _digest(meta_bytes), forward_only=True, plan=plan,
                                      action="register")
            else:
                self._history("register", number, stage, None, digest, plan)
        except BaseException:
            if committed and number:          # nothing half-done: a version whose stage or history
                self.store.remove(f"versions/{number}")   # could not be written is withdrawn
            raise
        finally:
            self.store.remove(staging)
            self.store.remove("incoming") if not self.store.entries("incoming") else None
        return {"backend": "local", "model_name": self.model_name, "version": version, "stage": stage,
                "previous": previous, "path": f"{self.shown}/versions/{number}",
                "model_sha256": digest, "metadata": meta}

    def _history(self, action: str, number: int, stage: str, previous: str | None, model_sha: str,
                 plan: Any) -> str:
        """Write one history document; its name (to withdraw it when the change fails)."""
        now = time.time()
        doc = {"time": utc(now), "action": action, "version": f"v{number}", "stage": stage,
               "previous": previous, "model_sha256": model_sha, "spec_sha256": plan.spec_sha256 if plan else None}
        name = f"history/{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}{int(now * 1e6) % 1000000:06d}Z-" \
               f"{number}-{stage}-{uuid.uuid4().hex[:8]}.json"
        self.store.write(name, json_text(doc).encode("utf-8"))
        return name

    def _move(self, stage: str, number: int, meta_sha: str, *, forward_only: bool, plan: Any,
              action: str) -> str | None:
        """Compare-and-set ``stage`` to version ``number``; the version it pointed at before.

        ``forward_only`` (registrations): never move a stage back to an older version, so of two
        concurrent registrations the newer one ends in production whatever the order of writes.
        """
        meta = self.metadata(number)
        doc = {"pointer_version": POINTER_VERSION, "version": number, "metadata_sha256": meta_sha,
               "model_sha256": meta["model"]["sha256"]}
        new = json_text(doc).encode("utf-8")
        for _ in range(50):
            with _PointerLock(self.store):
                try:
                    current = self.pointer(stage)
                except Damaged:
                    current = None            # a damaged pointer is replaced by a valid one
                raw_before = self.store.read(stage, 4096)
                previous = f"v{current['version']}" if current else None
                if forward_only and current and current["version"] >= number:
                    self._history(action, number, "none", previous, meta["model"]["sha256"], plan)
                    return previous           # a newer version got there first: it stays
                # The compare of compare-and-set: write only if the pointer is what we judged.
                if self.store.read(stage, 4096) != raw_before:
                    continue
                # History first, pointer second: a change is recorded before it is visible, and
                # a pointer that cannot be written withdraws its record (nothing half-done).
                record = self._history(action, number, stage, previous, meta["model"]["sha256"], plan)
                try:
                    self.store.write(stage, new)
                except BaseException:
                    self.store.remove(record)
                    raise
                if not self.store.loc.remote:
                    return previous
            time.sleep(_SETTLE)
            seen = self.store.read(stage, 4096)
            if seen == new:
                return previous
            try:
                now = self.pointer(stage)
            except Damaged:
                continue
            if now and forward_only and now["version"] >= number:
                return previous
        raise Failure(dx.REGISTRY_CONFLICT, f"the {stage} pointer of {self.shown} kept changing under this "
                      "write; try again")

    def promote(self, number: int, stage: str) -> str | None:
        """Point ``stage`` at an existing version (a rollback is a promotion of an older one)."""
        raw = self.store.read(f"versions/{number}/metadata.json")
        if raw is None:
            raise Failure(dx.REGISTRY_NO_VERSION, f"{self.model_name} has no version {number} in {self.shown}",
                          hint=f"versions: {', '.join(f'v{n}' for n in self.versions()) or 'none'}")
        return self._move(stage, number, _digest(raw), forward_only=False, plan=None, action="promote")

    def history(self) -> list[dict[str, Any]]:
        out = []
        for name in self.store.entries("history"):
            raw = self.store.read(f"history/{name}")
            try:
                doc = json.loads((raw or b"").decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise Damaged(f"{self.shown}/history/{name} is not valid JSON") from None
            out.append(doc)
        return out


def registry_location(ctx: Any) -> Any:
    """The registry root as a ``runtime.fs.Location``: ``registry.uri`` (a folder relative to the
    spec, or a store URI), else ``<storage.uri>/registry``, else ``.mlspec/registry``."""
    from mlspec.runtime.fs import FsError, Location, open_location, scheme_of

    from mlspec.runtime.store import StoreError, effective_storage

    plan = ctx.plan
    try:
        storage = effective_storage(plan)
    except StoreError as exc:
        raise Failure(dx.REGISTRY_ERROR, exc.message, path=("storage",), hint=exc.hint) from None
    # Under the store: the store this run uses (`--store`, $MLSPEC_STORAGE), else the spec's.
    uri = f"{storage.uri.rstrip('/')}/registry" if plan.registry.in_store else plan.registry.uri
    endpoint = storage.endpoint     # open_location falls back to $AWS_ENDPOINT_URL(_S3) itself
    scheme = scheme_of(uri)
    if scheme is None or scheme == "file":
        # A folder needs no pyarrow: `gate` and `register` on a folder run on the standard library.
        path = ctx.spec_path(uri)
        return Location(None, os.path.abspath(path), uri, remote=False)
    try:
        return open_location(uri, base_dir=ctx.spec_dir, endpoint=endpoint)
    except FsError as exc:
        raise Failure(dx.REGISTRY_ERROR, str(exc), path=("registry", "uri")) from None


def local_registry(ctx: Any) -> LocalRegistry:
    loc = registry_location(ctx)
    if not loc.remote:
        from dataclasses import replace

        loc = replace(loc, uri=ctx.shown(loc.root))
    return LocalRegistry(loc, ctx.plan.registry.model_name)


# ------------------------------------------------------------------ MLflow


def _mlflow_client(ctx: Any) -> Any:
    from mlspec.runtime.common import require

    require("mlflow", command=ctx.command)
    from mlflow.tracking import MlflowClient

    uri = _mlflow_uri(ctx)
    try:
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
    except Exception as exc:  # noqa: BLE001 - a bad URI or an unsupported store
        raise Failure(dx.REGISTRY_ERROR, f"MLflow registry {uri or '(default)'}: {_mlflow_text(exc)}") from None


def _mlflow_uri(ctx: Any) -> str | None:
    return ctx.plan.registry.uri or os.environ.get("MLFLOW_TRACKING_URI") or None


def _mlflow_text(exc: BaseException) -> str:
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    return f"{type(exc).__name__}: {text[:400]}"


def mlflow_production(ctx: Any) -> tuple[str, dict[str, Any]] | None:
    client = _mlflow_client(ctx)
    name = ctx.plan.registry.model_name
    try:
        from mlflow.exceptions import MlflowException

        try:
            mv = client.get_model_version_by_alias(name, "production")
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower():
                return None
            raise
        metrics = dict(client.get_run(mv.run_id).data.metrics) if mv.run_id else {}
        return f"v{mv.version}", metrics
    except Failure:
        raise
    except Exception as exc:  # noqa: BLE001 - any client/network failure is a registry error
        raise Failure(dx.REGISTRY_ERROR, f"MLflow registry: {_mlflow_text(exc)}") from None


RUN_ID_FILE = Path(".mlspec") / "mlflow_run_id"     # written by training, next to the spec

# The pyfunc wrapper for models that are not sklearn estimators, logged as "models from code"
# so that loading it needs MLflow and the model's own libraries, not mlspec.
_PYFUNC_SCRIPT = """\
import mlflow
from mlflow.pyfunc import PythonModel


class MlspecModel(PythonModel):
    \"\"\"The registered file: loaded with joblib/pickle when it is one, else exposed as `path`.\"\"\"

    def load_context(self, context):
        self.path = context.artifacts["model_file"]
        self.model = None
        if self.path.endswith((".joblib", ".pkl", ".pickle")):
            import joblib

            self.model = joblib.load(self.path)

    def predict(self, context, model_input, params=None):
        if self.model is None or not hasattr(self.model, "predict"):
            raise TypeError("this registered model is a file, not a predictor; its path is "
                            "unwrap_python_model().path")
        return self.model.predict(model_input)


mlflow.models.set_model(MlspecModel())
"""


def training_run_id(ctx: Any) -> str | None:
    """The MLflow run training logged: ``MLFLOW_RUN_ID``, else the file training wrote."""
    env = os.environ.get("MLFLOW_RUN_ID", "").strip()
    if env:
        return env
    path = ctx.spec_dir / RUN_ID_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not re.fullmatch(r"[0-9a-zA-Z_-]{1,64}", text):
        raise Failure(dx.REGISTRY_ERROR, f"{ctx.shown(path)} does not hold an MLflow run id",
                      file=ctx.shown(path), hint="training writes mlflow.active_run().info.run_id there")
    return text


def _load_estimator(model: Path) -> Any:
    """The sklearn estimator in a joblib/pickle file, or None (any other file or object)."""
    if model.is_dir() or model.suffix not in (".joblib", ".pkl", ".pickle"):
        return None
    try:
        import joblib
        from sklearn.base import BaseEstimator

        obj = joblib.load(model)
    except Exception:  # noqa: BLE001 - not a loadable pickle: registered through the wrapper
        return None
    return obj if isinstance(obj, BaseEstimator) else None


def _log_model(model: Path, tmp: Path) -> tuple[Any, str]:
    """Log ``model`` as an MLflow model in the active run: its ModelInfo and flavour.

    Requirements are given where they are known (an sklearn estimator needs scikit-learn, a
    plain file only MLflow), which also spares MLflow's slow inference (it loads the model in
    a subprocess); a pickled non-sklearn object keeps MLflow's inference."""
    import mlflow

    estimator = _load_estimator(model)
    if estimator is not None:
        import mlflow.sklearn
        import sklearn

        reqs = [f"scikit-learn=={sklearn.__version__}", f"mlflow=={mlflow.__version__}"]
        return mlflow.sklearn.log_model(estimator, name="model", pip_requirements=reqs), "sklearn"
    script = tmp / "mlspec_pyfunc.py"
    script.write_text(_PYFUNC_SCRIPT, encoding="utf-8")
    pickled = model.suffix in (".joblib", ".pkl", ".pickle")
    info = mlflow.pyfunc.log_model(name="model", python_model=str(script), artifacts={"model_file": str(model)},
                                   pip_requirements=None if pickled else [f"mlflow=={mlflow.__version__}"])
    return info, "pyfunc"


def mlflow_register(ctx: Any, model: Path, model_shown: str, metrics: dict[str, Any],
                    metrics_source: str | None, stage: str) -> dict[str, Any]:
    client = _mlflow_client(ctx)
    plan = ctx.plan
    name = plan.registry.model_name
    try:
        import mlflow
        from mlflow.exceptions import MlflowException

        uri = _mlflow_uri(ctx)
        if uri:
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
        digest = sha256_tree(model) if model.is_dir() else sha256_file(model)
        git = git_info(ctx.spec_dir)
        tags = {"mlspec.project": plan.project.name, "mlspec.spec_sha256": plan.spec_sha256,
                "mlspec.model_sha256": digest, "mlspec.model_file": model.name}
        if git:
            tags["mlflow.source.git.commit"] = git["commit"]
        run_id = training_run_id(ctx)
        if run_id:
            try:
                client.get_run(run_id)
            except MlflowException:
                raise Failure(dx.REGISTRY_ERROR, f"the training run {run_id} is not on the MLflow server",
                              hint=f"unset MLFLOW_RUN_ID or remove {RUN_ID_FILE.as_posix()}") from None
            start = {"run_id": run_id}
        else:
            experiment = plan.tracking_experiment or plan.project.name
            exp = client.get_experiment_by_name(experiment)
            exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
            start = {"experiment_id": exp_id, "run_name": f"register-{plan.project.name}", "tags": tags}
        meta = build_metadata(plan, model_name=name, version="(mlflow)", stage=stage, model_file=model.name,
                              model_source=model_shown, model_sha256=digest,
                              model_size=model.stat().st_size if model.is_file() else 0,
                              is_dir=model.is_dir(), metrics=metrics, metrics_source=metrics_source,
                              spec_dir=ctx.spec_dir)
        # MLflow prints run links to stdout; stdout is this command's report (JSON with --format json).
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr), \
                mlflow.start_run(**start) as run:
            run_id = run.info.run_id
            mlflow.set_tags(tags)
            for k, v in flat_metrics(clean_metrics(metrics)).items():
                if v is not None:
                    mlflow.log_metric(k, v)
            existing = dict(run.data.params)
            mlflow.log_params({k: v for k, v in plan.params if k not in existing})
            meta_path = Path(tmp) / "metadata.json"
            meta_path.write_text(json_text(meta), encoding="utf-8")
            mlflow.log_artifact(str(meta_path), "mlspec")
            mlflow.log_artifact(str(model), "mlspec/model")          # the file itself, for `registry fetch`
            info, flavour = _log_model(model, Path(tmp))
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name)
        with contextlib.redirect_stdout(sys.stderr):
            mv = mlflow.register_model(info.model_uri, name, tags={**tags, "mlspec.flavour": flavour})
        if not mv.run_id:           # link the version to the run that trained it
            client.set_model_version_tag(name, mv.version, "mlspec.run_id", run_id)
        previous = None
        if stage in STAGES:
            try:
                current = client.get_model_version_by_alias(name, stage)
                previous = f"v{current.version}"
            except MlflowException:
                current = None
            # Of concurrent registrations the newest version keeps the alias.
            if current is None or int(current.version) < int(mv.version):
                client.set_registered_model_alias(name, stage, mv.version)
    except Failure:
        raise
    except Exception as exc:  # noqa: BLE001 - any client/network failure is a registry error
        raise Failure(dx.REGISTRY_ERROR, f"MLflow registry: {_mlflow_text(exc)}") from None
    return {"backend": "mlflow", "model_name": name, "version": f"v{mv.version}", "stage": stage,
            "previous": previous, "path": f"models:/{name}/{mv.version}", "model_sha256": digest,
            "run_id": run_id, "flavour": flavour, "metadata": meta}


def _mlflow_call(fn: Any) -> Any:
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return fn()
    except Failure:
        raise
    except Exception as exc:  # noqa: BLE001 - any client/network failure is a registry error
        from mlflow.exceptions import MlflowException

        if isinstance(exc, MlflowException) and "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
            raise Failure(dx.REGISTRY_NO_VERSION, f"MLflow registry: {_mlflow_text(exc)}") from None
        raise Failure(dx.REGISTRY_ERROR, f"MLflow registry: {_mlflow_text(exc)}") from None


def _mlflow_version(client: Any, name: str, alias: str, version: int | None) -> Any:
    if version is not None:
        return client.get_model_version(name, str(version))
    return client.get_model_version_by_alias(name, alias)


def mlflow_describe(ctx: Any) -> dict[str, Any]:
    client = _mlflow_client(ctx)
    name = ctx.plan.registry.model_name

    def body() -> dict[str, Any]:
        try:
            rm = client.get_registered_model(name)
            aliases = dict(rm.aliases or {})
        except Exception:  # noqa: BLE001 - no model registered yet
            aliases = {}
        stages = {s: (f"v{aliases[s]}" if s in aliases else None) for s in STAGES}
        versions = []
        for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda m: int(m.version)):
            versions.append({"version": f"v{mv.version}", "run_id": mv.run_id,
                             "model_sha256": (mv.tags or {}).get("mlspec.model_sha256"),
                             "model_file": (mv.tags or {}).get("mlspec.model_file"),
                             "stages": [s for s, v in stages.items() if v == f"v{mv.version}"]})
        return {"backend": "mlflow", "model_name": name, "location": ctx.plan.registry.uri, "stages": stages,
                "versions": versions}

    return _mlflow_call(body)


def mlflow_fetch(ctx: Any, alias: str, version: int | None, out: Path) -> dict[str, Any]:
    client = _mlflow_client(ctx)
    name = ctx.plan.registry.model_name

    def body() -> dict[str, Any]:
        import mlflow.artifacts

        mv = _mlflow_version(client, name, alias, version)
        tags = mv.tags or {}
        file = tags.get("mlspec.model_file")
        run_id = mv.run_id or tags.get("mlspec.run_id")
        if not file or not run_id or "/" in file or file in (".", ".."):
            raise Failure(dx.REGISTRY_DAMAGED, f"MLflow model version {name} {mv.version} was not registered by "
                          "mlspec (no mlspec.model_file tag or run)")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=f"mlspec/model/{file}", dst_path=tmp,
                tracking_uri=_mlflow_uri(ctx)))
            digest = sha256_tree(local) if local.is_dir() else sha256_file(local)
            if digest != tags.get("mlspec.model_sha256"):
                raise Failure(dx.REGISTRY_DAMAGED, f"the model of {name} {mv.version} does not match the sha256 "
                              "recorded when it was registered")
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.is_dir() and not out.is_symlink():
                shutil.rmtree(out)
            elif out.exists() or out.is_symlink():
                out.unlink()
            shutil.move(str(local), str(out))
        return {"backend": "mlflow", "model_name": name, "version": f"v{mv.version}", "alias": alias,
                "model_sha256": digest, "out": ctx.shown(out)}

    return _mlflow_call(body)


def mlflow_promote(ctx: Any, version: int, stage: str) -> dict[str, Any]:
    client = _mlflow_client(ctx)
    name = ctx.plan.registry.model_name

    def body() -> dict[str, Any]:
        client.get_model_version(name, str(version))
        try:
            previous = f"v{client.get_model_version_by_alias(name, stage).version}"
        except Exception:  # noqa: BLE001 - no alias yet
            previous = None
        client.set_registered_model_alias(name, stage, str(version))
        return {"backend": "mlflow", "model_name": name, "version": f"v{version}", "stage": stage,
                "previous": previous}

    return _mlflow_call(body)


def production(ctx: Any) -> tuple[str, dict[str, Any]] | None:
    """The production model's ``(version, metrics)`` from the configured registry."""
    reg = ctx.plan.registry
    if reg is None:
        return None
    if reg.backend == "mlflow":
        return mlflow_production(ctx)
    return local_registry(ctx).production()


# ------------------------------------------------------------------ registry commands' backends


def describe(ctx: Any) -> dict[str, Any]:
    """The registered versions and what each stage points at."""
    reg = ctx.plan.registry
    if reg.backend == "mlflow":
        return mlflow_describe(ctx)
    r = local_registry(ctx)
    stages = {s: r.stage_version(s) for s in STAGES}
    versions = []
    for n in r.versions():
        meta = r.metadata(n)
        versions.append({"version": f"v{n}", "created": meta.get("created"), "model_sha256": meta["model"]["sha256"],
                         "model_file": meta["model"]["file"], "metrics": meta["metrics"],
                         "stages": [s for s, v in stages.items() if v == f"v{n}"]})
    return {"backend": "local", "model_name": r.model_name, "location": r.shown, "stages": stages,
            "versions": versions}


def fetch(ctx: Any, alias: str, version: int | None, out: Path) -> dict[str, Any]:
    """Download the model of ``version`` (or of the version ``alias`` points at) to ``out``."""
    if ctx.plan.registry.backend == "mlflow":
        return mlflow_fetch(ctx, alias, version, out)
    r = local_registry(ctx)
    if version is None:
        doc = r.pointer(alias)
        if doc is None:
            raise Failure(dx.REGISTRY_NO_VERSION, f"{r.model_name} has no {alias} version in {r.shown} yet",
                          hint="register a model first: mlspec register")
        version = doc["version"]
    elif version not in r.versions():
        raise Failure(dx.REGISTRY_NO_VERSION, f"{r.model_name} has no version {version} in {r.shown}")
    meta = r.fetch(version, out)
    return {"backend": "local", "model_name": r.model_name, "version": f"v{version}", "alias": alias,
            "model_sha256": meta["model"]["sha256"], "out": ctx.shown(out)}


def promote(ctx: Any, version: int, stage: str) -> dict[str, Any]:
    if ctx.plan.registry.backend == "mlflow":
        return mlflow_promote(ctx, version, stage)
    r = local_registry(ctx)
    previous = r.promote(version, stage)
    return {"backend": "local", "model_name": r.model_name, "version": f"v{version}", "stage": stage,
            "previous": previous}
