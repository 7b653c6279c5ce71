"""Real servers on loopback for end-to-end tests: S3 (moto), MLflow, Prometheus + Pushgateway + Alertmanager.

``tests/conftest.py`` registers the modules below as pytest plugins (so this file imports none of
them: a plugin imported before pytest registers it would miss assertion rewriting), and every test
can request the fixtures by name; ``docs/testing.md`` tells how to use them. Mark such tests
``@pytest.mark.server``: in CI a skipped server test (e.g. a missing binary) fails the run.

- ``tests.servers.s3``: ``s3_server`` (session), ``s3_bucket``, ``s3_env``
- ``tests.servers.mlflow_server``: ``mlflow_server`` (session), ``mlflow_tracking``
- ``tests.servers.prom``: ``prom_stack`` (factory), ``webhook_receiver``, ``pushgateway_server``
  (session), ``pushgateway``
- ``tests.servers.plugin``: server output in the report of a failing test, start-up times in the summary
"""
