"""The recipe contract every recommender in :mod:`models` implements.

A recipe is fitted on interactions (ids are strings at the boundary; index maps stay inside), then answers
``recommend`` (top-N for users), ``rank`` (re-rank a given list for a user) and, where its type allows,
``similar_items``. ``save``/``load`` write plain JSON and ``.npz`` arrays (``allow_pickle=False``), so a model
file can never execute code when it is loaded.

The base class owns what every recipe shares: the id maps, each user's time-ordered history, popularity (the
fallback for unknown users, and the backfill when a recipe has fewer than ``n`` scored items), exclusion of
seen items and of filtered items, and the top-N selection. A recipe supplies ``_fit`` and ``_score``.

Every answer says why each item is in it (:attr:`Recommendation.reasons`, strings as Personalize's
``PredictedItem.reason``): the base class knows which items the recipe scored (:data:`REASON_MODEL`) and which
came from popularity backfill (:data:`REASON_POPULAR`); a recipe may add the user's own item that led to a
recommendation (:meth:`Recipe._explain`, "Because of item X") and mark exploration (:meth:`Recipe._explored`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from models.columns import ITEM_ID, TIMESTAMP, USER_ID

FORMAT_VERSION = 1
_META_FILE = "recipe.json"
_ARRAYS_FILE = "arrays.npz"


class RecipeType(StrEnum):
    """Personalize's recipe types: what questions a recipe can answer."""

    USER_PERSONALIZATION = "USER_PERSONALIZATION"
    RELATED_ITEMS = "RELATED_ITEMS"
    PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
    POPULAR_ITEMS = "POPULAR_ITEMS"
    USER_SEGMENTATION = "USER_SEGMENTATION"


class UnsupportedOperation(Exception):
    """A recipe was asked for something it cannot do (for example related items from popularity)."""


class RecipeParams(BaseModel):
    """Base of every recipe's hyperparameters: frozen, no unknown keys, defaults in code."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Compute:
    """Where and with how many threads a recipe trains: runtime settings, never hyperparameters.

    They come from the entry point's settings (``RECSMITH_DEVICE``, ``RECSMITH_TORCH_THREADS`` read once by
    :class:`recsmith.settings.Settings`), or from AutoML, which pins threads per worker process so that parallel
    candidates share the cores; recipes never read the environment. They change speed, not answers, and are not
    saved with a model.
    """

    device: str | None = None
    """``cpu``, ``cuda``, ``cuda:1``...; None: CUDA when torch sees a GPU, else the CPU."""
    torch_threads: int = 0
    """Torch threads for training; 0 lets the recipe choose (one on small data)."""

    def torch_device(self) -> Any:
        """The torch device to train on (torch is imported here, so recipes without it never load it)."""
        import torch

        return torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))


@dataclass(frozen=True)
class SearchDimension:
    """One hyperparameter's HPO range: ``kind`` is ``int``, ``float`` or ``categorical``."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class InteractionData:
    """What a recipe is fitted on: interactions (USER_ID, ITEM_ID, TIMESTAMP, ...) and optional metadata."""

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None


REASON_MODEL = "Model"
"""The recipe scored the item for this request."""
REASON_POPULAR = "Popular item"
"""Popularity backfill: the recipe could not score the item (or the user is unknown to it)."""
REASON_EXPLORATION = "Exploration"
"""Cold-start exploration: a new or rarely seen item shown to learn about it."""
REASON_PROMOTED = "Promoted item"
"""Chosen by a request's promotion filter (added by the campaign, not by recipes)."""
REASON_NOT_SCORED = "Not scored"
"""Personalized ranking: an input item the model does not know, placed last."""


def because_of(item_id: str) -> str:
    """The reason naming the user's own item that led to a recommendation."""
    return f"Because of item {item_id}"


@dataclass(frozen=True)
class Recommendation:
    """A ranked answer: item ids, best first, with their scores and, per item, the reasons it is there.

    ``reasons`` is empty or holds one list per item (``reasons[k]`` explains ``item_ids[k]``).
    """

    item_ids: list[str]
    scores: list[float]
    reasons: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.item_ids)

    def reasons_of(self, position: int) -> list[str]:
        """The reasons of the item at ``position`` (empty when the answer carries none)."""
        return list(self.reasons[position]) if self.reasons else []


