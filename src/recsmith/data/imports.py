"""Dataset import jobs: CSV or Parquet files (local or S3), streamed and validated row by row, into a new
immutable data version.

The file is never held whole: batches are read (:mod:`recsmith.data.reader`), typed and checked
(:mod:`recsmith.data.validation`) and written as Parquet parts into a staging folder
(:mod:`recsmith.data.versions`). The job is all or nothing:

- a bad row does not stop validation (the failure reason reports the first bad rows and the total count), but
  nothing of the file becomes visible: the staging folder is removed;
- a finished version is moved into place with one ``os.replace``, tracked by DVC, and the dataset and the job
  are updated in one catalog transaction;
- one import at a time per dataset, enforced by the catalog: :func:`start_dataset_import_job` records the job
  and takes the dataset's in-progress lock in one insert, so a second concurrent import is refused with
  :class:`~recsmith.errors.ResourceInUseError`, never merged over (two INCREMENTAL imports used to both end
  ACTIVE and the later one replaced the earlier one's rows);
- the catalog records which process runs the job (:mod:`recsmith.jobs.lifecycle`). A process killed midway
  leaves a job CREATE IN_PROGRESS whose owner is dead: the executor at start, and describe/list, mark it
  CREATE FAILED and remove what it wrote (:func:`discard_dataset_import_job`). The dataset is unchanged.

:func:`start_dataset_import_job` records the job (CREATE PENDING) and returns; :func:`run_dataset_import_job`
imports it (a job executor's worker, or the caller of :func:`create_dataset_import_job`, which does both).

Exact duplicate records (the same USER_ID, ITEM_ID and TIMESTAMP; for Items and Users the same id) are dropped,
keeping the last, and counted on the job. INCREMENTAL imports add to the current version: a new record replaces
the old one with the same key, and the old parts that lose no row are hard-linked into the new version.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsmith.arns import validate_name
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.data.datasets import dataset_folder, dataset_schema
from recsmith.data.reader import iter_batches, read_header
from recsmith.data.schemas import DatasetType
from recsmith.data.validation import BatchValidator, arrow_schema, check_header
from recsmith.data.versions import (
    STAGING_PREFIX,
    KeySet,
    VersionBuilder,
    WriteBudget,
    duplicate_mask,
    parts_of,
    read_keys,
    version_md5,
)
from recsmith.errors import DataValidationError, InvalidInputError, RecsmithError, ResourceInUseError
from recsmith.jobs import JobKind
from recsmith.jobs.lifecycle import begin_job, reap_dead_jobs, record_job, refresh_job, refresh_jobs
from recsmith.platform import Platform
from recsmith.settings import Settings

logger = logging.getLogger(__name__)


class ImportMode(StrEnum):
    """FULL replaces the bulk data; INCREMENTAL appends, the same id (or identical event) replacing."""

    FULL = "FULL"
    INCREMENTAL = "INCREMENTAL"


def create_dataset_import_job(
    platform: Platform,
    job_name: str,
    dataset: str,
    data_location: str,
    import_mode: str = ImportMode.FULL,
) -> Resource:
    """Import ``data_location`` into ``dataset`` now; returns the job, ACTIVE or CREATE FAILED (never half
    done). A second import of the same dataset while one is in progress is :class:`ResourceInUseError`."""
    job = start_dataset_import_job(platform, job_name, dataset, data_location, import_mode)
    return run_dataset_import_job(platform, job.arn)


def start_dataset_import_job(
    platform: Platform,
    job_name: str,
    dataset: str,
    data_location: str,
    import_mode: str = ImportMode.FULL,
) -> Resource:
    """Validate and record an import job, CREATE PENDING; :func:`run_dataset_import_job` imports it.

    The record holds the dataset's in-progress lock until the job ends: while another import of the dataset is
    pending or in progress this raises :class:`ResourceInUseError` (Personalize's ``ResourceInUseException``).
    """
    validate_name(job_name, "dataset import job")
    try:
        mode = ImportMode(import_mode.upper())
    except ValueError:
        raise InvalidInputError(f"unknown import mode {import_mode!r}; allowed: FULL, INCREMENTAL") from None
    target = platform.catalog.get(ResourceType.DATASET, dataset)
    try:
        return record_job(
            platform,
            JobKind.DATASET_IMPORT,
            job_name,
            dataset_group_arn=target.dataset_group_arn,
            attributes={
                "datasetArn": target.arn,
                "dataSource": {"dataLocation": data_location},
                "importMode": mode.value,
            },
            exclusive_key=target.arn,
        )
    except ResourceInUseError as exc:
        holder = platform.catalog.job_queue.holder(target.arn)
        running = platform.catalog.find(ResourceType.DATASET_IMPORT_JOB, holder.resource_arn) if holder else None
        name = running.name if running else "another job"
        raise ResourceInUseError(
            f"dataset {target.name!r} has an import job in progress ({name}); wait for it to end"
        ) from exc


def run_dataset_import_job(platform: Platform, job_arn: str) -> Resource:
    """Import a CREATE PENDING import job; returns it ACTIVE, or CREATE FAILED with the reason."""
    job = begin_job(platform, JobKind.DATASET_IMPORT, job_arn)
    job_name = job.name
    target = platform.catalog.get(ResourceType.DATASET, job.attributes["datasetArn"])
    data_location = job.attributes["dataSource"]["dataLocation"]
    mode = ImportMode(job.attributes["importMode"])
    builder: VersionBuilder | None = None
    try:
        builder = _builder(platform, target)
        job = platform.catalog.update(
            job, attributes={"stagingPath": str(builder.staging), "versionPath": str(builder.final)}
        )
        version = _import(platform, target, data_location, mode, builder)
        job, _ = platform.catalog.update_together(
            [
                (job, Status.ACTIVE, {"dataVersion": version, "duplicatesDropped": version["duplicatesDropped"]}),
                (target, None, {"dataVersion": version}),
            ]
        )
    except RecsmithError as exc:
        logger.warning("import job %s failed: %s", job_name, exc)
        if builder is not None:
            _remove_written(builder.staging, builder.final)
        report = exc.report if isinstance(exc, DataValidationError) and exc.report else None
        return platform.catalog.update(job, status=Status.CREATE_FAILED, failure_reason=str(exc), attributes=report)
    except BaseException:
        if builder is not None:
            _remove_written(builder.staging, builder.final)
        platform.catalog.update(job, status=Status.CREATE_FAILED, failure_reason="import was interrupted")
        raise
    return job


def _builder(platform: Platform, dataset: Resource) -> VersionBuilder:
    schema = dataset_schema(platform, dataset)
    settings = platform.settings
    return VersionBuilder(
        dataset_folder(platform, dataset),
        arrow_schema(schema),
        _dedupe_key(DatasetType(dataset.attributes["datasetType"])),
        WriteBudget(settings.import_write_quota_bytes),
        settings.import_part_rows,
    )


def _import(
    platform: Platform, dataset: Resource, data_location: str, mode: ImportMode, builder: VersionBuilder
) -> dict[str, Any]:
    settings = platform.settings
    schema = dataset_schema(platform, dataset)
    validator = BatchValidator(schema, time.time(), settings.import_future_tolerance_seconds)
    try:
        builder.open()
    except OSError as exc:
        raise InvalidInputError(f"could not create data version of {dataset.name!r}: {exc}") from exc
    try:
        return _build(platform, dataset, data_location, mode, builder, validator)
    except BaseException:
        builder.abort()
        raise


def _build(
    platform: Platform,
    dataset: Resource,
    data_location: str,
    mode: ImportMode,
    builder: VersionBuilder,
    validator: BatchValidator,
) -> dict[str, Any]:
    settings = platform.settings
    schema = validator.schema
    multiline = any(f.textual for f in schema.fields)
    started = time.perf_counter()
    rows_read = 0
    with _staged_sources(settings, data_location) as sources:
        names = [name for _, name in sources]
        try:
            for path, name in sources:
                check_header(read_header(path, name), schema, name)
                for batch in iter_batches(path, name, multiline):
                    typed = validator.validate(batch.table, name, batch.first_row)
                    rows_read += batch.table.num_rows
                    if typed is not None and not validator.bad.total:
                        builder.write(typed)
            if validator.bad.total:
                raise validator.bad.error()
            if rows_read == 0:
                raise DataValidationError(names[0], 2, None, "file has a header but no data rows")
            builder.close_part()
            hashes = builder.hashes
            duplicates = _drop_duplicates(builder, hashes)
            replaced = 0
            current = platform.catalog.get(ResourceType.DATASET, dataset.arn).attributes.get("dataVersion")
            if mode is ImportMode.INCREMENTAL and current:
                replaced = _merge_current(builder, current, hashes)
            folder = builder.commit()
        except (OSError, pa.ArrowException) as exc:
            raise InvalidInputError(f"could not write data version of {dataset.name!r}: {exc}") from exc
    parts = [{"name": p.name, "rows": p.rows, "md5": p.md5} for p in builder.parts]
    version: dict[str, Any] = {
        "id": builder.version_id,
        "path": str(folder),
        "md5": version_md5(builder.parts),
        "partMd5s": parts,
        "rowCount": sum(p.rows for p in builder.parts),
        "rowsRead": rows_read,
        "duplicatesDropped": duplicates,
        "rowsReplaced": replaced,
        "sources": names,
    }
    if settings.dvc_track:
        from recsmith.data.dvc_tracking import track_version

        version["dvcFile"] = str(track_version(settings.data_root, folder))
    version["seconds"] = round(time.perf_counter() - started, 3)
    return version


def _drop_duplicates(builder: VersionBuilder, hashes: list[np.ndarray]) -> int:
    """Drop rows of the new parts whose key comes again later in the import; returns how many."""
    if not hashes:
        return 0
    every = np.concatenate(hashes)
    drop = duplicate_mask(every)
    if not drop.any():
        return 0
    start = 0
    for index, part in enumerate(list(builder.parts)):
        piece = drop[start : start + part.rows]
        start += part.rows
        if piece.any():
            builder.replace_part(index, ~piece)
    hashes[:] = [every[~drop]]
    return int(drop.sum())


def _merge_current(builder: VersionBuilder, current: dict[str, Any], hashes: list[np.ndarray]) -> int:
    """Add the current version's parts ahead of the new ones, without the rows the new ones replace; returns
    how many were replaced. Parts that lose nothing are hard-linked."""
    keys = KeySet(np.concatenate(hashes) if hashes else np.zeros((0, 2), dtype=np.uint64))
    folder, old_parts = parts_of(current)
    fresh = len(builder.parts)
    replaced = 0
    for part in old_parts:
        lost = keys.replaced(read_keys(folder, part, builder.key_columns))
        if lost.any():
            builder.add_filtered(folder, part, ~lost)
            replaced += int(lost.sum())
        else:
            builder.link(folder, part)
    builder.reorder(list(range(fresh, len(builder.parts))) + list(range(fresh)))
    return replaced


def _dedupe_key(kind: DatasetType) -> list[str]:
    """Rows that are the same record: the same event, or the same item or user id."""
    if kind is DatasetType.INTERACTIONS:
        return [USER_ID, ITEM_ID, TIMESTAMP]
    return [ITEM_ID] if kind is DatasetType.ITEMS else [USER_ID]


def _remove_written(staging: Path, final: Path, keep_final: bool = False) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    if not keep_final:
        shutil.rmtree(final, ignore_errors=True)
        from recsmith.data.dvc_tracking import untrack_version

        untrack_version(final)


def discard_dataset_import_job(platform: Platform, job: Resource) -> None:
    """Remove what an import job whose process died had written.

    The dataset never changed for such a job (its version becomes current only with the job's ACTIVE, in one
    transaction), so removing the staging folder, and a version folder already renamed into place but never
    made current, restores everything as it was.
    """
    dataset = platform.catalog.find(ResourceType.DATASET, job.attributes.get("datasetArn", ""))
    current = (dataset.attributes.get("dataVersion") or {}) if dataset else {}
    final = job.attributes.get("versionPath")
    if job.attributes.get("stagingPath"):
        _remove_written(
            Path(job.attributes["stagingPath"]),
            Path(final or job.attributes["stagingPath"]),
            keep_final=bool(final) and current.get("path") == final,
        )


def reap_interrupted_import_jobs(platform: Platform) -> list[Resource]:
    """Mark CREATE FAILED every import job whose process is dead, removing what it wrote; returns them."""
    return reap_dead_jobs(platform, JobKind.DATASET_IMPORT)


def describe_dataset_import_job(platform: Platform, job: str) -> Resource:
    """An import job; CREATE FAILED if the process running it has died."""
    return refresh_job(platform, platform.catalog.get(ResourceType.DATASET_IMPORT_JOB, job))


def list_dataset_import_jobs(platform: Platform, dataset_group_arn: str | None = None) -> list[Resource]:
    """Import jobs (of one group); those whose process has died read CREATE FAILED."""
    return refresh_jobs(
        platform, platform.catalog.list(ResourceType.DATASET_IMPORT_JOB, dataset_group_arn=dataset_group_arn)
    )


@contextmanager
def _staged_sources(settings: Settings, data_location: str) -> Iterator[list[tuple[Path, str]]]:
    """The files to read, each with the name errors give it: local files as they are; ``s3://bucket/key`` or
    ``s3://bucket/prefix/`` downloaded to a temporary folder under the data root, removed afterwards."""
    if not data_location.startswith("s3://"):
        yield [(path, str(path)) for path in _source_files(data_location)]
        return
    from recsmith.data import s3

    uris = s3.list_objects(settings, data_location)
    settings.data_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".s3-import-", dir=settings.data_root))
    try:
        yield [
            (s3.download(settings, uri, staging / f"{n:05d}-{uri.rsplit('/', 1)[-1]}"), uri)
            for n, uri in enumerate(uris)
        ]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _source_files(data_location: str) -> list[Path]:
    path = Path(data_location)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet"))
        if not files:
            raise InvalidInputError(f"{data_location}: folder holds no .csv or .parquet files")
        return files
    if not path.is_file():
        raise InvalidInputError(f"{data_location}: no such file")
    return [path]


def read_current(platform: Platform, dataset: Resource) -> pd.DataFrame | None:
    """The dataset's current data version, or ``None`` before its first import."""
    version = platform.catalog.get(ResourceType.DATASET, dataset.arn).attributes.get("dataVersion")
    if not version:
        return None
    return pd.read_parquet(version["path"])


__all__ = [
    "STAGING_PREFIX",
    "ImportMode",
    "create_dataset_import_job",
    "describe_dataset_import_job",
    "discard_dataset_import_job",
    "list_dataset_import_jobs",
    "read_current",
    "reap_interrupted_import_jobs",
    "run_dataset_import_job",
    "start_dataset_import_job",
]
