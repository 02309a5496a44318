"""Recipes whose state is counts: they fold a signed delta of interactions in exactly (training mode UPDATE).

A count-based recipe (popularity_count, sims, next_item_knn, trending_now) learns only sums over users of
what each user did. Adding a user's new interactions, or taking some away (a data deletion job forgetting a
user), changes the sums of that user alone, so the recipe recomputes only what depends on them:
:meth:`IncrementalRecipe.apply_delta` gives exactly the state a full fit on the changed data gives (the same
arrays, bit for bit: ``tests/models/test_incremental.py`` compares them), at the cost of the rows that changed.

The interaction log (each user's items and timestamps in time order) is part of the model, saved with it, so a
loaded model version can be updated too. The delta's rows join the log as a full fit on "the old data, less the
removed rows, then the added rows" would order them: by user, then time, ties in that order.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd

from models.base import Recipe, by_user_then_time
from models.columns import ITEM_ID, TIMESTAMP, USER_ID

_COLUMNS = [USER_ID, ITEM_ID, TIMESTAMP]


@dataclass(frozen=True)
class PreviousState:
    """The catalogue and histories before a delta, for a recipe to map its own state to the new indices."""

    item_ids: np.ndarray
    user_ids: np.ndarray
    history_indptr: np.ndarray
    history_indices: np.ndarray

    def history(self, user_id: str) -> np.ndarray:
        """The user's item indices before the delta (old item indices; empty for a new user)."""
        u = int(np.searchsorted(self.user_ids, user_id))
        if u >= len(self.user_ids) or self.user_ids[u] != user_id:
            return np.empty(0, dtype=np.int32)
        return self.history_indices[self.history_indptr[u] : self.history_indptr[u + 1]]

    def new_index_of(self, new_item_ids: np.ndarray) -> np.ndarray:
        """For each old item index, its index among ``new_item_ids`` (sorted), or -1 when it is gone."""
        position = np.searchsorted(new_item_ids, self.item_ids)
        position = np.minimum(position, max(len(new_item_ids) - 1, 0))
        found = new_item_ids[position] == self.item_ids if len(new_item_ids) else np.zeros(len(self.item_ids), bool)
        return np.where(found, position, -1)


class IncrementalRecipe(Recipe):
    """A recipe whose learned state can take a signed delta of interactions exactly (see the module docstring)."""

    history_times_: np.ndarray

    def interaction_log(self) -> pd.DataFrame:
        """The interactions the model holds, ordered by user, then time: what a full refit would be given."""
        lengths = np.diff(self.history_indptr_)
        return pd.DataFrame(
            {
                USER_ID: np.repeat(self.user_ids_, lengths),
                ITEM_ID: self.item_ids_[self.history_indices_],
                TIMESTAMP: self.history_times_,
            }
        )

    def apply_delta(self, added: pd.DataFrame | None = None, removed: pd.DataFrame | None = None) -> Self:
        """Fold ``added`` interactions in and take ``removed`` ones out (each removed row, matched on user, item
        and timestamp, takes away one occurrence); the state becomes exactly that of a full fit on the changed
        data. A removed row the model does not hold raises ``ValueError``, and nothing changes."""
        if len(self.history_times_) != len(self.history_indices_):
            raise ValueError(
                f"this {self.recipe_id} model was saved without its interaction times (before training mode UPDATE "
                "existed); train a FULL version first"
            )
        log = self.interaction_log()
        affected: set[str] = set()
        if removed is not None and len(removed):
            removed = _interactions(removed, "removed")
            log = _without(log, removed)
            affected.update(removed[USER_ID].tolist())
        if added is not None and len(added):
            added = _interactions(added, "added")
            log = pd.concat([log, added], ignore_index=True)
            affected.update(added[USER_ID].tolist())
        if not affected:
            return self
        if log.empty:
            raise ValueError("cannot update a recipe to zero interactions")
        previous = PreviousState(self.item_ids_, self.user_ids_, self.history_indptr_, self.history_indices_)
        frame = by_user_then_time(log)
        user_codes, item_codes = self._index(frame)
        self._update(previous, np.asarray(sorted(affected), dtype=str), frame, user_codes, item_codes)
        return self

    def forget_users(self, user_ids: Collection[str]) -> Self:
        """Take every interaction of ``user_ids`` out (a data deletion job): :meth:`apply_delta` with their rows."""
        log = self.interaction_log()
        gone = log[log[USER_ID].isin(set(map(str, user_ids)))]
        return self.apply_delta(removed=gone) if len(gone) else self

    @abstractmethod
    def _update(
        self,
        previous: PreviousState,
        affected_users: np.ndarray,
        frame: pd.DataFrame,
        user_codes: np.ndarray,
        item_codes: np.ndarray,
    ) -> None:
        """Bring the recipe's own state up to the new log (ids, histories and popularity are already new).

        ``affected_users`` are the ids of the users the delta touched (some may be gone); ``frame``,
        ``user_codes`` and ``item_codes`` are as :meth:`Recipe._fit` gets them.
        """

    def changed_items(self, previous: PreviousState, affected_users: np.ndarray) -> np.ndarray:
        """New indices of every item in an affected user's history, before or after the delta."""
        old_to_new = previous.new_index_of(self.item_ids_)
        parts = [np.empty(0, dtype=np.int64)]
        for user in affected_users.tolist():
            old = old_to_new[previous.history(user)]
            parts.append(old[old >= 0])
            u = self.user_index_.get(user)
            if u is not None:
                parts.append(self.history_indices_[self.history_indptr_[u] : self.history_indptr_[u + 1]])
        return np.unique(np.concatenate(parts)).astype(np.int64)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"history_times": self.history_times_}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        # models saved before UPDATE existed have no times: they load and serve, and refuse an update
        self.history_times_ = arrays.get("history_times", np.empty(0, dtype=np.int64))


