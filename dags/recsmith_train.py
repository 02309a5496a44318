"""
### recsmith: train, evaluate, register and promote a solution

`train` trains a new version of the solution (created the first time, with the recipe or AutoML); `evaluate`
compares it with the registered model's `production` version on the solution's objective metric; `register`
marks it `staging`; `promote` moves `production` to it only when it beats the version in production.

Runs whenever `recsmith_import` updates `recsmith://imports` (the group comes from the import event; the
other params keep their defaults), or by hand with the params below.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

from models.registry import recipe_ids

IMPORTS = Asset("recsmith://imports")


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=[IMPORTS],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["recsmith"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "dataset_group": Param(
            "demo",
            type="string",
            minLength=1,
            title="Dataset group",
            description="Group to train on; an import event overrides it.",
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
    },
)
def recsmith_train() -> None:
    @task
    def train(params: dict[str, Any] | None = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        from orchestration.airflow_tasks import stage, train_config
        from recsmith.workflow import train

        assert params is not None
        events = (triggering_asset_events or {}).get(IMPORTS) or []
        group = events[-1].extra.get("dataset_group", params["dataset_group"]) if events else params["dataset_group"]
        with stage() as platform:
            config = train_config(group, params["solution"], params["recipe"], params["perform_hpo"])
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

    version = train()["solutionVersionArn"]
    evaluate(version) >> register(version) >> promote(version)


recsmith_train()
