"""Streaming reads of import files: CSV and Parquet, batch by batch, never the whole file in memory.

CSV is read with ``pyarrow.csv.open_csv`` with every column as a string (values exactly as written; typing is
validation's job) and Personalize's quoting; Parquet with ``ParquetFile.iter_batches``. Each batch carries the
file row of its first record, so an error can name it (CSV: the header is row 1; Parquet: the first record is
row 1). A file that cannot be parsed at all (not UTF-8, a line with too many fields) stops the read with a
:class:`DataValidationError` naming the file, the row and the cause.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from recsmith.errors import DataValidationError

_CSV_BLOCK_BYTES = 16 << 20
_PARQUET_BATCH_ROWS = 500_000


@dataclass(frozen=True)
class RawBatch:
    """Records of one source file as read: ``first_row`` is the file row of the first record."""

    table: pa.Table
    first_row: int


def read_header(path: Path, name: str) -> list[str]:
    """The column names of a CSV or Parquet file; an empty file is an error naming it."""
    if path.suffix.lower() == ".parquet":
        return list(pq.ParquetFile(path).schema_arrow.names)
    if path.stat().st_size == 0:
        raise DataValidationError(name, 1, None, "file is empty: expected a header row and data rows")
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataValidationError(name, 1, None, "header bytes are not valid UTF-8") from None
    row = next(csv.reader(io.StringIO(text)), [])
    if not row or all(not cell.strip() for cell in row):
        raise DataValidationError(name, 1, None, "file is empty: expected a header row and data rows")
    return [cell.strip() for cell in row]


def iter_batches(path: Path, name: str, multiline_values: bool = False) -> Iterator[RawBatch]:
    """Yield the records of ``path`` in batches; ``name`` is what errors call the file (an s3:// URI).

    ``multiline_values`` lets quoted values span lines (schemas with textual fields); otherwise a line break
    inside a value is left for validation to report (it is the mark of an unbalanced quote).
    """
    if path.suffix.lower() == ".parquet":
        yield from _parquet_batches(path, name)
    else:
        yield from _csv_batches(path, name, multiline_values)


def _parquet_batches(path: Path, name: str) -> Iterator[RawBatch]:
    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(name, 1, None, f"not a readable Parquet file: {exc}") from exc
    row = 1
    for batch in source.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
        yield RawBatch(pa.Table.from_batches([batch]), row)
        row += batch.num_rows


def _csv_batches(path: Path, name: str, multiline_values: bool) -> Iterator[RawBatch]:
    header = read_header(path, name)
    malformed: list[tuple[int | None, str, str]] = []

    def on_invalid(row: pa_csv.InvalidRow) -> str:
        reason = f"expected {row.expected_columns} fields, found {row.actual_columns}: {row.text[:200]!r}"
        if "\n" in row.text or "\r" in row.text:
            reason += " (a quoted value runs across lines: an unbalanced quote?)"
        malformed.append((row.number, row.text, reason))
        return "skip"

    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(
                block_size=_CSV_BLOCK_BYTES, column_names=header, skip_rows=1, use_threads=True
            ),
            parse_options=pa_csv.ParseOptions(newlines_in_values=multiline_values, invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(
                column_types={column: pa.string() for column in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _csv_error(path, name, exc, 2) from exc
    row = 2
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise _csv_error(path, name, exc, row) from exc
        if malformed:
            number, text, reason = min(malformed, key=lambda bad: bad[0] or 0)
            # with threads pyarrow does not know the line number: find the line in the file
            where = number if number is not None else _line_of(path, text, row)
            raise DataValidationError(name, where, None, f"malformed CSV: {reason}")
        yield RawBatch(pa.Table.from_batches([batch]), row)
        row += batch.num_rows


def _csv_error(path: Path, name: str, exc: pa.ArrowInvalid, near_row: int) -> DataValidationError:
    message = str(exc)
    if "UTF8" in message or "UTF-8" in message:
        return DataValidationError(name, _first_non_utf8_line(path), None, "bytes are not valid UTF-8")
    return DataValidationError(name, near_row, None, f"malformed CSV: {message}")


def _line_of(path: Path, text: str, default: int) -> int:
    """The 1-based number of the first line of ``path`` that reads ``text`` (error path only)."""
    wanted = text.splitlines()[0].encode("utf-8") if text else b""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.rstrip(b"\r\n") == wanted:
                return number
    return default


def _first_non_utf8_line(path: Path) -> int:
    """The 1-based line holding the first bytes that are not UTF-8 (pyarrow does not say which)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0
