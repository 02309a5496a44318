"""The workflow's stages as typed functions: import_dataset, train, evaluate, promote, deploy.

Airflow tasks, Kubeflow components, the CLI and the demo call exactly these, with the same configs, and each
stage returns a frozen pydantic result that the next stage takes as it is (Airflow passes them from task to task
as XComs, KFP as typed outputs). Evaluation runs once: :func:`promote` decides on the :class:`Evaluation` that
:func:`evaluate` produced, and refuses to act on it when production moved in between. Training registers the
model version itself, so there is no separate "register" stage.

Each stage is idempotent where it can be (a rerun finds the group, schema, dataset or solution it created
before; a retried training with the same ``task_key`` reuses what the earlier try finished and fails what it
left unfinished) and raises on failure, so an orchestrator marks the task failed.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict, Field

from recsmith.campaigns.campaigns import UpdateMode, create_campaign, update_campaign
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.imports import create_dataset_import_job
from recsmith.errors import InvalidInputError, TrainingError
from recsmith.jobs.lifecycle import refresh_job
from recsmith.platform import Platform
from recsmith.stage_results import Deployment, Evaluation, ImportResult, NewDataCheck, Promotion, TrainResult
from recsmith.training import registry
from recsmith.training.auto_training import check_new_data as _check_new_data
from recsmith.training.solutions import (
    SolutionConfig,
    create_solution,
    from_personalize_solution_config,
    solution_config,
)
from recsmith.training.versions import fail_unfinished_version, run_solution_version, start_solution_version

logger = logging.getLogger(__name__)

_IN_FLIGHT = (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS)
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ImportConfig(BaseModel):
    """One file into one dataset of a group; the group, schema and dataset are created when missing."""

    model_config = _FROZEN

    dataset_group: str = Field(description="Dataset group name.")
    dataset_type: str = Field(default="INTERACTIONS", description="INTERACTIONS, ITEMS or USERS.")
    data_location: str = Field(description="CSV or Parquet file or folder (local path or s3:// URI).")
    schema_file: str = Field(description="Avro schema JSON file for the dataset.")
    import_mode: str = Field(default="FULL", description="FULL or INCREMENTAL.")


class TrainConfig(BaseModel):
    """One training of a solution; the solution is created with ``solution_config`` when missing."""

    model_config = _FROZEN

    dataset_group: str = Field(description="Dataset group name.")
    solution: str = Field(description="Solution name.")
    solution_config: SolutionConfig = Field(description="Recipe or AutoML, HPO, objective, seed.")


class DeployConfig(BaseModel):
    """Create (or move) a campaign onto a solution version."""

    model_config = _FROZEN

    campaign: str = Field(description="Campaign name.")
    solution_version_arn: str = Field(description="Solution version to serve.")
    update_mode: str = Field(default="AUTO", description="AUTO follows the registry; MANUAL stays pinned.")


AUTOML = "automl"
"""The ``recipe`` value of :func:`train_config` that asks for AutoML over the solution's candidate recipes."""


def train_config(
    dataset_group: str,
    solution: str | None,
    recipe: str,
    perform_hpo: bool = False,
    personalize_solution_config: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The training config of an orchestrator's flat, typed inputs (the Airflow trigger form, the KFP pipeline's
    parameters): ``recipe`` is a recipe id or ``automl``; no ``solution`` names it ``<dataset_group>-<recipe>``;
    ``personalize_solution_config`` is Personalize's solutionConfig JSON (HPO budget, AutoML candidates and their
    hyperparameters, automatic training). A bad value raises pydantic's ``ValidationError``."""
    values: dict[str, Any] = {"perform_automl": True} if recipe == AUTOML else {"recipe": recipe}
    values.update(from_personalize_solution_config(personalize_solution_config or {}))
    return TrainConfig(
        dataset_group=dataset_group,
        solution=solution or f"{dataset_group}-{recipe}",
        solution_config=SolutionConfig(**values, perform_hpo=perform_hpo),
    )


