"""The Forecast workflow's stages as typed functions: ``import_target_series`` → ``train_predictor`` →
``create_forecast`` → ``export_forecast``.

The Airflow DAG ``recsmith_forecast``, the KFP components of ``components/forecast.py`` and the CLI's
``forecast run-workflow`` call exactly these, with the same configs. Each stage finds what an earlier run created
(the group, the dataset) and creates what is missing; each raises on failure, so an orchestrator marks the task
failed. Resource names carry a UTC time stamp given by the caller (``run_id``), never read from the clock inside
a stage, so a retried task reuses its own names: a rerun of a stage that already succeeded returns what it made.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recsmith.catalog import ResourceType, Status
from recsmith.errors import InvalidInputError, TrainingError
from recsmith.forecast.datasets import create_dataset, create_dataset_group, group_dataset, update_dataset_group
from recsmith.forecast.forecasts import (
    create_forecast_export_job,
    run_forecast,
    start_forecast,
)
from recsmith.forecast.imports import create_dataset_import_job
from recsmith.forecast.predictors import PredictorConfig, create_predictor
from recsmith.forecast.resources import forecast_arn
from recsmith.forecast.schemas import DatasetType
from recsmith.platform import Platform

CUSTOM_SCHEMA = [
    {"AttributeName": "timestamp", "AttributeType": "timestamp"},
    {"AttributeName": "target_value", "AttributeType": "float"},
    {"AttributeName": "item_id", "AttributeType": "string"},
]
"""The column order of Forecast's getting-started file (``item-demand-time.csv``)."""


def run_suffix(run_id: str) -> str:
    """A run id as a Forecast name part (letters, digits and ``_`` only)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", run_id).strip("_")
    return cleaned[-40:] or "run"


class TargetImportConfig(BaseModel):
    """One file into a dataset group's TARGET_TIME_SERIES; the group and dataset are created when missing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_group: str = Field(description="Dataset group name (letters, digits, _).")
    domain: str = Field(default="CUSTOM", description="RETAIL, CUSTOM, INVENTORY_PLANNING, ... .")
    data_location: str = Field(description="CSV or Parquet file, folder, or s3:// URI.")
    attributes: list[dict[str, str]] = Field(
        default_factory=lambda: list(CUSTOM_SCHEMA), description="The schema's Attributes, in file column order."
    )
    data_frequency: str = Field(default="H", description="How often the data is recorded.")
    timestamp_format: str | None = Field(default=None, description="Java pattern; default yyyy-MM-dd HH:mm:ss.")
    time_zone: str | None = Field(default=None, description="IANA time zone of the timestamps.")
    import_mode: str = Field(default="FULL", description="FULL replaces; INCREMENTAL adds.")
    file_format: str = Field(default="CSV", description="CSV or PARQUET.")


