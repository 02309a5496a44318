"""Forecast dataset import jobs: CSV (no header, columns in schema order) or Parquet files, local or S3, every
row validated, the job all or nothing, each success a new immutable data version.

The rules are Forecast's: the series id and dimensions are non-empty strings; ``timestamp`` follows the job's
``TimestampFormat`` (Java date-pattern letters, default ``yyyy-MM-dd HH:mm:ss``, or ``yyyy-MM-dd`` for data of a
day or coarser; ``epoch`` takes seconds); numbers are finite; an empty target is a missing value (filled when a
predictor trains). ``TimeZone`` is checked against the IANA database and kept on the job: timestamps stay the
wall-clock times of the file, as Forecast's forecasts are. A file whose first line repeats the attribute names
has that line taken as a header.

Bad rows do not stop validation: the job's ``Message`` names the first bad value (file, row, column, reason)
and counts them all, and nothing of the file becomes visible. A good file is written through
:class:`recsmith.data.versions.VersionBuilder` (staging folder, one rename), tracked by DVC, and the dataset moves
to it in the same catalog transaction that turns the job ACTIVE. ``INCREMENTAL`` adds to the current version,
a new row replacing an old one of the same series and timestamp.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from recsmith.catalog import Resource, ResourceType, Status
from recsmith.data.validation import BadRow, BadRows
from recsmith.data.versions import VersionBuilder, WriteBudget
from recsmith.errors import DataValidationError, InvalidInputError, RecsmithError, ResourceInUseError
from recsmith.forecast import lifecycle
from recsmith.forecast.datasets import dataset_schema
from recsmith.forecast.resources import RUNNING, forecast_arn, forecast_status, get, status_fields, times, validate_name
from recsmith.forecast.schemas import TIMESTAMP, DatasetType, ForecastSchema
from recsmith.platform import Platform
from recsmith.settings import Settings

DEFAULT_TIMESTAMP_FORMAT = "yyyy-MM-dd HH:mm:ss"
DAY_TIMESTAMP_FORMAT = "yyyy-MM-dd"
EPOCH = "epoch"
_JAVA_TOKENS = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]
_ARROW_TYPES = {
    "string": pa.string(),
    "geolocation": pa.string(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "timestamp": pa.timestamp("s"),
}
_FORMATS = {"CSV": ".csv", "PARQUET": ".parquet"}


def strptime_format(java_format: str) -> str:
    """A Java date pattern (``yyyy-MM-dd HH:mm:ss``, ``yyyy-MM-dd'T'HH:mm:ss``...) as a ``strptime`` format;
    letters other than yyyy, MM, dd, HH, mm and ss are refused, naming the allowed ones."""
    pattern = java_format
    literal_parts = re.split(r"'([^']*)'", pattern)
    out = []
    for position, part in enumerate(literal_parts):
        if position % 2:  # quoted literal, as in 'T'
            out.append(part.replace("%", "%%"))
            continue
        converted = part
        for java, c in _JAVA_TOKENS:
            converted = converted.replace(java, "\0" + c[1] + "\0")
        if re.search(r"[A-Za-z]", re.sub(r"\0.\0", "", converted)):
            raise InvalidInputError(
                f"TimestampFormat {java_format!r}: only the pattern letters yyyy, MM, dd, HH, mm and ss (and quoted "
                "literals such as 'T') are supported, or epoch"
            )
        out.append(re.sub(r"\0(.)\0", r"%\1", converted))
    return "".join(out)


def default_timestamp_format(data_frequency: str | None) -> str:
    return DAY_TIMESTAMP_FORMAT if data_frequency in ("Y", "M", "W", "D") else DEFAULT_TIMESTAMP_FORMAT


def start_dataset_import_job(
    platform: Platform,
    name: str,
    dataset: str,
    data_location: str,
    *,
    timestamp_format: str | None = None,
    time_zone: str | None = None,
    file_format: str = "CSV",
    import_mode: str = "FULL",
    role_arn: str | None = None,
) -> Resource:
    """Record an import job CREATE_PENDING after checking its request; :func:`run_dataset_import_job` runs it."""
    validate_name(name, "DatasetImportJobName")
    lifecycle.reap_interrupted_jobs(platform)
    target = get(platform, ResourceType.FORECAST_DATASET, dataset, "DatasetArn")
    if not isinstance(data_location, str) or not data_location:
        raise InvalidInputError("DataSource.S3Config.Path is required")
    if file_format not in _FORMATS:
        raise InvalidInputError(f"Format {file_format!r} is not supported; allowed: CSV, PARQUET")
    if import_mode not in ("FULL", "INCREMENTAL"):
        raise InvalidInputError(f"ImportMode {import_mode!r} is not supported; allowed: FULL, INCREMENTAL")
    schema = dataset_schema(target)
    if schema.dataset_type is DatasetType.ITEM_METADATA and (timestamp_format or time_zone):
        raise InvalidInputError("an ITEM_METADATA dataset has no timestamps: drop TimestampFormat and TimeZone")
    fmt = timestamp_format or default_timestamp_format(target.attributes.get("DataFrequency"))
    if fmt != EPOCH:
        strptime_format(fmt)
    if time_zone is not None:
        try:
            zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInputError(
                f"TimeZone {time_zone!r} is not a known time zone (IANA names, e.g. Europe/Paris)"
            ) from exc
    running = [
        j
        for j in platform.catalog.list(ResourceType.FORECAST_DATASET_IMPORT_JOB, where={"DatasetArn": target.arn})
        if j.status in RUNNING
    ]
    if running:
        raise ResourceInUseError(f"dataset {target.name} has import job {running[0].name} in progress; wait for it")
    attributes: dict[str, Any] = {
        "DatasetArn": target.arn,
        "DataSource": {"S3Config": {"Path": data_location, **({"RoleArn": role_arn} if role_arn else {})}},
        "Format": file_format,
        "ImportMode": import_mode,
    }
    if schema.dataset_type is not DatasetType.ITEM_METADATA:
        attributes["TimestampFormat"] = fmt
    if time_zone is not None:
        attributes["TimeZone"] = time_zone
    return platform.catalog.create(
        Resource(
            arn=forecast_arn(platform.settings, ResourceType.FORECAST_DATASET_IMPORT_JOB, f"{target.name}/{name}"),
            resource_type=ResourceType.FORECAST_DATASET_IMPORT_JOB,
            name=name,
            status=Status.CREATE_PENDING,
            attributes=attributes,
        )
    )


def run_dataset_import_job(platform: Platform, job_arn: str) -> Resource:
    """Run a CREATE_PENDING import job; returns it ACTIVE or CREATE_FAILED (never half done)."""
    job = lifecycle.begin(platform, ResourceType.FORECAST_DATASET_IMPORT_JOB, job_arn)
    dataset = platform.catalog.get(ResourceType.FORECAST_DATASET, job.attributes["DatasetArn"])
    schema = dataset_schema(dataset)
    builder = VersionBuilder(
        platform.settings.data_root / "forecast" / dataset.name,
        arrow_schema(schema),
        key_columns(schema),
        WriteBudget(platform.settings.import_write_quota_bytes),
        platform.settings.import_part_rows,
    )
    job = platform.catalog.update(job, attributes={"stagingPath": str(builder.staging)})
    started = time.perf_counter()
    try:
        table, sources, size = _read_all(platform.settings, job, schema)
        if job.attributes["ImportMode"] == "INCREMENTAL" and dataset.attributes.get("dataVersion"):
            table = _merge(pd.read_parquet(dataset.attributes["dataVersion"]["path"]), table, schema)
        version = _write(platform.settings, builder, table)
    except RecsmithError as exc:
        builder.abort()
        report = exc.report if isinstance(exc, DataValidationError) and exc.report else None
        return lifecycle.fail(platform, job, str(exc), report)
    except (OSError, pa.ArrowException) as exc:
        builder.abort()
        return lifecycle.fail(platform, job, f"could not write the data version of {dataset.name}: {exc}")
    except BaseException:
        builder.abort()
        lifecycle.fail(platform, job, "import was interrupted")
        raise
    version |= {"sources": sources, "seconds": round(time.perf_counter() - started, 3)}
    job, _ = platform.catalog.update_together(
        [
            (
                job,
                Status.ACTIVE,
                {
                    "dataVersion": version,
                    "FieldStatistics": field_statistics(table, schema),
                    "DataSize": size / 1e9,
                    "stagingPath": None,
                },
            ),
            (dataset, None, {"dataVersion": version}),
        ]
    )
    return job


def create_dataset_import_job(
    platform: Platform, name: str, dataset: str, data_location: str, **options: Any
) -> Resource:
    """Start and run an import job in this process; returns it ACTIVE or CREATE_FAILED."""
    job = start_dataset_import_job(platform, name, dataset, data_location, **options)
    return run_dataset_import_job(platform, job.arn)


def arrow_schema(schema: ForecastSchema) -> pa.Schema:
    return pa.schema([pa.field(a.name, _ARROW_TYPES[a.type]) for a in schema.attributes])


def key_columns(schema: ForecastSchema) -> list[str]:
    """What identifies a record: the series (id and dimensions) and, for time series, the timestamp."""
    keys = [schema.id_field, *schema.dimensions]
    return keys if schema.dataset_type is DatasetType.ITEM_METADATA else [*keys, TIMESTAMP]


# ------------------------------------------------------------------ reading
@contextmanager
def _staged_sources(settings: Settings, location: str, suffix: str) -> Iterator[list[tuple[Path, str]]]:
    """The files to read, each with the name errors give it; S3 objects are downloaded to a temporary folder."""
    if not location.startswith("s3://"):
        path = Path(location)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() == suffix)
            if not files:
                raise InvalidInputError(f"{location}: folder holds no {suffix} files")
            yield [(p, str(p)) for p in files]
        elif path.is_file():
            yield [(path, str(path))]
        else:
            raise InvalidInputError(f"{location}: no such file or folder")
        return
    from recsmith.data import s3

    uris = s3.list_objects(settings, location, suffixes=(suffix,))
    settings.data_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".s3-forecast-import-", dir=settings.data_root))
    try:
        yield [(s3.download(settings, uri, staging / f"{n:05d}{suffix}"), uri) for n, uri in enumerate(uris)]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read_all(settings: Settings, job: Resource, schema: ForecastSchema) -> tuple[pa.Table, list[str], int]:
    """Every source file read and validated; the typed rows, the sources' names and their size in bytes."""
    suffix = _FORMATS[job.attributes["Format"]]
    fmt = job.attributes.get("TimestampFormat")
    bad = BadRows()
    tables = []
    size = 0
    with _staged_sources(settings, job.attributes["DataSource"]["S3Config"]["Path"], suffix) as sources:
        for path, name in sources:
            size += path.stat().st_size
            raw, first_row = _read_csv(path, name, schema) if suffix == ".csv" else _read_parquet(path, name, schema)
            typed = validate(raw, schema, fmt, name, first_row, bad)
            if typed is not None and not bad.total:
                tables.append(typed)
        if bad.total:
            raise bad.error()
        table = pa.concat_tables(tables) if tables else arrow_schema(schema).empty_table()
        if table.num_rows == 0:
            raise DataValidationError(sources[0][1], 1, None, "file holds no data rows")
        return table, [name for _, name in sources], size


