"""
### recsmith: retrain end to end

`import_dataset` → `train` → `evaluate` → `register` → `promote` → `deploy`, each a call of the
`recsmith.workflow` function of that name (`promote` is `promote_if_better`).

A new version reaches production only when it beats the version in production on the solution's objective
metric. `deploy` runs only when `promote` moved `production` (otherwise it is skipped, and the campaign keeps
serving what it served): the first time, it creates the campaign on the new version; after that, an `AUTO`
campaign follows the registry by itself and a `MANUAL` one is moved to the new version.

Scheduled retraining: set `RECSMITH_RETRAIN_SCHEDULE` (a cron expression or preset such as `@daily`) in the
environment of the DAG processor; unset, the DAG runs only when triggered. A scheduled run uses the params'
defaults.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from orchestration.airflow_shared import evaluate, params, promote, register


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=os.environ.get("RECSMITH_RETRAIN_SCHEDULE") or None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["recsmith"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
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
    def import_dataset(params: dict[str, Any] | None = None) -> dict[str, Any]:
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
    def train(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from orchestration.airflow_tasks import stage, train_config
        from recsmith.workflow import train

        assert params is not None
        with stage() as platform:
            config = train_config(
                params["dataset_group"],
                params["solution"],
                params["recipe"],
                params["perform_hpo"],
                params.get("solution_config"),
            )
            return train(platform, config)

    @task
    def deploy(verdict: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from orchestration.airflow_tasks import stage
        from recsmith.workflow import DeployConfig, deploy

        assert params is not None
        if not verdict["promoted"]:
            raise AirflowSkipException(
                f"{verdict['solutionVersionArn']} did not beat production version {verdict['productionVersion']} "
                f"on {verdict['objective']} ({verdict['value']} <= {verdict['productionValue']})"
            )
        with stage() as platform:
            config = DeployConfig(
                campaign=params["campaign"],
                solution_version_arn=verdict["solutionVersionArn"],
                update_mode=params["update_mode"],
            )
            return deploy(platform, config)

    imported = import_dataset()
    version = train()["solutionVersionArn"]
    evaluated = evaluate(version)
    registered = register(version)
    verdict = promote(version)
    imported >> version
    evaluated >> registered >> verdict
    deploy(verdict)


recsmith_retrain()
