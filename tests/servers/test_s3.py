"""The S3 fixture (moto's server) through pyarrow.fs.S3FileSystem, the product's S3 client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.servers.s3 import S3Server

pytestmark = pytest.mark.server


def _fs():
    return pytest.importorskip("pyarrow.fs")


def test_write_read_list_delete_through_pyarrow(s3_server: S3Server, s3_bucket: str) -> None:
    fs = _fs()
    s3 = s3_server.filesystem()
    with s3.open_output_stream(f"{s3_bucket}/models/v1/model.bin") as out:
        out.write(b"\x00weights\xff")
    with s3.open_output_stream(f"{s3_bucket}/metrics.json") as out:
        out.write(b'{"auc": 0.9}')

    with s3.open_input_stream(f"{s3_bucket}/models/v1/model.bin") as src:
        assert src.read() == b"\x00weights\xff"
    listed = s3.get_file_info(fs.FileSelector(s3_bucket, recursive=True))
    files = {(i.path, i.size) for i in listed if i.type == fs.FileType.File}
    assert files == {(f"{s3_bucket}/models/v1/model.bin", 9), (f"{s3_bucket}/metrics.json", 12)}
    assert sorted(s3_server.keys(s3_bucket)) == ["metrics.json", "models/v1/model.bin"]  # seen by plain HTTP too

    s3.delete_file(f"{s3_bucket}/models/v1/model.bin")
    assert s3.get_file_info(f"{s3_bucket}/models/v1/model.bin").type == fs.FileType.NotFound
    # (Arrow leaves an empty "models/v1/" marker object so the directory still exists.)
    assert [k for k in s3_server.keys(s3_bucket) if not k.endswith("/")] == ["metrics.json"]


def test_an_open_output_stream_shows_nothing_and_a_crash_leaves_no_object(s3_server: S3Server, s3_bucket: str) -> None:
    fs = _fs()
    s3 = s3_server.filesystem()
    out = s3.open_output_stream(f"{s3_bucket}/open.bin")
    out.write(b"x" * 1000)
    assert s3.get_file_info(f"{s3_bucket}/open.bin").type == fs.FileType.NotFound
    assert s3_server.keys(s3_bucket) == []
    out.close()
    assert s3_server.keys(s3_bucket) == ["open.bin"]

    # A writer killed mid-stream (no close, no destructor) never makes its object visible.
    crash = textwrap.dedent("""
        import os, sys
        from pyarrow import fs
        s3 = fs.S3FileSystem(**__import__("json").loads(sys.argv[1]))
        out = s3.open_output_stream(sys.argv[2])
        out.write(b"partial" * 1_000_000)  # 7 MB: more than one multipart part
        os._exit(17)
    """)
    options = {"access_key": s3_server.access_key, "secret_key": s3_server.secret_key,
               "region": s3_server.region, "scheme": "http", "endpoint_override": s3_server.endpoint}
    r = subprocess.run([sys.executable, "-c", crash, json.dumps(options), f"{s3_bucket}/crashed.bin"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 17, r.stderr
    assert s3.get_file_info(f"{s3_bucket}/crashed.bin").type == fs.FileType.NotFound
    assert s3_server.keys(s3_bucket) == ["open.bin"]


def test_pyarrow_commits_the_partial_object_when_a_with_block_raises(s3_server: S3Server, s3_bucket: str) -> None:
    """A hazard the product must guard against, pinned here so a pyarrow change is noticed.

    Arrow's S3 output stream has no abort from Python: leaving ``with`` by an exception (or
    dropping the stream) *closes* it, which completes the upload. Code that must not publish half a
    file writes to a temporary key and copies it, or uploads the finished bytes in one go.
    """
    fs = _fs()
    s3 = s3_server.filesystem()
    with pytest.raises(RuntimeError, match="interrupted"):
        with s3.open_output_stream(f"{s3_bucket}/half.bin") as out:
            out.write(b"half")
            raise RuntimeError("interrupted")
    info = s3.get_file_info(f"{s3_bucket}/half.bin")
    assert (info.type, info.size) == (fs.FileType.File, 4)


def test_env_is_all_a_client_subprocess_needs(s3_server: S3Server, s3_bucket: str) -> None:
    """boto3 and pyarrow in a fresh process, configured only by ``s3_server.env``."""
    script = textwrap.dedent("""
        import os, sys, boto3
        from pyarrow import fs
        boto3.client("s3").put_object(Bucket=sys.argv[1], Key="from-boto3.txt", Body=b"b")
        # Arrow takes credentials and region from the environment; the endpoint stays explicit.
        s3 = fs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"].removeprefix("http://"), scheme="http")
        with s3.open_output_stream(sys.argv[1] + "/from-arrow.txt") as out:
            out.write(b"a")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | s3_server.env
    r = subprocess.run([sys.executable, "-c", script, s3_bucket], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(s3_server.keys(s3_bucket)) == ["from-arrow.txt", "from-boto3.txt"]


def test_buckets_are_fresh_and_named_ones_work(s3_server: S3Server, s3_bucket: str) -> None:
    other = s3_server.make_bucket()
    assert other != s3_bucket and s3_server.keys(other) == []
    assert s3_server.make_bucket("named-bucket-for-a-test") == "named-bucket-for-a-test"
    s3_server.client().put_object(Bucket="named-bucket-for-a-test", Key="k", Body=b"v")
    assert s3_server.keys("named-bucket-for-a-test") == ["k"]


def test_mlspec_open_location_reaches_the_server(s3_env: S3Server, s3_bucket: str) -> None:
    """The product's own entry point (credentials and region from the environment, endpoint explicit:
    Arrow ignores ``AWS_ENDPOINT_URL``)."""
    from mlspec.runtime.fs import open_location

    location = open_location(f"s3://{s3_bucket}/runs", endpoint=s3_env.endpoint_url)
    assert location.remote
    with location.fs.open_output_stream(location.join("r1", "metrics.json")) as out:
        out.write(b"{}")
    assert s3_env.keys(s3_bucket) == ["runs/r1/metrics.json"]
