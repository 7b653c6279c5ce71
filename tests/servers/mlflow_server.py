"""A real MLflow tracking server + model registry on loopback, one per test session.

``mlflow server`` with a SQLite backend store in a temp dir and artifacts *served by the server*
(``--serve-artifacts --artifacts-destination DIR``): clients upload and download artifacts over
HTTP through ``mlflow-artifacts:/`` URIs, as against a production server, and need no shared disk.

Fixtures:
- ``mlflow_server`` (session): the running server, an :class:`MlflowServer`.
- ``mlflow_tracking`` (function): points the ``mlflow`` client (in-process and, through
  ``MLFLOW_TRACKING_URI``/``MLFLOW_EXPERIMENT_ID``, any subprocess) at the server, with a fresh
  experiment and a fresh registered-model name; an :class:`MlflowTracking`. Teardown ends a run
  the test left open and unsets the client's global tracking URI and experiment.

Start-up costs about 10 s (imports, schema migration of the new SQLite DB, uvicorn). So that tests
do not wait for it, the server is launched right after collection when any selected test uses
``mlflow_server`` (``pytest_collection_finish`` below) and boots while earlier tests run; the
fixture then only awaits readiness.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers._process import LOOPBACK, ServerError, ServerProcess, address_in_use, free_port, http_ok

# MLflow reports usage to a remote endpoint unless told not to; tests must never phone home.
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
for _key, _value in NO_TELEMETRY.items():
    os.environ.setdefault(_key, _value)

STARTUP_TIMEOUT = 120  # seconds; about 10 s on an idle 2-core machine, much more on a loaded one


@dataclass(frozen=True)
class MlflowServer:
    tracking_uri: str
    root: Path  # mlflow.db, artifacts/ and mlflow.log
    process: ServerProcess

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to use this server."""
        return {"MLFLOW_TRACKING_URI": self.tracking_uri, **NO_TELEMETRY}

    @staticmethod
    def unique_name(prefix: str = "test") -> str:
        """A name no other test uses (experiments and registered models live for the whole session)."""
        return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class MlflowTracking:
    server: MlflowServer
    experiment_name: str
    experiment_id: str
    model_name: str  # a registered-model name nobody has used: register under it

    @property
    def tracking_uri(self) -> str:
        return self.server.tracking_uri


class _Launch:
    """A server process launched (maybe early, see module doc) but not yet awaited."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mlspec-mlflow-"))
        (self.root / "artifacts").mkdir()
        self._launch()

    def _launch(self) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                "--serve-artifacts", "--artifacts-destination", str(self.root / "artifacts"),
                "--host", LOOPBACK, "--port", str(self.port), "--workers", "1"]
        # No job execution: it forks a runner and seven huey consumers, each importing mlflow (several
        # CPU-seconds at start, and slow to stop); tracking and the registry do not use it.
        env = {**os.environ, **NO_TELEMETRY, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        self.process = ServerProcess("mlflow", argv, self.root / "mlflow.log", cwd=self.root, env=env)
        self.process.launch()

    def await_ready(self, attempts: int = 3) -> MlflowServer:
        for attempt in range(1, attempts + 1):
            url = f"http://{LOOPBACK}:{self.port}"
            try:
                self.process.wait_ready(lambda: http_ok(f"{url}/health"), STARTUP_TIMEOUT)
            except ServerError as exc:  # the port was taken between picking and binding it: pick another
                if attempt < attempts and address_in_use(exc):
                    self._launch()
                    continue
                raise
            return MlflowServer(tracking_uri=url, root=self.root, process=self.process)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.process.stop(timeout=3)  # uvicorn's graceful shutdown can take seconds; nothing to save
        shutil.rmtree(self.root, ignore_errors=True)


# The early launch belongs to one pytest session (a pytester run inside a test has its own).
_EARLY = pytest.StashKey[_Launch]()


def pytest_collection_finish(session: pytest.Session) -> None:
    # The early launch is off: a server booted at collection and left idle through the whole
    # session answered model-version writes with HTTP 500 in full-suite runs, while a server
    # started when first used passes (to investigate). MLSPEC_MLFLOW_EARLY=1 turns it back on.
    if os.environ.get("MLSPEC_MLFLOW_EARLY", "") in ("", "0"):
        return
    if session.config.option.collectonly or _EARLY in session.config.stash:
        return
    if any("mlflow_server" in getattr(item, "fixturenames", ()) for item in session.items):
        if importlib.util.find_spec("mlflow") is None:
            return  # the fixture skips, saying why
        session.config.stash[_EARLY] = _Launch()


def pytest_sessionfinish(session: pytest.Session) -> None:
    launch = session.config.stash.get(_EARLY, None)
    if launch is not None:  # launched but never used (the tests that wanted it were skipped)
        del session.config.stash[_EARLY]
        launch.close()


@pytest.fixture(scope="session")
def mlflow_server(pytestconfig: pytest.Config) -> Iterator[MlflowServer]:
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install -e '.[test]')")
    launch = pytestconfig.stash.get(_EARLY, None)
    if launch is None:
        launch = _Launch()
    else:
        del pytestconfig.stash[_EARLY]
    try:
        yield launch.await_ready()
    finally:
        launch.close()


@pytest.fixture
def mlflow_tracking(mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowTracking]:
    import mlflow
    import mlflow.tracking.fluent as fluent

    name = mlflow_server.unique_name("exp")
    experiment_id = mlflow.MlflowClient(mlflow_server.tracking_uri).create_experiment(name)
    for key, value in mlflow_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    mlflow.set_tracking_uri(mlflow_server.tracking_uri)
    mlflow.set_experiment(experiment_id=experiment_id)
    try:
        yield MlflowTracking(mlflow_server, name, experiment_id, mlflow_server.unique_name("model"))
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run("KILLED")
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None = back to the environment's URI
        fluent._active_experiment_id = None  # what set_experiment() set; no public reset exists
