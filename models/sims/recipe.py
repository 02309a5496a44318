"""SIMS: items are similar when the same users interact with both, discounted by popularity.

similarity(i, j) = C(i, j) / (n_i ** d * n_j ** d), where C(i, j) counts users who interacted with both (within
each user's latest ``max_user_history_length`` items), n_i counts users of item i and d is
``popularity_discount_factor`` (0: raw co-occurrence, 0.5: cosine). Pairs seen together by fewer than
``min_cointeraction_count`` users are dropped, and each item keeps its ``num_neighbors`` best neighbours.

For a user, SIMS scores items related to the user's latest items, the newest weighing most
(``recency_decay`` per step back), so a new event changes the next answer at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from models.base import (
    InteractionData,
    Recipe,
    RecipeParams,
    RecipeType,
    Recommendation,
    SearchDimension,
)
from models.neighbours import (
    NeighbourTable,
    cooccurrence_neighbours,
    latest_distinct,
    neighbour_scores,
    strongest_source,
)


class SimsParams(RecipeParams):
    """SIMS hyperparameters (names as Personalize's where it has them)."""

    popularity_discount_factor: float = Field(
        default=0.5, ge=0.0, le=1.0, description="0 keeps raw co-occurrence counts; 0.5 is cosine similarity."
    )
    min_cointeraction_count: int = Field(
        default=2, ge=1, description="Pairs seen together by fewer users are not similar."
    )
    max_user_history_length: int = Field(
        default=200, ge=2, description="Only each user's latest items count towards co-occurrence."
    )
    num_neighbors: int = Field(default=200, ge=1, description="Similar items kept per item.")
    recent_items: int = Field(default=10, ge=1, description="How many of the user's latest items recommend.")
    recency_decay: float = Field(
        default=0.7, gt=0.0, le=1.0, description="Weight factor per step back in the user's history."
    )


class Sims(Recipe):
    """Item-item co-occurrence with popularity discount; RELATED_ITEMS, and user recommendations from it."""

    recipe_id = "sims"
    recipe_type = RecipeType.RELATED_ITEMS
    Params = SimsParams
    search_space = {
        "popularity_discount_factor": SearchDimension("float", 0.0, 1.0),
        "min_cointeraction_count": SearchDimension("int", 1, 5),
        "recent_items": SearchDimension("int", 1, 30),
        "recency_decay": SearchDimension("float", 0.3, 1.0),
    }

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        params: SimsParams = self.params  # type: ignore[assignment]
        # keep each user's latest items only: positions counted back from the end of the user's history
        # (rows are ordered by user, then time, so a row's position is its running index)
        position_from_end = self.history_indptr_[user_codes + 1] - 1 - np.arange(len(user_codes))
        keep = position_from_end < params.max_user_history_length
        users_items = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.float32), (user_codes[keep], item_codes[keep])),
            shape=(len(self.user_ids_), self.n_items),
        )
        table = cooccurrence_neighbours(
            users_items,
            popularity_discount_factor=params.popularity_discount_factor,
            min_count=params.min_cointeraction_count,
            num_neighbors=params.num_neighbors,
        )
        self.neighbors_ = table.neighbors
        self.similarity_ = table.similarity

    def _table(self) -> NeighbourTable:
        return NeighbourTable(self.neighbors_, self.similarity_)

    def _latest(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The user's latest distinct items that score, newest first, and their recency weights."""
        params: SimsParams = self.params  # type: ignore[assignment]
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
        an item none of them is similar to (popularity backfill) gets None.
        """
        return strongest_source(self._table(), *self._latest(history), items, self.n_items)

    def similar_items(
        self, item_ids: Sequence[str], n: int = 25, *, filter_items: Collection[str] | None = None
    ) -> list[Recommendation]:
        """The ``n`` most similar items to each item; an unknown item gets popular items."""
        results = []
        for item in item_ids:
            mask = self._candidate_mask(filter_items, None)
            i = self.item_index_.get(item)
            if i is None:
                results.append(self._top_n(self._unscored(), mask, n))
                continue
            mask[i] = False
            scores = np.full(self.n_items, -np.inf)
            valid = np.isfinite(self.similarity_[i])
            scores[self.neighbors_[i][valid]] = self.similarity_[i][valid]
            results.append(self._top_n(scores, mask, n))
        return results

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"neighbors": self.neighbors_, "similarity": self.similarity_}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.neighbors_ = arrays["neighbors"]
        self.similarity_ = arrays["similarity"]