def _read_csv(path: Path, name: str, schema: ForecastSchema) -> tuple[pa.Table, int]:
    """A headerless CSV as strings (columns in schema order); a first line equal to the names is a header."""
    malformed: list[tuple[int | None, str]] = []

    def on_invalid(row: pa_csv.InvalidRow) -> str:
        malformed.append((row.number, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
        return "skip"

    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=schema.names, use_threads=False),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa.string() for n in schema.names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        message = str(exc)
        reason = "bytes are not valid UTF-8" if "UTF8" in message or "UTF-8" in message else f"malformed CSV: {message}"
        raise DataValidationError(name, 1, None, reason) from exc
    if malformed:
        number, reason = min(malformed, key=lambda bad: bad[0] or 0)
        raise DataValidationError(name, number or 1, None, f"malformed CSV: {reason}")
    first_row = 1
    if table.num_rows and [table.column(n)[0].as_py().strip().lower() for n in schema.names] == [
        n.lower() for n in schema.names
    ]:
        table, first_row = table.slice(1), 2
    return table, first_row


def _read_parquet(path: Path, name: str, schema: ForecastSchema) -> tuple[pa.Table, int]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(name, 1, None, f"not a readable Parquet file: {exc}") from exc
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise DataValidationError(name, 1, missing[0], "column of the schema is missing from the Parquet file")
    extra = [n for n in table.column_names if n not in schema.names]
    if extra:
        raise DataValidationError(name, 1, extra[0], f"column is not in the schema ({', '.join(schema.names)})")
    return table.select(schema.names), 1


# --------------------------------------------------------------- validation
def validate(
    raw: pa.Table, schema: ForecastSchema, timestamp_format: str | None, file: str, first_row: int, bad: BadRows
) -> pa.Table | None:
    """``raw`` typed to the schema, or ``None`` when a row is bad (recorded in ``bad``)."""
    keys = set(key_columns(schema)) - {TIMESTAMP}
    columns = []
    found: list[BadRow] = []
    bad_rows = np.zeros(raw.num_rows, dtype=bool)
    for attribute in schema.attributes:
        column = raw.column(attribute.name).combine_chunks()
        typed, problems = _typed(column, attribute.type, attribute.name in keys, timestamp_format)
        for mask, reason in problems:
            bad_rows |= mask
            for position in np.flatnonzero(mask)[:10]:
                value = column[int(position)].as_py()
                found.append(
                    BadRow(
                        file, first_row + int(position), attribute.name, None if value is None else str(value), reason
                    )
                )
        columns.append(typed)
    if found:
        bad.add(found, int(bad_rows.sum()))
        return None
    return pa.Table.from_arrays(columns, schema=arrow_schema(schema))


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _as_text(column: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(column.cast(pa.string()))


def _typed(
    column: pa.Array, kind: str, is_key: bool, timestamp_format: str | None
) -> tuple[pa.Array, list[tuple[np.ndarray, str]]]:
    problems: list[tuple[np.ndarray, str]] = []
    if kind in ("string", "geolocation"):
        text = column.cast(pa.string())
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), True)
        if is_key and pc.any(empty).as_py():
            problems.append((_mask(empty), "value is empty: series ids and dimensions are required"))
        return pc.if_else(empty, None, text), problems
    if kind == "timestamp":
        return _timestamps(column, timestamp_format or DEFAULT_TIMESTAMP_FORMAT, problems), problems
    target = _ARROW_TYPES[kind]
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        typed = column.cast(target, safe=kind == "integer")
    else:
        text = _as_text(column)
        present = pc.if_else(pc.equal(text, ""), None, text)
        try:
            typed = present.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # the slow path: find the values that do not parse
            unparsed = _unparseable(present, kind)
            problems.append((unparsed, f"expected {'an integer' if kind == 'integer' else 'a number'}"))
            typed = pc.if_else(pa.array(unparsed), None, present).cast(target)
    if kind == "float":
        values = typed.to_numpy(zero_copy_only=False)
        infinite = np.isinf(values)
        nan_text = ~pc.is_null(typed).to_numpy(zero_copy_only=False) & np.isnan(values)
        if infinite.any() or nan_text.any():
            problems.append(
                (infinite | nan_text, "number is not finite (inf or NaN); leave the value empty if missing")
            )
    return typed, problems