def import_dataset(platform: Platform, config: ImportConfig) -> ImportResult:
    """Import a file; a failed job raises with its reason."""
    group = platform.catalog.find(ResourceType.DATASET_GROUP, config.dataset_group)
    if group is None:
        group = create_dataset_group(platform, config.dataset_group)
    kind = config.dataset_type.upper()
    name = f"{group.name}-{kind.lower()}"
    if platform.catalog.find(ResourceType.SCHEMA, name) is None:
        create_schema(platform, name, Path(config.schema_file).read_text())
    dataset = platform.catalog.find(ResourceType.DATASET, name)
    if dataset is None:
        dataset = create_dataset(platform, name, group.arn, kind, name)
    job = create_dataset_import_job(
        platform, f"{name}-{uuid.uuid4().hex[:8]}", name, config.data_location, config.import_mode
    )
    if job.status is not Status.ACTIVE:
        raise InvalidInputError(f"import job {job.name} failed: {job.failure_reason}")
    return ImportResult(
        dataset_group=group.name,
        dataset_arn=dataset.arn,
        dataset_import_job_arn=job.arn,
        data_version=job.attributes["dataVersion"]["id"],
    )


def check_new_data(platform: Platform, solution: str) -> NewDataCheck:
    """Whether ``solution`` has interactions its newest version has not trained on: automatic training's gate."""
    return _check_new_data(platform, solution)


def solution_train_config(platform: Platform, solution: str) -> TrainConfig:
    """The training config of an existing solution, as it was created (automatic training retrains it)."""
    resource = platform.catalog.get(ResourceType.SOLUTION, solution)
    group = platform.catalog.get(ResourceType.DATASET_GROUP, str(resource.dataset_group_arn))
    return TrainConfig(dataset_group=group.name, solution=resource.name, solution_config=solution_config(resource))


def train(
    platform: Platform,
    config: TrainConfig,
    task_key: str | None = None,
    training_type: Literal["MANUAL", "AUTOMATIC"] = "MANUAL",
) -> TrainResult:
    """Train a new solution version (creating the solution when missing); a failed training raises.

    ``task_key`` names the orchestrator's task independently of its try (Airflow: ``dag/run/task``). A retry
    with the same key returns the version an earlier try finished (it may have died before reporting it), and
    marks CREATE FAILED any version an earlier try left unfinished, so retries never pile up versions stuck
    IN PROGRESS. The orchestrator must only retry after the earlier try ended, as Airflow does.
    ``training_type`` is Personalize's ``trainingType``: AUTOMATIC for automatic training's versions.
    """
    solution = platform.catalog.find(ResourceType.SOLUTION, config.solution)
    if solution is None:
        solution = create_solution(platform, config.solution, config.dataset_group, config.solution_config)
    elif solution_config(solution) != config.solution_config:
        logger.warning("solution %s exists with another config; training it as it was created", solution.name)
    if task_key is not None:
        earlier = platform.catalog.list(
            ResourceType.SOLUTION_VERSION, where={"solutionArn": solution.arn, "taskKey": task_key}
        )
        finished = [version for version in earlier if version.status is Status.ACTIVE]
        if finished:
            logger.info("an earlier try of %s trained %s; reusing it", task_key, finished[-1].arn)
            return _trained(finished[-1])
        _end_unfinished(platform, earlier, f"an earlier try of task {task_key} ended before it finished")
    version = start_solution_version(platform, solution.arn)
    # which process trains it: where an operator looks (and what to kill) when a training hangs
    process = {"host": socket.gethostname(), "pid": os.getpid()}
    version = platform.catalog.update(
        version, attributes={"taskKey": task_key, "trainingType": training_type, "trainingProcess": process}
    )
    version = run_solution_version(platform, version.arn)
    if version.status is not Status.ACTIVE:
        raise TrainingError(f"solution version {version.arn} failed: {version.failure_reason}")
    return _trained(version)


def fail_unfinished_training(platform: Platform, task_key: str) -> list[str]:
    """End CREATE FAILED every version the task ``task_key`` left unfinished; returns their ARNs.

    For the orchestrator's clean-up once the training task is over for good (its last try failed or was killed):
    a try killed with SIGKILL (out of memory, an operator) runs no code of its own, so its version would stay IN
    PROGRESS. Call it only when no try of the task runs any more.
    """
    versions = platform.catalog.list(ResourceType.SOLUTION_VERSION, where={"taskKey": task_key})
    return _end_unfinished(platform, versions, f"the last try of task {task_key} ended before it finished")


def _end_unfinished(platform: Platform, versions: list[Resource], reason: str) -> list[str]:
    """End the versions still in flight of tries the orchestrator says are over; their ARNs.

    The job lifecycle ends one whose process it sees gone, naming that process, and removes what it wrote; a
    process it cannot see (another host: a Celery worker, a KFP pod) counts as alive there, so the orchestrator's
    word decides: the version is failed with ``reason``, and what it wrote removed the same way.
    """
    ended = []
    for version in versions:
        if version.status not in _IN_FLIGHT:
            continue
        if refresh_job(platform, version).status in _IN_FLIGHT:
            fail_unfinished_version(platform, version.arn, reason)
        ended.append(version.arn)
    return ended


