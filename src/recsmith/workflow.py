"""The workflow's stages as plain typed functions: import_dataset, train, evaluate, register, promote, deploy.

Airflow tasks, Kubeflow components and the CLI's demo call exactly these, with the same configs, so every
face runs the same code. Each stage is idempotent where it can be (a rerun finds the group, schema, dataset
or solution it created before) and raises on failure, so an orchestrator marks the task failed.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict, Field

from recsmith.campaigns.campaigns import UpdateMode, create_campaign, update_campaign
from recsmith.catalog import ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.imports import create_dataset_import_job
from recsmith.errors import InvalidInputError, TrainingError
from recsmith.platform import Platform
from recsmith.training.registry import STAGING, production_version, promote
from recsmith.training.solutions import SolutionConfig, create_solution, solution_config
from recsmith.training.versions import create_solution_version

logger = logging.getLogger(__name__)


class ImportConfig(BaseModel):
    """One file into one dataset of a group; the group, schema and dataset are created when missing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_group: str = Field(description="Dataset group name.")
    dataset_type: str = Field(default="INTERACTIONS", description="INTERACTIONS, ITEMS or USERS.")
    data_location: str = Field(description="CSV or Parquet file or folder.")
    schema_file: str = Field(description="Avro schema JSON file for the dataset.")
    import_mode: str = Field(default="FULL", description="FULL or INCREMENTAL.")


class TrainConfig(BaseModel):
    """One training of a solution; the solution is created with ``solution_config`` when missing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_group: str = Field(description="Dataset group name.")
    solution: str = Field(description="Solution name.")
    solution_config: SolutionConfig = Field(description="Recipe or AutoML, HPO, objective, seed.")


class DeployConfig(BaseModel):
    """Create (or move) a campaign onto a solution version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign: str = Field(description="Campaign name.")
    solution_version_arn: str = Field(description="Solution version to serve.")
    update_mode: str = Field(default="AUTO", description="AUTO follows the registry; MANUAL stays pinned.")


def import_dataset(platform: Platform, config: ImportConfig) -> dict[str, Any]:
    """Import a file; returns the job ARN and the new data version. A failed job raises with its reason."""
    group = platform.catalog.find(ResourceType.DATASET_GROUP, config.dataset_group)
    if group is None:
        group = create_dataset_group(platform, config.dataset_group)
    kind = config.dataset_type.upper()
    name = f"{group.name}-{kind.lower()}"
    if platform.catalog.find(ResourceType.SCHEMA, name) is None:
        create_schema(platform, name, Path(config.schema_file).read_text())
    if platform.catalog.find(ResourceType.DATASET, name) is None:
        create_dataset(platform, name, group.arn, kind, name)
    job = create_dataset_import_job(
        platform, f"{name}-{uuid.uuid4().hex[:8]}", name, config.data_location, config.import_mode
    )
    if job.status is not Status.ACTIVE:
        raise InvalidInputError(f"import job {job.name} failed: {job.failure_reason}")
    return {"datasetImportJobArn": job.arn, "dataVersion": job.attributes["dataVersion"]["id"]}


def train(platform: Platform, config: TrainConfig) -> dict[str, Any]:
    """Train a new solution version; returns its ARN, metrics and registered model version."""
    solution = platform.catalog.find(ResourceType.SOLUTION, config.solution)
    if solution is None:
        solution = create_solution(platform, config.solution, config.dataset_group, config.solution_config)
    elif solution_config(solution) != config.solution_config:
        logger.warning("solution %s exists with another config; training it as it was created", solution.name)
    version = create_solution_version(platform, solution.arn)
    if version.status is not Status.ACTIVE:
        raise TrainingError(f"solution version {version.arn} failed: {version.failure_reason}")
    return {
        "solutionVersionArn": version.arn,
        "recipe": version.attributes["recipe"],
        "metrics": version.attributes["metrics"],
        "modelName": version.attributes["modelName"],
        "modelVersion": version.attributes["modelVersion"],
    }


def evaluate(platform: Platform, solution_version_arn: str) -> dict[str, Any]:
    """Compare a version with the one in production on the solution's objective metric."""
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, solution_version_arn)
    solution = platform.catalog.get(ResourceType.SOLUTION, version.attributes["solutionArn"])
    objective = solution_config(solution).objective_metric
    value = float(version.attributes["metrics"][objective])
    platform.configure_mlflow()
    current = production_version(MlflowClient(), version.attributes["modelName"])
    production_value: float | None = None
    if current is not None and current != version.attributes["modelVersion"]:
        production_value = _production_metric(platform, version.attributes["modelName"], current, objective)
    return {
        "solutionVersionArn": version.arn,
        "objective": objective,
        "value": value,
        "productionVersion": current,
        "productionValue": production_value,
        "beatsProduction": production_value is None or value > production_value,
    }


def _production_metric(platform: Platform, model_name: str, model_version: str, objective: str) -> float | None:
    """The production version's objective at full precision (from its solution version; the tag is rounded)."""
    tags = MlflowClient().get_model_version(model_name, model_version).tags
    arn = tags.get("recsmith.solution_version_arn")
    produced = platform.catalog.find(ResourceType.SOLUTION_VERSION, arn) if arn else None
    if produced is not None and objective in (produced.attributes.get("metrics") or {}):
        return float(produced.attributes["metrics"][objective])
    return float(tags[f"metric.{objective}"]) if f"metric.{objective}" in tags else None


def register(platform: Platform, solution_version_arn: str) -> dict[str, Any]:
    """Mark a trained version as the registered model's ``staging`` candidate."""
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, solution_version_arn)
    platform.configure_mlflow()
    promote(MlflowClient(), version.attributes["modelName"], version.attributes["modelVersion"], alias=STAGING)
    return {"modelName": version.attributes["modelName"], "modelVersion": version.attributes["modelVersion"]}


def promote_if_better(platform: Platform, solution_version_arn: str) -> dict[str, Any]:
    """Move ``production`` to this version when it beats the current one (or nothing is in production)."""
    verdict = evaluate(platform, solution_version_arn)
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, solution_version_arn)
    if verdict["beatsProduction"]:
        platform.configure_mlflow()
        promote(MlflowClient(), version.attributes["modelName"], version.attributes["modelVersion"])
    return {**verdict, "promoted": bool(verdict["beatsProduction"])}


def deploy(platform: Platform, config: DeployConfig) -> dict[str, Any]:
    """Create the campaign on first deploy; later, a MANUAL campaign is moved, an AUTO one follows the registry."""
    existing = platform.catalog.find(ResourceType.CAMPAIGN, config.campaign)
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
        campaign = existing
    return {"campaignArn": campaign.arn, "updateMode": campaign.attributes["updateMode"]}
