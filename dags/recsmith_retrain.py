"""
### recsmith: retrain end to end

`import_dataset` → `train` → `evaluate` → `promote` → `deploy`, each a call of the `recsmith.workflow` function of
that name; each task hands its typed result to the next.

Training registers the new model version in MLflow. `evaluate` compares it once with the version in production
on the solution's objective metric, and `promote` moves `production` only when that evaluation says it is better
(and production has not moved since). `deploy` runs only when `promote` moved `production` (otherwise it is
skipped, and the campaign keeps serving what it served): the first time, it creates the campaign on the new
version; after that, an `AUTO` campaign follows the registry by itself and a `MANUAL` one is moved.

If `train` fails for good (a try killed by the out-of-memory killer runs no code of its own),
`mark_training_failed` leaves its solution version CREATE FAILED rather than IN PROGRESS.

This DAG runs when triggered. Scheduled retraining is per solution: see `recsmith_auto_training__<solution>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from orchestration.airflow_tasks import DEFAULT_ARGS, evaluate, mark_training_failed, params, promote
from recsmith.stage_results import Deployment, ImportResult, Promotion, TrainResult


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    max_active_runs=1,
    tags=["recsmith"],
    default_args=DEFAULT_ARGS,
    params=params(
        "dataset_group",
        "data_location",
        "schema_file",
        "solution",
        "recipe",
        "perform_hpo",
        "solution_config",
        "campaign",
        "update_mode",
    ),
)
def recsmith_retrain() -> None:
    @task
    def import_dataset(params: dict[str, Any] | None = None) -> ImportResult:
        from orchestration.airflow_tasks import stage
        from recsmith.workflow import ImportConfig, import_dataset

        assert params is not None
        with stage() as platform:
            config = ImportConfig(
                dataset_group=params["dataset_group"],
                data_location=params["data_location"],
                schema_file=params["schema_file"],
            )
            return import_dataset(platform, config)

    @task
    def train(imported: ImportResult, params: dict[str, Any] | None = None, ti: Any = None) -> TrainResult:
        from orchestration.airflow_tasks import stage, task_key
        from recsmith.workflow import train, train_config

        assert params is not None
        with stage() as platform:
            config = train_config(
                imported.dataset_group,
                params["solution"],
                params["recipe"],
                params["perform_hpo"],
                params.get("solution_config"),
            )
            return train(platform, config, task_key=task_key(ti))

    @task
    def deploy(promotion: Promotion, params: dict[str, Any] | None = None) -> Deployment:
        from airflow.sdk.exceptions import AirflowSkipException

        from orchestration.airflow_tasks import stage
        from recsmith.workflow import DeployConfig, deploy

        assert params is not None
        if not promotion.promoted:
            raise AirflowSkipException(f"not deployed: {promotion.reason}")
        with stage() as platform:
            config = DeployConfig(
                campaign=params["campaign"],
                solution_version_arn=promotion.solution_version_arn,
                update_mode=params["update_mode"],
            )
            return deploy(platform, config)

    trained = train(import_dataset())
    deploy(promote(evaluate(trained)))
    trained >> mark_training_failed("train")


recsmith_retrain()
