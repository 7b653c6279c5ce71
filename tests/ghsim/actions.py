"""Built-in actions, reimplemented after their documented behaviour (current major versions):
actions/checkout, actions/setup-python, actions/upload-artifact, actions/download-artifact,
actions/cache (and cache/restore, cache/save)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .events import EventError
from .globbing import glob_files, hash_files, least_common_ancestor

if TYPE_CHECKING:
    from .runner import JobRun


@dataclass(frozen=True)
class Builtin:
    inputs: tuple[str, ...]
    run: Callable[[JobRun, dict[str, str], dict[str, str]], dict[str, str]]


def _failed(message: str) -> Exception:
    from .runner import ActionFailed
    return ActionFailed(message)


def _unsupported(message: str) -> Exception:
    from .runner import UnsupportedFeature
    return UnsupportedFeature(message)


def boolean_input(inputs: Mapping[str, str], name: str, default: bool) -> bool:
    """``core.getBooleanInput``: only the YAML 1.2 core spellings are accepted."""
    raw = inputs.get(name, "")
    if raw == "":
        return default
    if raw in ("true", "True", "TRUE"):
        return True
    if raw in ("false", "False", "FALSE"):
        return False
    raise _failed(f'Input does not meet YAML 1.2 "Core Schema" specification: {name}\n'
                  "Support boolean input list: `true | True | TRUE | false | False | FALSE`")


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _inside(base: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(base.resolve())
        return True
    except ValueError:
        return False


# --- actions/checkout --------------------------------------------------------------------------

CHECKOUT_INPUTS = ("repository", "ref", "token", "ssh-key", "ssh-known-hosts", "ssh-strict", "ssh-user",
                   "persist-credentials", "path", "clean", "filter", "sparse-checkout", "sparse-checkout-cone-mode",
                   "fetch-depth", "fetch-tags", "show-progress", "lfs", "submodules", "set-safe-directory",
                   "github-server-url")


def checkout(job: JobRun, inputs: dict[str, str], step_env: dict[str, str]) -> dict[str, str]:
    g = job.github
    repository = inputs.get("repository") or g["repository"]
    if repository.lower() != g["repository"].lower():
        raise _unsupported(f"actions/checkout of another repository ({repository}) is not simulated")
    for name in ("submodules", "lfs"):
        if inputs.get(name, "false") not in ("false", "False", "FALSE", ""):
            raise _unsupported(f"actions/checkout with {name}: {inputs[name]} is not simulated")
    if inputs.get("sparse-checkout") or inputs.get("ssh-key"):
        raise _unsupported("actions/checkout sparse-checkout/ssh-key is not simulated")
    persist = boolean_input(inputs, "persist-credentials", True)
    clean = boolean_input(inputs, "clean", True)
    fetch_tags = boolean_input(inputs, "fetch-tags", False)
    try:
        depth = int(inputs.get("fetch-depth") or "1")
    except ValueError:
        raise _failed(f"The input 'fetch-depth' must be a number: {inputs.get('fetch-depth')}") from None
    token = inputs.get("token") or g["token"]
    target = (job.workspace / inputs.get("path", "")).resolve() if inputs.get("path") else job.workspace
    if not _inside(job.workspace, target):
        raise _failed(f"Repository path '{target}' is not under '{job.workspace}'")
    remote = job.state.remote
    ref = inputs.get("ref", "")
    if not ref:
        ref, sha = g["ref"], g["sha"]
    elif re.fullmatch(r"[0-9a-f]{40}", ref):
        ref, sha = "", ref
    else:
        candidates = [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        for candidate in candidates:
            try:
                sha = remote.resolve(candidate)
                ref = candidate
                break
            except EventError:
                continue
        else:
            raise _failed(f"A branch or tag with the name '{ref}' could not be found")
    if target.exists() and any(target.iterdir()) and clean:
        for child in target.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    target.mkdir(parents=True, exist_ok=True)
    env = job.process_env(step_env, job._null_files(), "__actions_checkout")
    git = shutil.which("git", path=env["PATH"]) or "git"
    job.log(f"Syncing repository: {repository}")
    job.run_tool([git, "init", str(target)], target, env)
    job.run_tool([git, "remote", "add", "origin", remote.url], target, env)
    job.run_tool([git, "config", "--local", "gc.auto", "0"], target, env)
    if persist:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        job.masker.add(basic)
        job.run_tool([git, "config", "--local", "http.https://github.com/.extraheader",
                      f"AUTHORIZATION: basic {basic}"], target, env)
    if ref.startswith("refs/heads/"):
        local = f"refs/remotes/origin/{ref[len('refs/heads/'):]}"
    elif ref.startswith("refs/pull/"):
        local = f"refs/remotes/pull/{ref[len('refs/pull/'):]}"
    elif ref.startswith("refs/tags/"):
        local = ref
    else:
        local = ""
    refspec = f"+{sha}:{local}" if local else sha
    fetch = [git, "-c", "protocol.version=2", "fetch", "--prune", "--no-recurse-submodules"]
    if depth > 0:
        fetch += ["--no-tags", f"--depth={depth}", "origin", refspec]
        if fetch_tags:
            fetch.remove("--no-tags")
        job.run_tool(fetch, target, env)
    else:
        job.run_tool(fetch + ["origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"],
                     target, env)
        job.run_tool([git, "-c", "protocol.version=2", "fetch", "--no-tags", "origin", refspec], target, env)
    if ref.startswith("refs/heads/"):
        job.run_tool([git, "checkout", "--progress", "--force", "-B", ref[len("refs/heads/"):], local], target, env)
    else:
        job.run_tool([git, "checkout", "--progress", "--force", local or sha], target, env)
    commit = job.run_tool([git, "log", "-1", "--format=%H"], target, env)[-1].strip()
    return {"ref": ref, "commit": commit}


# --- actions/setup-python ----------------------------------------------------------------------

SETUP_PYTHON_INPUTS = ("python-version", "python-version-file", "cache", "architecture", "check-latest", "token",
                       "cache-dependency-path", "update-environment", "allow-prereleases", "freethreaded",
                       "pip-version", "pip-install")


def _host_version(python: str) -> str:
    out = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def version_matches(spec: str, full: str) -> bool:
    spec = spec.strip()
    if spec.startswith(("pypy", "graalpy")) or spec.endswith("t"):
        return False
    want = spec.split(".")
    have = full.split(".")
    if len(want) > 3:
        return False
    for w, h in zip(want, have):
        if w in ("x", "*"):
            return True
        if w != h:
            return False
    return True


def _venv(job: JobRun, dest: Path) -> None:
    """A fresh venv with its own pip: ``python -m venv`` once into a template, then a copy of the
    template's pip/setuptools into ``python -m venv --without-pip`` (same files, ~1 s instead of ~4 s)."""
    sim = job.sim
    template = sim.venv_template
    if not (template / "bin" / "pip").exists():
        shutil.rmtree(template, ignore_errors=True)
        subprocess.run([sim.python, "-m", "venv", str(template)], check=True, capture_output=True,
                       env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    subprocess.run([sim.python, "-m", "venv", "--without-pip", str(dest)], check=True, capture_output=True)
    tmpl_site = next((template / "lib").glob("python*/site-packages"))
    dest_site = dest / "lib" / tmpl_site.parent.name / "site-packages"
    for item in tmpl_site.iterdir():
        if item.name == "__pycache__":
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, dest_site / item.name)
    for script in (template / "bin").iterdir():
        if script.name.startswith("pip"):
            text = script.read_text(encoding="utf-8")
            first, _, rest = text.partition("\n")
            (dest / "bin" / script.name).write_text(f"#!{dest / 'bin' / 'python'}\n{rest}", encoding="utf-8")
            (dest / "bin" / script.name).chmod(0o755)


