"""trending_now: the items whose interactions grow fastest, as Personalize's Trending-Now recipe.

Time is cut into windows of ``trend_discovery_frequency`` (30 minutes to 1 day) ending at the newest event the
model holds: the current window ``(t - w, t]`` and the one before it ``(t - 2w, t - w]``. An item's trend is its
growth between them measured in Poisson standard deviations of the earlier count,

    trend(i) = (current_i - previous_i) / sqrt(previous_i + 1),

so a new item going from 0 to 50 events outranks a best-seller going from 1,000 to 1,100 (50 against 3.2), and
one going from 0 to 2 does not (2). Items with no event in either window are not scored (the base class fills
the list with popular items, as Personalize falls back to popular items when two windows have no data).

Every user gets the same list (less the items they have seen). The state is counts, so new events fold in with
:meth:`~models.incremental.IncrementalRecipe.apply_delta` (training mode UPDATE) without retraining: the trend
moves with the newest event, exactly as a refit on all the events would have it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from models.base import InteractionData, RecipeParams, RecipeType
from models.incremental import IncrementalRecipe, PreviousState

WINDOWS = {"30 minutes": 1_800, "1 hour": 3_600, "2 hours": 7_200, "3 hours": 10_800, "1 day": 86_400}


class TrendingNowParams(RecipeParams):
    """Personalize's one setting for Trending-Now (a feature transformation there)."""

    trend_discovery_frequency: Literal["30 minutes", "1 hour", "2 hours", "3 hours", "1 day"] = Field(
        default="2 hours", description="Length of the two windows whose counts are compared."
    )


class TrendingNow(IncrementalRecipe):
    """Ranks items by how fast their interactions grow (see the module docstring)."""

    params: TrendingNowParams

    recipe_id = "trending_now"
    recipe_type = RecipeType.POPULAR_ITEMS
    Params = TrendingNowParams

    @property
    def window_seconds(self) -> int:
        return WINDOWS[self.params.trend_discovery_frequency]

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        self._count_windows(item_codes, self.history_times_)

    def _update(
        self,
        previous: PreviousState,
        affected_users: np.ndarray,
        frame: pd.DataFrame,
        user_codes: np.ndarray,
        item_codes: np.ndarray,
    ) -> None:
        self._count_windows(item_codes, self.history_times_)

    def _count_windows(self, item_codes: np.ndarray, times: np.ndarray) -> None:
        times = times.astype(np.float64)
        self.reference_time_ = float(times.max())
        window = float(self.window_seconds)
        current = times > self.reference_time_ - window
        previous = (times > self.reference_time_ - 2 * window) & ~current
        self.current_counts_ = np.bincount(item_codes[current], minlength=self.n_items).astype(np.float64)
        self.previous_counts_ = np.bincount(item_codes[previous], minlength=self.n_items).astype(np.float64)

    def trend_scores(self) -> np.ndarray:
        """Each item's trend (``-inf``: no event in either window)."""
        growth = (self.current_counts_ - self.previous_counts_) / np.sqrt(self.previous_counts_ + 1.0)
        seen = (self.current_counts_ + self.previous_counts_) > 0
        return np.where(seen, growth, -np.inf)

    def trending_items(self, n: int = 25) -> list[str]:
        """The ``n`` fastest-growing items, for everyone."""
        return self.recommend([""], n, exclude_seen=False)[0].item_ids

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        return np.tile(self.trend_scores(), (len(histories), 1))

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {
            **super()._state_arrays(),
            "reference_time": np.asarray(self.reference_time_),
            "current_counts": self.current_counts_,
            "previous_counts": self.previous_counts_,
        }

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._restore(arrays)
        self.reference_time_ = float(arrays["reference_time"])
        self.current_counts_ = arrays["current_counts"]
        self.previous_counts_ = arrays["previous_counts"]
