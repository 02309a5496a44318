"""Popularity-Count: every user gets the items with the most interactions.

The baseline every other recipe must beat, and the fallback for users and items a model has never seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from models.base import InteractionData, Recipe, RecipeParams, RecipeType


class PopularityCountParams(RecipeParams):
    """Popularity-Count has no hyperparameters."""


class PopularityCount(Recipe):
    """Scores an item by its share of all training interactions."""

    params: PopularityCountParams

    recipe_id = "popularity_count"
    recipe_type = RecipeType.POPULAR_ITEMS
    Params = PopularityCountParams

    def _fit(
        self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray
    ) -> None:
        """Nothing beyond the popularity the base class counts."""

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        return np.tile(self._popularity_scores(), (len(histories), 1))
