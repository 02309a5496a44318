"""Forecasts of a predictor, the ``forecastquery`` lookup, and forecast export jobs.

``run_forecast`` loads the predictor's folder and forecasts every series (or those of the request's
``TimeSeriesSelector``) for the horizon after the data it was trained on, as Forecast does, then writes one
immutable Parquet file: the series' key fields, ``date``, and a column per forecast type (``p10``, ``p50``,
``p90``, ``mean``). ``query_forecast`` answers ``QueryForecast`` from that file through a per-process index
(the file never changes, so the index is keyed by its path and never goes stale): one dictionary lookup per query.
Export jobs write the same rows as CSV or Parquet into a folder or an S3 prefix, named as Forecast names them
(``<job>_<time>_part0.csv``), through a temporary file and a rename (or one upload).
"""

from __future__ import annotations

import functools
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import InvalidInputError, RecsmithError, ResourceInUseError, ResourceNotFoundError
from recsmith.forecast import lifecycle
from recsmith.forecast.artifact import PredictorArtifact
from recsmith.forecast.predictors import predictor_config
from recsmith.forecast.resources import RUNNING, forecast_arn, forecast_status, get, status_fields, times, validate_name
from recsmith.forecast.series import key_fields as split_key
from recsmith.platform import Platform

DATE = "date"
_FILE = "forecast.parquet"


def statistic_name(forecast_type: str) -> str:
    """How QueryForecast and exports name a forecast type: ``mean``, or ``p`` and the percentile (``p10``)."""
    return "mean" if forecast_type == "mean" else f"p{round(float(forecast_type) * 100):d}"


def forecast_frame(artifact: PredictorArtifact, forecast_types: Sequence[str] | None = None) -> pd.DataFrame:
    """Every series' forecast as rows: the key fields, ``date`` (ISO 8601) and one column per forecast type."""
    types = list(forecast_types or artifact.meta["forecastTypes"])
    predictions, index = artifact.forecast()
    keys = artifact.key_fields
    frames = []
    for sid, prediction in predictions.items():
        row: dict[str, Any] = {key: value for key, value in zip(keys, split_key(sid), strict=True)}
        row[DATE] = index[sid].strftime("%Y-%m-%dT%H:%M:%S")
        for forecast_type in types:
            values = prediction.mean if forecast_type == "mean" else prediction.quantiles[float(forecast_type)]
            row[statistic_name(forecast_type)] = np.asarray(values, dtype=np.float64)
        frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True)


def start_forecast(
    platform: Platform,
    name: str,
    predictor: str,
    forecast_types: Sequence[str] | None = None,
    time_series_selector: Mapping[str, Any] | None = None,
) -> Resource:
    """Check a forecast request and record it CREATE_PENDING; :func:`run_forecast` makes it."""
    validate_name(name, "ForecastName")
    lifecycle.reap_interrupted_jobs(platform)
    source = get(platform, ResourceType.PREDICTOR, predictor, "PredictorArn")
    if source.status is not Status.ACTIVE:
        raise ResourceInUseError(f"predictor {source.name} is {forecast_status(source.status)}, not ACTIVE")
    trained = predictor_config(source).forecast_types
    types = list(forecast_types or trained)
    missing = [t for t in types if t not in trained]
    if missing:
        raise InvalidInputError(
            f"ForecastTypes {missing} were not trained by predictor {source.name}; it forecasts {', '.join(trained)}"
        )
    attributes: dict[str, Any] = {
        "PredictorArn": source.arn,
        "ForecastTypes": types,
        "CreatedUsingAutoPredictor": bool(source.attributes.get("IsAutoPredictor", True)),
    }
    if time_series_selector:
        attributes["TimeSeriesSelector"] = dict(time_series_selector)
    return platform.catalog.create(
        Resource(
            arn=forecast_arn(platform.settings, ResourceType.FORECAST, name),
            resource_type=ResourceType.FORECAST,
            name=name,
            dataset_group_arn=source.dataset_group_arn,
            status=Status.CREATE_PENDING,
            attributes=attributes,
        )
    )