@dataclass(frozen=True)
class SegmentQuery:
    """One line of a batch segment job: an item id (item_affinity) or an attribute expression such as
    ``ITEMS.GENRES = "Comedy"`` (item_attribute_affinity), as Personalize's ``{"itemId"}`` and
    ``{"itemAttributes"}`` input lines."""

    item_id: str | None = None
    item_attributes: str | None = None


@dataclass(frozen=True)
class Segment:
    """The users of one segment query, most likely first, with their scores."""

    user_ids: list[str]
    scores: list[float]


def by_user_then_time(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s rows ordered by user id, then timestamp, equal ones in their given order.

    (pandas ignores ``kind="stable"`` when sorting on two columns, so ties could come out in another order
    when rows are added or removed: an update could then not match a refit.)
    """
    users = pd.factorize(frame[USER_ID], sort=True)[0]
    return frame.iloc[np.lexsort((frame[TIMESTAMP].to_numpy(), users))]


class Recipe(ABC):
    """Base class of every recipe. Subclasses set the class variables and implement ``_fit``/``_score``."""

    recipe_id: ClassVar[str]
    recipe_type: ClassVar[RecipeType]
    Params: ClassVar[type[RecipeParams]] = RecipeParams
    search_space: ClassVar[Mapping[str, SearchDimension]] = {}

    params: RecipeParams
    """The recipe's hyperparameters, an instance of :attr:`Params`; each recipe narrows the annotation to its own
    class (``params: SimsParams``), so its code reads typed fields without casts."""

    def __init__(
        self,
        params: RecipeParams | Mapping[str, Any] | None = None,
        seed: int = 0,
        compute: Compute | None = None,
    ) -> None:
        if params is None:
            params = self.Params()
        elif not isinstance(params, RecipeParams):
            params = self.Params(**dict(params))
        elif not isinstance(params, self.Params):
            raise ValueError(f"recipe {self.recipe_id!r} takes {self.Params.__name__}, not {type(params).__name__}")
        self.params = params
        self.seed = seed
        self.compute = compute or Compute()

    # ----------------------------------------------------------------- fitting
    def fit(self, data: InteractionData) -> Self:
        """Learn from ``data``; returns ``self``. Fails loudly on empty input."""
        frame = data.interactions
        missing = {USER_ID, ITEM_ID, TIMESTAMP} - set(frame.columns)
        if missing:
            raise ValueError(f"interactions lack required columns {sorted(missing)}")
        if frame.empty:
            raise ValueError("cannot fit a recipe on zero interactions")
        frame = by_user_then_time(frame[[USER_ID, ITEM_ID, TIMESTAMP]].astype({USER_ID: str, ITEM_ID: str}))
        user_codes, item_codes = self._index(frame)
        self._fit(data, frame, user_codes, item_codes)
        return self

    def _index(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Set the id maps, histories and popularity from ``frame`` (sorted by user, then time, stably);
        returns the rows' user and item codes, in that order."""
        item_codes, item_ids = pd.factorize(frame[ITEM_ID], sort=True)
        user_codes, user_ids = pd.factorize(frame[USER_ID], sort=True)
        self.item_ids_ = np.asarray(item_ids, dtype=str)
        self.user_ids_ = np.asarray(user_ids, dtype=str)
        self._build_indexes()
        # each user's items in time order, as CSR (rows are sorted by user code because ids were sorted)
        order = np.argsort(user_codes, kind="stable")
        self.history_indices_ = item_codes[order].astype(np.int32)
        self.history_times_ = frame[TIMESTAMP].to_numpy()[order]
        counts = np.bincount(user_codes, minlength=len(self.user_ids_))
        self.history_indptr_ = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.popularity_ = np.bincount(item_codes, minlength=len(self.item_ids_)).astype(np.float64)
        return user_codes[order], item_codes[order]

    def _build_indexes(self) -> None:
        self.item_index_ = {item: i for i, item in enumerate(self.item_ids_.tolist())}
        self.user_index_ = {user: u for u, user in enumerate(self.user_ids_.tolist())}
        self._popular_order_cache: np.ndarray | None = None

    @abstractmethod
    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        """Learn the recipe's own state; ``user_codes``/``item_codes`` are time-ordered within each user."""

    @abstractmethod
    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        """Scores of every item (shape ``(len(histories), n_items)``) for users with these histories.

        ``-inf`` marks an item the recipe cannot score; the base class backfills those with popularity.
        """

    def _score_users(
        self, user_ids: Sequence[str], histories: Sequence[np.ndarray], context: Mapping[str, str] | None
    ) -> np.ndarray:
        """Like :meth:`_score`, for recipes that also use who the users are (user features, user embeddings).

        Sequence recipes score from the history alone, so the default ignores ``user_ids``; recipes with user
        metadata (deepfm, hrnn_metadata) override this instead of :meth:`_score`.
        """
        return self._score(histories, context)

    def _explain(self, history: np.ndarray, items: np.ndarray) -> list[int | None]:
        """For each recommended item index in ``items``, the index of the ``history`` item that led to it.

        None where the recipe cannot name one (the default): explanations must be true, never guessed.
        Sequence-based recipes (sims, hrnn) override this to say "because of item X".
        """
        return [None] * len(items)

    def _explored(self, items: np.ndarray) -> np.ndarray:
        """Which of ``items`` (indices) were placed by exploration rather than by relevance; default none.

        Recipes with cold-start exploration (hrnn_coldstart) override this.
        """
        return np.zeros(len(items), dtype=bool)

    # ------------------------------------------------------------- answering
    @property
    def n_items(self) -> int:
        return len(self.item_ids_)

    def user_history(self, user_id: str, recent_events: Sequence[str] = ()) -> np.ndarray:
        """The user's items in time order: training history, then the events since training."""
        u = self.user_index_.get(user_id)
        past = (
            self.history_indices_[self.history_indptr_[u] : self.history_indptr_[u + 1]]
            if u is not None
            else np.empty(0, dtype=np.int32)
        )
        recent = [self.item_index_[i] for i in recent_events if i in self.item_index_]
        if not recent:
            return past
        return np.concatenate([past, np.asarray(recent, dtype=np.int32)])

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
        """Top-``n`` items for each user, best first.

        ``exclude`` drops items per user, ``filter_items`` drops items for everyone, ``items`` restricts the
        candidates (personalized ranking), ``recent_events`` are each user's items since training (in time
        order); ``exclude_seen`` drops the items in the user's history. Unknown users get popular items.
        """
        recent_events = recent_events or {}
        histories = [self.user_history(u, recent_events.get(u, ())) for u in user_ids]
        if not histories:
            return []
        scores = self._score_users(list(user_ids), histories, context)
        allowed = self._candidate_mask(filter_items, items)
        popular = self._popular_order(allowed)
        results = []
        for row, (user, history) in enumerate(zip(user_ids, histories, strict=True)):
            blocked = [history] if exclude_seen and len(history) else []
            if exclude and user in exclude:
                blocked.append(self._indices(exclude[user]))
            excluded = np.concatenate(blocked) if blocked else np.empty(0, dtype=np.int64)
            results.append(self._select(scores[row], allowed, excluded, popular, n, history))
        return results

    def _popular_order(self, allowed: np.ndarray) -> np.ndarray:
        """The allowed items by popularity, most popular first, ties by item index: the backfill order."""
        order = getattr(self, "_popular_order_cache", None)
        if order is None or len(order) != self.n_items:
            pop = self._popularity_scores()
            order = np.lexsort((np.arange(self.n_items), -pop))
            self._popular_order_cache = order
        return order if allowed.all() else order[allowed[order]]

    def _select(
        self,
        scores: np.ndarray,
        allowed: np.ndarray,
        excluded: np.ndarray,
        popular: np.ndarray,
        n: int,
        history: np.ndarray | None = None,
    ) -> Recommendation:
        """Top ``n`` of one user's ``scores`` among ``allowed`` items not in ``excluded``; same answer as
        :meth:`_top_n` on the backfilled scores, without touching every item when the recipe scored few."""
        if n <= 0:
            return Recommendation([], [], [])
        scored = np.flatnonzero(np.isfinite(scores))
        if len(scored) == self.n_items or len(scored) > self.n_items // 4:  # dense: plain masked top-n
            mask = allowed.copy()
            mask[excluded] = False
            return self._top_n(scores, mask, n, history=history)
        out_mask = np.zeros(self.n_items, dtype=bool)
        out_mask[excluded] = True
        candidates = scored[allowed[scored] & ~out_mask[scored]]
        cand_scores = scores[candidates]
        k = min(n, len(candidates))
        if k:
            if k < len(candidates):  # every item tied with the k-th stays in, so ties break by item index
                kth = cand_scores[np.argpartition(-cand_scores, k - 1)[k - 1]]
                part = np.flatnonzero(cand_scores >= kth)
            else:
                part = np.arange(len(candidates))
            order = part[np.lexsort((candidates[part], -cand_scores[part]))][:k]
            chosen, chosen_scores = candidates[order], cand_scores[order]
        else:
            chosen, chosen_scores = np.empty(0, dtype=np.int64), np.empty(0)
        need = n - len(chosen)
        if need > 0:  # backfill with the most popular remaining items, scored below every real score
            out_mask[scored] = True
            head = popular[: need + len(excluded) + len(scored)]
            fill = head[~out_mask[head]][:need]
            pop = self._popularity_scores()
            if len(scored):
                floor = scores[scored].min()
                fill_scores = floor - 1.0 + pop[fill] / (pop.max() or 1.0) * 0.5
            else:
                fill_scores = pop[fill]
            chosen = np.concatenate([chosen, fill])
            chosen_scores = np.concatenate([chosen_scores, fill_scores])
        return Recommendation(
            self.item_ids_[chosen].tolist(), chosen_scores.tolist(), self._reasons(scores, chosen, history)
        )

    def rank(
        self,
        user_id: str,
        items: Sequence[str],
        *,
        context: Mapping[str, str] | None = None,
        recent_events: Sequence[str] = (),
    ) -> Recommendation:
        """``items`` re-ordered for ``user_id``, best first; items the model does not know go last, in input order."""
        history = self.user_history(user_id, recent_events)
        raw = self._score_users([user_id], [history], context)[0]
        scores = self._backfilled(raw)
        known = [i for i in items if i in self.item_index_]
        unknown = [i for i in items if i not in self.item_index_]
        known_scores = np.asarray([scores[self.item_index_[i]] for i in known], dtype=np.float64)
        order = np.argsort(-known_scores, kind="stable")
        ranked = [known[k] for k in order] + unknown
        ranked_scores = [float(known_scores[k]) for k in order] + [0.0] * len(unknown)
        chosen = np.asarray([self.item_index_[known[k]] for k in order], dtype=np.int64)
        reasons = self._reasons(raw, chosen, history) + [[REASON_NOT_SCORED] for _ in unknown]
        return Recommendation(ranked, ranked_scores, reasons)

    def similar_items(
        self, item_ids: Sequence[str], n: int = 25, *, filter_items: Collection[str] | None = None
    ) -> list[Recommendation]:
        """Items related to each of ``item_ids``; only RELATED_ITEMS-capable recipes override this."""
        raise UnsupportedOperation(
            f"recipe {self.recipe_id!r} ({self.recipe_type}) cannot answer related-items requests"
        )

    def users_for_items(self, queries: Sequence[SegmentQuery], n: int = 25) -> list[Segment]:
        """The ``n`` users most likely to interact with each query's items (batch segment jobs).

        Only USER_SEGMENTATION recipes (item_affinity, item_attribute_affinity) override this.
        """
        raise UnsupportedOperation(f"recipe {self.recipe_id!r} ({self.recipe_type}) cannot answer user-segment queries")

    def popular_items(
        self, n: int = 25, *, filter_items: Collection[str] | None = None, items: Collection[str] | None = None
    ) -> Recommendation:
        """The most popular items of the training data: the answer for an unknown user or item.

        ``filter_items`` and ``items`` work as in :meth:`recommend`.
        """
        return self._top_n(self._unscored(), self._candidate_mask(filter_items, items), n)

    def _unscored(self) -> np.ndarray:
        """Scores for an answer the recipe has nothing to say about: all backfilled, by popularity."""
        return np.full(self.n_items, -np.inf)

    # ----------------------------------------------------------------- helpers
    def _indices(self, item_ids: Collection[str]) -> np.ndarray:
        return np.asarray([self.item_index_[i] for i in item_ids if i in self.item_index_], dtype=np.int64)

    def _candidate_mask(self, filter_items: Collection[str] | None, items: Collection[str] | None) -> np.ndarray:
        if items is not None:
            mask = np.zeros(self.n_items, dtype=bool)
            mask[self._indices(items)] = True
        else:
            mask = np.ones(self.n_items, dtype=bool)
        if filter_items:
            mask[self._indices(filter_items)] = False
        return mask

    def _popularity_scores(self) -> np.ndarray:
        total = self.popularity_.sum()
        return self.popularity_ / total if total else self.popularity_

    def _backfilled(self, scores: np.ndarray) -> np.ndarray:
        """Unscored items (``-inf``) get popularity, scaled below every real score, so lists stay full."""
        unscored = ~np.isfinite(scores)
        if not unscored.any():
            return scores
        pop = self._popularity_scores()
        if unscored.all():
            return pop
        scores = scores.astype(np.float64, copy=True)
        floor = scores[~unscored].min()
        scores[unscored] = floor - 1.0 + pop[unscored] / (pop.max() or 1.0) * 0.5
        return scores

    def _reasons(self, raw: np.ndarray, chosen: np.ndarray, history: np.ndarray | None) -> list[list[str]]:
        """Why each chosen item is there: scored by the recipe (explained where it can) or popularity backfill.

        ``raw`` are the recipe's scores before backfill (``-inf``: not scored); ``history`` None means the
        answer is not for a user (popular or related items), so nothing is explained by a history item.
        """
        scored = np.isfinite(raw[chosen]) if len(chosen) else np.zeros(0, dtype=bool)
        if history is not None and len(history) and scored.any():
            because = self._explain(history, chosen)
        else:
            because = [None] * len(chosen)
        explored = self._explored(chosen)
        reasons: list[list[str]] = []
        for k, index in enumerate(because):
            if not scored[k]:
                reasons.append([REASON_POPULAR])
                continue
            entry = [REASON_EXPLORATION if explored[k] else REASON_MODEL]
            if index is not None:
                entry.append(because_of(str(self.item_ids_[index])))
            reasons.append(entry)
        return reasons

    def _top_n(
        self, scores: np.ndarray, mask: np.ndarray, n: int, *, history: np.ndarray | None = None
    ) -> Recommendation:
        raw = scores
        scores = self._backfilled(scores)
        candidates = np.flatnonzero(mask)
        if len(candidates) == 0 or n <= 0:
            return Recommendation([], [], [])
        cand_scores = scores[candidates]
        k = min(n, len(candidates))
        # ties break by item id order (every item tied with the k-th is considered), so answers are deterministic
        if k < len(candidates):
            kth = cand_scores[np.argpartition(-cand_scores, k - 1)[k - 1]]
            part = np.flatnonzero(cand_scores >= kth)
        else:
            part = np.arange(len(candidates))
        order = part[np.lexsort((candidates[part], -cand_scores[part]))][:k]
        chosen = candidates[order]
        return Recommendation(
            self.item_ids_[chosen].tolist(),
            [float(s) for s in scores[chosen]],
            self._reasons(raw, chosen, history),
        )

    # ------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The recipe's own learned arrays; the base class adds the shared ones."""
        return {}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:  # noqa: B027 - optional hook
        """Restore the recipe's own learned arrays (a recipe with none keeps this no-op)."""

    def save(self, path: str | Path) -> Path:
        """Write the fitted recipe to folder ``path`` as JSON plus ``.npz`` (no pickle)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "recipe_id": self.recipe_id,
            "params": self.params.model_dump(mode="json"),
            "seed": self.seed,
        }
        arrays = {
            "item_ids": self.item_ids_,
            "user_ids": self.user_ids_,
            "history_indices": self.history_indices_,
            "history_indptr": self.history_indptr_,
            "popularity": self.popularity_,
        }
        arrays.update({f"state_{k}": v for k, v in self._state_arrays().items()})
        np.savez(path / _ARRAYS_FILE, **arrays)  # type: ignore[arg-type]
        (path / _META_FILE).write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        """Read a recipe saved by :meth:`save`; the recipe class comes from the saved ``recipe_id``."""
        from models.registry import get_recipe_class

        path = Path(path)
        meta = json.loads((path / _META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported model format {meta.get('format_version')!r}")
        recipe_cls = get_recipe_class(meta["recipe_id"])
        recipe = recipe_cls(recipe_cls.Params(**meta["params"]), seed=int(meta["seed"]))
        with np.load(path / _ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        recipe.item_ids_ = arrays["item_ids"].astype(str)
        recipe.user_ids_ = arrays["user_ids"].astype(str)
        recipe.history_indices_ = arrays["history_indices"]
        recipe.history_indptr_ = arrays["history_indptr"]
        recipe.popularity_ = arrays["popularity"]
        recipe._build_indexes()
        recipe._restore({k.removeprefix("state_"): v for k, v in arrays.items() if k.startswith("state_")})
        return recipe
