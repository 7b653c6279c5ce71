"""The artifact store: content-addressed objects and small named documents on a local folder or
an object store (through :mod:`mlspec.runtime.fs`), so that nodes running on different
machines share nothing but the store.

Layout under the store's root::

    objects/<aa>/<sha256>       file contents, named by their SHA-256 (aa = first two hex digits)
    refs/<name>                 small mutable documents: runs/<run>/<node>.json, registry/…
    tmp/<random>                uploads in flight (never read; safe to delete when older than a day)

Guarantees: an object is visible only once complete (local: written to a temporary name, then
renamed; object stores: uploaded under ``tmp/`` and then copied server-side, so an interrupted
upload or a failed multipart never appears under ``objects/``), every download is verified
against its name before it is renamed into place, and refs are replaced whole (a rename, or a
single PUT). Objects are immutable and shared by every run; run records are per run, so
concurrent runs never overwrite each other's outputs.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlspec.runtime.fs import FsError, Location, first_line, open_location

if TYPE_CHECKING:
    from mlspec.compiler.plan import Plan, Storage

CHUNK = 8 << 20
DEFAULT_URI = ".mlspec/store"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_REF = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.=@+-]+)*$")


class StoreError(Exception):
    """The store cannot do what was asked; the message is fit for a diagnostic."""

    def __init__(self, message: str, *, code: str = "MS650", hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


class CorruptObject(StoreError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="MS652", hint="delete the object from the store and save it again")


class MissingObject(StoreError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, code="MS651", hint=hint)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check_digest(digest: str) -> str:
    if not _DIGEST.fullmatch(digest):
        raise StoreError(f"not a sha256 digest: {digest[:80]!r}")
    return digest


def _check_ref(name: str) -> str:
    if not _REF.fullmatch(name) or any(part in (".", "..") for part in name.split("/")):
        raise StoreError(f"invalid ref name {name[:200]!r}", hint="letters, digits, '_', '.', '-', separated by '/'")
    return name


class Store:
    """Content-addressed objects + named refs on a :class:`~mlspec.runtime.fs.Location`."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.fs = location.fs
        self.uri = location.uri

    # ---------------------------------------------------------------- paths

    def _object(self, digest: str) -> str:
        return self.location.join("objects", digest[:2], digest)

    def _ref(self, name: str) -> str:
        return self.location.join("refs", name)

    def _error(self, what: str, exc: BaseException) -> StoreError:
        return StoreError(f"{what} in the store {self.uri!r}: {first_line(exc)}")

    def _info(self, path: str) -> Any:
        from pyarrow import fs as pafs

        try:
            info = self.fs.get_file_info(path)
        except (OSError, ValueError) as exc:
            raise self._error(f"cannot look up {path!r}", exc) from None
        return info if info.type == pafs.FileType.File else None

    # ---------------------------------------------------------------- objects

    def exists(self, digest: str) -> bool:
        return self._info(self._object(_check_digest(digest))) is not None

    def put_file(self, local: Path) -> str:
        """Upload ``local`` (if the store does not hold it yet) and return its sha256."""
        if not self.location.remote:
            return self._put_local(local)
        try:
            digest = sha256_file(local)
        except OSError as exc:
            raise StoreError(f"cannot read {local}: {exc.strerror or exc}") from None
        final = self._object(digest)
        if self._info(final) is not None:
            return digest  # content-addressed: the same bytes are already there
        self._upload(final, lambda out: _copy_from(local, out))
        return digest

    def _put_local(self, local: Path) -> str:
        """One pass on a local store: copy to a temporary name while hashing, then rename."""
        folder = self.location.join("objects")
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        except OSError as exc:
            raise self._error("cannot write", exc) from None
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                try:
                    src = local.open("rb")
                except OSError as exc:
                    raise StoreError(f"cannot read {local}: {exc.strerror or exc}") from None
                with src:
                    _copy_hashing(src, out, h)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            final = self._object(digest)
            if os.path.isfile(final):
                _unlink(tmp)
            else:
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.replace(tmp, final)
            return digest
        except OSError as exc:
            _unlink(tmp)
            raise self._error(f"cannot store {local}", exc) from None
        except BaseException:
            _unlink(tmp)
            raise

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        final = self._object(digest)
        if self._info(final) is None:
            self._upload(final, lambda out: out.write(data))
        return digest

    def _upload(self, final: str, write: Any) -> None:
        """Write through a temporary name so that ``final`` appears complete or not at all."""
        if not self.location.remote:
            folder = os.path.dirname(final)
            try:
                os.makedirs(folder, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
                try:
                    with os.fdopen(fd, "wb") as out:
                        write(out)
                        out.flush()
                        os.fsync(out.fileno())
                    os.replace(tmp, final)
                except BaseException:
                    _unlink(tmp)
                    raise
            except OSError as exc:
                raise self._error(f"cannot write {final!r}", exc) from None
            return
        tmp = self.location.join("tmp", uuid.uuid4().hex)
        try:
            with self.fs.open_output_stream(tmp, metadata={}) as out:
                write(out)
        except (OSError, ValueError) as exc:
            self._delete(tmp)
            raise self._error("cannot upload", exc) from None
        except BaseException:
            self._delete(tmp)
            raise
        try:
            self.fs.copy_file(tmp, final)   # server-side copy: the object appears whole
        except (OSError, ValueError) as exc:
            raise self._error(f"cannot publish {final!r}", exc) from None
        finally:
            self._delete(tmp)

    def _delete(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except (OSError, ValueError):
            pass

    def get_file(self, digest: str, dest: Path) -> None:
        """Download object ``digest`` to ``dest``: verified, then renamed into place."""
        source = self._object(_check_digest(digest))
        if self._info(source) is None:
            raise MissingObject(f"the store {self.uri!r} has no object {digest}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.tmp-")
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                try:
                    with self.fs.open_input_stream(source) as src:
                        while chunk := src.read(CHUNK):
                            h.update(chunk)
                            out.write(chunk)
                except (OSError, ValueError) as exc:
                    raise self._error(f"cannot download {digest}", exc) from None
            if h.hexdigest() != digest:
                raise CorruptObject(f"object {digest} in the store {self.uri!r} hashes to {h.hexdigest()}: "
                                    "it was altered or truncated")
            os.replace(tmp, dest)
        except BaseException:
            _unlink(tmp)
            raise

    def get_bytes(self, digest: str, limit: int) -> bytes:
        source = self._object(_check_digest(digest))
        data = self._read(source, limit, what=f"object {digest}")
        if data is None:
            raise MissingObject(f"the store {self.uri!r} has no object {digest}")
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptObject(f"object {digest} in the store {self.uri!r} does not match its hash")
        return data

    def _read(self, path: str, limit: int, *, what: str) -> bytes | None:
        if self._info(path) is None:
            return None
        try:
            with self.fs.open_input_stream(path) as src:
                data = src.read(limit + 1)
        except (OSError, ValueError) as exc:
            raise self._error(f"cannot read {what}", exc) from None
        if len(data) > limit:
            raise StoreError(f"{what} in the store {self.uri!r} is larger than {limit} bytes")
        return bytes(data)

    # ---------------------------------------------------------------- refs

    def write_ref(self, name: str, data: bytes) -> None:
        """Replace the document ``name`` whole (local: rename; object stores: one PUT)."""
        path = self._ref(_check_ref(name))
        if not self.location.remote:
            self._upload(path, lambda out: out.write(data))
            return
        try:
            # Small documents go up as one PUT when the stream closes: all or nothing.
            with self.fs.open_output_stream(path, metadata={}) as out:
                out.write(data)
        except (OSError, ValueError) as exc:
            raise self._error(f"cannot write {name!r}", exc) from None

    def read_ref(self, name: str, limit: int = 1 << 20) -> bytes | None:
        return self._read(self._ref(_check_ref(name)), limit, what=f"ref {name!r}")

    def list_refs(self, prefix: str) -> list[str]:
        from pyarrow import fs as pafs

        prefix = prefix.strip("/")
        if prefix:
            _check_ref(prefix)
        root = self.location.join("refs")
        selector = pafs.FileSelector(self.location.join("refs", prefix), recursive=True, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except (OSError, ValueError) as exc:
            raise self._error(f"cannot list refs under {prefix!r}", exc) from None
        names = []
        for info in infos:
            if info.type == pafs.FileType.File:
                rel = info.path[len(root):].lstrip("/")
                if not rel.split("/")[-1].startswith(".tmp-"):
                    names.append(rel)
        return sorted(names)


def _copy_from(local: Path, out: Any) -> None:
    with local.open("rb") as src:
        while chunk := src.read(CHUNK):
            out.write(chunk)


def _copy_hashing(src: Any, out: Any, h: Any) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := src.readinto(buf):
        h.update(view[:n])
        out.write(view[:n])


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


STORAGE_ENV = "MLSPEC_STORAGE"


def effective_storage(plan: Plan, uri: str | None = None) -> Storage:
    """The store every runtime command of one run uses: ``uri`` (``mlspec run --store``), else
    ``$MLSPEC_STORAGE`` (which ``mlspec run --store`` passes to its nodes, and tests and laptops
    set to keep a spec's object store out of reach), else the spec's ``storage``."""
    from mlspec.compiler.plan import Storage
    from mlspec.language.types import STORE_SCHEMES
    from mlspec.runtime.fs import scheme_of

    storage = plan.storage
    uri = uri or os.environ.get(STORAGE_ENV) or None
    if uri is None:
        return storage
    scheme = scheme_of(uri)
    if scheme is not None and scheme not in STORE_SCHEMES:
        raise StoreError(f"unsupported store scheme {scheme + '://'!r} in --store or ${STORAGE_ENV}",
                         hint="s3://, gs://, az://, abfss:// or a folder relative to the spec")
    same = scheme is not None and scheme == scheme_of(storage.uri)
    return Storage(uri, storage.endpoint if same else None, storage.secrets if same else (), scheme is None)


def open_store(plan: Plan, spec_dir: Path, *, uri: str | None = None) -> Store:
    """The store of ``plan`` (``storage:``, else the local folder ``.mlspec/store`` beside the spec),
    or another one for this run (:func:`effective_storage`).

    Raises :class:`StoreError` when credentials named in ``storage.secrets`` are missing or the
    store cannot be reached."""
    storage = effective_storage(plan, uri)
    missing = [name for name in storage.secrets if not os.environ.get(name)]
    if missing:
        raise StoreError(f"the store {storage.uri!r} needs {', '.join(missing)}, which "
                         f"{'is' if len(missing) == 1 else 'are'} not set",
                         hint="export the variables listed in storage.secrets (in CI: pass them as secrets)")
    if not storage.local:
        # Without this, a machine with no credentials waits on the EC2 metadata service.
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    try:
        location = open_location(storage.uri, base_dir=spec_dir, endpoint=storage.endpoint)
    except FsError as exc:
        raise StoreError(str(exc), hint="check storage.uri and storage.endpoint") from None
    store = Store(location)
    if location.remote:
        _probe(store)
    return store


def _probe(store: Store) -> None:
    """Fail early, with the server's reason, when the store cannot be reached or read."""
    from pyarrow import fs as pafs

    bucket = store.location.root.split("/", 1)[0]
    try:
        info = store.fs.get_file_info(bucket)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot reach the store {store.uri!r}: {first_line(exc)}",
                         hint="check storage.endpoint, the network and the credentials") from None
    if info.type == pafs.FileType.NotFound:
        raise StoreError(f"the bucket {bucket!r} of the store {store.uri!r} does not exist",
                         hint="create it, or fix storage.uri")


# ==================================================================== node outputs and run records

RUN_ENV = "MLSPEC_RUN_ID"
_RUN_UNSAFE = re.compile(r"[^A-Za-z0-9_.=@+-]+")


def run_id_from_env(environ: dict[str, str] | None = None) -> str:
    """The run a node belongs to: ``$MLSPEC_RUN_ID``, else GitHub's run id and attempt, else
    Airflow's DAG run, else ``local``. Every machine of one run computes the same id."""
    env = os.environ if environ is None else environ
    if env.get(RUN_ENV):
        raw = env[RUN_ENV]
    elif env.get("GITHUB_RUN_ID"):
        raw = f"gh-{env['GITHUB_RUN_ID']}-{env.get('GITHUB_RUN_ATTEMPT', '1')}"
    elif env.get("AIRFLOW_CTX_DAG_RUN_ID"):
        raw = f"airflow-{env.get('AIRFLOW_CTX_DAG_ID', 'dag')}-{env['AIRFLOW_CTX_DAG_RUN_ID']}"
    else:
        raw = "local"
    return _RUN_UNSAFE.sub("_", raw).strip("._")[:200] or "local"


def record_name(run: str, node_id: str) -> str:
    return f"runs/{run}/{node_id}.json"


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _files(base: Path, rel: str) -> list[str]:
    """``rel`` as the files it names: itself, or every file below it when it is a folder."""
    path = base / rel
    if path.is_dir():
        return sorted(p.relative_to(base).as_posix() for p in path.rglob("*") if p.is_file())
    return [rel] if path.is_file() else []


def _hashes(base: Path, paths: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {f: sha256_file(base / f) for rel in paths for f in _files(base, rel)}


def save_node(store: Store, node: Any, base: Path, run: str) -> dict[str, Any]:
    """Upload every declared output of ``node`` (found under ``base``) and write the run record
    ``runs/<run>/<node>.json``: the sha256 of each output file and of each input file it read."""
    outputs: dict[str, str] = {}
    for rel in node.outputs:
        files = _files(base, rel)
        if not files:
            raise StoreError(f"{node.id} declares the output {rel!r} but did not write it", code="MS653",
                             hint="write it, or remove it from the node's outputs in the spec")
        for f in files:
            outputs[f] = store.put_file(base / f)
    record = {"run": run, "node": node.id, "outputs": outputs, "inputs": _hashes(base, node.inputs)}
    store.write_ref(record_name(run, node.id), _json_bytes(record))
    return record


def producers(plan: Any, node: Any) -> dict[str, list[str]]:
    """What ``node`` may read that upstream nodes write (its inputs and every ancestor's outputs:
    the node starts on an empty machine), grouped by the nearest upstream node writing it;
    inputs nobody upstream writes are source files of the checkout. Linear in the upstream."""
    order = plan.ancestors(node.id)   # nearest first
    writer: dict[str, str] = {}
    for dep_id in order:
        for o in plan.node(dep_id).outputs:
            writer.setdefault(o, dep_id)
    out: dict[str, list[str]] = {}
    for i in plan.upstream_inputs(node.id):
        dep = writer.get(i)
        if dep is None:   # a declared input inside (or around) an upstream output folder
            dep = next((d for d in order if any(_under(i, o) or _under(o, i) for o in plan.node(d).outputs)), None)
        if dep is not None:
            out.setdefault(dep, []).append(i)
    return out


def restore_node(store: Store, plan: Any, node: Any, base: Path, run: str, *,
                 made_here: Collection[str] = (), only: Collection[str] | None = None) -> dict[str, str]:
    """Download into ``base`` exactly the inputs of ``node`` that the nodes it needs produced, from
    their records of ``run``; files already present with the recorded hash are kept. Inputs made
    by the nodes in ``made_here`` (the same job, on the same disk) are skipped; ``only``, when
    given, limits the restore to those paths."""
    import json

    from mlspec.language.types import relative_path_problem

    restored: dict[str, str] = {}
    for dep_id, wanted in producers(plan, node).items():
        if dep_id in made_here:
            continue
        if only is not None:
            wanted = [i for i in wanted if i in only]
            if not wanted:
                continue
        raw = store.read_ref(record_name(run, dep_id))
        if raw is None:
            raise MissingObject(f"run {run!r} has no record of {dep_id}, which should have produced "
                                f"{', '.join(wanted)} for {node.id}",
                                hint=f"run {dep_id} first (its job runs `mlspec store save --node {dep_id}`), "
                                     "or pass the same --run / MLSPEC_RUN_ID to every node")
        try:
            files = json.loads(raw)["outputs"]
            assert isinstance(files, dict)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise CorruptObject(f"the record of {dep_id} in run {run!r} is not a run record") from None
        for i in wanted:
            match = {f: d for f, d in files.items() if isinstance(f, str) and _under(f, i)}
            if not match:
                raise MissingObject(f"the record of {dep_id} in run {run!r} has no {i!r}, which {node.id} needs",
                                    hint=f"check that {dep_id} writes {i!r}")
            for f, digest in sorted(match.items()):
                if relative_path_problem(f):
                    raise CorruptObject(f"the record of {dep_id} names the unsafe path {f[:200]!r}")
                dest = base / f
                if dest.is_file() and sha256_file(dest) == digest:
                    restored[f] = digest
                    continue
                try:
                    store.get_file(digest, dest)
                except MissingObject:
                    raise MissingObject(f"the store {store.uri!r} lost {f!r} (object {digest}) that {dep_id} "
                                        f"produced in run {run!r}",
                                        hint=f"run {dep_id} again to save it") from None
                restored[f] = digest
    return restored


def _json_bytes(data: Any) -> bytes:
    import json

    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