def run_forecast(platform: Platform, forecast_arn_: str) -> Resource:
    """Make a CREATE_PENDING forecast; returns it ACTIVE, or CREATE_FAILED with the reason."""
    job = lifecycle.begin(platform, ResourceType.FORECAST, forecast_arn_)
    # a new folder per forecast, never reused: QueryForecast's index is keyed by the file's path
    folder = platform.settings.resolved_home / "forecast" / "forecasts" / f"{job.name}-{uuid.uuid4().hex[:12]}"
    staging = folder.with_name(f".staging-{folder.name}")
    job = platform.catalog.update(job, attributes={"stagingPath": str(staging)})
    try:
        predictor = platform.catalog.get(ResourceType.PREDICTOR, job.attributes["PredictorArn"])
        artifact = PredictorArtifact.load(predictor.attributes["artifactPath"])
        frame = forecast_frame(artifact, job.attributes["ForecastTypes"])
        selector = job.attributes.get("TimeSeriesSelector")
        if selector:
            frame = _select(platform, frame, selector, artifact.key_fields)
        staging.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(staging / _FILE, index=False)
        os.replace(staging, folder)
    except (RecsmithError, ValueError, OSError, KeyError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        return lifecycle.fail(
            platform, job, f"{type(exc).__name__}: {exc}" if not isinstance(exc, RecsmithError) else str(exc)
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        lifecycle.fail(platform, job, "forecast was interrupted")
        raise
    attributes = {
        "forecastPath": str(folder / _FILE),
        "keyFields": artifact.key_fields,
        "seriesCount": int(frame.groupby(artifact.key_fields).ngroups),
        "stagingPath": None,
    }
    return platform.catalog.update(job, status=Status.ACTIVE, attributes=attributes)


def create_forecast(
    platform: Platform, name: str, predictor: str, forecast_types: Sequence[str] | None = None
) -> Resource:
    """Start and make a forecast in this process; returns it ACTIVE or CREATE_FAILED."""
    return run_forecast(platform, start_forecast(platform, name, predictor, forecast_types).arn)


def _select(platform: Platform, frame: pd.DataFrame, selector: Mapping[str, Any], keys: list[str]) -> pd.DataFrame:
    """Only the series a TimeSeriesSelector's file lists (headerless CSV or Parquet, columns as its Schema)."""
    identifiers = selector.get("TimeSeriesIdentifiers") or {}
    path = ((identifiers.get("DataSource") or {}).get("S3Config") or {}).get("Path")
    attributes = [a["AttributeName"] for a in (identifiers.get("Schema") or {}).get("Attributes", [])]
    if not path or not attributes:
        raise InvalidInputError("TimeSeriesSelector needs TimeSeriesIdentifiers.DataSource.S3Config.Path and Schema")
    unknown = [a for a in attributes if a not in keys]
    if unknown:
        raise InvalidInputError(f"TimeSeriesSelector attribute {unknown[0]} is not a series key ({', '.join(keys)})")
    local = Path(path)
    if path.startswith("s3://"):
        from recsmith.data import s3

        local = s3.download(
            platform.settings, path, platform.settings.resolved_home / "tmp" / f"selector-{time.time_ns()}"
        )
    try:
        if identifiers.get("Format", "CSV") == "PARQUET":
            wanted = pd.read_parquet(local)[attributes].astype(str)
        else:
            wanted = pd.read_csv(local, header=None, names=attributes, dtype=str)
    finally:
        if path.startswith("s3://"):
            local.unlink(missing_ok=True)
    return frame.merge(wanted.drop_duplicates(), on=attributes, how="inner").reset_index(drop=True)


# ------------------------------------------------------------------- query
@functools.lru_cache(maxsize=32)
def _index(path: str) -> tuple[tuple[str, ...], dict[tuple[str, ...], dict[str, Any]]]:
    """The forecast file at ``path`` (immutable) as series key -> (dates, {statistic: values})."""
    frame = pd.read_parquet(path)
    keys = tuple(c for c in frame.columns if c != DATE and not _is_statistic(c))
    statistics = [c for c in frame.columns if _is_statistic(c)]
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for key, group in frame.groupby(list(keys), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        dates = group[DATE].tolist()
        out[tuple(str(k) for k in key)] = {
            "dates": dates,
            "predictions": {
                s: [{"Timestamp": d, "Value": float(v)} for d, v in zip(dates, group[s], strict=True)]
                for s in statistics
            },
        }
    return keys, out


def _is_statistic(column: str) -> bool:
    return column == "mean" or (column.startswith("p") and column[1:].isdigit())


def query_forecast(
    platform: Platform,
    forecast: str,
    filters: Mapping[str, str],
    start_date: str | None = None,
    end_date: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """One series' predictions per statistic, ``[{"Timestamp", "Value"}]``, optionally between two dates."""
    target = get(platform, ResourceType.FORECAST, forecast, "ForecastArn")
    if target.status is not Status.ACTIVE:
        raise ResourceInUseError(f"forecast {target.name} is {forecast_status(target.status)}, not ACTIVE")
    if not isinstance(filters, Mapping) or not filters:
        raise InvalidInputError('Filters is required, e.g. {"item_id": "client_12"}')
    keys, index = _index(target.attributes["forecastPath"])
    unknown = [k for k in filters if k not in keys]
    if unknown:
        raise InvalidInputError(f"Filters key {unknown[0]!r} is not a series key; keys: {', '.join(keys)}")
    if len(filters) == len(keys):
        found = index.get(tuple(str(filters[k]) for k in keys))
        matches = [found] if found is not None else []
    else:
        matches = [v for key, v in index.items() if all(key[keys.index(k)] == str(f) for k, f in filters.items())]
    if not matches:
        raise ResourceNotFoundError(f"forecast {target.name} has no series with {dict(filters)}")
    if len(matches) > 1:
        raise InvalidInputError(
            f"Filters {dict(filters)} match {len(matches)} series; name every key: {', '.join(keys)}"
        )
    predictions = matches[0]["predictions"]
    if start_date is None and end_date is None:
        return dict(predictions)
    low, high = _date(start_date, "StartDate"), _date(end_date, "EndDate")
    return {
        s: [p for p in points if (low is None or p["Timestamp"] >= low) and (high is None or p["Timestamp"] <= high)]
        for s, points in predictions.items()
    }


def _date(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError as exc:
        raise InvalidInputError(f"{field} {value!r} is not a date (yyyy-MM-ddTHH:mm:ss)") from exc


# ------------------------------------------------------------------ export
_FORMATS = {"CSV": ".csv", "PARQUET": ".parquet"}


def start_forecast_export_job(
    platform: Platform,
    name: str,
    forecast: str,
    destination: str,
    file_format: str = "CSV",
    role_arn: str | None = None,
) -> Resource:
    """Check an export request and record it CREATE_PENDING; :func:`run_forecast_export_job` writes it."""
    validate_name(name, "ForecastExportJobName")
    lifecycle.reap_interrupted_jobs(platform)
    source = get(platform, ResourceType.FORECAST, forecast, "ForecastArn")
    if source.status is not Status.ACTIVE:
        raise ResourceInUseError(f"forecast {source.name} is {forecast_status(source.status)}, not ACTIVE")
    if file_format not in _FORMATS:
        raise InvalidInputError(f"Format {file_format!r} is not supported; allowed: CSV, PARQUET")
    if not isinstance(destination, str) or not destination:
        raise InvalidInputError("Destination.S3Config.Path is required")
    s3_config = {"Path": destination, **({"RoleArn": role_arn} if role_arn else {})}
    return platform.catalog.create(
        Resource(
            arn=forecast_arn(platform.settings, ResourceType.FORECAST_EXPORT_JOB, f"{source.name}/{name}"),
            resource_type=ResourceType.FORECAST_EXPORT_JOB,
            name=name,
            dataset_group_arn=source.dataset_group_arn,
            status=Status.CREATE_PENDING,
            attributes={"ForecastArn": source.arn, "Destination": {"S3Config": s3_config}, "Format": file_format},
        )
    )


def run_forecast_export_job(platform: Platform, job_arn: str) -> Resource:
    """Write a CREATE_PENDING export job's file; returns it ACTIVE, or CREATE_FAILED with the reason."""
    job = lifecycle.begin(platform, ResourceType.FORECAST_EXPORT_JOB, job_arn)
    source = platform.catalog.get(ResourceType.FORECAST, job.attributes["ForecastArn"])
    suffix = _FORMATS[job.attributes["Format"]]
    stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime())
    file_name = f"{job.name}_{stamp}_part0{suffix}"
    destination = job.attributes["Destination"]["S3Config"]["Path"]
    scratch = platform.settings.resolved_home / "tmp" / f".export-{job.name}-{os.getpid()}"
    job = platform.catalog.update(job, attributes={"outputStaging": str(scratch)})
    try:
        frame = pd.read_parquet(source.attributes["forecastPath"])
        frame[DATE] = frame[DATE] + "Z"
        if destination.startswith("s3://"):
            from recsmith.data import s3

            scratch.mkdir(parents=True, exist_ok=True)
            _write_table(frame, scratch / file_name, suffix)
            written = s3.upload(platform.settings, scratch / file_name, destination.rstrip("/") + "/" + file_name)
        else:
            folder = Path(destination)
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{file_name}.part"  # readers of the folder never see a half-written file
            job = platform.catalog.update(job, attributes={"outputPartial": str(partial)})
            _write_table(frame, partial, suffix)
            os.replace(partial, folder / file_name)
            written = str(folder / file_name)
    except OSError as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        return lifecycle.fail(platform, job, f"could not write the export to {destination}: {exc}")
    except RecsmithError as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        return lifecycle.fail(platform, job, str(exc))
    shutil.rmtree(scratch, ignore_errors=True)
    return platform.catalog.update(
        job,
        status=Status.ACTIVE,
        attributes={"outputFiles": [written], "rows": int(len(frame)), "outputStaging": None, "outputPartial": None},
    )


def _write_table(frame: pd.DataFrame, path: Path, suffix: str) -> None:
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


def create_forecast_export_job(
    platform: Platform, name: str, forecast: str, destination: str, file_format: str = "CSV"
) -> Resource:
    """Start and write an export job in this process; returns it ACTIVE or CREATE_FAILED."""
    return run_forecast_export_job(
        platform, start_forecast_export_job(platform, name, forecast, destination, file_format).arn
    )


# ------------------------------------------------------------- API shapes
def describe_forecast(forecast: Resource) -> dict[str, Any]:
    out = {
        "ForecastArn": forecast.arn,
        "ForecastName": forecast.name,
        "ForecastTypes": list(forecast.attributes["ForecastTypes"]),
        "PredictorArn": forecast.attributes["PredictorArn"],
        "DatasetGroupArn": forecast.dataset_group_arn,
        **status_fields(forecast),
        **times(forecast),
    }
    if forecast.attributes.get("TimeSeriesSelector"):
        out["TimeSeriesSelector"] = forecast.attributes["TimeSeriesSelector"]
    return out


def summarize_forecast(forecast: Resource) -> dict[str, Any]:
    out = {
        "ForecastArn": forecast.arn,
        "ForecastName": forecast.name,
        "PredictorArn": forecast.attributes["PredictorArn"],
        "CreatedUsingAutoPredictor": forecast.attributes.get("CreatedUsingAutoPredictor", True),
        "DatasetGroupArn": forecast.dataset_group_arn,
        "Status": forecast_status(forecast.status),
        **times(forecast),
    }
    if forecast.failure_reason:
        out["Message"] = forecast.failure_reason
    return out


def describe_forecast_export_job(job: Resource) -> dict[str, Any]:
    return {
        "ForecastExportJobArn": job.arn,
        "ForecastExportJobName": job.name,
        "ForecastArn": job.attributes["ForecastArn"],
        "Destination": _destination(job),
        "Format": job.attributes["Format"],
        **status_fields(job),
        **times(job),
    }


def summarize_forecast_export_job(job: Resource) -> dict[str, Any]:
    out = {
        "ForecastExportJobArn": job.arn,
        "ForecastExportJobName": job.name,
        "Destination": _destination(job),
        "Status": forecast_status(job.status),
        **times(job),
    }
    if job.failure_reason:
        out["Message"] = job.failure_reason
    return out


def _destination(job: Resource) -> dict[str, Any]:
    config = job.attributes["Destination"]["S3Config"]
    return {"S3Config": {"RoleArn": "arn:aws:iam::000000000000:role/recsmith", **config}}


def delete_forecast(platform: Platform, forecast: str) -> Resource:
    target = get(platform, ResourceType.FORECAST, forecast, "ForecastArn")
    if target.status in RUNNING:
        raise ResourceInUseError(f"forecast {target.name} is still being created")
    exports = [
        j
        for j in platform.catalog.list(ResourceType.FORECAST_EXPORT_JOB, where={"ForecastArn": target.arn})
        if j.status in RUNNING
    ]
    if exports:
        raise ResourceInUseError(f"forecast {target.name} has export job {exports[0].name} in progress")
    deleted = platform.catalog.delete(ResourceType.FORECAST, target.arn)
    if target.attributes.get("forecastPath"):
        shutil.rmtree(Path(target.attributes["forecastPath"]).parent, ignore_errors=True)
    return deleted
