"""Self-check sample: a tiny, correct Airflow 3 DAG (imports cleanly, runs with dag.test())."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def _train(**context):
    return {"roc_auc": 0.91}


with DAG(
    dag_id="mlspec_selfcheck_good",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["mlspec-selfcheck"],
) as dag:
    prepare = BashOperator(task_id="prepare", bash_command="echo prepare")
    train = PythonOperator(task_id="train", python_callable=_train)
    publish = BashOperator(task_id="publish", bash_command="echo publish")
    prepare >> train >> publish
