"""Row-level validation of an import file against its schema.

Every row is checked; the first bad row fails the whole file with a :class:`DataValidationError` that names
the file, the row (the line number in the file, header = row 1), the column and the reason. Values are typed
as the schema says; multi-valued categorical strings keep their ``|``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.columns import TIMESTAMP
from recsmith.data.schemas import DatasetSchema, SchemaField
from recsmith.errors import DataValidationError

_MAX_CATEGORICAL_LENGTH = 1000
# epoch seconds after this (year 5138) are surely milliseconds or microseconds
_MAX_EPOCH_SECONDS = 10**11


def validate_frame(frame: pd.DataFrame, schema: DatasetSchema, file: str, first_row: int = 2) -> pd.DataFrame:
    """Check the header and every value of ``frame`` (all strings, as read); return it typed.

    ``first_row`` is the file row of ``frame``'s first line (2 when the header is row 1).
    """
    columns = [str(c).strip() for c in frame.columns]
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
    frame = frame.set_axis(columns, axis=1)
    typed = {}
    for field in schema.fields:
        if field.name not in frame.columns:
            continue
        typed[field.name] = _typed_column(frame[field.name], field, file, first_row)
    return pd.DataFrame(typed, index=frame.index)


def _fail(column: pd.Series, bad: np.ndarray, field: SchemaField, file: str, first_row: int, reason: str) -> None:
    position = int(np.flatnonzero(bad)[0])
    value = column.iloc[position]
    raise DataValidationError(
        file, first_row + position, field.name, f"{reason} (value {value!r}; {int(bad.sum())} such row(s) in all)"
    )


def _typed_column(column: pd.Series, field: SchemaField, file: str, first_row: int) -> pd.Series:
    values = column.astype("string").str.strip()
    empty = (values.isna() | (values == "")).to_numpy()
    if empty.any() and not field.nullable:
        _fail(column, empty, field, file, first_row, f"value is empty but field {field.name} is not nullable")
    if field.type == "string":
        out = values.where(~empty, None)
        if field.categorical:
            too_long = (values.str.len().fillna(0) > _MAX_CATEGORICAL_LENGTH).to_numpy()
            if too_long.any():
                _fail(
                    column, too_long, field, file, first_row, f"categorical value longer than {_MAX_CATEGORICAL_LENGTH}"
                )
        return out.astype(object)
    if field.type == "boolean":
        lowered = values.str.lower()
        bad = ~empty & ~lowered.isin(["true", "false"]).fillna(False).to_numpy()
        if bad.any():
            _fail(column, bad, field, file, first_row, "expected a boolean: true or false")
        return lowered.map({"true": True, "false": False}).astype("boolean")
    numbers = pd.to_numeric(values, errors="coerce")
    bad = ~empty & numbers.isna().to_numpy()
    if field.type in ("int", "long"):
        finite = numbers.notna().to_numpy()
        bad |= finite & (np.floor(numbers.fillna(0).to_numpy(dtype=float)) != numbers.fillna(0).to_numpy(dtype=float))
        if bad.any():
            reason = f"expected an integer ({field.type})"
            if field.name == TIMESTAMP and _looks_like_date(values[bad]):
                reason = "expected epoch seconds (a long), got a date string: convert it to seconds since 1970"
            _fail(column, bad, field, file, first_row, reason)
        if field.name == TIMESTAMP:
            too_big = numbers.fillna(0).to_numpy(dtype=float) > _MAX_EPOCH_SECONDS
            if too_big.any():
                _fail(
                    column,
                    too_big,
                    field,
                    file,
                    first_row,
                    "timestamp looks like milliseconds; TIMESTAMP must be epoch seconds",
                )
            negative = numbers.fillna(0).to_numpy(dtype=float) < 0
            if negative.any():
                _fail(column, negative, field, file, first_row, "timestamp is negative")
        return numbers.astype("Int64")
    if bad.any():
        _fail(column, bad, field, file, first_row, f"expected a number ({field.type})")
    return numbers.astype("Float64")


def _looks_like_date(values: pd.Series) -> bool:
    sample = values.dropna().head(5)
    return bool(len(sample)) and bool(sample.str.contains(r"\d{4}-\d{2}-\d{2}", regex=True).any())
