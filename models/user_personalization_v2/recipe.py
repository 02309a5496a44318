"""user_personalization_v2: a causal self-attention model over each user's sequence (Personalize's UP-v2).

The network (after SASRec, Kang & McAuley 2018, with what our probe in ``bench/results/h-sasrec.md`` learned):
item vectors (an id embedding plus a projection of the item's ITEMS features, shared between input and output)
plus learned positions over the latest ``max_length`` items, ``num_blocks`` pre-LayerNorm causal self-attention
blocks, a final LayerNorm; the state at the last position scores every item as ``h . e_i + b_i``.

Training, on every window of ``max_length + 1`` items of each history (not only the newest: on MovieLens the
newest window alone throws away most positions), predicts at every position:

- the next items, not only the next one: the item ``k`` steps ahead (``k <= target_window``) is a target of
  weight ``k ** -0.5`` (the loss is the weighted mean over all targets). Histories hold runs of items saved at
  one timestamp whose order means nothing, and what comes in the next few steps is what a user is about to take;
- with a softmax over ``num_negatives`` popularity-sampled items with the log-Q correction (the default: it costs
  the same whatever the catalogue's size, so a fit stays bounded on two CPU cores), or with a full softmax over
  the catalogue (``num_negatives = 0``; our probe's best on MovieLens, at several times the cost);
- each target weighted by its event type (Personalize's ``eventsConfig.eventParametersList``: ``eventType``,
  ``weight``, ``eventValueThreshold``): events below their type's threshold are dropped, types not listed
  weigh ``default_event_weight``.

Scoring runs the network over the user's latest ``max_length`` items, left-padded as the training windows are (so
every position means what it meant in training), events since training included, so a new event changes the
next answer at once. As in hrnn, inference runs one history at a time on the CPU: a batch
answers exactly as the same users asked one by one, and a loaded model exactly as the saved one. Training uses
the compute settings' device (CUDA when present) and threads.

Exploration (``exploration_weight``, ``exploration_item_age_cut_off``) hands a share of each answer to the
best-scored new items, as hrnn_coldstart does; Personalize's UP-v2 explores a little on its own, so the default
here is a small share, and 0 turns it off.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Self

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from models.base import InteractionData, Recipe, RecipeParams, RecipeType, Recommendation, SearchDimension
from models.columns import CREATION_TIMESTAMP, EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP
from models.exploration import interleave_exploration
from models.hrnn.features import FeatureEncoder, aligned, fit_encoder
from models.hrnn.recipe import torch_threads

_ITEM = "enc_item_"
_DAY = 86_400.0


class EventParameters(BaseModel):
    """One entry of Personalize's ``eventsConfig.eventParametersList``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: str = Field(description="The EVENT_TYPE this applies to.")
    weight: float = Field(default=1.0, ge=0.0, le=1.0, description="Loss weight of this event type (0 to 1).")
    event_value_threshold: float | None = Field(
        default=None, description="Events of this type with a lower EVENT_VALUE are not trained on."
    )


class UserPersonalizationV2Params(RecipeParams):
    """user_personalization_v2 hyperparameters (see the module docstring)."""

    hidden_dimension: int = Field(default=64, ge=8, le=1024, description="Size of item vectors and states.")
    num_blocks: int = Field(default=2, ge=1, le=8, description="Self-attention blocks.")
    num_heads: int = Field(default=1, ge=1, le=16, description="Attention heads (must divide hidden_dimension).")
    max_length: int = Field(default=50, ge=2, le=1024, description="Latest items the model reads.")
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0, description="Dropout on embeddings and inside blocks.")
    epochs: int = Field(default=10, ge=1, le=1000, description="Passes over the training windows.")
    batch_size: int = Field(default=128, ge=1, description="Windows per training step.")
    learning_rate: float = Field(default=1e-3, gt=0.0, description="Adam learning rate.")
    weight_decay: float = Field(default=0.0, ge=0.0, description="AdamW weight decay.")
    target_window: int = Field(default=3, ge=1, le=50, description="Items ahead each position learns to predict.")
    num_negatives: int = Field(
        default=1024,
        ge=0,
        description="Popularity-sampled negatives of a log-Q-corrected softmax; 0: full softmax over the catalogue.",
    )
    events_config: tuple[EventParameters, ...] = Field(
        default=(), description="Event-type weights and thresholds (Personalize's eventParametersList)."
    )
    default_event_weight: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Weight of event types events_config does not list."
    )
    exploration_weight: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of each answer given to new items (0: none)."
    )
    exploration_item_age_cut_off: float = Field(
        default=30.0, gt=0.0, description="Items created at most this many days before the newest event are new."
    )
    min_token_count: int = Field(default=2, ge=1, description="An ITEMS value is a feature if this many items have it.")


