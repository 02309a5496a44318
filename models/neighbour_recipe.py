"""The part of an item-kNN recipe that does not depend on how its neighbour table was learned.

sims and next_item_knn learn their tables differently (co-occurrence; directed transitions blended with it),
but score a user, explain an answer, save the table and fold a delta of interactions in the same way. This base
class holds that shared behaviour once, so the two recipes cannot drift apart in how they rank, explain,
persist or update.

Update (training mode UPDATE, :meth:`models.incremental.IncrementalRecipe.apply_delta`): an item's table row
depends only on the users who took it (its counts) and on the popularity of the items they took with it (the
discounts). So only the rows of the items in the changed users' histories, and of the items taken together
with those, are recomputed (:meth:`NeighbourRecipe._related_rows`); every other row is the old row with its
item indices renumbered, which keeps their order (ids stay sorted), so the table is exactly a full fit's.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from models.base import InteractionData, RecipeParams
from models.incremental import IncrementalRecipe, PreviousState
from models.neighbours import (
    NeighbourTable,
    latest_distinct,
    neighbour_count,
    neighbour_scores,
    strongest_source,
    table_rows,
)


class NeighbourScoringParams(RecipeParams):
    """How a user is scored from the neighbour table: their latest items, newest weighing most."""

    recent_items: int = Field(default=10, ge=1, description="How many of the user's latest items recommend.")
    recency_decay: float = Field(
        default=0.7, gt=0.0, le=1.0, description="Weight factor per step back in the user's history."
    )


class NeighbourRecipe(IncrementalRecipe):
    """A recipe whose fit sets ``neighbors_`` and ``similarity_`` (a :class:`NeighbourTable`).

    A user's score sums, over their latest ``recent_items`` distinct items (weights ``recency_decay`` per step
    back), each item's similarity to its neighbours; each recommended item is explained by the user's item
    that added most to its score.
    """

    params: NeighbourScoringParams

    neighbors_: np.ndarray
    similarity_: np.ndarray

    def _table(self) -> NeighbourTable:
        return NeighbourTable(self.neighbors_, self.similarity_)

    # ------------------------------------------------------------ learning
    @abstractmethod
    def _prepare(self, user_codes: np.ndarray, item_codes: np.ndarray, timestamps: np.ndarray) -> None:
        """Build what :meth:`_similarities` and :meth:`_related_rows` read, from the time-ordered log."""

    @abstractmethod
    def _similarities(self, rows: np.ndarray) -> sp.csr_matrix:
        """The similarity rows of items ``rows``: a sparse ``(len(rows), n_items)`` matrix of related pairs."""

    @abstractmethod
    def _related_rows(self, items: np.ndarray) -> np.ndarray:
        """Every row whose similarities can change when the counts of ``items`` change (``items`` included)."""

    @abstractmethod
    def _neighbour_slots(self) -> int:
        """Neighbours kept per item."""

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        self._prepare(user_codes, item_codes, self.history_times_)
        rows = np.arange(self.n_items)
        self._before_rows(rows)
        table = table_rows(rows, neighbour_count(self._neighbour_slots(), self.n_items), self._similarities)
        self.neighbors_, self.similarity_ = table.neighbors, table.similarity
        self._release()

    def _before_rows(self, rows: np.ndarray) -> None:  # noqa: B027 - optional hook
        """Called with every row about to be computed, before the blocks; next_item_knn counts T's rows here."""

    def _release(self) -> None:
        """Drop what :meth:`_prepare` built (the model keeps only its table and log)."""

    def _update(
        self,
        previous: PreviousState,
        affected_users: np.ndarray,
        frame: pd.DataFrame,
        user_codes: np.ndarray,
        item_codes: np.ndarray,
    ) -> None:
        k = neighbour_count(self._neighbour_slots(), self.n_items)
        old_to_new = previous.new_index_of(self.item_ids_)
        self._prepare(user_codes, item_codes, self.history_times_)
        stale = np.zeros(self.n_items, dtype=bool)
        stale[self._related_rows(self.changed_items(previous, affected_users))] = True
        if k != self.neighbors_.shape[1]:
            stale[:] = True
        neighbors = np.zeros((self.n_items, k), dtype=np.int32)
        similarity = np.full((self.n_items, k), -np.inf, dtype=np.float32)
        kept_old = np.flatnonzero(old_to_new >= 0)
        kept_new = old_to_new[kept_old]
        reuse = ~stale[kept_new]
        old_rows, new_rows = kept_old[reuse], kept_new[reuse]
        old_sim = self.similarity_[old_rows]
        mapped = old_to_new[self.neighbors_[old_rows]]
        valid = np.isfinite(old_sim)
        if (mapped[valid] < 0).any():  # a kept row named a vanished item: it cannot be reused after all
            stale[new_rows[((mapped < 0) & valid).any(axis=1)]] = True
            still = ~stale[new_rows]
            old_sim, mapped, valid, new_rows = old_sim[still], mapped[still], valid[still], new_rows[still]
        neighbors[new_rows] = np.where(valid, mapped, 0)
        similarity[new_rows] = old_sim
        rows = np.flatnonzero(stale)
        self._before_rows(rows)
        fresh = table_rows(rows, k, self._similarities)
        neighbors[rows], similarity[rows] = fresh.neighbors, fresh.similarity
        self.neighbors_, self.similarity_ = neighbors, similarity
        self._release()

    def _latest(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The user's latest distinct items that score, newest first, and their recency weights."""
        params = self.params
        latest = latest_distinct(history, params.recent_items)
        return latest, params.recency_decay ** np.arange(len(latest))

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        scores = np.full((len(histories), self.n_items), -np.inf, dtype=np.float64)
        table = self._table()
        for row, history in enumerate(histories):
            scores[row] = neighbour_scores(table, *self._latest(history), self.n_items)
        return scores

    def _explain(self, history: np.ndarray, items: np.ndarray) -> list[int | None]:
        """The history item whose weighted similarity added most to each recommended item's score.

        Only the latest ``recent_items`` distinct items score (see :meth:`_score`), so only they can explain;
        an item none of them has as a neighbour (popularity backfill) gets None.
        """
        return strongest_source(self._table(), *self._latest(history), items, self.n_items)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {**super()._state_arrays(), "neighbors": self.neighbors_, "similarity": self.similarity_}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._restore(arrays)
        self.neighbors_ = arrays["neighbors"]
        self.similarity_ = arrays["similarity"]
