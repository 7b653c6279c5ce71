"""The artifact store: round trips on a local folder and on a real S3 API (moto), integrity,
atomicity, run records and the diagnostics of `mlspec store save|restore`."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from mlspec.compiler.plan import Storage
from mlspec.runtime import store as st
from tests.store.conftest import Moto, child_env


def _plan(uri: str, endpoint: str | None = None, secrets: tuple[str, ...] = ()) -> types.SimpleNamespace:
    return types.SimpleNamespace(storage=Storage(uri, endpoint, secrets, "://" not in uri))


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> st.Store:
    if request.param == "local":
        return st.open_store(_plan("store"), tmp_path)
    moto: Moto = request.getfixturevalue("moto_env")
    return st.open_store(_plan(f"s3://{moto.bucket()}/proj", moto.endpoint), tmp_path)


def _objects(s: st.Store) -> list[str]:
    from pyarrow import fs as pafs

    sel = pafs.FileSelector(s.location.join("objects"), recursive=True, allow_not_found=True)
    return sorted(i.path for i in s.fs.get_file_info(sel) if i.type == pafs.FileType.File)


def test_round_trip_is_content_addressed_and_verified(store: st.Store, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(b"\x00model bytes\xff" * 5000)
    digest = store.put_file(src)
    assert digest == hashlib.sha256(src.read_bytes()).hexdigest()
    assert store.exists(digest) and not store.exists("0" * 64)
    assert [p.rsplit("/", 2)[-2:] for p in _objects(store)] == [[digest[:2], digest]]
    assert store.put_file(src) == digest and len(_objects(store)) == 1      # stored once
    store.get_file(digest, tmp_path / "out" / "model.bin")
    assert (tmp_path / "out" / "model.bin").read_bytes() == src.read_bytes()
    assert store.get_bytes(store.put_bytes(b"abc"), 3) == b"abc"
    with pytest.raises(st.StoreError, match="larger than 2 bytes"):
        store.get_bytes(store.put_bytes(b"abc"), 2)
    with pytest.raises(st.MissingObject):
        store.get_file("1" * 64, tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_refs_replace_list_and_refuse_escapes(store: st.Store) -> None:
    assert store.read_ref("runs/r1/train.json") is None
    store.write_ref("runs/r1/train.json", b"one")
    store.write_ref("runs/r1/train.json", b"two")
    store.write_ref("runs/r2/step.prepare.json", b"x")
    store.write_ref("registry/churn/versions.json", b"{}")
    assert store.read_ref("runs/r1/train.json") == b"two"
    assert store.list_refs("runs") == ["runs/r1/train.json", "runs/r2/step.prepare.json"]
    assert store.list_refs("runs/r1") == ["runs/r1/train.json"]
    assert store.list_refs("nothing") == []
    for bad in ("../x", "runs/../../x", "/abs", "a//b", ""):
        with pytest.raises(st.StoreError, match="invalid ref name"):
            store.write_ref(bad, b"x")


def test_tampered_object_is_detected(store: st.Store, tmp_path: Path) -> None:
    src = tmp_path / "m.bin"
    src.write_bytes(b"good" * 1000)
    digest = store.put_file(src)
    (path,) = _objects(store)
    with store.fs.open_output_stream(path) as out:
        out.write(b"evil" * 1000)
    dest = tmp_path / "restored" / "m.bin"
    with pytest.raises(st.CorruptObject, match="altered or truncated"):
        store.get_file(digest, dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []          # no partial file left
    with pytest.raises(st.CorruptObject):
        store.get_bytes(digest, 1 << 20)


def test_interrupted_upload_leaves_nothing_visible(store: st.Store, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"y" * (3 << 20))

    def half_then_crash(_source: object, out: object, *_: object) -> None:
        out.write(src.read_bytes()[: 1 << 20])  # type: ignore[attr-defined]
        raise KeyboardInterrupt  # the machine goes away mid-upload

    with pytest.MonkeyPatch.context() as mp, pytest.raises(KeyboardInterrupt):
        mp.setattr(st, "_copy_from", half_then_crash)     # object stores
        mp.setattr(st, "_copy_hashing", half_then_crash)  # local folders
        store.put_file(src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert not store.exists(digest) and _objects(store) == []
    assert store.list_refs("") == []
    assert store.put_file(src) == digest and store.exists(digest)   # a retry completes it


def test_run_id_sources() -> None:
    assert st.run_id_from_env({}) == "local"
    assert st.run_id_from_env({"GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "2"}) == "gh-77-2"
    assert st.run_id_from_env({"MLSPEC_RUN_ID": "mine", "GITHUB_RUN_ID": "77"}) == "mine"
    assert (st.run_id_from_env({"AIRFLOW_CTX_DAG_ID": "churn", "AIRFLOW_CTX_DAG_RUN_ID": "manual__2026-01-01T00:00+00:00"})
            == "airflow-churn-manual__2026-01-01T00_00+00_00")
    assert st.run_id_from_env({"MLSPEC_RUN_ID": "../../etc"}) == "etc"


# ------------------------------------------------------------------ the commands

PROJECT = """\
mlspec: 1
project: {name: storetest}
steps:
  prepare:
    run: mkdir -p out/parts && echo a > out/a.txt && echo p > out/parts/p1.txt
    outputs: [out/a.txt, out/parts]
  other:
    run: mkdir -p out && echo o > out/o.txt
    outputs: [out/o.txt]
