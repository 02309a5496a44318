"""next_item_knn: what users take next after the user's latest items, from directed transitions in histories.

SIMS (whole-history co-occurrence) is blind to order: it cannot tell "B follows A" from "A follows B", and it
weighs two items a user took years apart as much as two taken in a row. next_item_knn learns, per item, the
items that follow it closely in users' time-ordered histories (:mod:`models.next_item_knn.transitions`), and
blends in SIMS's co-occurrence neighbours, which still know about items that are rarely taken in sequence:

    similarity(i, j) = T(i, j) / (n_i ** d * n_j ** d)  +  cooccurrence_weight * C(i, j) / (n_i ** c * n_j ** c)

with T the distance-weighted transition counts, C the number of users who took both, n_i the users of item
i, d ``popularity_discount_factor`` and c ``cooccurrence_discount_factor``. With ``normalise_sources`` each
source's row is first divided by its best value, so the weight means the same whatever the data's scale.
Each item keeps its ``num_neighbors`` best neighbours.

A user is scored from their latest ``recent_items`` distinct items, events since training included (the
campaign passes them from the event store), newest weighing most (``recency_decay`` per step back). Each
recommended item names the user's item that added most to its score ("Because of item X").
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from models.base import RecipeType, SearchDimension
from models.neighbour_recipe import NeighbourRecipe, NeighbourScoringParams
from models.neighbours import Cooccurrence, binary_user_items, without_diagonal
from models.next_item_knn.transitions import transition_counts


class NextItemKnnParams(NeighbourScoringParams):
    """next_item_knn hyperparameters; defaults chosen on a validation split of MovieLens (bench/results)."""

    window: int = Field(default=5, ge=1, le=100, description="Pairs at most this many positions apart count.")
    distance_exponent: float = Field(
        default=0.5, ge=0.0, le=4.0, description="A pair d positions apart weighs d ** -distance_exponent."
    )
    backward_weight: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Weight of the item before relative to the item after."
    )
    user_length_exponent: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Each user's pairs weigh len(history) ** -this (0: all users equal)."
    )
    popularity_discount_factor: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Transition counts are divided by (n_i n_j) ** this."
    )
    cooccurrence_weight: float = Field(
        default=0.5, ge=0.0, description="Weight of whole-history co-occurrence (SIMS) blended in; 0 turns it off."
    )
    cooccurrence_discount_factor: float = Field(
        default=0.5, ge=0.0, le=1.0, description="SIMS's popularity discount of the co-occurrence counts."
    )
    min_cointeraction_count: int = Field(
        default=2, ge=1, description="Co-occurrence pairs seen together by fewer users are dropped."
    )
    normalise_sources: bool = Field(
        default=True, description="Scale each source's row to a best value of 1 before blending."
    )
    num_neighbors: int = Field(default=400, ge=1, description="Neighbours kept per item.")


class NextItemKnn(NeighbourRecipe):
    """Sequential item-kNN: directed, distance-weighted transitions blended with co-occurrence."""

    params: NextItemKnnParams

    recipe_id = "next_item_knn"
    recipe_type = RecipeType.USER_PERSONALIZATION
    Params = NextItemKnnParams
    search_space = {
        "window": SearchDimension("int", 1, 20),
        "distance_exponent": SearchDimension("float", 0.0, 2.0),
        "backward_weight": SearchDimension("float", 0.0, 1.0),
        "popularity_discount_factor": SearchDimension("float", 0.0, 1.0),
        "cooccurrence_weight": SearchDimension("float", 0.0, 2.0),
        "recent_items": SearchDimension("int", 1, 40),
        "recency_decay": SearchDimension("float", 0.3, 1.0),
    }

    def _prepare(self, user_codes: np.ndarray, item_codes: np.ndarray, timestamps: np.ndarray) -> None:
        params = self.params
        self._log = (user_codes, item_codes, timestamps)
        users_items = binary_user_items(user_codes, item_codes, len(self.user_ids_), self.n_items)
        self._cooccurrence = Cooccurrence(
            users_items, params.cooccurrence_discount_factor, params.min_cointeraction_count
        )
        self._discount = np.power(np.maximum(self._cooccurrence.users_per_item, 1.0), params.popularity_discount_factor)
        self._transitions: sp.csr_matrix | None = None
        self._transition_rows = np.empty(0, dtype=np.int64)

    def _transitions_of(self, rows: np.ndarray) -> sp.csr_matrix:
        """Rows ``rows`` of T, from the histories of the users who took those items (all users on a full fit)."""
        params = self.params
        user_codes, item_codes, timestamps = self._log
        if len(rows) == self.n_items:
            subset = np.ones(len(user_codes), dtype=bool)
        else:
            users = np.unique(self._cooccurrence.item_users[rows].indices)
            subset = np.isin(user_codes, users)
        transitions = transition_counts(
            user_codes[subset],
            item_codes[subset],
            timestamps[subset],
            self.n_items,
            window=params.window,
            distance_exponent=params.distance_exponent,
            backward_weight=params.backward_weight,
            user_length_exponent=params.user_length_exponent,
        )
        return transitions[rows]

    def _similarities(self, rows: np.ndarray) -> sp.csr_matrix:
        params = self.params
        transitions = self._block_transitions(rows).tocoo()
        values = transitions.data / self._discount[rows[transitions.row]] / self._discount[transitions.col]
        sim = sp.csr_matrix((values, (transitions.row, transitions.col)), shape=transitions.shape)
        if params.cooccurrence_weight > 0:
            co = self._cooccurrence.rows(rows)
            if params.normalise_sources:
                sim = _row_scaled(sim)
                co = _row_scaled(co)
            sim = (sim + params.cooccurrence_weight * co).tocsr()
        sim = without_diagonal(sim.tocsr(), rows)
        sim.data[sim.data <= 0] = 0.0
        sim.eliminate_zeros()
        return sim

    def _block_transitions(self, rows: np.ndarray) -> sp.csr_matrix:
        """T's rows ``rows``: all of T is computed once per fit or update, for the rows it recomputes."""
        if self._transitions is None:
            raise RuntimeError("transitions were not prepared for these rows")
        position = np.searchsorted(self._transition_rows, rows)
        return self._transitions[position]

    def _before_rows(self, rows: np.ndarray) -> None:
        self._transitions = self._transitions_of(rows)
        self._transition_rows = rows

    def _related_rows(self, items: np.ndarray) -> np.ndarray:
        return self._cooccurrence.related_items(items)

    def _neighbour_slots(self) -> int:
        return self.params.num_neighbors

    def _release(self) -> None:
        del self._cooccurrence, self._log, self._transitions, self._discount


def _row_scaled(block: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its largest value (rows with nothing positive stay as they are)."""
    block = block.tocsr()
    best = np.asarray(block.max(axis=1).todense(), dtype=np.float64).ravel()
    scale = np.where(best > 0, best, 1.0)
    out = block.copy()
    out.data = out.data / np.repeat(scale, np.diff(out.indptr))
    return out