def _interactions(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = set(_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{name} interactions lack required columns {sorted(missing)}")
    return frame[_COLUMNS].astype({USER_ID: str, ITEM_ID: str}).reset_index(drop=True)


def _without(log: pd.DataFrame, removed: pd.DataFrame) -> pd.DataFrame:
    """``log`` less one occurrence per row of ``removed`` (the earliest held); unmatched rows raise."""
    keys = [USER_ID, ITEM_ID, TIMESTAMP]
    held = log.assign(_n=log.groupby(keys, sort=False).cumcount())
    gone = removed.assign(_n=removed.groupby(keys, sort=False).cumcount())
    merged = held.merge(gone[[*keys, "_n"]], on=[*keys, "_n"], how="left", indicator=True)
    matched = int((merged["_merge"] == "both").sum())
    if matched != len(removed):
        unmatched = gone.merge(held[[*keys, "_n"]], on=[*keys, "_n"], how="left", indicator=True)
        row = unmatched[unmatched["_merge"] == "left_only"].iloc[0]
        raise ValueError(
            f"removed interaction (user {row[USER_ID]!r}, item {row[ITEM_ID]!r}, timestamp {row[TIMESTAMP]}) "
            "is not in the model"
        )
    kept = merged["_merge"].to_numpy() == "left_only"
    return log[kept].reset_index(drop=True)


def interaction_delta(held: pd.DataFrame, current: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What turns the interactions a model ``held`` into the ``current`` ones: rows to add and rows to remove,
    matched as a multiset of (user, item, timestamp), each in its frame's order."""
    keys = [USER_ID, ITEM_ID, TIMESTAMP]
    old = _interactions(held, "held")
    new = _interactions(current, "current")
    old = old.assign(_n=old.groupby(keys, sort=False).cumcount())
    new = new.assign(_n=new.groupby(keys, sort=False).cumcount())
    merged_new = new.merge(old[[*keys, "_n"]], on=[*keys, "_n"], how="left", indicator=True)
    added = new[merged_new["_merge"].to_numpy() == "left_only"][keys].reset_index(drop=True)
    merged_old = old.merge(new[[*keys, "_n"]], on=[*keys, "_n"], how="left", indicator=True)
    removed = old[merged_old["_merge"].to_numpy() == "left_only"][keys].reset_index(drop=True)
    return added, removed