def setup_python(job: JobRun, inputs: dict[str, str], step_env: dict[str, str]) -> dict[str, str]:
    spec = inputs.get("python-version", "")
    if not spec and inputs.get("python-version-file"):
        vfile = job.workspace / inputs["python-version-file"]
        if not vfile.is_file():
            raise _failed(f"The specified python version file at: {vfile} doesn't exist.")
        spec = next((ln.strip() for ln in vfile.read_text().splitlines() if ln.strip() and not ln.startswith("#")), "")
    arch = inputs.get("architecture") or "x64"
    if arch != "x64":
        raise _failed(f"Version {spec} with arch {arch} not found")
    full = _host_version(job.sim.python)
    if not spec:
        job.annotate("warning", "Neither 'python-version' nor 'python-version-file' inputs were supplied. "
                                "Attempting to find '.python-version' file.")
        return {"python-version": full, "python-path": job.sim.python, "cache-hit": "false"}
    versions = _lines(spec)
    for v in versions:
        if not version_matches(v, full):
            raise _failed(f"Version {v} with arch x64 not found in the simulation: only the host's Python {full} "
                          "can be set up (run the tests under the Python version the workflow asks for).")
    dest = job.toolcache / "Python" / full / "x64"
    dest.parent.mkdir(parents=True, exist_ok=True)
    _venv(job, dest)
    job.log(f"Successfully set up CPython ({full})")
    if boolean_input(inputs, "update-environment", True):
        job.add_path(str(dest / "bin"))
        for name in ("pythonLocation", "Python_ROOT_DIR", "Python2_ROOT_DIR", "Python3_ROOT_DIR"):
            job.export_env(name, str(dest))
        job.export_env("PKG_CONFIG_PATH", str(dest / "lib" / "pkgconfig"))
    outputs = {"python-version": full, "python-path": str(dest / "bin" / "python"), "cache-hit": "false"}
    cache = inputs.get("cache", "")
    if cache:
        if cache != "pip":
            raise _unsupported(f"actions/setup-python cache: {cache} is not simulated (only pip)")
        patterns = _lines(inputs.get("cache-dependency-path", "")) or ["**/requirements.txt"]
        digest = hash_files(patterns, job.workspace, job.home)
        if not digest:
            raise _failed(f"No file in {job.workspace} matched to [{','.join(patterns)}], make sure you have "
                          "checked out the target repository")
        key = f"setup-python-Linux-x64-{job.base_env()['ImageOS']}-python-{full}-pip-{digest}"
        version = "setup-python-pip"
        entry, exact = job.sim.cache.lookup(key, [], version, job.state.cache_refs)
        hit = entry is not None and exact
        job.record_cache("restore", key, "exact" if hit else "miss", entry.key if entry else None)
        job.log(f"Cache restored from key: {key}" if hit else "pip cache is not found")
        outputs["cache-hit"] = "true" if hit else "false"
        if not hit:
            def save() -> None:
                if job.failed or job.cancelled:
                    return
                ref = job.state.cache_refs[0]
                if job.sim.cache.exists(key, version, ref):
                    job.record_cache("save", key, "skipped")
                    return
                job.sim.cache.new_entry(key, version, ref)  # the pip cache folder itself is shared
                job.record_cache("save", key, "saved")
                job.log(f"Cache saved with the key: {key}")
            job.add_post("Set up Python", save)
    return outputs


