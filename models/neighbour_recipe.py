"""The part of an item-kNN recipe that does not depend on how its neighbour table was learned.

sims and next_item_knn learn their tables differently (co-occurrence; directed transitions blended with it),
but score a user, explain an answer and save the table the same way. This base class holds that shared
behaviour once, so the two recipes cannot drift apart in how they rank, explain or persist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import Field

from models.base import Recipe, RecipeParams
from models.neighbours import NeighbourTable, latest_distinct, neighbour_scores, strongest_source


class NeighbourScoringParams(RecipeParams):
    """How a user is scored from the neighbour table: their latest items, newest weighing most."""

    recent_items: int = Field(default=10, ge=1, description="How many of the user's latest items recommend.")
    recency_decay: float = Field(
        default=0.7, gt=0.0, le=1.0, description="Weight factor per step back in the user's history."
    )


class NeighbourRecipe(Recipe):
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
        return {"neighbors": self.neighbors_, "similarity": self.similarity_}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.neighbors_ = arrays["neighbors"]
        self.similarity_ = arrays["similarity"]
