"""
### recsmith: train, evaluate and promote a solution

`train` trains a new version of the solution (created the first time, with the recipe or AutoML) and registers
it in MLflow; `evaluate` compares it with the registered model's `production` version on the solution's objective
metric; `promote` moves `production` to it only when that evaluation says it is better. Each is a call of the
`recsmith.workflow` function of that name, and each task hands its typed result to the next.

Runs whenever `recsmith_import` updates `recsmith://imports` (the group comes from the import event; the other
params keep their defaults), or by hand with the params below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, task

from orchestration.airflow_tasks import DEFAULT_ARGS, evaluate, mark_training_failed, params, promote
from recsmith.stage_results import TrainResult

IMPORTS = Asset("recsmith://imports")


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=[IMPORTS],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["recsmith"],
    default_args=DEFAULT_ARGS,
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
    def train(params: dict[str, Any] | None = None, triggering_asset_events: Any = None, ti: Any = None) -> TrainResult:
        from orchestration.airflow_tasks import stage, task_key
        from recsmith.workflow import train, train_config

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
            return train(platform, config, task_key=task_key(ti))

    trained = train()
    promote(evaluate(trained))
    trained >> mark_training_failed("train")


recsmith_train()