# --- artifacts -------------------------------------------------------------------------------------

UPLOAD_INPUTS = ("name", "path", "if-no-files-found", "retention-days", "compression-level", "overwrite",
                 "include-hidden-files")
DOWNLOAD_INPUTS = ("name", "artifact-ids", "path", "pattern", "merge-multiple", "github-token", "repository",
                   "run-id")
_BAD_NAME = set('"\\:<>|*?\r\n/')


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def upload_artifact(job: JobRun, inputs: dict[str, str], step_env: dict[str, str]) -> dict[str, str]:
    from .result import Artifact
    name = inputs.get("name") or "artifact"
    if _BAD_NAME & set(name):
        raise _failed(f"The artifact name is not valid: {name}. Contains the following character: "
                      f"{''.join(sorted(_BAD_NAME & set(name)))!r}")
    if not inputs.get("path"):
        raise _failed("Input required and not supplied: path")
    policy = inputs.get("if-no-files-found") or "warn"
    if policy not in ("warn", "error", "ignore"):
        raise _failed(f"Unrecognized if-no-files-found input. Provided: {policy}. Available options: warn,error,ignore")
    overwrite = boolean_input(inputs, "overwrite", False)
    hidden = boolean_input(inputs, "include-hidden-files", False)
    files, search_paths = glob_files(_lines(inputs["path"]), job.workspace, job.home, include_hidden=hidden)
    if not files:
        message = f"No files were found with the provided path: {inputs['path']}. No artifacts will be uploaded."
        if policy == "error":
            raise _failed(message)
        if policy == "warn":
            job.annotate("warning", message)
        else:
            job.log(message)
        return {}
    roots = _dedupe_search_paths(search_paths)
    if len(roots) > 1:
        root = least_common_ancestor(roots)
    elif len(files) == 1 and roots[0] == files[0]:
        root = files[0].parent
    else:
        root = roots[0]
    store = job.state.artifact_dir / name
    existing = job.state.result.artifacts.get(name)
    if existing is not None:
        if not overwrite:
            raise _failed("Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: "
                          "an artifact with this name already exists on the workflow run")
        shutil.rmtree(store)
    store.mkdir(parents=True)
    rel: list[str] = []
    for f in files:
        r = f.relative_to(root)
        (store / r).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, store / r)
        rel.append(r.as_posix())
    digest = _digest(store)
    job.state.result.artifacts[name] = Artifact(name, store, sorted(rel), job.result.name, digest)
    artifact_id = str(len(job.state.result.artifacts))
    job.log(f"Artifact {name} has been successfully uploaded! Final size is {sum(f.stat().st_size for f in files)} bytes. Artifact ID is {artifact_id}")
    return {"artifact-id": artifact_id, "artifact-digest": digest,
            "artifact-url": f"https://github.com/{job.github['repository']}/actions/runs/{job.github['run_id']}/artifacts/{artifact_id}"}