class PredictorStageConfig(BaseModel):
    """An AutoPredictor (or one algorithm) on a dataset group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_group: str = Field(description="Dataset group name.")
    forecast_horizon: int = Field(default=24, ge=1, le=500, description="Steps to forecast.")
    forecast_frequency: str = Field(default="H", description="Frequency of the forecast.")
    forecast_types: list[str] = Field(default_factory=lambda: ["0.1", "0.5", "0.9", "mean"])
    algorithms: list[str] | None = Field(default=None, description="Candidates; default all six.")
    backtest_windows: int = Field(default=1, ge=1, le=5)
    holiday_country: str | None = Field(default=None, description="Country code of the holiday calendar.")


def import_target_series(platform: Platform, config: TargetImportConfig, run_id: str) -> dict[str, Any]:
    """Import the file; returns the job ARN and the data version. A failed job raises with its reason."""
    group = platform.catalog.find(ResourceType.FORECAST_DATASET_GROUP, config.dataset_group)
    if group is None:
        group = create_dataset_group(platform, config.dataset_group, config.domain)
    dataset = group_dataset(platform, group, DatasetType.TARGET_TIME_SERIES)
    if dataset is None:
        name = f"{config.dataset_group}_target"
        dataset = platform.catalog.find(ResourceType.FORECAST_DATASET, name) or create_dataset(
            platform,
            name,
            config.domain,
            DatasetType.TARGET_TIME_SERIES.value,
            {"Attributes": config.attributes},
            config.data_frequency,
        )
        update_dataset_group(platform, group.arn, [*group.attributes.get("DatasetArns", []), dataset.arn])
    job_name = f"import_{run_suffix(run_id)}"
    existing = platform.catalog.find(
        ResourceType.FORECAST_DATASET_IMPORT_JOB,
        forecast_arn(platform.settings, ResourceType.FORECAST_DATASET_IMPORT_JOB, f"{dataset.name}/{job_name}"),
    )
    job = existing if existing is not None and existing.status is Status.ACTIVE else None
    if job is None:
        job = create_dataset_import_job(
            platform,
            job_name if existing is None else f"{job_name}_retry",
            dataset.arn,
            config.data_location,
            timestamp_format=config.timestamp_format,
            time_zone=config.time_zone,
            import_mode=config.import_mode,
            file_format=config.file_format,
        )
    if job.status is not Status.ACTIVE:
        raise InvalidInputError(f"import job {job.name} failed: {job.failure_reason}")
    return {
        "datasetImportJobArn": job.arn,
        "datasetGroupArn": group.arn,
        "dataVersion": job.attributes["dataVersion"]["id"],
    }


def train_predictor(platform: Platform, config: PredictorStageConfig, run_id: str) -> dict[str, Any]:
    """Train a predictor named after the run; returns its ARN, AutoPredictor's summary metrics and model version."""
    group = platform.catalog.get(ResourceType.FORECAST_DATASET_GROUP, config.dataset_group)
    name = f"{config.dataset_group}_{run_suffix(run_id)}"[:63]
    predictor = platform.catalog.find(
        ResourceType.PREDICTOR, forecast_arn(platform.settings, ResourceType.PREDICTOR, name)
    )
    if predictor is None or predictor.status is not Status.ACTIVE:
        values: dict[str, Any] = {
            "dataset_group_arn": group.arn,
            "forecast_horizon": config.forecast_horizon,
            "forecast_frequency": config.forecast_frequency,
            "forecast_types": tuple(config.forecast_types),
            "backtest_windows": config.backtest_windows,
            "holiday_country": config.holiday_country,
        }
        if config.algorithms:
            values["algorithms"] = tuple(config.algorithms)
        if predictor is not None:
            name = f"{name[:57]}_retry"
        predictor = create_predictor(platform, name, PredictorConfig(**values))
    if predictor.status is not Status.ACTIVE:
        raise TrainingError(f"predictor {predictor.name} failed: {predictor.failure_reason}")
    summary = predictor.attributes["evaluation"][0]["TestWindows"][0]["Metrics"]
    mean = next(row for row in summary["ErrorMetrics"] if row["ForecastType"] == "mean")
    return {
        "predictorArn": predictor.arn,
        "metrics": {
            "WAPE": mean["WAPE"],
            "RMSE": mean["RMSE"],
            "AverageWeightedQuantileLoss": summary["AverageWeightedQuantileLoss"],
        },
        "modelName": predictor.attributes["modelName"],
        "modelVersion": predictor.attributes["modelVersion"],
        "promoted": predictor.attributes["promoted"],
    }


def create_forecast(platform: Platform, predictor_arn: str, run_id: str) -> dict[str, Any]:
    """Forecast every series with the predictor; returns the forecast's ARN."""
    predictor = platform.catalog.get(ResourceType.PREDICTOR, predictor_arn)
    name = f"{predictor.name[:40]}_fc_{run_suffix(run_id)}"[:63]
    arn = forecast_arn(platform.settings, ResourceType.FORECAST, name)
    forecast = platform.catalog.find(ResourceType.FORECAST, arn)
    if forecast is None:
        forecast = run_forecast(platform, start_forecast(platform, name, predictor.arn).arn)
    elif forecast.status is Status.CREATE_PENDING:
        forecast = run_forecast(platform, forecast.arn)
    if forecast.status is not Status.ACTIVE:
        raise InvalidInputError(f"forecast {forecast.name} failed: {forecast.failure_reason}")
    return {"forecastArn": forecast.arn, "series": forecast.attributes["seriesCount"]}


def export_forecast(
    platform: Platform, forecast_arn_: str, destination: str, file_format: str, run_id: str
) -> dict[str, Any]:
    """Export the forecast to a folder or S3 prefix; returns the job ARN and the files written."""
    name = f"export_{run_suffix(run_id)}"
    forecast = platform.catalog.get(ResourceType.FORECAST, forecast_arn_)
    arn = forecast_arn(platform.settings, ResourceType.FORECAST_EXPORT_JOB, f"{forecast.name}/{name}")
    job = platform.catalog.find(ResourceType.FORECAST_EXPORT_JOB, arn)
    if job is None or job.status is not Status.ACTIVE:
        name = name if job is None else f"{name}_retry"
        job = create_forecast_export_job(platform, name, forecast.arn, destination, file_format)
    if job.status is not Status.ACTIVE:
        raise InvalidInputError(f"forecast export job {job.name} failed: {job.failure_reason}")
    return {"forecastExportJobArn": job.arn, "files": job.attributes["outputFiles"]}
