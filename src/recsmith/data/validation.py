"""Row-level validation of import batches against their schema, vectorised with ``pyarrow.compute``.

Every row of every batch is checked, and the checks go on past the first bad row so that the failure reason can
show the first :data:`REPORT_ROWS` bad rows and how many there are in all. Values are typed as the schema says
(string, int/long as int64, float/double as float64, boolean); multi-valued categorical strings keep their
``|``. Every schema field is in the output, a nullable field absent from the file as a column of nulls, so every
part of a data version has the same Arrow schema.

Timestamps (TIMESTAMP, CREATION_TIMESTAMP) are epoch seconds: a date string, a value in milliseconds or
microseconds, a negative value, or one further in the future than the configured tolerance is refused with
that diagnosis. The rules and limits are those of :mod:`recsmith.data.rules`, which PutEvents, PutUsers and
PutItems apply one value at a time: ids (USER_ID, ITEM_ID) of at most 256 characters, finite numbers in the range
of their type (``int`` 32-bit, ``float`` 32-bit), and the same future tolerance for events and imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.columns import CREATION_TIMESTAMP, ITEM_ID, TIMESTAMP, USER_ID
from recsmith.data.rules import (
    FLOAT_MAX,
    INT_RANGE,
    MAX_CATEGORICAL_CHARS,
    MAX_ID_CHARS,
    MAX_TEXTUAL_CHARS,
    MICROSECONDS_FROM,
    MILLISECONDS_FROM,
    latest_timestamp,
)
from recsmith.data.schemas import DatasetSchema, SchemaField
from recsmith.errors import DataValidationError

MAX_CATEGORICAL_LENGTH = MAX_CATEGORICAL_CHARS
MAX_TEXTUAL_LENGTH = MAX_TEXTUAL_CHARS
REPORT_ROWS = 10
TIMESTAMP_FIELDS = (TIMESTAMP, CREATION_TIMESTAMP)
ID_FIELDS = (USER_ID, ITEM_ID)
_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "long": pa.int64(),
    "float": pa.float64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
}


def arrow_schema(schema: DatasetSchema) -> pa.Schema:
    """The Arrow schema of a validated batch of ``schema``: one column per field, in schema order."""
    return pa.schema([pa.field(f.name, _ARROW_TYPES[f.type], nullable=f.nullable) for f in schema.fields])


@dataclass(frozen=True)
class BadRow:
    """One refused value: where it is, what it was, and why."""

    file: str
    row: int
    column: str | None
    value: str | None
    reason: str


@dataclass
class BadRows:
    """The first bad rows of an import (in file and row order) and the count of all of them."""

    first: list[BadRow] = field(default_factory=list)
    total: int = 0

    def add(self, found: list[BadRow], rows_in_batch: int) -> None:
        self.total += rows_in_batch
        room = REPORT_ROWS - len(self.first)
        if room > 0:  # batches come in file order; within one, order by row
            self.first.extend(sorted(found, key=lambda bad: bad.row)[:room])

    def error(self) -> DataValidationError:
        """The error of the whole import: the first bad value, then the report of the first rows and the count."""
        head = self.first[0]
        report = "; ".join(
            f"row {bad.row}"
            + (f" {bad.column}" if bad.column else "")
            + f": {bad.reason}"
            + (f" (value {_shown(bad.value)})" if bad.value is not None else "")
            for bad in self.first
        )
        value = f" (value {_shown(head.value)})" if head.value is not None else ""
        reason = f"{head.reason}{value}. {self.total} bad row(s) in all; the first {len(self.first)}: {report}"
        error = DataValidationError(head.file, head.row, head.column, reason)
        error.report = self.report()
        return error

    def report(self) -> dict[str, Any]:
        """The bad rows as the job records them: the first ones, field by field, and the total count."""
        return {
            "badRowCount": self.total,
            "badRows": [
                {"file": bad.file, "row": bad.row, "column": bad.column, "value": bad.value, "reason": bad.reason}
                for bad in self.first
            ],
        }


def _shown(value: str | None) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_header(columns: list[str], schema: DatasetSchema, file: str) -> None:
    """Refuse a header with a column the schema lacks, or without a required (non-nullable) field."""
    unknown = [c for c in columns if schema.field(c) is None]
    if unknown:
        raise DataValidationError(
            file,
            1,
            unknown[0],
            f"column is not in schema {schema.name!r} (its fields: {', '.join(schema.field_names)})",
        )
    missing = [f.name for f in schema.fields if f.name not in columns and not f.nullable]
    if missing:
        raise DataValidationError(file, 1, missing[0], "required column is missing from the header")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise DataValidationError(file, 1, repeated[0], "column appears twice in the header")


class BatchValidator:
    """Types and checks the batches of one import against ``schema``; bad rows go to ``bad``."""

    def __init__(self, schema: DatasetSchema, now: float, future_tolerance_seconds: int) -> None:
        self.schema = schema
        self.target = arrow_schema(schema)
        self.latest_timestamp = latest_timestamp(now, future_tolerance_seconds)
        self.bad = BadRows()

    def validate(self, table: pa.Table, file: str, first_row: int) -> pa.Table | None:
        """``table`` typed to the schema, or ``None`` when a row is bad (recorded in :attr:`bad`)."""
        found: list[BadRow] = []
        bad_rows = np.zeros(table.num_rows, dtype=bool)
        columns: list[pa.Array] = []
        for spec in self.schema.fields:
            if spec.name not in table.column_names:
                columns.append(pa.nulls(table.num_rows, _ARROW_TYPES[spec.type]))
                continue
            raw = table.column(spec.name).combine_chunks()
            typed, problems = _typed(raw, spec, self.latest_timestamp)
            for mask, reason in problems:
                bad_rows |= mask
                for position in np.flatnonzero(mask)[:REPORT_ROWS]:
                    value = raw[int(position)].as_py()
                    found.append(BadRow(file, first_row + int(position), spec.name, _as_text(value), reason))
            columns.append(typed)
        if found:
            self.bad.add(found, int(bad_rows.sum()))
            return None
        return pa.Table.from_arrays(columns, schema=self.target)


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


Problems = list[tuple[np.ndarray, str]]


def _mask(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array as a numpy mask, nulls as False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _typed(raw: pa.Array, spec: SchemaField, latest: int) -> tuple[pa.Array, Problems]:
    """``raw`` (strings as read, or a Parquet column's own type) as ``spec`` types it, and its bad rows."""
    problems: Problems = []
    if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type):
        text = raw.cast(pa.string())
    else:
        native = _native(raw, spec, latest)
        if native is not None:
            return native
        text = raw.cast(pa.string())
    if spec.type == "string":
        empty = pc.fill_null(pc.equal(text, ""), True)
        _check_present(empty, spec, problems)
        return _string(text, empty, spec, problems)
    if spec.type == "boolean":
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        empty = pc.fill_null(pc.equal(lowered, ""), True)
        _check_present(empty, spec, problems)
        ok = pc.or_(pc.is_in(lowered, value_set=pa.array(["true", "false"])), empty)
        if not pc.all(ok).as_py():
            problems.append((~_mask(ok), "expected a boolean: true or false"))
            return pa.nulls(len(raw), pa.bool_()), problems
        return pc.if_else(empty, None, pc.equal(lowered, "true")), problems
    target = _ARROW_TYPES[spec.type]
    empty = pc.fill_null(pc.equal(text, ""), True)
    present = pc.if_else(empty, None, text)
    try:
        typed = present.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # spaces around numbers (rare): trim and retry
        trimmed = pc.utf8_trim_whitespace(text)
        empty = pc.fill_null(pc.equal(trimmed, ""), True)
        present = pc.if_else(empty, None, trimmed)
        try:
            typed = present.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            _check_present(empty, spec, problems)
            problems.append((_unparseable(present, target), _type_reason(spec, present)))
            return pa.nulls(len(raw), target), problems
    _check_present(empty, spec, problems)
    problems.extend(_number_problems(typed, spec))
    if spec.type in ("int", "long") and spec.name in TIMESTAMP_FIELDS:
        problems.extend(_timestamp_problems(typed, latest))
    return typed, problems