def _dedupe_search_paths(paths: list[Path]) -> list[Path]:
    unique = sorted(set(paths), key=lambda p: len(p.parts))
    out: list[Path] = []
    for p in unique:
        if not any(p == q or q in p.parents for q in out):
            out.append(p)
    return out


def _name_matches(pattern: str, name: str) -> bool:
    from .globbing import _segment_regex
    return bool(re.fullmatch(_segment_regex(pattern), name))


def download_artifact(job: JobRun, inputs: dict[str, str], step_env: dict[str, str]) -> dict[str, str]:
    if inputs.get("run-id") and inputs["run-id"] != job.github["run_id"]:
        raise _unsupported("actions/download-artifact from another workflow run is not simulated")
    if inputs.get("name") and inputs.get("artifact-ids"):
        raise _failed("Inputs 'name' and 'artifact-ids' cannot be used together. Please specify only one.")
    raw_path = inputs.get("path") or ""
    if raw_path.startswith("~"):
        raw_path = str(job.home) + raw_path[1:]
    dest = Path(raw_path) if os.path.isabs(raw_path) else job.workspace / raw_path
    artifacts = job.state.result.artifacts
    merge = boolean_input(inputs, "merge-multiple", False)
    if inputs.get("name"):
        name = inputs["name"]
        if name not in artifacts:
            raise _failed(f"Unable to download artifact(s): Artifact not found for name: {name}\n"
                          "        Please ensure that your artifact is not expired and the artifact was uploaded "
                          "using a compatible version of toolkit/upload-artifact.")
        chosen = [(artifacts[name], dest)]
    else:
        pattern = inputs.get("pattern", "")
        selected = [a for n, a in sorted(artifacts.items()) if not pattern or _name_matches(pattern, n)]
        if inputs.get("artifact-ids"):
            ids = {i.strip() for i in inputs["artifact-ids"].split(",")}
            selected = [a for i, a in enumerate(artifacts.values(), 1) if str(i) in ids]
        chosen = [(a, dest if merge or len(selected) == 1 and inputs.get("artifact-ids") else dest / a.name)
                  for a in selected]
    for artifact, target in chosen:
        target.mkdir(parents=True, exist_ok=True)
        for rel in artifact.files:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(artifact.path / rel, target / rel)
        job.log(f"Artifact download completed successfully: {artifact.name} -> {target}")
    job.log(f"Total of {len(chosen)} artifact(s) downloaded")
    return {"download-path": str(dest)}


# --- actions/cache -----------------------------------------------------------------------------------

CACHE_INPUTS = ("path", "key", "restore-keys", "upload-chunk-size", "enableCrossOsArchive", "fail-on-cache-miss",
                "lookup-only", "save-always")
CACHE_SAVE_INPUTS = ("path", "key", "upload-chunk-size", "enableCrossOsArchive")


def _anchors(job: JobRun) -> list[tuple[str, Path]]:
    # Cached paths are stored relative to the job folder they came from, so that a later job with
    # its own HOME/workspace restores them where the same `path:` points (one fixed HOME on GitHub).
    return [("workspace", job.workspace), ("temp", job.temp), ("home", job.home), ("toolcache", job.toolcache)]


def _stored_name(job: JobRun, path: Path) -> str:
    for label, base in _anchors(job):
        if path == base or base in path.parents:
            return f"{label}/{path.relative_to(base).as_posix()}"
    return f"abs{path.as_posix()}"