def _unparseable(present: pa.Array, kind: str) -> np.ndarray:
    bad = np.zeros(len(present), dtype=bool)
    for position, value in enumerate(present.to_pylist()):
        if value is None:
            continue
        try:
            number = float(value)
            if kind == "integer" and (not number.is_integer() or any(c in value for c in ".eE")):
                raise ValueError(value)
        except ValueError:
            bad[position] = True
    return bad


def _timestamps(column: pa.Array, java_format: str, problems: list[tuple[np.ndarray, str]]) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        typed = column.cast(pa.timestamp("s"))
        empty = pc.is_null(typed)
    elif java_format == EPOCH:
        text = _as_text(column)
        empty = pc.fill_null(pc.equal(text, ""), True)
        try:
            seconds = pc.if_else(empty, None, text).cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            problems.append(
                (_unparseable(pc.if_else(empty, None, text), "integer"), "expected epoch seconds (an integer)")
            )
            return pa.nulls(len(column), pa.timestamp("s"))
        typed = seconds.cast(pa.timestamp("s"))
    else:
        text = _as_text(column)
        empty = pc.fill_null(pc.equal(text, ""), True)
        typed = pc.strptime(
            pc.if_else(empty, None, text), format=strptime_format(java_format), unit="s", error_is_null=True
        )
        unparsed = pc.and_(pc.invert(empty), pc.is_null(typed))
        if pc.any(unparsed).as_py():
            problems.append((_mask(unparsed), f"timestamp does not match TimestampFormat {java_format!r}"))
    if pc.any(empty).as_py():
        problems.append((_mask(empty), "timestamp is empty"))
    return typed


