"""A real S3 API on loopback: moto's server mode (``python -m moto.server``), one per test session.

Fixtures:
- ``s3_server`` (session): the running server, an :class:`S3Server`.
- ``s3_bucket`` (function): the name of a fresh, empty bucket -- tests never share objects.
- ``s3_env`` (function): ``s3_server`` with its client variables set in ``os.environ`` for the
  test (for code under test and subprocesses that build their own client).

moto keeps everything in memory and checks no signatures: any credentials work, and the fake ones
below keep a developer's real AWS configuration out of the tests.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import pytest

from tests.servers._process import LOOPBACK, ServerError, ServerProcess, http, http_ok, start_server

if TYPE_CHECKING:
    import pyarrow.fs

_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    process: ServerProcess
    region: str = "us-east-1"
    access_key: str = "testing"
    secret_key: str = "testing"

    @property
    def endpoint(self) -> str:
        """``host:port`` (what ``pyarrow.fs.S3FileSystem(endpoint_override=..., scheme="http")`` takes)."""
        return self.endpoint_url.removeprefix("http://")

    @property
    def env(self) -> dict[str, str]:
        """The environment an S3 client needs to reach this server (boto3, the AWS CLI, Arrow)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # Never ask the EC2 instance metadata service (a link-local address) for anything.
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name by default) and return its name."""
        name = name or f"test-{uuid.uuid4().hex[:16]}"
        status, body = http("PUT", f"{self.endpoint_url}/{name}")
        if status != 200:
            raise ServerError(f"creating bucket {name!r}: HTTP {status}: {body[:300]!r}")
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """The object keys in ``bucket`` (plain ListObjectsV2; no SDK involved, so it can check one)."""
        keys: list[str] = []
        token = ""
        while True:
            query = f"list-type=2&prefix={_q(prefix)}" + (f"&continuation-token={_q(token)}" if token else "")
            root = self._get_xml(f"/{bucket}?{query}")
            keys += [c.findtext(f"{_S3_NS}Key") or "" for c in root.iter(f"{_S3_NS}Contents")]
            token = root.findtext(f"{_S3_NS}NextContinuationToken") or ""
            if not token:
                return keys

    def incomplete_uploads(self, bucket: str) -> list[str]:
        """Keys of multipart uploads started and neither completed nor aborted."""
        root = self._get_xml(f"/{bucket}?uploads")
        return [u.findtext(f"{_S3_NS}Key") or "" for u in root.iter(f"{_S3_NS}Upload")]

    def filesystem(self, **kwargs: Any) -> pyarrow.fs.S3FileSystem:
        """A ``pyarrow.fs.S3FileSystem`` on this server (how the product talks to S3)."""
        from pyarrow import fs

        options: dict[str, Any] = {"access_key": self.access_key, "secret_key": self.secret_key,
                                   "region": self.region, "scheme": "http", "endpoint_override": self.endpoint}
        return fs.S3FileSystem(**(options | kwargs))

    def client(self) -> Any:
        """A boto3 S3 client on this server (boto3 comes with moto)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def _get_xml(self, path: str) -> ElementTree.Element:
        status, body = http("GET", f"{self.endpoint_url}{path}")
        if status != 200:
            raise ServerError(f"GET {path}: HTTP {status}: {body[:300]!r}")
        return ElementTree.fromstring(body)


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def start_s3(directory: Path, timeout: float = 30) -> S3Server:
    """Start moto's server in ``directory`` (its log goes there) and wait until S3 answers."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[test]')")

    def argv(port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]

    def probe(port: int):  # ListBuckets: S3 itself answers, not just the socket
        return lambda: http_ok(f"http://{LOOPBACK}:{port}/")

    process, port = start_server("moto-s3", argv, probe, directory / "moto.log", timeout=timeout, cwd=directory)
    return S3Server(endpoint_url=f"http://{LOOPBACK}:{port}", process=process)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.process.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.make_bucket()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server
