"""Self-check sample: imports cleanly; the gate task fails when MLSPEC_SELFCHECK_GATE_EXIT is non-zero.

The self-check runs it with that variable set through airflow_dag_test(env=...), which proves
both that a failing task is reported and that the environment reaches the tasks.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(
    dag_id="mlspec_selfcheck_gate",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    ok = BashOperator(task_id="ok", bash_command="echo ok")
    gate = BashOperator(task_id="gate", bash_command='echo "gate exit ${MLSPEC_SELFCHECK_GATE_EXIT:-0}"; exit "${MLSPEC_SELFCHECK_GATE_EXIT:-0}"')
    after = BashOperator(task_id="after_gate", bash_command="echo published")
    ok >> gate >> after
