"""The model registry: a local folder, or MLflow through its client.

Local layout (``registry.uri`` relative to the spec's folder)::

    <uri>/<model_name>/
        v1/<model file or folder>      a copy of the trained model
        v1/metadata.json               lineage: spec hash, data versions, params, metrics, git, lock
        v2/…
        production                     text file: the version in production ("v2\\n")
        staging                        text file, when a version was registered with --stage staging
        history.jsonl                  one line per registration / stage change (audit trail)

A version is assembled in a temporary folder next to the versions and renamed into place,
so a reader never sees half a version; stage pointers are replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from mlspec import diagnostics as dx
from mlspec.runtime.common import Failure, finite, json_text, read_json_file, utc, write_atomic

STAGES = ("production", "staging")
_VERSION = re.compile(r"^v([1-9][0-9]{0,8})$")


# ------------------------------------------------------------------ hashing and lineage


def sha256_file(path: Path) -> str:
    """The file's sha256, read through the bounded reader's regular-file check (a FIFO as
    the model is refused, not waited on)."""
    from mlspec.bounded import ReadRefused, open_regular

    h = hashlib.sha256()
    try:
        fh = open_regular(path)
    except ReadRefused as exc:
        raise Failure(dx.DATA_UNREADABLE, f"{path} {exc.reason}", file=str(path)) from None
    with fh:
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


def clean_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics for metadata: finite numbers kept, anything else recorded as null."""
    return {str(k): finite(v) for k, v in metrics.items()}


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


# ------------------------------------------------------------------ local registry


class LocalRegistry:
    def __init__(self, root: Path, model_name: str, shown: str) -> None:
        self.root = root
        self.model_dir = root / model_name
        self.model_name = model_name
        self.shown = shown

    def versions(self) -> list[int]:
        if not self.model_dir.is_dir():
            return []
        out = []
        for p in self.model_dir.iterdir():
            m = _VERSION.match(p.name)
            if m and p.is_dir():
                out.append(int(m.group(1)))
        return sorted(out)

    def stage_version(self, stage: str) -> str | None:
        from mlspec.bounded import ReadRefused, read_text

        pointer = self.model_dir / stage
        shown = f"{self.shown}/{self.model_name}/{stage}"
        # Never through a link (it could point at any file), never more than a version name,
        # and never echoed: a pointer that is not a version name is not shown at all.
        try:
            text = read_text(pointer, 64, follow_symlinks=False).strip()
        except ReadRefused as exc:
            if exc.missing:
                return None
            raise Failure(dx.REGISTRY_ERROR, f"cannot read the {stage} pointer {shown}: it {exc.reason}") from None
        if not _VERSION.match(text):
            raise Failure(dx.REGISTRY_ERROR, f"the {stage} pointer {shown} does not hold a version name "
                          f"(one line such as 'v3'); its content is not shown")
        if not (self.model_dir / text).is_dir():
            # Safe to show: it matched the version pattern.
            raise Failure(dx.REGISTRY_ERROR, f"the {stage} pointer {shown} names {text!r}, which is not a "
                          f"version in the registry")
        return text

    def metadata(self, version: str) -> dict[str, Any]:
        path = self.model_dir / version / "metadata.json"
        shown = f"{self.shown}/{self.model_name}/{version}/metadata.json"
        data = read_json_file(path, "registry metadata", shown, code=dx.REGISTRY_ERROR, max_bytes=16 * 1024 * 1024,
                              follow_symlinks=False)
        if not isinstance(data, dict):
            raise Failure(dx.REGISTRY_ERROR, f"registry metadata {shown} is not a JSON object", file=shown)
        return data

    def production(self) -> tuple[str, dict[str, Any]] | None:
        """``(version, metrics)`` of the production model, or None before the first one."""
        version = self.stage_version("production")
        if version is None:
            return None
        meta = self.metadata(version)
        metrics = meta.get("metrics")
        if not isinstance(metrics, dict):
            raise Failure(dx.REGISTRY_ERROR, f"registry metadata of {self.model_name} {version} has no metrics object")
        return version, metrics

    def register(self, plan: Any, model: Path, model_shown: str, metrics: dict[str, Any],
                 metrics_source: str | None, stage: str, spec_dir: Path) -> dict[str, Any]:
        try:
            self.model_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.model_dir))
        except OSError as exc:
            raise Failure(dx.REGISTRY_ERROR, f"cannot write the registry {self.shown}: {exc.strerror or exc}") from None
        try:
            is_dir = model.is_dir()
            target = tmp / model.name
            if is_dir:
                shutil.copytree(model, target, symlinks=False)
                digest = sha256_tree(target)
                size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
            else:
                shutil.copyfile(model, target)
                digest = sha256_file(target)
                size = target.stat().st_size
            for attempt in range(100):
                number = (self.versions() or [0])[-1] + 1
                version = f"v{number}"
                meta = build_metadata(plan, model_name=self.model_name, version=version, stage=stage,
                                      model_file=model.name, model_source=model_shown, model_sha256=digest,
                                      model_size=size, is_dir=is_dir, metrics=metrics,
                                      metrics_source=metrics_source, spec_dir=spec_dir)
                (tmp / "metadata.json").write_text(json_text(meta), encoding="utf-8", newline="\n")
                try:
                    os.rename(tmp, self.model_dir / version)   # fails if another run took the number
                    break
                except OSError:
                    if attempt == 99:
                        raise
            previous = None
            if stage in STAGES:
                try:
                    previous = self.stage_version(stage)
                except Failure:        # a broken pointer is repaired by this registration
                    previous = None
                write_atomic(self.model_dir / stage, version + "\n")
            with (self.model_dir / "history.jsonl").open("a", encoding="utf-8", newline="\n") as fh:
                fh.write(json.dumps({"time": meta["created"], "version": version, "stage": stage,
                                     "previous": previous, "model_sha256": digest,
                                     "spec_sha256": plan.spec_sha256}, sort_keys=True) + "\n")
        except Failure:
            raise
        except OSError as exc:
            raise Failure(dx.REGISTRY_ERROR, f"cannot write the registry {self.shown}: "
                          f"{exc.strerror or exc}") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return {"backend": "local", "model_name": self.model_name, "version": version, "stage": stage,
                "previous": previous, "path": f"{self.shown}/{self.model_name}/{version}",
                "model_sha256": digest, "metadata": meta}


