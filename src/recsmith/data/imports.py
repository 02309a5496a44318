"""Dataset import jobs: a CSV or Parquet file (local or S3), validated row by row, into a new immutable data version.

The job is all or nothing: it validates every row before anything is written, writes the new version under a
temporary name and renames it into place, and only then points the dataset at it. A failure leaves the dataset
exactly as it was and the job CREATE FAILED with a reason naming file, row, column and cause.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import pandas as pd

from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsmith.arns import validate_name
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.data.datasets import dataset_folder, dataset_schema
from recsmith.data.schemas import DatasetSchema, DatasetType
from recsmith.data.validation import validate_frame
from recsmith.errors import DataValidationError, InvalidInputError, RecsmithError
from recsmith.platform import Platform
from recsmith.settings import Settings

logger = logging.getLogger(__name__)

_VERSION_FILE = "data.parquet"


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
    """Import ``data_location`` into ``dataset``; returns the job, ACTIVE or CREATE FAILED (never half done)."""
    validate_name(job_name, "dataset import job")
    try:
        mode = ImportMode(import_mode.upper())
    except ValueError:
        raise InvalidInputError(f"unknown import mode {import_mode!r}; allowed: FULL, INCREMENTAL") from None
    target = platform.catalog.get(ResourceType.DATASET, dataset)
    job = platform.create_resource(
        ResourceType.DATASET_IMPORT_JOB,
        job_name,
        dataset_group_arn=target.dataset_group_arn,
        status=Status.CREATE_PENDING,
        attributes={"datasetArn": target.arn, "dataSource": {"dataLocation": data_location}, "importMode": mode},
    )
    job = platform.catalog.update(job, status=Status.CREATE_IN_PROGRESS)
    try:
        version = _import(platform, target, data_location, mode)
    except RecsmithError as exc:
        logger.warning("import job %s failed: %s", job_name, exc)
        return platform.catalog.update(job, status=Status.CREATE_FAILED, failure_reason=str(exc))
    platform.catalog.update(target, attributes={"dataVersion": version})
    return platform.catalog.update(job, status=Status.ACTIVE, attributes={"dataVersion": version})


def _import(platform: Platform, dataset: Resource, data_location: str, mode: ImportMode) -> dict[str, object]:
    schema = dataset_schema(platform, dataset)
    kind = DatasetType(dataset.attributes["datasetType"])
    with _staged_sources(platform.settings, data_location) as sources:
        frames = [_validated(path, name, schema) for path, name in sources]
    names = [name for _, name in sources]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame.empty:
        raise DataValidationError(names[0], 2, None, "file has a header but no data rows")
    duplicates = 0
    if mode is ImportMode.INCREMENTAL:
        current = read_current(platform, dataset)
        if current is not None:
            frame = pd.concat([current, frame], ignore_index=True)
    key = _dedupe_key(kind)
    before = len(frame)
    frame = frame.drop_duplicates(subset=[c for c in key if c in frame.columns], keep="last", ignore_index=True)
    duplicates = before - len(frame)
    return _write_version(platform, dataset, frame, duplicates, names)


def _dedupe_key(kind: DatasetType) -> list[str]:
    """Rows that are the same record: the same event, or the same item or user id."""
    if kind is DatasetType.INTERACTIONS:
        return [USER_ID, ITEM_ID, TIMESTAMP]
    return [ITEM_ID] if kind is DatasetType.ITEMS else [USER_ID]


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


def _validated(path: Path, name: str, schema: DatasetSchema) -> pd.DataFrame:
    """``path`` read and validated; a bad row is reported against ``name`` (the s3:// URI of a download)."""
    try:
        return validate_frame(_read_raw(path), schema, name)
    except DataValidationError as exc:
        if exc.file == name:
            raise
        raise DataValidationError(name, exc.row, exc.column, exc.reason) from exc


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


def _read_raw(path: Path) -> pd.DataFrame:
    """The file as strings, exactly as written: no NA guessing, Personalize's CSV quoting."""
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path).astype("string")
    if path.stat().st_size == 0:
        raise DataValidationError(str(path), 1, None, "file is empty: expected a header row and data rows")
    try:
        return pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8",
            quoting=csv.QUOTE_MINIMAL,
            engine="c",
        )
    except UnicodeDecodeError as exc:
        raise DataValidationError(str(path), _first_non_utf8_line(path), None, "bytes are not valid UTF-8") from exc
    except pd.errors.ParserError as exc:
        raise DataValidationError(str(path), _row_from_parser(str(exc)), None, f"malformed CSV: {exc}") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError(str(path), 1, None, "file is empty: expected a header row") from exc


def _first_non_utf8_line(path: Path) -> int:
    """The 1-based line holding the first bytes that are not UTF-8 (the decoder's offset is per chunk)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _row_from_parser(message: str) -> int:
    words = message.replace(",", " ").split()
    for before, word in zip(words, words[1:], strict=False):
        if before == "line" and word.isdigit():
            return int(word)
    return 0


def _write_version(
    platform: Platform, dataset: Resource, frame: pd.DataFrame, duplicates: int, sources: list[str]
) -> dict[str, object]:
    """Write ``frame`` as a new immutable version: to a temporary folder first, then renamed into place."""
    folder = dataset_folder(platform, dataset)
    folder.mkdir(parents=True, exist_ok=True)
    version_id = uuid.uuid4().hex[:12]
    staging = folder / f".staging-{version_id}"
    final = folder / version_id
    staging.mkdir()
    try:
        frame.to_parquet(staging / _VERSION_FILE, index=False)
        md5 = _md5(staging / _VERSION_FILE)
        os.replace(staging, final)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise InvalidInputError(f"could not write data version of {dataset.name!r}: {exc}") from exc
    return {
        "id": version_id,
        "path": str(final / _VERSION_FILE),
        "md5": md5,
        "rowCount": len(frame),
        "duplicatesDropped": duplicates,
        "sources": sources,
    }


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_current(platform: Platform, dataset: Resource) -> pd.DataFrame | None:
    """The dataset's current data version, or ``None`` before its first import."""
    version = platform.catalog.get(ResourceType.DATASET, dataset.arn).attributes.get("dataVersion")
    if not version:
        return None
    return pd.read_parquet(version["path"])
