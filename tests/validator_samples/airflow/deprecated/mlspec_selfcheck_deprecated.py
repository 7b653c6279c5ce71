"""Self-check sample: imports that still work in Airflow 3 but warn (a warning is a finding)."""

from __future__ import annotations

import pendulum
from airflow.models import DAG
from airflow.operators.bash import BashOperator

with DAG(
    dag_id="mlspec_selfcheck_deprecated",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    BashOperator(task_id="hello", bash_command="echo hello")
