"""Popularity-Count: every user gets the items with the most interactions.

The baseline every other recipe must beat, and the fallback for users and items a model has never seen. Its
state is the interaction count of each item, so an UPDATE (a signed delta of interactions) is exact: the base
class recounts popularity from the updated log, and there is nothing else to change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from models.base import InteractionData, RecipeParams, RecipeType
from models.incremental import IncrementalRecipe, PreviousState


class PopularityCountParams(RecipeParams):
    """Popularity-Count has no hyperparameters."""


class PopularityCount(IncrementalRecipe):
    """Scores an item by its share of all training interactions."""

    params: PopularityCountParams

    recipe_id = "popularity_count"
    recipe_type = RecipeType.POPULAR_ITEMS
    Params = PopularityCountParams

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        """Nothing beyond the popularity the base class counts."""

    def _update(
        self,
        previous: PreviousState,
        affected_users: np.ndarray,
        frame: pd.DataFrame,
        user_codes: np.ndarray,
        item_codes: np.ndarray,
    ) -> None:
        """Nothing beyond the popularity the base class recounts."""

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        return np.tile(self._popularity_scores(), (len(histories), 1))
