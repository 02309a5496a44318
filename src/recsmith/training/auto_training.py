"""Automatic training, as Personalize's ``performAutoTraining`` and ``autoTrainingConfig.schedulingExpression``.

A solution that performs automatic training (Personalize's default) gets a new version every ``rate(N days)``,
the first one soon after the solution is created, but only when new interactions arrived since the version it
last trained: a new INTERACTIONS data version, or PutEvents since. The schedule lives with the solution in the
catalog, the one place it is set (``create-solution``, ``update-solution``, the API) and read: the Airflow DAG
file ``dags/recsmith_auto_training.py`` turns :func:`auto_training_schedules` into one DAG per solution, whose
timetable the Airflow UI shows, and ``recsmith_update_solution`` changes it from the UI's trigger form.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from recsmith.catalog import Resource, ResourceType, Status
from recsmith.data.datasets import find_dataset
from recsmith.data.schemas import DatasetType
from recsmith.errors import InvalidInputError
from recsmith.platform import Platform
from recsmith.stage_results import NewDataCheck
from recsmith.training.solutions import AutoTrainingConfig, SolutionConfig, solution_config

logger = logging.getLogger(__name__)

_UNFINISHED = (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS)


class AutoTrainingSchedule(BaseModel):
    """One solution's automatic training, as an orchestrator schedules it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    solution: str
    solution_arn: str
    dataset_group: str
    scheduling_expression: str
    interval_days: int
    since: datetime = Field(description="When the solution was created: the first training is due then.")


def auto_training_schedules(platform: Platform) -> list[AutoTrainingSchedule]:
    """Every solution that performs automatic training, oldest first."""
    groups = {group.arn: group.name for group in platform.catalog.list(ResourceType.DATASET_GROUP)}
    schedules = []
    for solution in platform.catalog.list(ResourceType.SOLUTION):
        config = solution_config(solution)
        if not config.perform_auto_training or solution.status is not Status.ACTIVE:
            continue
        schedules.append(
            AutoTrainingSchedule(
                solution=solution.name,
                solution_arn=solution.arn,
                dataset_group=groups.get(str(solution.dataset_group_arn), str(solution.dataset_group_arn)),
                scheduling_expression=config.auto_training.scheduling_expression,
                interval_days=config.auto_training.interval.days,
                since=datetime.fromtimestamp(solution.creation_time, tz=UTC),
            )
        )
    return schedules


def check_new_data(platform: Platform, solution: str) -> NewDataCheck:
    """Compare the group's interactions now with what the solution's newest version trained on.

    A version still training counts as up to date (automatic training never starts a second one beside it);
    failed versions are ignored (their data is retried). Items and users metadata alone do not retrain, as in
    Personalize, which retrains on new interactions.
    """
    resource = platform.catalog.get(ResourceType.SOLUTION, solution)
    group_arn = str(resource.dataset_group_arn)
    dataset = find_dataset(platform, group_arn, DatasetType.INTERACTIONS)
    data_version = dataset.attributes.get("dataVersion", {}).get("id") if dataset is not None else None
    events_count = platform.events.count(group_arn)
    versions = [
        version
        for version in platform.catalog.list(ResourceType.SOLUTION_VERSION, where={"solutionArn": resource.arn})
        if version.status is not Status.CREATE_FAILED
    ]

    def checked(new_data: bool, reason: str, last: Resource | None = None) -> NewDataCheck:
        logger.info("solution %s: %s", resource.name, reason)
        return NewDataCheck(
            solution_arn=resource.arn,
            new_data=new_data,
            reason=reason,
            data_version=data_version,
            events_count=events_count,
            last_version_arn=last.arn if last is not None else None,
        )

    if data_version is None:
        return checked(False, "no interactions imported yet")
    if not versions:
        return checked(True, f"no version yet; interactions data version {data_version}, {events_count} events")
    last = versions[-1]
    if last.status in _UNFINISHED:
        return checked(False, f"version {last.arn} is still training", last)
    trained_on = last.attributes.get("dataVersion")
    trained_events = last.attributes.get("eventsCount")
    if trained_on != data_version:
        return checked(True, f"new interactions data version {data_version} (last trained on {trained_on})", last)
    if trained_events != events_count:
        return checked(True, f"{events_count} events now, {trained_events} when {last.arn} trained", last)
    return checked(False, f"no new interactions since {last.arn}", last)


def update_solution(
    platform: Platform,
    solution: str,
    perform_auto_training: bool | None = None,
    scheduling_expression: str | None = None,
) -> Resource:
    """Personalize's UpdateSolution: turn automatic training on or off, or change its schedule.

    The rest of a solution is immutable, as in Personalize (create another solution to change it).
    """
    resource = platform.catalog.get(ResourceType.SOLUTION, solution)
    current = solution_config(resource)
    changes: dict[str, object] = {}
    if perform_auto_training is not None:
        changes["perform_auto_training"] = perform_auto_training
    if scheduling_expression is not None:
        try:
            changes["auto_training"] = AutoTrainingConfig(scheduling_expression=scheduling_expression)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc
    if not changes:
        raise InvalidInputError("nothing to update: give performAutoTraining or a schedulingExpression")
    updated = SolutionConfig(**{**dict(current), **changes})
    return platform.catalog.update(
        resource,
        attributes={
            "solutionConfig": updated.model_dump(mode="json"),
            "performAutoTraining": updated.perform_auto_training,
            "autoTrainingConfig": {"schedulingExpression": updated.auto_training.scheduling_expression}
            if updated.perform_auto_training
            else None,
        },
    )
