"""The store tests' fixtures: the shared S3 server (moto's, ``tests/servers/s3.py``) and the
environment for the ``mlspec`` processes they start."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.s3 import S3Server


@dataclass(frozen=True)
class Moto:
    """The store suites' view of the shared S3 server (tests/servers/s3.py)."""

    server: S3Server

    @property
    def endpoint(self) -> str:           # http://127.0.0.1:PORT
        return self.server.endpoint_url

    @property
    def env(self) -> dict[str, str]:
        # Without AWS_ENDPOINT_URL: these suites name the endpoint in the spec's `storage`.
        return {k: v for k, v in self.server.env.items() if k != "AWS_ENDPOINT_URL"}

    def bucket(self) -> str:
        return self.server.make_bucket(f"store-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def moto(s3_server: S3Server) -> Moto:
    return Moto(s3_server)


@pytest.fixture
def moto_env(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> Moto:
    for k, v in moto.env.items():
        monkeypatch.setenv(k, v)
    return moto


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSPEC_RUN", "GITHUB_RUN", "AIRFLOW_CTX"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env