def local_registry(ctx: Any) -> LocalRegistry:
    reg = ctx.plan.registry
    uri = reg.uri or ".mlspec/registry"
    if "://" in uri and not uri.startswith("file://"):
        raise Failure(dx.REGISTRY_ERROR, f"the local registry needs a folder, not {uri!r}", path=("registry", "uri"))
    root = ctx.spec_path(uri)
    return LocalRegistry(root, reg.model_name, ctx.shown(root))


# ------------------------------------------------------------------ MLflow


def _mlflow_client(ctx: Any) -> Any:
    from mlspec.runtime.common import require

    require("mlflow", command=ctx.command)
    from mlflow.tracking import MlflowClient

    uri = ctx.plan.registry.uri or os.environ.get("MLFLOW_TRACKING_URI") or None
    try:
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
    except Exception as exc:  # noqa: BLE001 - a bad URI or an unsupported store
        raise Failure(dx.REGISTRY_ERROR, f"MLflow registry {uri or '(default)'}: {_mlflow_text(exc)}") from None


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


def mlflow_register(ctx: Any, model: Path, model_shown: str, metrics: dict[str, Any],
                    metrics_source: str | None, stage: str) -> dict[str, Any]:
    client = _mlflow_client(ctx)
    plan = ctx.plan
    name = plan.registry.model_name
    try:
        from mlflow.exceptions import MlflowException

        digest = sha256_tree(model) if model.is_dir() else sha256_file(model)
        experiment = plan.tracking_experiment or plan.project.name
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
        git = git_info(ctx.spec_dir)
        tags = {"mlspec.project": plan.project.name, "mlspec.spec_sha256": plan.spec_sha256,
                "mlspec.model_sha256": digest}
        if git:
            tags["mlflow.source.git.commit"] = git["commit"]
        run = client.create_run(exp_id, tags=tags, run_name=f"register-{plan.project.name}")
        run_id = run.info.run_id
        for k, v in clean_metrics(metrics).items():
            if v is not None:
                client.log_metric(run_id, k, v)
        for k, v in plan.params:
            client.log_param(run_id, k, v)
        with tempfile.TemporaryDirectory() as tmp:
            meta = build_metadata(plan, model_name=name, version="(mlflow)", stage=stage, model_file=model.name,
                                  model_source=model_shown, model_sha256=digest,
                                  model_size=model.stat().st_size if model.is_file() else 0,
                                  is_dir=model.is_dir(), metrics=metrics, metrics_source=metrics_source,
                                  spec_dir=ctx.spec_dir)
            meta_path = Path(tmp) / "metadata.json"
            meta_path.write_text(json_text(meta), encoding="utf-8")
            client.log_artifact(run_id, str(meta_path), "mlspec")
            client.log_artifact(run_id, str(model), "model")
        client.set_terminated(run_id)
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name)
        mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run_id, tags=tags)
        previous = None
        if stage in STAGES:
            try:
                previous = f"v{client.get_model_version_by_alias(name, stage).version}"
            except MlflowException:
                previous = None
            client.set_registered_model_alias(name, stage, mv.version)
    except Failure:
        raise
    except Exception as exc:  # noqa: BLE001 - any client/network failure is a registry error
        raise Failure(dx.REGISTRY_ERROR, f"MLflow registry: {_mlflow_text(exc)}") from None
    return {"backend": "mlflow", "model_name": name, "version": f"v{mv.version}", "stage": stage,
            "previous": previous, "path": f"models:/{name}/{mv.version}", "model_sha256": digest,
            "run_id": run_id, "metadata": meta}


def production(ctx: Any) -> tuple[str, dict[str, Any]] | None:
    """The production model's ``(version, metrics)`` from the configured registry."""
    reg = ctx.plan.registry
    if reg is None:
        return None
    if reg.backend == "mlflow":
        return mlflow_production(ctx)
    return local_registry(ctx).production()
