"""The MLflow fixture: a real tracking server + registry, used as the mlflow client library uses it."""

from __future__ import annotations

import os

import pytest

from tests.servers._process import http_ok
from tests.servers.mlflow_server import MlflowServer, MlflowTracking

pytestmark = pytest.mark.server


def test_log_register_alias_and_load_a_model(mlflow_tracking: MlflowTracking) -> None:
    import mlflow
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    model = LogisticRegression().fit(X, y)

    assert mlflow.get_tracking_uri() == mlflow_tracking.tracking_uri
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("roc_auc", 0.93)
        # Explicit requirements: inferring them would import the model in a subprocess (seconds).
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    assert run.info.experiment_id == mlflow_tracking.experiment_id

    version = mlflow.register_model(info.model_uri, mlflow_tracking.model_name)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(mlflow_tracking.model_name, "production", version.version)

    loaded = mlflow.pyfunc.load_model(f"models:/{mlflow_tracking.model_name}@production")
    assert list(loaded.predict(X)) == [0, 0, 0, 1, 1, 1]
    assert client.get_model_version_by_alias(mlflow_tracking.model_name, "production").version == version.version
    assert client.get_run(run.info.run_id).data.metrics == {"roc_auc": 0.93}
    # The artifacts went through the server (mlflow-artifacts:/) into its own directory.
    assert client.get_experiment(mlflow_tracking.experiment_id).artifact_location.startswith("mlflow-artifacts:")
    assert list((mlflow_tracking.server.root / "artifacts").rglob("MLmodel"))


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
