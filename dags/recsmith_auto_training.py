"""
### recsmith: automatic training of one solution

Personalize's automatic training: every solution that performs it (`performAutoTraining`, on by default) has a
DAG `recsmith_auto_training__<solution>` whose schedule is the solution's
`autoTrainingConfig.schedulingExpression`, `rate(N days)` (7 by default): a first run soon after the solution is
created, then one every N days.

A run trains a new version only when new interactions arrived since the version the solution last trained (a new
import, or PutEvents): otherwise `check_new_data` skips the rest. The new version is then evaluated against
production and promoted only when it is better, as in `recsmith_train`.

The schedule lives with the solution in recsmith's catalog; this file builds one DAG per solution from it each
time Airflow parses it. Change it from the trigger form of `recsmith_update_solution` (or with
`recsmith update-solution`); pausing a DAG here suspends its solution's automatic training and changes nothing
else. The DAG processor reads the catalog that its `RECSMITH_*` environment names.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, DeltaTriggerTimetable, task
from airflow.sdk.exceptions import AirflowSkipException

from orchestration.airflow_tasks import DEFAULT_ARGS, evaluate, mark_training_failed, promote
from recsmith.stage_results import NewDataCheck, TrainResult

logger = logging.getLogger(__name__)

DAG_ID_PREFIX = f"{Path(__file__).stem}__"
"""The DAG of solution S is ``recsmith_auto_training__S``."""


def _schedules() -> list[Any]:
    """The catalog's automatic-training schedules; none while the embedded catalog has not been created yet."""
    from recsmith.platform import Platform
    from recsmith.settings import load_settings
    from recsmith.training.auto_training import auto_training_schedules

    settings = load_settings()
    if settings.catalog_url is None and not (settings.resolved_home / "catalog.db").exists():
        logger.info("no recsmith catalog at %s yet: no automatic training", settings.resolved_home)
        return []
    platform = Platform(settings)
    try:
        return auto_training_schedules(platform)
    finally:
        platform.catalog.dispose()


@task
def check_new_data(solution: str) -> NewDataCheck:
    """recsmith.workflow.check_new_data: skip the run unless interactions arrived since the last version."""
    from orchestration.airflow_tasks import stage
    from recsmith.workflow import check_new_data

    with stage() as platform:
        checked = check_new_data(platform, solution)
    if not checked.new_data:
        raise AirflowSkipException(checked.reason)
    return checked


@task
def train(checked: NewDataCheck, ti: Any = None) -> TrainResult:
    """recsmith.workflow.train: a new version of the solution as it was created, marked AUTOMATIC."""
    from orchestration.airflow_tasks import stage, task_key
    from recsmith.workflow import solution_train_config, train

    with stage() as platform:
        config = solution_train_config(platform, checked.solution_arn)
        return train(platform, config, task_key=task_key(ti), training_type="AUTOMATIC")


def auto_training_dag(schedule: Any) -> DAG:
    """The DAG of one solution's automatic training."""
    with DAG(
        dag_id=f"{DAG_ID_PREFIX}{schedule.solution}",
        doc_md=__doc__,
        description=f"Automatic training of solution {schedule.solution} ({schedule.scheduling_expression})",
        schedule=DeltaTriggerTimetable(timedelta(days=schedule.interval_days)),
        start_date=schedule.since,
        catchup=False,
        is_paused_upon_creation=False,
        max_active_runs=1,
        tags=["recsmith", "automatic-training", f"group:{schedule.dataset_group}"],
        default_args=DEFAULT_ARGS,
    ) as built:
        trained = train(check_new_data(schedule.solution))
        promote(evaluate(trained))
        trained >> mark_training_failed("train")
    return built


for _schedule in _schedules():
    globals()[f"{DAG_ID_PREFIX}{_schedule.solution}"] = auto_training_dag(_schedule)
