"""Data versions: immutable folders of Parquet parts, written through a staging folder and an optional quota.

A version folder holds ``part-NNNNN.parquet`` files and, beside each, ``_keys-NNNNN.npy``: two 64-bit hashes of
every row's record key (the (USER_ID, ITEM_ID, TIMESTAMP) of an interaction, the id of an item or user), so an
INCREMENTAL import finds the rows it replaces without reading old parts, and hard-links every part it does not
touch. Readers (``pyarrow``, ``pandas.read_parquet`` on the folder) skip files starting with ``_``.

The hashes are part of the storage format (INCREMENTAL compares new ones with stored ones): change
:func:`key_hashes` only with a migration. Two records count as the same when both of their hashes agree
(128 bits: for ten million rows the chance that two different keys collide is about 1e-25).

A version is built in ``.staging-<id>`` beside its final place and moved there by one ``os.replace``; nothing
reads a staging folder, and a failed or interrupted import removes it. With a write quota
(``RECSMITH_IMPORT_WRITE_QUOTA_BYTES``) a write that would pass it fails with ENOSPC, as on a full disk.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

STAGING_PREFIX = ".staging-"
_MIX = np.uint64(0x9E3779B97F4A7C15)
_FIRST_KEY = "0123456789123456"  # pandas' default hash key
_SECOND_KEY = "recsmith-keys-02"


class WriteBudget:
    """Bytes an import may still write; ``None`` means no limit."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.spent = 0

    def spend(self, size: int, path: Path) -> None:
        if self.limit is not None and self.spent + size > self.limit:
            raise OSError(
                errno.ENOSPC,
                f"no space left: writing {path.name} would pass the import write quota of {self.limit} bytes "
                f"(RECSMITH_IMPORT_WRITE_QUOTA_BYTES)",
            )
        self.spent += size


class _MeteredFile(io.RawIOBase):
    """A file written through a :class:`WriteBudget`, with the md5 of what was written."""

    def __init__(self, path: Path, budget: WriteBudget) -> None:
        super().__init__()
        self.path = path
        self.budget = budget
        self.md5 = hashlib.md5()
        self._handle = path.open("wb")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.budget.spend(view.nbytes, self.path)
        self.md5.update(view)
        self._handle.write(view)
        return view.nbytes

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()


@dataclass(frozen=True)
class Part:
    """One Parquet part of a version: its file name, row count and md5."""

    name: str
    rows: int
    md5: str


def key_hashes(table: pa.Table, key_columns: list[str]) -> np.ndarray:
    """Two independent 64-bit hashes per row of ``table``'s key columns, shape (rows, 2)."""
    lanes = [np.zeros(table.num_rows, dtype=np.uint64), np.zeros(table.num_rows, dtype=np.uint64)]
    with np.errstate(over="ignore"):
        for name in key_columns:
            column = table.column(name).combine_chunks()
            for lane, value in zip(lanes, _column_hashes(column), strict=True):
                lane *= _MIX
                lane += value
        return np.stack([pd.util.hash_array(lane) for lane in lanes], axis=1)


