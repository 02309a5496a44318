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
from airflow.sdk import Asset, dag, task

from orchestration.airflow_shared import evaluate, params, promote, register

IMPORTS = Asset("recsmith://imports")


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=[IMPORTS],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["recsmith"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params=params(
        "dataset_group",
        "solution",
        "recipe",
        "perform_hpo",
        "solution_config",
        dataset_group="Group to train on; an import event overrides it.",
    ),
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
            config = train_config(
                group,
                params["solution"],
                params["recipe"],
                params["perform_hpo"],
                params.get("solution_config"),
            )
            return train(platform, config)

    version = train()["solutionVersionArn"]
    evaluate(version) >> register(version) >> promote(version)


recsmith_train()
