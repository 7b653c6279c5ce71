"""Self-check sample: an Airflow 2 import path that Airflow 3 removed (must be an import error)."""

from __future__ import annotations

import pendulum
from airflow import DAG
from airflow.operators.bash_operator import BashOperator

with DAG(
    dag_id="mlspec_selfcheck_bad_import",
    schedule_interval=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
) as dag:
    BashOperator(task_id="hello", bash_command="echo hello")