training:
  run: cat out/a.txt out/parts/p1.txt > model.txt
  needs: [steps.prepare]
  outputs: {model: model.txt}
"""


def _project(tmp_path: Path, storage: str = "") -> Path:
    d = tmp_path / "proj"
    d.mkdir(parents=True)
    (d / "mlproject.yaml").write_text(PROJECT + storage)
    return d


def _mlspec(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True,
                          env=child_env(env), timeout=120)


def _storage(moto: Moto, bucket: str, endpoint: str | None = None) -> str:
    return textwrap.dedent(f"""\
        storage:
          uri: s3://{bucket}/storetest
          endpoint: {endpoint or moto.endpoint}
          secrets: [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]
        """)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_save_restore_moves_only_what_the_node_needs(where: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env: dict[str, str] = {"MLSPEC_RUN_ID": "run-1"}
    storage = ""
    if where == "s3":
        moto: Moto = request.getfixturevalue("moto")
        env.update(moto.env)
        storage = _storage(moto, moto.bucket())
    d = _project(tmp_path, storage)
    assert _mlspec(d, "run", "--only", "steps.prepare", "--only", "steps.other", env=env).returncode == 0
    if where == "s3":   # a fresh checkout on another machine: only the spec
        other = _project(tmp_path / "machine2", storage)
    else:               # a local store lives beside the spec: the same folder, outputs gone
        shutil.rmtree(d / "out")
        other = d
    r = _mlspec(other, "store", "restore", "--node", "train", "--format", "json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(json.loads(r.stdout)["files"]) == ["out/a.txt", "out/parts/p1.txt"]
    assert (other / "out/a.txt").read_text() == "a\n" and not (other / "out/o.txt").exists()
    assert subprocess.run(["bash", "-c", "cat out/a.txt out/parts/p1.txt > model.txt"], cwd=other).returncode == 0
    r = _mlspec(other, "store", "save", "--node", "training", "--format", "json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    record = json.loads(r.stdout)
    assert record["files"] == {"model.txt": hashlib.sha256(b"a\np\n").hexdigest()}


def test_the_nodes_of_one_job_restore_only_what_other_jobs_made(tmp_path: Path) -> None:
    """A GitHub job running prepare and train together: train's inputs come from prepare on the
    same disk, so restoring for both needs no record of prepare; saving names both nodes."""
    d = _project(tmp_path)
    env = {"MLSPEC_RUN_ID": "job-run"}
    r = _mlspec(d, "store", "restore", "--node", "steps.prepare", "--node", "train", "--format", "json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["files"] == {}
    assert subprocess.run(["bash", "-c", "mkdir -p out/parts && echo a > out/a.txt && echo p > out/parts/p1.txt"
                           " && cat out/a.txt out/parts/p1.txt > model.txt"], cwd=d).returncode == 0
    r = _mlspec(d, "store", "save", "--node", "steps.prepare", "--node", "train", "--format", "json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["nodes"] == ["step.prepare", "train"]
    assert sorted(out["files"]) == ["model.txt", "out/a.txt", "out/parts/p1.txt"]
    # another job (an image build) restores only the file it names
    shutil.rmtree(d / "out")
    r = _mlspec(d, "store", "restore", "--node", "train", "--path", "out/a.txt", "--format", "json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(json.loads(r.stdout)["files"]) == ["out/a.txt"] and not (d / "out/parts").exists()
    r = _mlspec(d, "store", "restore", "--node", "train", "--path", "nope.txt", env=env)
    assert r.returncode == 2 and "nope.txt" in r.stderr and "Traceback" not in r.stderr


def test_missing_record_and_object_name_the_producing_node(tmp_path: Path) -> None:
    d = _project(tmp_path)
    env = {"MLSPEC_RUN_ID": "r"}
    r = _mlspec(d, "store", "restore", "--node", "train", "--format", "json", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (diag,) = json.loads(r.stdout)["diagnostics"]
    assert diag["code"] == "MS651" and "no record of step.prepare" in diag["message"]
    assert diag["line"] is not None                                   # points at the node in the spec
    assert _mlspec(d, "run", "--only", "steps.prepare", env=env).returncode == 0
    for obj in (d / ".mlspec/store/objects").rglob("*"):
        if obj.is_file() and obj.read_bytes() == b"a\n":
            obj.unlink()
    (d / "out/a.txt").unlink()
    r = _mlspec(d, "store", "restore", "--node", "train", "--format", "json", env=env)
    assert r.returncode == 1
    (diag,) = json.loads(r.stdout)["diagnostics"]
    assert diag["code"] == "MS651" and "out/a.txt" in diag["message"] and "step.prepare" in diag["message"]


def test_save_of_an_output_the_node_did_not_write(tmp_path: Path) -> None:
    d = _project(tmp_path)
    r = _mlspec(d, "store", "save", "--node", "steps.prepare", "--format", "json")
    assert r.returncode == 1
    (diag,) = json.loads(r.stdout)["diagnostics"]
    assert diag["code"] == "MS653" and "out/a.txt" in diag["message"]


@pytest.mark.parametrize("case", ["unreachable", "no-bucket", "no-credentials"])
def test_store_problems_are_diagnostics_not_tracebacks(case: str, tmp_path: Path, moto: Moto) -> None:
    env = dict(moto.env)
    bucket = moto.bucket()
    if case == "unreachable":
        storage = _storage(moto, bucket, endpoint="http://127.0.0.1:9")
    elif case == "no-bucket":
        storage = _storage(moto, "does-not-exist-" + bucket)
    else:
        storage = _storage(moto, bucket)
        env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    d = _project(tmp_path, storage)
    for args in (["store", "save", "--node", "steps.prepare"], ["store", "restore", "--node", "train"], ["run"]):
        r = _mlspec(d, *args, env=env)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stdout + r.stderr
        assert "MS650" in r.stdout + r.stderr
    if case == "no-credentials":
        assert "AWS_ACCESS_KEY_ID" in r.stdout + r.stderr


def test_typod_scheme_is_a_positioned_spec_error(tmp_path: Path) -> None:
    d = _project(tmp_path, "storage: {uri: 's4://bucket/x'}\n")
    r = _mlspec(d, "store", "save", "--node", "steps.prepare")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "unsupported store scheme 's4://'" in r.stdout + r.stderr and "storage.uri" in r.stdout + r.stderr


# ------------------------------------------------------------------ the churn example, isolated, on S3


@pytest.mark.slow
def test_isolated_run_of_churn_on_s3_shares_nothing_but_the_store(tmp_path: Path, moto: Moto) -> None:
    root = Path(__file__).resolve().parents[2]
    d = tmp_path / "churn"
    shutil.copytree(root / "examples" / "churn", d, ignore=shutil.ignore_patterns(".mlspec", "models", "metrics",
                                                                                    "prepared", "__pycache__"))
    bucket = moto.bucket()
    spec = d / "mlproject.yaml"
    text = spec.read_text()
    assert "storage:\n  uri: s3://acme-ml/churn\n" in text
    spec.write_text(text.replace("storage:\n  uri: s3://acme-ml/churn\n", _storage(moto, bucket).split("  secrets")[0]))
    r = _mlspec(d, "run", "--isolated", "--no-monitoring", "--format", "json", env={**moto.env, "MLSPEC_RUN_ID": "iso"})
    assert r.returncode == 0, r.stdout + r.stderr
    nodes = {n["id"]: n for n in json.loads(r.stdout)["nodes"]}
    ran = [n for n in nodes.values() if n["status"] == "ok"]
    assert {"step.prepare", "train", "evaluate", "gate", "register"} <= {n["id"] for n in ran}
    workdirs = [n["workdir"] for n in ran]
    assert len(set(workdirs)) == len(workdirs) and all(not Path(w).exists() for w in workdirs)
    assert not any(str(d) in w for w in workdirs)
    for produced in ("data/prepared", "models", "metrics"):
        assert not (d / produced).exists(), f"{produced} appeared in the project folder"
    from mlspec.api import check_project

    with pytest.MonkeyPatch.context() as mp:
        for k, v in moto.env.items():
            mp.setenv(k, v)
        s = st.open_store(check_project(spec).plan, d)
        records = s.list_refs("runs/iso")
        assert {"runs/iso/step.prepare.json", "runs/iso/train.json", "runs/iso/evaluate.json"} <= set(records)
        train = json.loads(s.read_ref("runs/iso/train.json") or b"{}")
        assert set(train["outputs"]) == {"models/model.joblib", "metrics/train.json"}
        assert set(train["inputs"]) == {"data/prepared/train.csv", "data/prepared/holdout.csv"}
        assert all(s.exists(digest) for digest in train["outputs"].values())
