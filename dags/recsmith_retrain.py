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
from airflow.sdk import Param, dag, task

from models.registry import recipe_ids


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=os.environ.get("RECSMITH_RETRAIN_SCHEDULE") or None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["recsmith"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "dataset_group": Param(
            "demo", type="string", minLength=1, title="Dataset group", description="Created when missing."
        ),
        "data_location": Param(
            "data/sample/interactions.csv",
            type="string",
            minLength=1,
            title="Data location",
            description="Interactions CSV or Parquet file or folder.",
        ),
        "schema_file": Param(
            "data/sample/interactions.schema.json",
            type="string",
            minLength=1,
            title="Schema file",
            description="Avro schema JSON of the interactions dataset.",
        ),
        "solution": Param(
            "", type="string", title="Solution", description="Solution name; empty means <dataset_group>-<recipe>."
        ),
        "recipe": Param(
            "automl",
            type="string",
            enum=[*recipe_ids(), "automl"],
            title="Recipe",
            description="A recipe id, or automl to train every candidate and keep the best.",
        ),
        "perform_hpo": Param(
            False,
            type="boolean",
            title="Tune hyperparameters",
            description="Tune each recipe's hyperparameters with Optuna on validation.",
        ),
        "campaign": Param(
            "demo-campaign",
            type="string",
            minLength=1,
            title="Campaign",
            description="Campaign that serves the solution; created on the first deploy.",
        ),
        "update_mode": Param(
            "AUTO",
            type="string",
            enum=["AUTO", "MANUAL"],
            title="Update mode",
            description="AUTO follows the registry's production alias; MANUAL stays pinned.",
        ),
    },
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
            config = train_config(params["dataset_group"], params["solution"], params["recipe"], params["perform_hpo"])
            return train(platform, config)

    @task
    def evaluate(solution_version_arn: str) -> dict[str, Any]:
        from orchestration.airflow_tasks import stage
        from recsmith.workflow import evaluate

        with stage() as platform:
            return evaluate(platform, solution_version_arn)

    @task
    def register(solution_version_arn: str) -> dict[str, Any]:
        from orchestration.airflow_tasks import stage
        from recsmith.workflow import register

        with stage() as platform:
            return register(platform, solution_version_arn)

    @task
    def promote(solution_version_arn: str) -> dict[str, Any]:
        from orchestration.airflow_tasks import stage
        from recsmith.workflow import promote_if_better

        with stage() as platform:
            return promote_if_better(platform, solution_version_arn)

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
