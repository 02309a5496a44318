"""Dataset export jobs: a dataset's data, as CSV with Personalize's column names, to a local folder or S3.

``ingestionMode`` says which data, as in Personalize: BULK is the dataset's current data version (what import
jobs wrote), PUT is what arrived through PutEvents (INTERACTIONS datasets only; columns USER_ID, ITEM_ID,
TIMESTAMP, EVENT_TYPE, EVENT_VALUE), ALL is both, bulk rows first. The job writes one file,
``<jobOutput>/<job name>.csv``: to a temporary file first, then renamed into place or uploaded, so a reader never
sees half a file. It ends ACTIVE, or CREATE FAILED with the reason.

:func:`start_dataset_export_job` validates and records the job (CREATE PENDING); :func:`run_dataset_export_job`
writes it (a job executor's worker, or :func:`create_dataset_export_job`, which does both).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from enum import StrEnum
from pathlib import Path

import pandas as pd

from models.columns import EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from recsmith.arns import validate_name
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.data.datasets import dataset_schema
from recsmith.data.imports import read_current
from recsmith.data.schemas import DatasetType
from recsmith.errors import InvalidInputError, RecsmithError
from recsmith.jobs import JobKind
from recsmith.jobs.lifecycle import begin_job, record_job
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

EVENT_COLUMNS = [USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE]


class IngestionMode(StrEnum):
    """Which data an export holds: imported (BULK), streamed through PutEvents (PUT), or both (ALL)."""

    BULK = "BULK"
    PUT = "PUT"
    ALL = "ALL"


def create_dataset_export_job(
    platform: Platform,
    job_name: str,
    dataset: str,
    job_output: str,
    ingestion_mode: str = IngestionMode.PUT,
) -> Resource:
    """Export ``dataset`` to ``job_output`` (a local folder or ``s3://bucket/prefix/``) now; returns the job,
    ACTIVE or CREATE FAILED."""
    job = start_dataset_export_job(platform, job_name, dataset, job_output, ingestion_mode)
    return run_dataset_export_job(platform, job.arn)


def start_dataset_export_job(
    platform: Platform,
    job_name: str,
    dataset: str,
    job_output: str,
    ingestion_mode: str = IngestionMode.PUT,
) -> Resource:
    """Validate and record an export job, CREATE PENDING; :func:`run_dataset_export_job` writes it."""
    validate_name(job_name, "dataset export job")
    try:
        mode = IngestionMode(ingestion_mode.upper())
    except ValueError:
        raise InvalidInputError(f"unknown ingestion mode {ingestion_mode!r}; allowed: BULK, PUT, ALL") from None
    if not job_output:
        raise InvalidInputError("jobOutput is required: a local folder or s3://bucket/prefix/")
    target = platform.catalog.get(ResourceType.DATASET, dataset)
    kind = DatasetType(target.attributes["datasetType"])
    if mode is IngestionMode.PUT and kind is not DatasetType.INTERACTIONS:
        raise InvalidInputError(
            f"ingestion mode PUT exports PutEvents data, which only INTERACTIONS datasets have; "
            f"dataset {target.name!r} is {kind.value}: use BULK"
        )
    return record_job(
        platform,
        JobKind.DATASET_EXPORT,
        job_name,
        dataset_group_arn=target.dataset_group_arn,
        attributes={
            "datasetArn": target.arn,
            "ingestionMode": mode.value,
            "jobOutput": {"s3DataDestination": {"path": job_output}},
        },
    )


def run_dataset_export_job(platform: Platform, job_arn: str) -> Resource:
    """Write a CREATE PENDING export job's file; returns the job ACTIVE, or CREATE FAILED with the reason."""
    job = begin_job(platform, JobKind.DATASET_EXPORT, job_arn)
    job_name = job.name
    job_output = job.attributes["jobOutput"]["s3DataDestination"]["path"]
    mode = IngestionMode(job.attributes["ingestionMode"])
    try:
        target = platform.catalog.get(ResourceType.DATASET, job.attributes["datasetArn"])
        kind = DatasetType(target.attributes["datasetType"])
        frame = _export_frame(platform, target, kind, mode)
        location = _write(platform, frame, job_output, job_name)
    except RecsmithError as exc:
        logger.warning("export job %s failed: %s", job_name, exc)
        return platform.catalog.update(job, status=Status.CREATE_FAILED, failure_reason=str(exc))
    return platform.catalog.update(
        job, status=Status.ACTIVE, attributes={"outputLocation": location, "rowCount": len(frame)}
    )


def discard_dataset_export_job(platform: Platform, job: Resource) -> None:
    """Remove the partial file (local) or the staging folder (S3) of an export whose process died."""
    job_output = job.attributes["jobOutput"]["s3DataDestination"]["path"]
    if job_output.startswith("s3://"):
        shutil.rmtree(_s3_staging(platform, job.name), ignore_errors=True)
        return
    for partial in Path(job_output).expanduser().glob(f".{job.name}.csv.*.tmp"):
        partial.unlink(missing_ok=True)


def _s3_staging(platform: Platform, job_name: str) -> Path:
    return platform.settings.data_root / f".s3-export-{job_name}"


def _export_frame(platform: Platform, dataset: Resource, kind: DatasetType, mode: IngestionMode) -> pd.DataFrame:
    parts: list[pd.DataFrame] = []
    if mode in (IngestionMode.BULK, IngestionMode.ALL):
        bulk = read_current(platform, dataset)
        if bulk is None:  # nothing imported yet: the header alone
            bulk = pd.DataFrame(columns=dataset_schema(platform, dataset).field_names)
        parts.append(bulk)
    if mode in (IngestionMode.PUT, IngestionMode.ALL) and kind is DatasetType.INTERACTIONS:
        assert dataset.dataset_group_arn is not None
        parts.append(platform.events.events_frame(dataset.dataset_group_arn)[EVENT_COLUMNS])
    if len(parts) == 1:
        return parts[0]
    columns = list(dict.fromkeys(c for part in parts for c in part.columns))
    non_empty = [part for part in parts if not part.empty]
    if not non_empty:
        return pd.DataFrame(columns=columns)
    return pd.concat(non_empty, ignore_index=True).reindex(columns=columns)


def _write(platform: Platform, frame: pd.DataFrame, job_output: str, job_name: str) -> str:
    """Write ``frame`` as CSV to ``<job_output>/<job_name>.csv`` via a temporary file; returns where it went."""
    file_name = f"{job_name}.csv"
    if job_output.startswith("s3://"):
        from recsmith.data import s3

        s3.parse_s3_uri(job_output)
        uri = job_output.rstrip("/") + "/" + file_name
        staging = _s3_staging(platform, job_name)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            _to_csv(frame, staging / file_name)
            s3.upload(platform.settings, staging / file_name, uri)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return uri
    folder = Path(job_output).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"{job_output}: cannot create the output folder: {exc}") from exc
    final = folder / file_name
    partial = folder / f".{file_name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        _to_csv(frame, partial)
        os.replace(partial, final)
    except OSError as exc:
        raise InvalidInputError(f"{final}: cannot write the export: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return str(final.resolve())


def _to_csv(frame: pd.DataFrame, path: Path) -> None:
    try:
        frame.to_csv(path, index=False, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot write the export: {exc}") from exc
