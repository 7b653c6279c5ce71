"""Artifact store benchmark: `python benchmarks/store.py [--size-mib 1024] [--small 50] [--json FILE]`.

Measures, for a local store folder and for a real S3 API (moto's server on loopback, started
here when `moto[server]` is installed):
- save + restore of one large file (default 1 GiB) through the store, against a plain
  ``shutil.copyfile`` of the same file (the floor on this disk);
- the per-node overhead of a save/restore round trip of a small file (hash, existence check,
  upload, run record, record read, download, verify): what every node of a pipeline pays.

Reports MB/s (10^6 bytes per second) and milliseconds. Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlspec.compiler.plan import Node, Storage  # noqa: E402
from mlspec.runtime import store as st  # noqa: E402


def _plan(uri: str, endpoint: str | None, nodes: list[Node]) -> types.SimpleNamespace:
    plan = types.SimpleNamespace(storage=Storage(uri, endpoint, (), "://" not in uri), nodes=tuple(nodes))
    plan.node = lambda i: next(n for n in nodes if n.id == i)
    return plan


def _write_big(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        for _ in range(size >> 20):
            f.write(block)


def _start_moto(workdir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (workdir / "moto.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint + "/", timeout=1).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    return None


def bench(name: str, uri: str, endpoint: str | None, work: Path, big: Path, small_n: int) -> dict[str, float]:
    prod = Node("produce", "produce", "step", "p", "true", outputs=("out/small.bin",))
    cons = Node("consume", "consume", "step", "c", "true", needs=("produce",), inputs=("out/small.bin",))
    plan = _plan(uri, endpoint, [prod, cons])
    s = st.open_store(plan, work)  # type: ignore[arg-type]
    size = big.stat().st_size
    t = time.perf_counter()
    digest = s.put_file(big)
    save = time.perf_counter() - t
    dest = work / f"restored-{name}.bin"
    t = time.perf_counter()
    s.get_file(digest, dest)
    restore = time.perf_counter() - t
    dest.unlink()
    # Per node: save (hash, exists, upload, record) + restore (record, exists, download, verify).
    src, dst = work / "src", work / "dst"
    (src / "out").mkdir(parents=True, exist_ok=True)
    times = []
    for i in range(small_n):
        (src / "out/small.bin").write_bytes(f"small {i} {uuid.uuid4()}".encode() * 64)
        shutil.rmtree(dst, ignore_errors=True)
        t = time.perf_counter()
        st.save_node(s, prod, src, f"bench-{i}")
        st.restore_node(s, plan, cons, dst, f"bench-{i}")
        times.append(time.perf_counter() - t)
    times.sort()
    return {"save_MBps": size / save / 1e6, "restore_MBps": size / restore / 1e6,
            "save_s": save, "restore_s": restore,
            "node_roundtrip_ms_median": 1000 * times[len(times) // 2],
            "node_roundtrip_ms_p90": 1000 * times[int(len(times) * 0.9)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--s3-size-mib", type=int, default=256,
                    help="large file through moto (it keeps objects in memory; at 1 GiB its "
                         "CompleteMultipartUpload fails with InternalError)")
    ap.add_argument("--small", type=int, default=50, help="small-file round trips per store")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlspec-bench-store-") as tmp:
        work = Path(tmp)
        big = work / "big.bin"
        _write_big(big, args.size_mib << 20)
        size = big.stat().st_size
        t = time.perf_counter()
        shutil.copyfile(big, work / "copy.bin")
        copy = time.perf_counter() - t
        (work / "copy.bin").unlink()
        results: dict[str, dict[str, float]] = {"copyfile": {"MBps": size / copy / 1e6, "s": copy}}
        results["local"] = bench("local", "store", None, work, big, args.small)
        shutil.rmtree(work / "store")
        moto = _start_moto(work)
        if moto is None:
            print("moto[server] not installed: S3 skipped", file=sys.stderr)
        else:
            proc, endpoint = moto
            try:
                os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                                   "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
                req = urllib.request.Request(f"{endpoint}/bench", method="PUT")
                urllib.request.urlopen(req, timeout=10).close()
                s3_big = work / "s3-big.bin"
                _write_big(s3_big, min(args.s3_size_mib, args.size_mib) << 20)
                big.unlink()
                try:
                    results["s3_moto"] = bench("s3", "s3://bench/store", endpoint, work, s3_big, args.small)
                except st.StoreError as exc:
                    print(f"s3: {exc.message}", file=sys.stderr)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    print(f"{args.size_mib} MiB file (S3: {min(args.s3_size_mib, args.size_mib)} MiB); "
          f"shutil.copyfile {results['copyfile']['MBps']:.0f} MB/s")
    for name in ("local", "s3_moto"):
        r = results.get(name)
        if r:
            print(f"{name:8} save {r['save_MBps']:7.0f} MB/s  restore {r['restore_MBps']:7.0f} MB/s  "
                  f"node round trip (small file) median {r['node_roundtrip_ms_median']:.1f} ms, "
                  f"p90 {r['node_roundtrip_ms_p90']:.1f} ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
