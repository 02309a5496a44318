"""hrnn_coldstart: hrnn_metadata plus exploration of new items, so they are shown before anyone interacted.

An item is *new* when its ITEMS ``CREATION_TIMESTAMP`` is at most ``exploration_item_age_cut_off`` days before the
newest training interaction (the data's own clock, never the wall clock, so a refit on the same data gives the
same set). Without a ``CREATION_TIMESTAMP`` column, the items no interaction mentions count as new.

Each answer of ``n`` items keeps ``round(exploration_weight * n)`` places for the best-scored new items (scored
from their features by hrnn_metadata's network), spread evenly through the list; the rest is the usual
relevance ranking. ``exploration_weight`` 0 turns exploration off, 1 fills the list with new items.
:meth:`HrnnColdstart.exploration_items` names the new items, so the serving layer can give those the reason
"Exploration".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import Field

from models.base import InteractionData, Recommendation
from models.columns import CREATION_TIMESTAMP, ITEM_ID, TIMESTAMP
from models.exploration import interleave_exploration
from models.hrnn.features import aligned
from models.hrnn.metadata import HrnnMetadata, HrnnMetadataParams

_DAY = 86_400.0


class HrnnColdstartParams(HrnnMetadataParams):
    """hrnn_metadata's hyperparameters plus exploration (names as Personalize's)."""

    exploration_weight: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Share of each answer given to new items (0: none, 1: all)."
    )
    exploration_item_age_cut_off: float = Field(
        default=30.0, gt=0.0, description="Items created at most this many days before the newest event are new."
    )


class HrnnColdstart(HrnnMetadata):
    """hrnn_metadata that keeps places in every answer for new items (see the module docstring)."""

    params: HrnnColdstartParams

    recipe_id = "hrnn_coldstart"
    Params = HrnnColdstartParams

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        super()._fit(data, frame, user_codes, item_codes)
        self.reference_time_ = float(frame[TIMESTAMP].max())
        self.exploration_mask_ = self._new_items(data.items, self.item_ids_)

    def _new_items(self, items: pd.DataFrame | None, item_ids: np.ndarray) -> np.ndarray:
        """Which of ``item_ids`` are new: created within the cut-off, or (no creation times) never interacted."""
        params = self.params
        if items is None or CREATION_TIMESTAMP not in items.columns:
            known = np.isin(item_ids, self.item_ids_[self.popularity_ > 0])
            return ~known
        created = pd.to_numeric(aligned(items, ITEM_ID, item_ids, "ITEMS")[CREATION_TIMESTAMP], errors="coerce")
        values = created.to_numpy(dtype=np.float64)
        return np.nan_to_num(values, nan=-np.inf) >= self.reference_time_ - params.exploration_item_age_cut_off * _DAY

    def exploration_items(self) -> list[str]:
        """The ids of the new items that exploration may place in an answer (reason "Exploration")."""
        return self.item_ids_[self.exploration_mask_].tolist()

    def is_new(self, items: np.ndarray) -> np.ndarray:
        """Which of the item indices ``items`` are new items, that exploration may place in an answer.

        Not :meth:`_explored`: a new item the relevance ranking placed on its merits is the model's answer,
        and only the places :meth:`recommend` hands to exploration carry the reason "Exploration".
        """
        return self.exploration_mask_[np.asarray(items, dtype=np.int64)]

    def add_items(self, items: pd.DataFrame) -> list[str]:
        """As :meth:`HrnnMetadata.add_items`; added items are new by the same rule as in training."""
        added = super().add_items(items)
        if added:
            mask = self._new_items(items.astype({ITEM_ID: str}), np.asarray(added, dtype=str))
            self.exploration_mask_ = np.concatenate([self.exploration_mask_, mask])
        return added

    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._state_arrays()
        arrays["exploration_mask"] = self.exploration_mask_
        arrays["reference_time"] = np.asarray(self.reference_time_)
        return arrays

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.exploration_mask_ = arrays["exploration_mask"].astype(bool)
        self.reference_time_ = float(arrays["reference_time"])
        super()._restore(arrays)

    def recommend(
        self,
        user_ids: Sequence[str],
        n: int = 25,
        *,
        exclude_seen: bool = True,
        exclude: Mapping[str, Collection[str]] | None = None,
        filter_items: Collection[str] | None = None,
        items: Collection[str] | None = None,
        context: Mapping[str, str] | None = None,
        recent_events: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Recommendation]:
        """The relevance ranking with ``round(exploration_weight * n)`` places given to the best new items."""
        params = self.params
        options = {
            "exclude_seen": exclude_seen,
            "exclude": exclude,
            "filter_items": filter_items,
            "context": context,
            "recent_events": recent_events,
        }
        answers = super().recommend(user_ids, n, items=items, **options)  # type: ignore[arg-type]
        places = int(round(params.exploration_weight * n))
        new = set(self.exploration_items())
        if items is not None:
            new &= set(items)
        if not places or not new:
            return answers
        explored = super().recommend(user_ids, places, items=new, **options)  # type: ignore[arg-type]
        return [interleave_exploration(a, e, n) for a, e in zip(answers, explored, strict=True)]