def _trained(version: Resource) -> TrainResult:
    attributes = version.attributes
    return TrainResult(
        solution_version_arn=version.arn,
        recipe=attributes["recipe"],
        metrics=attributes["metrics"],
        model_name=attributes["modelName"],
        model_version=attributes["modelVersion"],
    )


def evaluate(platform: Platform, trained: TrainResult) -> Evaluation:
    """Compare a trained version with the one in production on the solution's objective metric."""
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, trained.solution_version_arn)
    solution = platform.catalog.get(ResourceType.SOLUTION, version.attributes["solutionArn"])
    objective = solution_config(solution).objective_metric
    value = float(version.attributes["metrics"][objective])
    platform.configure_mlflow()
    current = registry.production_version(MlflowClient(), trained.model_name)
    production_value: float | None = None
    if current is not None and current != trained.model_version:
        production_value = _production_metric(platform, trained.model_name, current, objective)
    return Evaluation(
        solution_version_arn=version.arn,
        model_name=trained.model_name,
        model_version=trained.model_version,
        objective=objective,
        value=value,
        production_version=current,
        production_value=production_value,
        beats_production=production_value is None or value > production_value,
    )


def _production_metric(platform: Platform, model_name: str, model_version: str, objective: str) -> float | None:
    """The production version's objective at full precision (from its solution version; the tag is rounded)."""
    tags = MlflowClient().get_model_version(model_name, model_version).tags
    arn = tags.get("recsmith.solution_version_arn")
    produced = platform.catalog.find(ResourceType.SOLUTION_VERSION, arn) if arn else None
    if produced is not None and objective in (produced.attributes.get("metrics") or {}):
        return float(produced.attributes["metrics"][objective])
    return float(tags[f"metric.{objective}"]) if f"metric.{objective}" in tags else None


def promote(platform: Platform, evaluation: Evaluation) -> Promotion:
    """Move the registry's ``production`` alias to the evaluated version when it beat production.

    The decision is the evaluation's; it holds only while production is still the version it was compared
    with, so a promotion made in between (a reviewer in the MLflow UI) is never overwritten by a stale verdict.
    """

    def decided(promoted: bool, reason: str) -> Promotion:
        logger.info("%s version %s: %s", evaluation.model_name, evaluation.model_version, reason)
        return Promotion(
            solution_version_arn=evaluation.solution_version_arn,
            model_name=evaluation.model_name,
            model_version=evaluation.model_version,
            promoted=promoted,
            reason=reason,
        )

    if not evaluation.beats_production:
        return decided(
            False,
            f"{evaluation.objective} {evaluation.value:.6f} does not beat production version "
            f"{evaluation.production_version} ({evaluation.production_value:.6f})",
        )
    platform.configure_mlflow()
    client = MlflowClient()
    current = registry.production_version(client, evaluation.model_name)
    if current != evaluation.production_version:
        return decided(
            False,
            f"production moved from version {evaluation.production_version} to {current} after the evaluation; "
            "evaluate again before promoting",
        )
    registry.promote(client, evaluation.model_name, evaluation.model_version)
    if evaluation.production_version is None:
        return decided(True, f"first version in production ({evaluation.objective} {evaluation.value:.6f})")
    return decided(
        True,
        f"{evaluation.objective} {evaluation.value:.6f} beats production version {evaluation.production_version} "
        f"({evaluation.production_value:.6f})",
    )


def deploy(platform: Platform, config: DeployConfig) -> Deployment:
    """Create the campaign on first deploy; later, a MANUAL campaign is moved, an AUTO one follows the registry."""
    existing = platform.catalog.find(ResourceType.CAMPAIGN, config.campaign)
    moved = True
    if existing is None:
        campaign = create_campaign(
            platform,
            config.campaign,
            solution_version=config.solution_version_arn,
            update_mode=config.update_mode,
            actor="deploy",
        )
    elif (
        UpdateMode.parse(existing.attributes["updateMode"]) is UpdateMode.MANUAL
        and existing.attributes["solutionVersionArn"] != config.solution_version_arn
    ):
        campaign = update_campaign(
            platform, existing.arn, solution_version=config.solution_version_arn, actor="deploy"
        )
    else:
        campaign, moved = existing, False
    return Deployment(
        campaign_arn=campaign.arn,
        update_mode=campaign.attributes["updateMode"],
        solution_version_arn=campaign.attributes["solutionVersionArn"],
        moved=moved,
    )