def _column_hashes(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Two hashes of each value of ``column``: strings through their dictionary (each distinct value hashed
    once, with two keys), integers by two different mixes."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        encoded = pc.dictionary_encode(column)
        values = encoded.dictionary.to_numpy(zero_copy_only=False)
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        return (
            pd.util.hash_array(values, hash_key=_FIRST_KEY, categorize=False)[indices],
            pd.util.hash_array(values, hash_key=_SECOND_KEY, categorize=False)[indices],
        )
    numbers = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        return pd.util.hash_array(numbers), pd.util.hash_array(numbers * _MIX + _MIX)


class VersionBuilder:
    """Builds one new data version of a dataset in a staging folder under ``folder``.

    :meth:`write` hands each validated batch to one writer thread (hashing its keys, encoding Parquet, the md5
    of the bytes), so reading and validating the next batch overlaps with it; at most two batches wait.
    A failure in the writer surfaces at the next :meth:`write` or at :meth:`close_part`.
    """

    def __init__(self, folder: Path, schema: pa.Schema, key_columns: list[str], budget: WriteBudget, part_rows: int):
        self.folder = folder
        self.schema = schema
        self.key_columns = key_columns
        self.budget = budget
        self.part_rows = part_rows
        self.version_id = uuid.uuid4().hex[:12]
        self.staging = folder / f"{STAGING_PREFIX}{self.version_id}"
        self.final = folder / self.version_id
        self.parts: list[Part] = []
        self.hashes: list[np.ndarray] = []  # of every row written, in order
        self._writer: pq.ParquetWriter | None = None
        self._file: _MeteredFile | None = None
        self._rows = 0
        self._part_hashes: list[np.ndarray] = []
        self._pool: ThreadPoolExecutor | None = None
        self._hasher: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir()

    def _next_name(self) -> str:
        return f"part-{len(self.parts):05d}.parquet"

    def write(self, table: pa.Table) -> None:
        """Queue validated rows: one thread hashes their keys while another encodes them."""
        if self._pool is None or self._hasher is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
            self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-hasher")
        while len(self._pending) >= 2:
            self._pending.popleft().result()
        hashes = self._hasher.submit(key_hashes, table, self.key_columns)
        self._pending.append(self._pool.submit(self._write_now, table, hashes))

    def _drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def _write_now(self, table: pa.Table, hashed: Future[np.ndarray]) -> None:
        if self._writer is None:
            self._file = _MeteredFile(self.staging / self._next_name(), self.budget)
            self._writer = pq.ParquetWriter(self._file, self.schema, compression="snappy")
        self._writer.write_table(table.cast(self.schema), row_group_size=max(table.num_rows, 1))
        self._rows += table.num_rows
        hashes = hashed.result()
        self._part_hashes.append(hashes)
        self.hashes.append(hashes)
        if self._rows >= self.part_rows:
            self._close_part_now()

    def close_part(self) -> None:
        """Wait for the writer thread and finish the part being written (if any) and its key file."""
        self._drain()
        self._close_part_now()

    def _close_part_now(self) -> None:
        if self._writer is None or self._file is None:
            return
        self._writer.close()
        self._file.close()
        name = self._file.path.name
        hashes = np.concatenate(self._part_hashes) if self._part_hashes else np.zeros((0, 2), dtype=np.uint64)
        self._save_keys(name, hashes)
        self.parts.append(Part(name, self._rows, self._file.md5.hexdigest()))
        self._writer, self._file, self._rows, self._part_hashes = None, None, 0, []

    def _save_keys(self, part_name: str, hashes: np.ndarray) -> None:
        target = self.staging / keys_name(part_name)
        metered = _MeteredFile(target, self.budget)
        try:
            np.save(metered, hashes, allow_pickle=False)
        finally:
            metered.close()

    def link(self, source_folder: Path, part: Part) -> None:
        """Take an unchanged part of an older version, hard-linked (no copy, no rewrite); a part written under
        an older schema (before fields were added) is rewritten with the added columns as nulls."""
        if not pq.read_schema(source_folder / part.name).equals(self.schema, check_metadata=False):
            self.add_filtered(source_folder, part, np.ones(part.rows, dtype=bool))
            return
        name = self._next_name()
        _link_or_copy(source_folder / part.name, self.staging / name, self.budget)
        keys = source_folder / keys_name(part.name)
        if keys.exists():
            _link_or_copy(keys, self.staging / keys_name(name), self.budget)
        self.parts.append(Part(name, part.rows, part.md5))

    def staged_hashes(self, part: Part) -> np.ndarray:
        return read_keys(self.staging, part, self.key_columns)

    def replace_part(self, index: int, keep: np.ndarray) -> None:
        """Rewrite staged part ``index`` keeping only the rows where ``keep`` is true (duplicates dropped)."""
        part = self.parts[index]
        path = self.staging / part.name
        table = pq.read_table(path).filter(pa.array(keep))
        hashes = read_keys(self.staging, part, self.key_columns)[keep]
        path.unlink()
        (self.staging / keys_name(part.name)).unlink(missing_ok=True)
        metered = _MeteredFile(path, self.budget)
        try:
            pq.write_table(table, metered, compression="snappy")
        finally:
            metered.close()
        self._save_keys(part.name, hashes)
        self.parts[index] = Part(part.name, table.num_rows, metered.md5.hexdigest())

    def add_filtered(self, source_folder: Path, part: Part, keep: np.ndarray) -> None:
        """Take a part of an older version without the rows it loses (those an INCREMENTAL import replaces)."""
        name = self._next_name()
        table = conform(pq.read_table(source_folder / part.name).filter(pa.array(keep)), self.schema)
        hashes = read_keys(source_folder, part, self.key_columns)[keep]
        metered = _MeteredFile(self.staging / name, self.budget)
        try:
            pq.write_table(table, metered, compression="snappy")
        finally:
            metered.close()
        self._save_keys(name, hashes)
        self.parts.append(Part(name, table.num_rows, metered.md5.hexdigest()))

    def reorder(self, order: list[int]) -> None:
        """Put the parts in ``order`` (older parts first) and name them part-00000... in that order."""
        moved = [self.parts[i] for i in order]
        temporary = []
        for position, part in enumerate(moved):
            tmp = f"tmp-{position:05d}.parquet"
            os.replace(self.staging / part.name, self.staging / tmp)
            if (self.staging / keys_name(part.name)).exists():
                os.replace(self.staging / keys_name(part.name), self.staging / keys_name(tmp))
            temporary.append(Part(tmp, part.rows, part.md5))
        self.parts = []
        for part in temporary:
            name = self._next_name()
            os.replace(self.staging / part.name, self.staging / name)
            if (self.staging / keys_name(part.name)).exists():
                os.replace(self.staging / keys_name(part.name), self.staging / keys_name(name))
            self.parts.append(Part(name, part.rows, part.md5))

    def commit(self) -> Path:
        """Move the finished version into place in one rename; returns its folder."""
        self.close_part()
        if not self.parts:  # an empty dataset still has one (empty) part with the schema
            self._file = _MeteredFile(self.staging / self._next_name(), self.budget)
            self._writer = pq.ParquetWriter(self._file, self.schema, compression="snappy")
            self.close_part()
        os.replace(self.staging, self.final)
        for pool in (self._pool, self._hasher):
            if pool is not None:
                pool.shutdown(wait=True)
        return self.final

    def abort(self) -> None:
        """Drop everything this builder wrote."""
        for pending in self._pending:
            pending.cancel()
        for pool in (self._pool, self._hasher):
            if pool is not None:
                pool.shutdown(wait=True)
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException):
                pass
        if self._file is not None:
            self._file.close()
        shutil.rmtree(self.staging, ignore_errors=True)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order; columns it lacks (fields added since) as nulls."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def keys_name(part_name: str) -> str:
    return "_keys-" + part_name.removesuffix(".parquet") + ".npy"