class _Net(nn.Module):
    def __init__(self, n_items: int, params: UserPersonalizationV2Params, item_features: torch.Tensor) -> None:
        super().__init__()
        d = params.hidden_dimension
        self.item_embedding = nn.Embedding(n_items + 1, d, padding_idx=0)  # index 0: padding
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.position = nn.Embedding(params.max_length, d)
        self.item_features: torch.Tensor
        self.register_buffer("item_features", item_features)
        self.feature_projection = nn.Linear(item_features.shape[1], d, bias=False) if item_features.shape[1] else None
        layer = nn.TransformerEncoderLayer(
            d, params.num_heads, dim_feedforward=d, dropout=params.dropout, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, params.num_blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(params.dropout)
        nn.init.normal_(self.item_embedding.weight, std=0.05)
        with torch.no_grad():
            self.item_embedding.weight[0] = 0.0

    def item_table(self) -> torch.Tensor:
        """Output vectors of every item (row i: item index i)."""
        table = self.item_embedding.weight[1:]
        if self.feature_projection is not None:
            table = table + self.feature_projection(self.item_features)
        return table

    def states(self, sequences: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(B, L, d)`` after each position of left-padded ``sequences`` (item index + 1)."""
        length = sequences.shape[1]
        vectors = self.item_embedding(sequences)
        if self.feature_projection is not None:
            padded = torch.cat([torch.zeros_like(self.item_features[:1]), self.item_features])
            vectors = vectors + self.feature_projection(padded[sequences])
        positions = torch.arange(length, device=sequences.device)
        real = (sequences > 0).unsqueeze(-1).to(vectors.dtype)
        # padding reads as zero vectors (no position either); no padding mask, so no query ever sees only masked
        # keys (that gives NaN), and a left-padded history computes exactly as in training
        x = self.dropout((vectors * math.sqrt(vectors.shape[-1]) + self.position(positions)[None]) * real)
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=sequences.device), 1)
        x = self.blocks(x, mask=causal, is_causal=True)
        return self.norm(x)


class UserPersonalizationV2(Recipe):
    """Causal self-attention user model (see the module docstring)."""

    params: UserPersonalizationV2Params

    recipe_id = "user_personalization_v2"
    recipe_type = RecipeType.USER_PERSONALIZATION
    Params = UserPersonalizationV2Params
    search_space = {
        "hidden_dimension": SearchDimension("int", 32, 128, log=True),
        "dropout": SearchDimension("float", 0.1, 0.5),
        "learning_rate": SearchDimension("float", 3e-4, 3e-3, log=True),
        "target_window": SearchDimension("int", 1, 5),
        "epochs": SearchDimension("int", 8, 40),
    }

    # ----------------------------------------------------------------- fitting
    def fit(self, data: InteractionData) -> Self:
        """As :meth:`Recipe.fit`, on the events its ``events_config`` keeps (thresholds per event type)."""
        frame = data.interactions.reset_index(drop=True)
        thresholds = {e.event_type: e.event_value_threshold for e in self.params.events_config}
        if (
            EVENT_TYPE in frame.columns
            and EVENT_VALUE in frame.columns
            and any(t is not None for t in thresholds.values())
        ):
            limit = frame[EVENT_TYPE].map(lambda t: thresholds.get(t)).astype("float64")
            values = pd.to_numeric(frame[EVENT_VALUE], errors="coerce")
            frame = frame[~(limit.notna() & ~(values >= limit))].reset_index(drop=True)
        return super().fit(replace(data, interactions=frame))

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        params = self.params
        if params.hidden_dimension % params.num_heads:
            raise ValueError(f"hidden_dimension {params.hidden_dimension} is not a multiple of num_heads")
        torch.set_num_threads(torch_threads(self.compute, len(item_codes)))
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        device = self.compute.torch_device()
        if data.items is not None and ITEM_ID in data.items.columns:  # catalogue-only items: new, scored by features
            new = np.setdiff1d(data.items[ITEM_ID].astype(str).unique(), self.item_ids_)
            if len(new):
                self.item_ids_ = np.concatenate([self.item_ids_, np.sort(new)]).astype(str)
                self.popularity_ = np.concatenate([self.popularity_, np.zeros(len(new))])
                self._build_indexes()
        self._set_item_features(data.items)
        weights = self._event_weights(data.interactions.loc[frame.index])
        self.reference_time_ = float(frame[TIMESTAMP].max())
        self.exploration_mask_ = self._new_items(data.items)
        windows, window_weights = self._windows(item_codes, weights)
        net = _Net(self.n_items, params, torch.as_tensor(self._item_matrix)).to(device)
        if len(windows):
            self._train(net, windows, window_weights, rng, device)
        self._net = net.cpu().eval()
        del self._item_matrix

    def _set_item_features(self, items: pd.DataFrame | None) -> None:
        columns = [c for c in (items.columns if items is not None else []) if c not in (ITEM_ID, CREATION_TIMESTAMP)]
        if items is None or not columns:
            self.item_encoder_ = FeatureEncoder((), (), (), (), ())
            self._item_matrix = np.zeros((self.n_items, 0), dtype=np.float32)
            return
        self.item_encoder_ = fit_encoder(items, columns, source="ITEMS", min_count=self.params.min_token_count)
        rows = aligned(items.astype({ITEM_ID: str}), ITEM_ID, self.item_ids_, "ITEMS")
        self._item_matrix = (
            self.item_encoder_.encode(rows, "ITEMS")
            if self.item_encoder_.dimension
            else np.zeros((self.n_items, 0), dtype=np.float32)
        )

    def _event_weights(self, rows: pd.DataFrame) -> np.ndarray:
        """Each training event's loss weight, in the base class's (user, time) order."""
        params = self.params
        if not params.events_config or EVENT_TYPE not in rows.columns:
            return np.ones(len(rows), dtype=np.float32)
        by_type = {e.event_type: e.weight for e in params.events_config}
        weights = rows[EVENT_TYPE].map(lambda t: by_type.get(t, params.default_event_weight))
        return weights.to_numpy(dtype=np.float32)

    def _new_items(self, items: pd.DataFrame | None) -> np.ndarray:
        """Which items are new: created within the cut-off (from ITEMS), or else never interacted with."""
        if items is None or CREATION_TIMESTAMP not in items.columns:
            return self.popularity_ == 0
        created = pd.to_numeric(
            aligned(items.astype({ITEM_ID: str}), ITEM_ID, self.item_ids_, "ITEMS")[CREATION_TIMESTAMP], errors="coerce"
        ).to_numpy(dtype=np.float64)
        cut = self.reference_time_ - self.params.exploration_item_age_cut_off * _DAY
        return np.nan_to_num(created, nan=-np.inf) >= cut

    def _windows(self, item_codes: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every window of ``max_length + 1`` items of each history, counted back from its end, left-padded;
        item indices are shifted by one (0 is padding). Returns the windows and their events' weights."""
        size = self.params.max_length + 1
        windows, window_weights = [], []
        for u in range(len(self.user_ids_)):
            start, stop = int(self.history_indptr_[u]), int(self.history_indptr_[u + 1])
            if stop - start < 2:
                continue
            for end in range(stop, start + 1, -(size - 1)):
                begin = max(start, end - size)
                row = np.zeros(size, dtype=np.int64)
                wts = np.zeros(size, dtype=np.float32)
                row[size - (end - begin) :] = item_codes[begin:end] + 1
                wts[size - (end - begin) :] = weights[begin:end]
                windows.append(row)
                window_weights.append(wts)
                if begin == start:
                    break
        if not windows:
            return np.zeros((0, size), dtype=np.int64), np.zeros((0, size), dtype=np.float32)
        return np.stack(windows), np.stack(window_weights)

    def _train(
        self, net: _Net, windows: np.ndarray, weights: np.ndarray, rng: np.random.Generator, device: torch.device
    ) -> None:
        params = self.params
        optimiser = torch.optim.AdamW(net.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
        q = self.popularity_ / max(self.popularity_.sum(), 1.0)
        log_q = torch.as_tensor(np.log(np.maximum(q * max(params.num_negatives, 1), 1e-12)), dtype=torch.float32)
        log_q = log_q.to(device)
        q_cdf = np.cumsum(q)
        ahead = np.arange(1, params.target_window + 1, dtype=np.float32) ** -0.5
        size = min(params.batch_size, max(1, -(-len(windows) // 8)))
        net.train()
        started = time.perf_counter()
        for _ in range(params.epochs):
            order = rng.permutation(len(windows))
            for begin in range(0, len(order), size):
                rows = order[begin : begin + size]
                batch = torch.as_tensor(windows[rows], device=device)
                wts = torch.as_tensor(weights[rows], device=device)
                states = net.states(batch[:, :-1])
                loss = self._loss(net, states, batch, wts, ahead, log_q, q_cdf, rng, device)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        self.training_seconds_ = time.perf_counter() - started
        net.eval()

    def _loss(
        self,
        net: _Net,
        states: torch.Tensor,
        batch: torch.Tensor,
        wts: torch.Tensor,
        ahead: np.ndarray,
        log_q: torch.Tensor,
        q_cdf: np.ndarray,
        rng: np.random.Generator,
        device: torch.device,
    ) -> torch.Tensor:
        """Cross-entropy of the items up to ``target_window`` steps ahead of every position (see the docstring)."""
        params = self.params
        length = states.shape[1]
        present = batch[:, :-1] > 0  # positions that read a real item
        table = net.item_table()
        if params.num_negatives:
            negatives = np.minimum(
                np.searchsorted(q_cdf, rng.random(params.num_negatives) * q_cdf[-1]), self.n_items - 1
            )
            negatives_t = torch.as_tensor(negatives, device=device)
            candidates = table[negatives_t]
            logits = states @ candidates.T + net.item_bias[negatives_t] - log_q[negatives_t]
        else:
            logits = states @ table.T + net.item_bias
        if not params.num_negatives:
            logits = torch.log_softmax(logits, dim=-1)  # once for every position; each target k gathers from it
        total = torch.zeros((), device=device)
        norm = torch.zeros((), device=device)
        for k in range(1, len(ahead) + 1):
            if k > length:
                break
            target = batch[:, k : k + length]  # item k steps after each position (0: none)
            target_w = wts[:, k : k + length]
            span = target.shape[1]
            valid = present[:, :span] & (target > 0) & (target_w > 0)
            if not valid.any():
                continue
            idx = target[valid] - 1
            if params.num_negatives:
                h = logits[:, :span][valid]
                pos_logit = (states[:, :span][valid] * table[idx]).sum(-1) + net.item_bias[idx] - log_q[idx]
                h = h.masked_fill(negatives_t[None, :] == idx[:, None], float("-inf"))
                nll = -torch.log_softmax(torch.cat([pos_logit[:, None], h], dim=1), dim=1)[:, 0]
            else:
                nll = -logits[:, :span].gather(2, (target - 1).clamp(min=0)[..., None])[..., 0][valid]
            w = target_w[valid] * float(ahead[k - 1])
            total = total + (nll * w).sum()
            norm = norm + w.sum()
        return total / norm.clamp(min=1e-6)

    # ----------------------------------------------------------------- scoring
    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        scores = np.full((len(histories), self.n_items), -np.inf, dtype=np.float64)
        length = self.params.max_length
        with torch.no_grad():
            table = self._net.item_table()
            for row, history in enumerate(histories):
                if not len(history):
                    continue
                latest = np.zeros(length, dtype=np.int64)  # left-padded to the training windows' length
                recent = np.asarray(history[-length:], dtype=np.int64) + 1
                latest[length - len(recent) :] = recent
                state = self._net.states(torch.as_tensor(latest)[None, :])[0, -1]
                scores[row] = (table @ state + self._net.item_bias).numpy().astype(np.float64)
        return scores

    def _explain(self, history: np.ndarray, items: np.ndarray) -> list[int | None]:
        """For each recommended item, the one of the user's latest 10 items whose vector is most like it."""
        recent = np.asarray(history, dtype=np.int64)[-10:]
        if not len(recent) or not len(items):
            return [None] * len(items)
        with torch.no_grad():
            table = nn.functional.normalize(self._net.item_table(), dim=1)
            left = table[torch.as_tensor(recent)]
            right = table[torch.as_tensor(np.asarray(items, dtype=np.int64))]
            best = (right @ left.T).argmax(dim=1).numpy()
        return [int(recent[k]) for k in best]

    def exploration_items(self) -> list[str]:
        """The ids of the new items exploration may place in an answer."""
        return self.item_ids_[self.exploration_mask_].tolist()

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
        """The relevance ranking, with ``round(exploration_weight * n)`` places given to the best new items."""
        answers = super().recommend(
            user_ids,
            n,
            exclude_seen=exclude_seen,
            exclude=exclude,
            filter_items=filter_items,
            items=items,
            context=context,
            recent_events=recent_events,
        )
        places = int(round(self.params.exploration_weight * n))
        new = set(self.exploration_items())
        if items is not None:
            new &= set(items)
        if not places or not new:
            return answers
        explored = super().recommend(
            user_ids,
            places,
            exclude_seen=exclude_seen,
            exclude=exclude,
            filter_items=filter_items,
            items=new,
            context=context,
            recent_events=recent_events,
        )
        return [interleave_exploration(a, e, n) for a, e in zip(answers, explored, strict=True)]

    # ------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self._net.state_dict().items()}
        arrays.update(self.item_encoder_.to_arrays(_ITEM))
        arrays["exploration_mask"] = self.exploration_mask_
        arrays["reference_time"] = np.asarray(self.reference_time_)
        return arrays

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.item_encoder_ = FeatureEncoder.from_arrays(arrays, _ITEM)
        self.exploration_mask_ = arrays["exploration_mask"].astype(bool)
        self.reference_time_ = float(arrays["reference_time"])
        features = torch.as_tensor(np.array(arrays["net.item_features"], dtype=np.float32))
        net = _Net(self.n_items, self.params, features)
        net.load_state_dict(
            {k.removeprefix("net."): torch.as_tensor(np.array(v)) for k, v in arrays.items() if k.startswith("net.")}
        )
        self._net = net.eval()