def _restored_path(job: JobRun, stored: str) -> Path:
    label, _, rest = stored.partition("/")
    for name, base in _anchors(job):
        if name == label:
            return base / rest
    return Path("/" + rest)


def _cache_version(paths: list[str]) -> str:
    return hashlib.sha256("|".join(paths + ["gzip", "1.0"]).encode()).hexdigest()


def _restore(job: JobRun, inputs: dict[str, str], save_after: bool) -> dict[str, str]:
    key = inputs.get("key", "")
    paths = _lines(inputs.get("path", ""))
    if not key or not paths:
        raise _failed(f"Input required and not supplied: {'key' if not key else 'path'}")
    if len(key) > 512 or "," in key:
        raise _failed(f"Key Validation Error: {key} cannot contain commas or be longer than 512 characters.")
    restore_keys = _lines(inputs.get("restore-keys", ""))
    version = _cache_version(paths)
    entry, exact = job.sim.cache.lookup(key, restore_keys, version, job.state.cache_refs)
    outputs = {"cache-primary-key": key}
    if entry is None:
        job.record_cache("restore", key, "miss")
        if boolean_input(inputs, "fail-on-cache-miss", False):
            raise _failed(f"Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: {key}")
        job.log(f"Cache not found for input keys: {', '.join([key, *restore_keys])}")
    else:
        job.record_cache("restore", key, "exact" if exact else "partial", entry.key)
        outputs["cache-hit"] = "true" if exact else "false"
        outputs["cache-matched-key"] = entry.key
        if not boolean_input(inputs, "lookup-only", False):
            for stored in sorted(p for p in entry.path.rglob("*") if p.is_file()):
                target = _restored_path(job, stored.relative_to(entry.path).as_posix())
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(stored, target)
        job.log(f"Cache restored from key: {entry.key}")
    if save_after and not (entry is not None and exact):
        def post() -> None:
            if job.failed or job.cancelled:  # post-if: success()
                return
            _save(job, key, paths)
        job.add_post(f"Cache {key}", post)
    return outputs


def _save(job: JobRun, key: str, paths: list[str]) -> None:
    version = _cache_version(paths)
    ref = job.state.cache_refs[0]
    if job.sim.cache.exists(key, version, ref):
        job.record_cache("save", key, "skipped")
        job.annotate("warning", f"Failed to save: Unable to reserve cache with key {key}, another job may be "
                                "creating this cache.")
        return
    files, _ = glob_files(paths, job.workspace, job.home, include_hidden=True)
    if not files:
        job.annotate("warning", "Path Validation Error: Path(s) specified in the action for caching do(es) not "
                                "exist, hence no cache is being saved.")
        job.record_cache("save", key, "skipped")
        return
    entry = job.sim.cache.new_entry(key, version, ref)
    for f in files:
        dest = entry.path / _stored_name(job, f)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    job.record_cache("save", key, "saved")
    job.log(f"Cache saved with key: {key}")


def cache(job: JobRun, inputs: dict[str, str], step_env: dict[str, str]) -> dict[str, str]:
    return _restore(job, inputs, save_after=not boolean_input(inputs, "lookup-only", False))


def cache_restore(job: JobRun, inputs: dict[str, str], step_env: dict[str, str]) -> dict[str, str]:
    return _restore(job, inputs, save_after=False)


def cache_save(job: JobRun, inputs: dict[str, str], step_env: dict[str, str]) -> dict[str, str]:
    key, paths = inputs.get("key", ""), _lines(inputs.get("path", ""))
    if not key or not paths:
        raise _failed(f"Input required and not supplied: {'key' if not key else 'path'}")
    _save(job, key, paths)
    return {}


BUILTINS: dict[str, Builtin] = {
    "actions/checkout": Builtin(CHECKOUT_INPUTS, checkout),
    "actions/setup-python": Builtin(SETUP_PYTHON_INPUTS, setup_python),
    "actions/upload-artifact": Builtin(UPLOAD_INPUTS, upload_artifact),
    "actions/download-artifact": Builtin(DOWNLOAD_INPUTS, download_artifact),
    "actions/cache": Builtin(CACHE_INPUTS, cache),
    "actions/cache/restore": Builtin(CACHE_INPUTS, cache_restore),
    "actions/cache/save": Builtin(CACHE_SAVE_INPUTS, cache_save),
}