def _check_present(empty: pa.Array, spec: SchemaField, problems: Problems) -> None:
    if not spec.nullable and pc.any(empty).as_py():
        problems.append((_mask(empty), f"value is empty but field {spec.name} is not nullable"))


def _native(raw: pa.Array, spec: SchemaField, latest: int) -> tuple[pa.Array, Problems] | None:
    """A Parquet column already of a numeric or boolean type, checked without going through text."""
    problems: Problems = []
    if spec.type in ("int", "long") and pa.types.is_integer(raw.type):
        typed = raw.cast(pa.int64())
    elif spec.type in ("float", "double") and (pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type)):
        typed = raw.cast(pa.float64())
    elif spec.type == "boolean" and pa.types.is_boolean(raw.type):
        typed = raw
    else:
        return None
    if not spec.nullable and typed.null_count:
        problems.append((_mask(pc.is_null(typed)), f"value is empty but field {spec.name} is not nullable"))
    problems.extend(_number_problems(typed, spec))
    if spec.name in TIMESTAMP_FIELDS and spec.type in ("int", "long"):
        problems.extend(_timestamp_problems(typed, latest))
    return typed, problems


def _number_problems(typed: pa.Array, spec: SchemaField) -> Problems:
    """Non-finite floats (``nan``, ``inf`` parse as floats) and numbers outside their type's range: one such value
    would fail every later training of the group."""
    problems: Problems = []
    if spec.type in ("float", "double"):
        finite = pc.is_finite(typed)
        if not pc.all(pc.fill_null(finite, True)).as_py():
            problems.append((~_mask(pc.fill_null(finite, True)), "expected a finite number, got NaN or infinity"))
            typed = pc.if_else(finite, typed, None)
        if spec.type == "float":
            large = pc.greater(pc.abs(typed), FLOAT_MAX)
            if pc.any(large).as_py():
                problems.append((_mask(large), f"number out of range for float (magnitude at most {FLOAT_MAX:g})"))
    elif spec.type == "int":
        outside = pc.or_(pc.less(typed, INT_RANGE[0]), pc.greater(typed, INT_RANGE[1]))
        if pc.any(outside).as_py():
            problems.append((_mask(outside), f"integer out of range for int ({INT_RANGE[0]} to {INT_RANGE[1]})"))
    return problems


