"""The MLflow fixture: a real tracking server + registry, used as the mlflow client library uses it."""

from __future__ import annotations

import os

import pytest

from tests.servers._process import http_ok
from tests.servers.mlflow_server import MlflowServer, MlflowTracking

pytestmark = pytest.mark.server


# Logging, registering, aliasing and loading a model through this fixture's server is proven by
# tests/runtime/test_register.py::test_mlflow_registry_roundtrip (the product's own registry code).


def test_each_test_gets_a_fresh_experiment_and_the_environment(mlflow_server: MlflowServer,
                                                               mlflow_tracking: MlflowTracking) -> None:
    import mlflow

    assert http_ok(f"{mlflow_server.tracking_uri}/health")
    assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_server.tracking_uri  # subprocesses inherit it
    assert os.environ["MLFLOW_EXPERIMENT_ID"] == mlflow_tracking.experiment_id
    client = mlflow.MlflowClient()
    assert client.search_runs([mlflow_tracking.experiment_id]) == []
    assert client.search_registered_models(f"name = '{mlflow_tracking.model_name}'") == []
    assert mlflow_server.unique_name() != mlflow_server.unique_name()