# ------------------------------------------------------------------ writing
def _merge(current: pd.DataFrame, new: pa.Table, schema: ForecastSchema) -> pa.Table:
    """The current version's rows, less those a new row replaces (same key), then the new rows."""
    keys = key_columns(schema)
    fresh = new.to_pandas()
    old_keys = pd.MultiIndex.from_frame(current[keys].astype(str))
    new_keys = pd.MultiIndex.from_frame(fresh[keys].astype(str))
    kept = current[~old_keys.isin(new_keys)]
    merged = pd.concat([kept, fresh], ignore_index=True)
    return pa.Table.from_pandas(merged, schema=arrow_schema(schema), preserve_index=False)


def _write(settings: Settings, builder: VersionBuilder, table: pa.Table) -> dict[str, Any]:
    from recsmith.data.versions import version_md5

    builder.open()
    for batch in table.to_batches(max_chunksize=max(settings.import_part_rows, 1)):
        builder.write(pa.Table.from_batches([batch]))
    folder = builder.commit()
    version: dict[str, Any] = {
        "id": builder.version_id,
        "path": str(folder),
        "md5": version_md5(builder.parts),
        "partMd5s": [{"name": p.name, "rows": p.rows, "md5": p.md5} for p in builder.parts],
        "rowCount": table.num_rows,
    }
    if settings.dvc_track:
        from recsmith.data.dvc_tracking import track_version

        version["dvcFile"] = str(track_version(settings.data_root, folder))
    return version