def _string(text: pa.Array, empty: pa.Array, spec: SchemaField, problems: Problems) -> tuple[pa.Array, Problems]:
    if spec.name in ID_FIELDS and (pc.max(pc.binary_length(text)).as_py() or 0) > MAX_ID_CHARS:
        too_long = pc.greater(pc.utf8_length(text), MAX_ID_CHARS)
        if pc.any(too_long).as_py():
            problems.append((_mask(too_long), f"id longer than {MAX_ID_CHARS} characters"))
    if spec.categorical or spec.textual:
        limit = MAX_CATEGORICAL_LENGTH if spec.categorical else MAX_TEXTUAL_LENGTH
        # bytes bound characters from above; count characters (slow) only when the bytes pass the limit
        if (pc.max(pc.binary_length(text)).as_py() or 0) > limit:
            too_long = pc.greater(pc.utf8_length(text), limit)
            if pc.any(too_long).as_py():
                kind = "categorical" if spec.categorical else "textual"
                problems.append((_mask(too_long), f"{kind} value longer than {limit} characters"))
    if not spec.textual:
        broken = pc.or_(pc.match_substring(text, "\n"), pc.match_substring(text, "\r"))
        if pc.any(broken).as_py():
            problems.append(
                (_mask(broken), "value holds a line break: an unbalanced quote (only textual fields span lines)")
            )
    return pc.if_else(empty, None, text) if spec.nullable else text, problems


def _unparseable(present: pa.Array, target: pa.DataType) -> np.ndarray:
    """Which present values do not parse as ``target`` (the slow path: only after a cast failed)."""
    values = present.to_pylist()
    caster = float if pa.types.is_floating(target) else _parse_int
    bad = np.zeros(len(values), dtype=bool)
    for position, value in enumerate(values):
        if value is None:
            continue
        try:
            caster(value.strip())
        except ValueError:
            bad[position] = True
    return bad


def _parse_int(value: str) -> int:
    number = float(value) if any(c in value for c in ".eE") else int(value)
    if isinstance(number, float):
        raise ValueError(value)
    return number


def _type_reason(spec: SchemaField, present: pa.Array) -> str:
    if spec.name in TIMESTAMP_FIELDS:
        dates = pc.match_substring_regex(pc.fill_null(present, ""), r"^\s*\d{4}-\d{2}-\d{2}")
        if pc.any(dates).as_py():
            return "expected epoch seconds (a long), got a date string: convert it to seconds since 1970"
    if spec.type in ("int", "long"):
        return f"expected an integer ({spec.type})"
    return f"expected a number ({spec.type})"


def _timestamp_problems(typed: pa.Array, latest: int) -> Problems:
    problems: Problems = []
    largest = pc.max(typed).as_py()
    smallest = pc.min(typed).as_py()
    if largest is not None and largest > latest:
        micro = pc.greater_equal(typed, MICROSECONDS_FROM)
        milli = pc.and_(pc.greater_equal(typed, MILLISECONDS_FROM), pc.invert(micro))
        future = pc.and_(pc.greater(typed, latest), pc.less(typed, MILLISECONDS_FROM))
        for mask, reason in (
            (micro, "timestamp looks like microseconds; TIMESTAMP must be epoch seconds"),
            (milli, "timestamp looks like milliseconds; TIMESTAMP must be epoch seconds"),
            (future, f"timestamp is in the future (later than {latest}, now plus the configured tolerance)"),
        ):
            if pc.any(mask).as_py():
                problems.append((_mask(mask), reason))
    if smallest is not None and smallest < 0:
        problems.append((_mask(pc.less(typed, 0)), "timestamp is negative"))
    return problems
