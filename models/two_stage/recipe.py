"""two_stage: candidates from several recipes, reranked by gradient-boosted trees trained on a time-based slice.

Stage one: each of ``candidate_recipes`` (next_item_knn, sims, popularity_count by default; any user recipe,
the neural ones included) proposes its top ``candidates_per_recipe`` items for the user; the union is the
candidate list. Stage two: a ranker scores every candidate from features of the pair,

- each recipe's score of the item, that score over the user's best score from the recipe, and the item's rank
  in that recipe's list (missing when it did not propose it),
- how many recipes proposed it,
- the item's popularity (log count), its popularity over the newest ``recent_days`` of the data, and how long
  before the newest event it was last taken (recency),
- the user's history length,

and the candidates are ordered by the ranker's score.

The ranker learns on a time-based slice of the training data: each user's newest interaction is held out, the
candidate recipes are fitted on the rest, and every candidate of a held-out user is a positive when it is the
held-out item, a negative otherwise (``max_training_users`` users at most, sampled with the seed). It is
scikit-learn's histogram gradient boosting with a logistic loss; the trees are saved as plain arrays and
evaluated here, so the model file stays JSON plus ``.npz`` (no pickle). Then the candidate recipes are fitted
again on all the data, which is what serves.

Items no recipe proposes are left to the base class (popularity backfill). Candidates are drawn among the
items the user has not taken, as the answer leaves those out anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from models.base import InteractionData, Recipe, RecipeParams, RecipeType, SearchDimension

_DAY = 86_400.0


class TwoStageParams(RecipeParams):
    """Which recipes propose candidates, how many each, and how the ranker learns."""

    candidate_recipes: tuple[str, ...] = Field(
        default=("next_item_knn", "sims", "popularity_count"),
        description="USER_PERSONALIZATION (or sims, popularity) recipes whose top items are the candidates.",
    )
    candidate_hyperparameters: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Hyperparameters per candidate recipe (its defaults otherwise)."
    )
    candidates_per_recipe: int = Field(default=100, ge=1, le=2_000, description="Top items each recipe proposes.")
    max_training_users: int = Field(default=5_000, ge=10, description="Held-out users the ranker learns from.")
    recent_days: float = Field(default=30.0, gt=0.0, description="Window of the 'recent popularity' feature.")
    max_iter: int = Field(default=200, ge=1, le=5_000, description="Boosting rounds of the ranker.")
    learning_rate: float = Field(default=0.05, gt=0.0, le=1.0, description="Ranker learning rate.")
    max_leaf_nodes: int = Field(default=31, ge=2, le=1_024, description="Leaves per tree.")
    min_samples_leaf: int = Field(default=50, ge=1, description="Fewest training candidates per leaf.")

    @field_validator("candidate_recipes")
    @classmethod
    def _known_recipes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from models.registry import recipe_ids

        unknown = [r for r in value if r not in recipe_ids() or r == "two_stage"]
        if unknown or not value:
            raise ValueError(f"candidate_recipes {list(value)}: unknown or empty; known: {', '.join(recipe_ids())}")
        return value


class TwoStage(Recipe):
    """Candidates from several recipes, reranked by a learned ranker (see the module docstring)."""

    params: TwoStageParams

    recipe_id = "two_stage"
    recipe_type = RecipeType.USER_PERSONALIZATION
    Params = TwoStageParams
    search_space = {
        "candidates_per_recipe": SearchDimension("int", 25, 200, log=True),
        "learning_rate": SearchDimension("float", 0.02, 0.2, log=True),
        "min_samples_leaf": SearchDimension("int", 10, 200, log=True),
    }

    # ----------------------------------------------------------------- fitting
    def _candidate_models(self, data: InteractionData) -> list[Recipe]:
        from models.registry import get_recipe_class

        models = []
        for recipe_id in self.params.candidate_recipes:
            recipe_cls = get_recipe_class(recipe_id)
            params = recipe_cls.Params(**self.params.candidate_hyperparameters.get(recipe_id, {}))
            models.append(recipe_cls(params, seed=self.seed, compute=self.compute).fit(data))
        return models

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        # the slice: each user's newest interaction held out (users with at least 3), the rest fits stage one
        lengths = np.diff(self.history_indptr_)
        last = self.history_indptr_[1:] - 1
        eligible = np.flatnonzero(lengths >= 3)
        rng = np.random.default_rng(self.seed)
        if len(eligible) > self.params.max_training_users:
            eligible = np.sort(rng.choice(eligible, self.params.max_training_users, replace=False))
        held = np.zeros(len(frame), dtype=bool)
        held[last[eligible]] = True
        # ``frame`` is in history order (user, then time), so row k is history position k
        slice_data = InteractionData(data.interactions.loc[frame.index[~held]], items=data.items, users=data.users)
        slice_models = self._candidate_models(slice_data)
        # the ranker learns from features as they were before the held-out events (else their own timestamps
        # would tell the ranker which items were taken last: a leak)
        self._item_statistics(item_codes[~held], self.history_times_[~held])
        users = self.user_ids_[eligible].tolist()
        targets = self.item_ids_[self.history_indices_[last[eligible]]]
        features, labels = [], []
        for start in range(0, len(users), 256):
            batch = users[start : start + 256]
            rows = self._candidate_features(slice_models, batch, self._slice_histories(slice_models[0], batch))
            for (candidates, x), target in zip(rows, targets[start : start + 256].tolist(), strict=True):
                features.append(x)
                labels.append(candidates == target)
        x_train = np.vstack(features) if features else np.zeros((0, self._n_features()))
        y_train = np.concatenate(labels) if labels else np.zeros(0, dtype=bool)
        self._train_ranker(x_train, y_train)
        self._item_statistics(item_codes, self.history_times_)
        self.models_ = self._candidate_models(data)
        for model in self.models_:
            if not np.array_equal(model.item_ids_, self.item_ids_):
                raise ValueError(
                    f"candidate recipe {model.recipe_id!r} changes the catalogue; it cannot be a candidate"
                )

    def _slice_histories(self, model: Recipe, users: Sequence[str]) -> list[np.ndarray]:
        """The users' histories in the slice model, as item indices of this (full) model's catalogue."""
        mapping = np.asarray([self.item_index_[i] for i in model.item_ids_.tolist()], dtype=np.int64)
        return [mapping[model.user_history(u)] for u in users]

    def _item_statistics(self, item_codes: np.ndarray, times: np.ndarray) -> None:
        times = times.astype(np.float64)
        self.reference_time_ = float(times.max())
        recent = times > self.reference_time_ - self.params.recent_days * _DAY
        self.item_popularity_ = np.bincount(item_codes, minlength=self.n_items).astype(np.float64)
        self.recent_popularity_ = np.bincount(item_codes[recent], minlength=self.n_items).astype(np.float64)
        last_taken = np.full(self.n_items, -np.inf)
        np.maximum.at(last_taken, item_codes, times)
        self.last_taken_ = last_taken

    def _n_features(self) -> int:
        return 3 * len(self.params.candidate_recipes) + 5

    def _candidate_features(
        self, models: Sequence[Recipe], users: Sequence[str], histories: Sequence[np.ndarray]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each user: the candidate item ids (of this model's catalogue) and their feature rows.

        ``models`` may have another catalogue than this model (the slice's); their items are mapped by id.
        """
        k = self.params.candidates_per_recipe
        per_model = []
        for model in models:
            mapping = np.asarray([self.item_index_[i] for i in model.item_ids_.tolist()], dtype=np.int64)
            back = np.full(self.n_items, -1, dtype=np.int64)
            back[mapping] = np.arange(len(mapping))
            local = [back[h][back[h] >= 0] for h in histories]
            raw = model._score_users(list(users), local, None)
            full = np.full((len(users), self.n_items), -np.inf)
            full[:, mapping] = raw
            per_model.append(full)
        log_pop = np.log1p(self.item_popularity_)
        log_recent = np.log1p(self.recent_popularity_)
        age_days = np.minimum((self.reference_time_ - self.last_taken_) / _DAY, 10_000.0)
        out = []
        for row, history in enumerate(histories):
            ranks, chosen = [], []
            for scores in per_model:
                s = scores[row].copy()
                s[history] = -np.inf
                finite = np.flatnonzero(np.isfinite(s))
                top = finite[np.lexsort((finite, -s[finite]))][:k]
                rank = np.full(self.n_items, np.nan)
                rank[top] = np.arange(1, len(top) + 1)
                ranks.append(rank)
                chosen.append(top)
            candidates = np.unique(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)
            columns = []
            for scores, rank, top in zip(per_model, ranks, chosen, strict=True):
                value = np.where(np.isfinite(scores[row][candidates]), scores[row][candidates], np.nan)
                best = scores[row][top[0]] if len(top) else np.nan
                columns.append(value)
                # the score relative to this user's best: raw scores differ in scale from user to user, and a
                # pointwise ranker compares rows of all users
                columns.append(value / best if np.isfinite(best) and best > 0 else np.full(len(candidates), np.nan))
                columns.append(rank[candidates])
            proposed = np.sum([~np.isnan(r[candidates]) for r in ranks], axis=0)
            columns += [
                proposed.astype(np.float64),
                log_pop[candidates],
                log_recent[candidates],
                age_days[candidates],
                np.full(len(candidates), float(len(history))),
            ]
            out.append(
                (
                    self.item_ids_[candidates],
                    np.column_stack(columns) if len(candidates) else np.zeros((0, len(columns))),
                )
            )
        return out

    def _train_ranker(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit the trees and keep them as arrays (see :func:`_export_trees`)."""
        if len(y) == 0 or y.all() or not y.any():
            self.tree_nodes_ = np.zeros((0, 6))
            self.tree_starts_ = np.zeros(1, dtype=np.int64)
            self.baseline_ = 0.0
            return
        from sklearn.ensemble import HistGradientBoostingClassifier

        params = self.params
        ranker = HistGradientBoostingClassifier(
            max_iter=params.max_iter,
            learning_rate=params.learning_rate,
            max_leaf_nodes=params.max_leaf_nodes,
            min_samples_leaf=params.min_samples_leaf,
            early_stopping=False,
            random_state=self.seed,
        )
        from threadpoolctl import threadpool_limits

        # OpenMP threads that outnumber free cores spin: one thread unless the compute settings give more
        with threadpool_limits(limits=max(1, self.compute.torch_threads)):
            ranker.fit(x, y.astype(np.int64))
        self.tree_nodes_, self.tree_starts_, self.baseline_ = _export_trees(ranker)

    # ----------------------------------------------------------------- scoring
    def _score_users(
        self, user_ids: Sequence[str], histories: Sequence[np.ndarray], context: Mapping[str, str] | None
    ) -> np.ndarray:
        scores = np.full((len(histories), self.n_items), -np.inf)
        rows = self._candidate_features(self.models_, user_ids, histories)
        for row, (candidates, x) in enumerate(rows):
            if len(candidates) and len(histories[row]):  # a user with no history: popular items, as everywhere
                index = np.asarray([self.item_index_[c] for c in candidates.tolist()], dtype=np.int64)
                scores[row, index] = _predict(self.tree_nodes_, self.tree_starts_, self.baseline_, x)
        return scores

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        return self._score_users([""] * len(histories), histories, context)

    # ------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "tree_nodes": self.tree_nodes_,
            "tree_starts": self.tree_starts_,
            "baseline": np.asarray(self.baseline_),
            "reference_time": np.asarray(self.reference_time_),
            "item_popularity": self.item_popularity_,
            "recent_popularity": self.recent_popularity_,
            "last_taken": self.last_taken_,
        }
        for model in self.models_:
            arrays.update({f"model.{model.recipe_id}.{k}": v for k, v in model._state_arrays().items()})
        return arrays

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        from models.registry import get_recipe_class

        self.tree_nodes_ = arrays["tree_nodes"]
        self.tree_starts_ = arrays["tree_starts"]
        self.baseline_ = float(arrays["baseline"])
        self.reference_time_ = float(arrays["reference_time"])
        self.item_popularity_ = arrays["item_popularity"]
        self.recent_popularity_ = arrays["recent_popularity"]
        self.last_taken_ = arrays["last_taken"]
        self.models_ = []
        for recipe_id in self.params.candidate_recipes:
            recipe_cls = get_recipe_class(recipe_id)
            params = recipe_cls.Params(**self.params.candidate_hyperparameters.get(recipe_id, {}))
            model = recipe_cls(params, seed=self.seed, compute=self.compute)
            model.item_ids_, model.user_ids_ = self.item_ids_, self.user_ids_
            model.history_indices_, model.history_indptr_ = self.history_indices_, self.history_indptr_
            model.popularity_ = self.popularity_
            model._build_indexes()
            prefix = f"model.{recipe_id}."
            model._restore({k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)})
            self.models_.append(model)


# node columns: feature, threshold, missing goes left, left child, right child, leaf value (feature -1: leaf)
_FEATURE, _THRESHOLD, _MISSING_LEFT, _LEFT, _RIGHT, _VALUE = range(6)


def _export_trees(ranker: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """The fitted trees of a binary HistGradientBoostingClassifier as one float array of nodes (columns as
    above, children indexed within their tree), where each tree starts, and the baseline log-odds."""
    blocks, starts = [], [0]
    for (predictor,) in ranker._predictors:
        nodes = predictor.nodes
        block = np.zeros((len(nodes), 6))
        leaf = nodes["is_leaf"].astype(bool)
        block[:, _FEATURE] = np.where(leaf, -1, nodes["feature_idx"])
        block[:, _THRESHOLD] = nodes["num_threshold"]
        block[:, _MISSING_LEFT] = nodes["missing_go_to_left"]
        block[:, _LEFT] = nodes["left"]
        block[:, _RIGHT] = nodes["right"]
        block[:, _VALUE] = nodes["value"]
        blocks.append(block)
        starts.append(starts[-1] + len(nodes))
    baseline = float(np.ravel(ranker._baseline_prediction)[0])
    return np.vstack(blocks), np.asarray(starts, dtype=np.int64), baseline


def _predict(nodes: np.ndarray, starts: np.ndarray, baseline: float, x: np.ndarray) -> np.ndarray:
    """The ranker's log-odds for the rows of ``x``: the baseline plus each tree's leaf value."""
    total = np.full(len(x), baseline)
    rows = np.arange(len(x))
    for t in range(len(starts) - 1):
        tree = nodes[starts[t] : starts[t + 1]]
        at = np.zeros(len(x), dtype=np.int64)
        while True:
            feature = tree[at, _FEATURE].astype(np.int64)
            inner = feature >= 0
            if not inner.any():
                break
            value = x[rows[inner], feature[inner]]
            missing = np.isnan(value)
            left = np.where(missing, tree[at[inner], _MISSING_LEFT] > 0, value <= tree[at[inner], _THRESHOLD])
            at[inner] = np.where(left, tree[at[inner], _LEFT], tree[at[inner], _RIGHT]).astype(np.int64)
        total += tree[at, _VALUE]
    return total
