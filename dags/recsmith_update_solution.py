"""
### recsmith: change a solution's automatic training

Personalize's UpdateSolution from the trigger form: turn a solution's automatic training on or off, or change its
`rate(N days)` schedule (N from 1 to 30). The call is `recsmith.training.auto_training.update_solution`; the
solution's `recsmith_auto_training__<solution>` DAG takes the new schedule the next time Airflow parses it (within
the DAG processor's `min_file_process_interval`), and disappears when automatic training is turned off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from orchestration.airflow_tasks import DEFAULT_ARGS


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["recsmith", "automatic-training"],
    default_args=DEFAULT_ARGS,
    params={
        "solution": Param(
            "demo-automl",
            type="string",
            minLength=1,
            title="Solution",
            description="Name or ARN of the solution to change, e.g. demo-automl.",
        ),
        "perform_auto_training": Param(
            True,
            type="boolean",
            title="Automatic training",
            description="Train a new version on the schedule when new interactions arrived.",
        ),
        "scheduling_expression": Param(
            "rate(7 days)",
            type="string",
            pattern=r"^rate\((30|[12][0-9]|[1-9]) days?\)$",
            title="Schedule",
            description="rate(N days), N from 1 to 30.",
        ),
    },
)
def recsmith_update_solution() -> None:
    @task
    def update_solution(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from orchestration.airflow_tasks import stage
        from recsmith.training.auto_training import update_solution

        assert params is not None
        with stage() as platform:
            solution = update_solution(
                platform,
                params["solution"],
                perform_auto_training=params["perform_auto_training"],
                scheduling_expression=params["scheduling_expression"],
            )
        return {
            "solutionArn": solution.arn,
            "performAutoTraining": solution.attributes["performAutoTraining"],
            "autoTrainingConfig": solution.attributes["autoTrainingConfig"],
        }

    update_solution()


recsmith_update_solution()
