"""``metadataColumns``: the chosen ITEMS fields returned with each recommended item, as Personalize does.

The current ITEMS data version of the campaign's dataset group is read once and kept in memory, keyed by the
version's path, so a new import is picked up at the next request (one small catalog query per request) and the
old version is dropped. Values come back as strings (Personalize's ``Metadata`` map); multi-valued categorical
fields stay ``|``-joined, and a field an item has no value for is left out of that item's map.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from models.columns import ITEM_ID
from recsmith.errors import InvalidInputError
from recsmith.platform import Platform

MAX_COLUMNS = 99
MAX_COLUMN_NAME = 150
MAX_RESULTS_WITH_METADATA = 50


def requested_columns(metadata_columns: Mapping[str, Sequence[str]] | None) -> list[str]:
    """The ITEMS fields a request's ``metadataColumns`` asks for, validated as Personalize validates them."""
    if not metadata_columns:
        return []
    if not isinstance(metadata_columns, Mapping):
        raise InvalidInputError("metadataColumns must be a map of dataset type to column names, e.g. {'ITEMS': [...]}")
    unknown = [key for key in metadata_columns if key != "ITEMS"]
    if unknown or len(metadata_columns) > 1:
        raise InvalidInputError(
            f"metadataColumns: dataset type {unknown[0] if unknown else list(metadata_columns)!r} is not supported; "
            "campaigns return metadata of the ITEMS dataset only ({'ITEMS': [column, ...]})"
        )
    columns = metadata_columns["ITEMS"]
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise InvalidInputError("metadataColumns.ITEMS must be a list of column names")
    if len(columns) > MAX_COLUMNS:
        raise InvalidInputError(
            f"1 validation error detected: Value at 'metadataColumns.ITEMS' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_COLUMNS}"
        )
    for position, name in enumerate(columns):
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_COLUMN_NAME:
            raise InvalidInputError(
                f"metadataColumns.ITEMS[{position}]: a column name is a string of 1 to {MAX_COLUMN_NAME} characters"
            )
    return list(dict.fromkeys(columns))


class _ItemFields:
    """One ITEMS data version: each item's fields as strings."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.columns = {str(c).upper(): str(c) for c in frame.columns if c != ITEM_ID}
        self.rows: dict[str, dict[str, str]] = {}
        records = frame.to_dict(orient="records")
        for record in records:
            self.rows[str(record[ITEM_ID])] = {
                str(k): _text(v) for k, v in record.items() if k != ITEM_ID and not _missing(v)
            }

    def resolve(self, names: Sequence[str]) -> list[tuple[str, str]]:
        """(requested name, column) pairs; a name the dataset lacks is InvalidInput listing the fields."""
        pairs = []
        for name in names:
            column = self.columns.get(name.upper())
            if column is None:
                raise InvalidInputError(
                    f"metadataColumns: the ITEMS dataset has no column {name!r}; "
                    f"its columns are {sorted(self.columns.values())}"
                )
            pairs.append((name, column))
        return pairs


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ItemMetadataCache:
    """Each dataset group's current ITEMS version, indexed by item id; keyed by the version's path.

    One per platform (``platform.campaign_caches.item_metadata``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, tuple[str, _ItemFields]] = {}

    def _fields(self, platform: Platform, group_arn: str) -> _ItemFields:
        from recsmith.data.datasets import find_dataset
        from recsmith.data.schemas import DatasetType

        dataset = find_dataset(platform, group_arn, DatasetType.ITEMS)
        version = dataset.attributes.get("dataVersion") if dataset else None
        if dataset is None or not version:
            raise InvalidInputError(
                "metadataColumns needs item metadata, but this campaign's dataset group has no ITEMS data imported"
            )
        path = str(version["path"])
        key = dataset.arn
        with self._lock:
            cached = self._tables.get(key)
        if cached is not None and cached[0] == path:
            return cached[1]
        fields = _ItemFields(pd.read_parquet(path))
        with self._lock:
            self._tables[key] = (path, fields)
        return fields

    def lookup(
        self, platform: Platform, group_arn: str, item_ids: Sequence[str], columns: Sequence[str]
    ) -> list[dict[str, str]]:
        """For each item, its values of ``columns`` (keyed as requested); unknown items get an empty map."""
        fields = self._fields(platform, group_arn)
        pairs = fields.resolve(columns)
        out = []
        for item in item_ids:
            row = fields.rows.get(item, {})
            out.append({name: row[column] for name, column in pairs if column in row})
        return out