def read_keys(folder: Path, part: Part, key_columns: list[str]) -> np.ndarray:
    """The key hashes of a part: its ``_keys`` file, or (versions written before them) hashed from the part."""
    path = folder / keys_name(part.name)
    if path.exists():
        return np.asarray(np.load(path, allow_pickle=False), dtype=np.uint64)
    return key_hashes(pq.read_table(folder / part.name, columns=key_columns), key_columns)


def _link_or_copy(source: Path, target: Path, budget: WriteBudget) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: a copy counts against the quota
        budget.spend(source.stat().st_size, target)
        shutil.copyfile(source, target)


def version_md5(parts: list[Part]) -> str:
    """The md5 of a version: over the list of its parts' md5s, in order."""
    return hashlib.md5("\n".join(p.md5 for p in parts).encode()).hexdigest()


def parts_of(version: dict[str, Any]) -> tuple[Path, list[Part]]:
    """The folder and parts of a recorded version (versions from before parts: their one file)."""
    path = Path(version["path"])
    if "partMd5s" in version:
        return path, [Part(p["name"], int(p["rows"]), p["md5"]) for p in version["partMd5s"]]
    return path.parent, [Part(path.name, int(version["rowCount"]), version["md5"])]


def duplicate_mask(hashes: np.ndarray) -> np.ndarray:
    """True for each row whose key appears again later (keep the last of equal keys).

    A sort of the first hashes (fast: numpy sorts 64-bit integers with SIMD) finds the few repeated values;
    only rows with one of those are compared on both hashes.
    """
    first = hashes[:, 0]
    mask = np.zeros(len(hashes), dtype=bool)
    ordered = np.sort(first)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return mask
    repeated = _distinct_sorted(repeated)
    slot = np.minimum(np.searchsorted(repeated, first), len(repeated) - 1)
    positions = np.flatnonzero(repeated[slot] == first)
    pairs = pd.DataFrame({"a": first[positions], "b": hashes[positions, 1]})
    mask[positions] = pairs.duplicated(keep="last").to_numpy()
    return mask


def _distinct_sorted(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array."""
    if not len(ordered):
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


class KeySet:
    """The keys of the rows an INCREMENTAL import brings, to find the old rows they replace."""

    def __init__(self, hashes: np.ndarray) -> None:
        order = np.argsort(hashes[:, 0], kind="stable")
        self._first = hashes[order, 0]
        self._second = hashes[order, 1]
        # the first hashes are distinct unless two new keys collide on them (about never): then compare pairs
        self._index = pd.Index(self._first)
        self._pairs = None if self._index.is_unique else pd.MultiIndex.from_arrays([hashes[:, 0], hashes[:, 1]])

    def replaced(self, old: np.ndarray) -> np.ndarray:
        """True for each row of ``old`` (key hashes) whose key is among these keys."""
        if self._pairs is not None:
            return np.asarray(pd.MultiIndex.from_arrays([old[:, 0], old[:, 1]]).isin(self._pairs))
        slot = self._index.get_indexer(old[:, 0])
        found = slot >= 0
        mask = np.zeros(len(old), dtype=bool)
        mask[found] = self._second[slot[found]] == old[found, 1]
        return mask
