"""The group's data as filters see it: ITEMS and USERS records indexed by id, and the interactions of users.

Multi-valued categorical metadata (``a|b``) is split once here, so a condition matches any of its values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from models.columns import EVENT_TYPE, ITEM_ID, USER_ID
from recsmith.errors import InvalidInputError


def _split(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [part for part in str(value).split("|") if part != ""]


def _column(frame: pd.DataFrame, name: str, dataset: str) -> str:
    for column in frame.columns:
        if column.upper() == name.upper():
            return str(column)
    raise InvalidInputError(f"filter: the {dataset} dataset has no field {name!r}")


class ItemTable:
    """One ITEMS data version, indexed for filtering: categorical inverted indexes and numeric columns."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)
        self.ids = self.frame[ITEM_ID].astype(str).to_numpy()
        self.all_ids = frozenset(self.ids.tolist())
        self.row = {item: k for k, item in enumerate(self.ids.tolist())}
        self._categorical: dict[str, dict[str, set[str]]] = {}
        self._numeric: dict[str, np.ndarray] = {}

    def column(self, name: str) -> str:
        return _column(self.frame, name, "Items")

    def values_index(self, name: str) -> dict[str, set[str]]:
        column = self.column(name)
        index = self._categorical.get(column)
        if index is None:
            index = {}
            for item, value in zip(self.ids.tolist(), self.frame[column].tolist(), strict=True):
                for part in _split(value):
                    index.setdefault(part, set()).add(item)
            self._categorical[column] = index
        return index

    def numeric(self, name: str) -> np.ndarray:
        column = self.column(name)
        values = self._numeric.get(column)
        if values is None:
            values = pd.to_numeric(self.frame[column], errors="coerce").to_numpy(dtype=np.float64)
            self._numeric[column] = values
        return values

    def item_values(self, item_id: str, name: str) -> list[str]:
        k = self.row.get(item_id)
        return [] if k is None else _split(self.frame.at[k, self.column(name)])

    def with_records(self, records: Mapping[str, Mapping[str, Any]]) -> ItemTable:
        """A new table with these items' records (PutItems, keyed by item id) replacing or joining the old ones.

        The inverted indexes built so far are carried over and patched for the changed items, not rebuilt; the
        old table is left untouched, so a request still reading it is unaffected.
        """
        changed = list(records)
        put = pd.DataFrame([{ITEM_ID: item, **values} for item, values in records.items()], dtype=object)
        kept = self.frame[~self.frame[ITEM_ID].astype(str).isin(changed)]
        table = ItemTable(pd.concat([kept, put.reindex(columns=self.frame.columns)], ignore_index=True))
        for column, old_index in self._categorical.items():
            index = dict(old_index)
            copied: set[str] = set()

            def own(value: str, index: dict[str, set[str]] = index, copied: set[str] = copied) -> set[str]:
                if value not in copied:  # copy a value's set before the first change to it
                    index[value] = set(index.get(value, ()))
                    copied.add(value)
                return index[value]

            for item in changed:
                if item in self.row:
                    for value in _split(self.frame.at[self.row[item], column]):
                        own(value).discard(item)
                for value in _split(records[item].get(column)):
                    own(value).add(item)
            table._categorical[column] = index
        return table


class UserTable:
    """One USERS data version: each user's metadata values."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)
        self.row = {user: k for k, user in enumerate(self.frame[USER_ID].astype(str).tolist())}

    def values(self, user_id: str | None, name: str) -> list[str]:
        column = _column(self.frame, name, "Users")
        k = self.row.get(user_id) if user_id is not None else None
        return [] if k is None else _split(self.frame.at[k, column])


class InteractionTable:
    """One INTERACTIONS data version: each user's items and event types."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.items = frame[ITEM_ID].astype(str).to_numpy()
        types = frame[EVENT_TYPE] if EVENT_TYPE in frame.columns else pd.Series([""] * len(frame))
        self.types = types.fillna("").astype(str).str.lower().to_numpy()
        users = frame[USER_ID].astype(str).to_numpy()
        self.rows: dict[str, np.ndarray] = pd.Series(np.arange(len(frame))).groupby(users).indices

    def history(self, user_id: str) -> list[tuple[str, str]]:
        rows = self.rows.get(user_id)
        if rows is None:
            return []
        return list(zip(self.items[rows].tolist(), self.types[rows].tolist(), strict=True))
