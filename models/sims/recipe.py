"""SIMS: items are similar when the same users interact with both, discounted by popularity.

similarity(i, j) = C(i, j) / (n_i ** d * n_j ** d), where C(i, j) counts users who interacted with both (within
each user's latest ``max_user_history_length`` items), n_i counts users of item i and d is
``popularity_discount_factor`` (0: raw co-occurrence, 0.5: cosine). Pairs seen together by fewer than
``min_cointeraction_count`` users are dropped, and each item keeps its ``num_neighbors`` best neighbours.

For a user, SIMS scores items related to the user's latest items, the newest weighing most
(``recency_decay`` per step back), so a new event changes the next answer at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from models.base import RecipeType, Recommendation, SearchDimension
from models.neighbour_recipe import NeighbourRecipe, NeighbourScoringParams
from models.neighbours import Cooccurrence, binary_user_items


class SimsParams(NeighbourScoringParams):
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


class Sims(NeighbourRecipe):
    """Item-item co-occurrence with popularity discount; RELATED_ITEMS, and user recommendations from it."""

    params: SimsParams

    recipe_id = "sims"
    recipe_type = RecipeType.RELATED_ITEMS
    Params = SimsParams
    search_space = {
        "popularity_discount_factor": SearchDimension("float", 0.0, 1.0),
        "min_cointeraction_count": SearchDimension("int", 1, 5),
        "recent_items": SearchDimension("int", 1, 30),
        "recency_decay": SearchDimension("float", 0.3, 1.0),
    }

    def _prepare(self, user_codes: np.ndarray, item_codes: np.ndarray, timestamps: np.ndarray) -> None:
        params = self.params
        # keep each user's latest items only: positions counted back from the end of the user's history
        # (rows are ordered by user, then time, so a row's position is its running index)
        position_from_end = self.history_indptr_[user_codes + 1] - 1 - np.arange(len(user_codes))
        keep = position_from_end < params.max_user_history_length
        users_items = binary_user_items(user_codes[keep], item_codes[keep], len(self.user_ids_), self.n_items)
        self._cooccurrence = Cooccurrence(
            users_items, params.popularity_discount_factor, params.min_cointeraction_count
        )

    def _similarities(self, rows: np.ndarray) -> sp.csr_matrix:
        return self._cooccurrence.rows(rows)

    def _related_rows(self, items: np.ndarray) -> np.ndarray:
        return self._cooccurrence.related_items(items)

    def _neighbour_slots(self) -> int:
        return self.params.num_neighbors

    def _release(self) -> None:
        del self._cooccurrence

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