def field_statistics(table: pa.Table, schema: ForecastSchema) -> dict[str, dict[str, Any]]:
    """Forecast's per-attribute statistics of an import: counts, distinct and null counts, min, max, mean, sd."""
    stats: dict[str, dict[str, Any]] = {}
    for attribute in schema.attributes:
        column = table.column(attribute.name)
        nulls = column.null_count
        entry: dict[str, Any] = {
            "Count": table.num_rows,
            "CountLong": table.num_rows,
            "CountNull": nulls,
            "CountNullLong": nulls,
            "CountDistinct": pc.count_distinct(column).as_py(),
            "CountDistinctLong": pc.count_distinct(column).as_py(),
        }
        if attribute.type in ("integer", "float", "timestamp") and table.num_rows > nulls:
            bounds = pc.min_max(column).as_py()
            entry["Min"], entry["Max"] = str(bounds["min"]), str(bounds["max"])
        if attribute.type in ("integer", "float") and table.num_rows > nulls:
            values = column.to_numpy(zero_copy_only=False).astype(np.float64)
            values = values[~np.isnan(values)]
            entry["Avg"] = float(values.mean()) if len(values) else None
            entry["Stddev"] = float(values.std()) if len(values) else None
            entry["CountNan"] = entry["CountNanLong"] = int(nulls)
        stats[attribute.name] = entry
    return stats


def describe_dataset_import_job(job: Resource) -> dict[str, Any]:
    a = job.attributes
    out: dict[str, Any] = {
        "DatasetImportJobName": job.name,
        "DatasetImportJobArn": job.arn,
        "DatasetArn": a["DatasetArn"],
        "DataSource": _data_source(a["DataSource"]),
        "Format": a["Format"],
        "ImportMode": a["ImportMode"],
        **status_fields(job),
        **times(job),
    }
    for key in ("TimestampFormat", "TimeZone", "FieldStatistics", "DataSize"):
        if a.get(key) is not None:
            out[key] = a[key]
    return out


def summarize_dataset_import_job(job: Resource) -> dict[str, Any]:
    out = {
        "DatasetImportJobArn": job.arn,
        "DatasetImportJobName": job.name,
        "DataSource": _data_source(job.attributes["DataSource"]),
        "ImportMode": job.attributes["ImportMode"],
        "Status": forecast_status(job.status),
        **times(job),
    }
    if job.failure_reason:
        out["Message"] = job.failure_reason
    return out


def _data_source(source: dict[str, Any]) -> dict[str, Any]:
    """Forecast's DataSource with the RoleArn it requires (recsmith reads with its own credentials)."""
    return {
        "S3Config": {
            "RoleArn": source["S3Config"].get("RoleArn", "arn:aws:iam::000000000000:role/recsmith"),
            **source["S3Config"],
        }
    }
