"""hrnn_metadata: HRNN that also reads item, user and context features.

Features are encoded by :mod:`models.hrnn.features` (numeric, categorical and ``|``-multi-valued columns) and
enter the network in three places:

- items: an item's vector (session GRU input and tied output embedding) is its id embedding plus a linear
  projection of its ITEMS features. Items that ITEMS lists but no interaction mentions join the catalogue with a
  zero id embedding, so they are scored from their features alone; :meth:`HrnnMetadata.add_items` does the
  same at serving time for items first met after training (PutItems).
- users: the user GRU starts from ``tanh(W u + b)`` of the user's USERS features instead of zero, so the first
  session is already personal; a user with features but no history is scored from that state.
- context: the interactions' own extra columns (for example ``DEVICE``) are projected and added to the state
  that predicts the event; at serving time the request's ``context`` mapping is encoded the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Self

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn

from models.base import InteractionData
from models.columns import CREATION_TIMESTAMP, ITEM_ID, RESERVED_FIELDS, USER_ID
from models.hrnn.features import FeatureEncoder, aligned, fit_encoder
from models.hrnn.recipe import Hrnn, HrnnParams, _Net

_ITEM, _USER, _CONTEXT = "enc_item_", "enc_user_", "enc_context_"


class HrnnMetadataParams(HrnnParams):
    """HRNN hyperparameters plus how features are encoded."""

    min_token_count: int = Field(
        default=2, ge=1, description="A categorical value is a feature only if at least this many rows have it."
    )
    max_tokens_per_column: int = Field(default=500, ge=1, description="Most frequent values kept per text column.")


class _MetaNet(_Net):
    """The HRNN network with feature projections; feature tables are buffers, so they are saved with the net."""

    def __init__(
        self,
        n_items: int,
        hidden: int,
        dropout: float,
        item_features: torch.Tensor,
        user_features: torch.Tensor,
        context_dim: int,
    ) -> None:
        super().__init__(n_items, hidden, dropout)
        self.item_features: torch.Tensor
        self.user_features: torch.Tensor
        self.register_buffer("item_features", item_features)
        self.register_buffer("user_features", user_features)  # last row: zeros, for users without features
        self.item_projection = nn.Linear(item_features.shape[1], hidden, bias=False) if item_features.shape[1] else None
        self.user_projection = nn.Linear(user_features.shape[1], hidden) if user_features.shape[1] else None
        self.context_projection = nn.Linear(context_dim, hidden, bias=False) if context_dim else None
        for layer in (self.item_projection, self.context_projection):
            if layer is not None:
                nn.init.normal_(layer.weight, std=0.05)

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        vectors = self.item_embedding(items)
        if self.item_projection is not None:
            vectors = vectors + self.item_projection(self.item_features[items])
        return vectors

    def all_item_vectors(self) -> torch.Tensor:
        if self.item_projection is None:
            return self.item_embedding.weight
        return self.item_embedding.weight + self.item_projection(self.item_features)

    def user_start(self, user_rows: torch.Tensor) -> torch.Tensor:
        if self.user_projection is None:
            return super().user_start(user_rows)
        return torch.tanh(self.user_projection(self.user_features[user_rows]))

    def contextualise(self, predictors: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        if context is None or self.context_projection is None:
            return predictors
        return predictors + self.context_projection(context)


class HrnnMetadata(Hrnn):
    """HRNN with item, user and context features (see the module docstring)."""

    params: HrnnMetadataParams

    recipe_id = "hrnn_metadata"
    Params = HrnnMetadataParams

    def fit(self, data: InteractionData) -> Self:
        """As :meth:`Recipe.fit`; the interactions' row labels are reset so context rows line up with events."""
        return super().fit(replace(data, interactions=data.interactions.reset_index(drop=True)))

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        params = self.params
        options = {"min_count": params.min_token_count, "max_tokens_per_column": params.max_tokens_per_column}
        items, users = data.items, data.users
        if items is not None:
            self._extend_catalogue(items[ITEM_ID].astype(str).unique() if ITEM_ID in items.columns else [])
        item_columns = [
            c for c in (items.columns if items is not None else []) if c not in (ITEM_ID, CREATION_TIMESTAMP)
        ]
        self.item_encoder_ = (
            fit_encoder(items, item_columns, source="ITEMS", **options) if items is not None else _empty()
        )
        item_rows = aligned(items, ITEM_ID, self.item_ids_, "ITEMS") if items is not None else None
        self._item_matrix = self._encode(self.item_encoder_, item_rows, self.n_items, "ITEMS")

        user_columns = [c for c in (users.columns if users is not None else []) if c != USER_ID]
        self.user_encoder_ = (
            fit_encoder(users, user_columns, source="USERS", **options) if users is not None else _empty()
        )
        feature_users = self.user_ids_
        if users is not None and USER_ID in users.columns:
            extra = np.setdiff1d(users[USER_ID].astype(str).unique(), self.user_ids_)
            feature_users = np.concatenate([self.user_ids_, np.sort(extra)]).astype(str)
        self.feature_user_ids_ = feature_users
        user_rows = aligned(users, USER_ID, feature_users, "USERS") if users is not None else None
        self._user_matrix = self._encode(self.user_encoder_, user_rows, len(feature_users), "USERS")

        source = data.interactions
        context_columns = [c for c in source.columns if c not in RESERVED_FIELDS]
        self.context_encoder_ = fit_encoder(source, context_columns, source="INTERACTIONS", **options)
        context = self.context_encoder_.encode(source.loc[frame.index], "INTERACTIONS")
        self._event_contexts = np.vstack([context, np.zeros((1, context.shape[1]), dtype=np.float32)])
        self._build_feature_index()
        super()._fit(data, frame, user_codes, item_codes)
        del self._event_contexts, self._item_matrix, self._user_matrix

    def _extend_catalogue(self, item_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Append items the catalogue lacks (sorted, zero popularity); existing indices do not move."""
        new = np.setdiff1d(np.asarray(item_ids, dtype=str), self.item_ids_)
        if len(new):
            self.item_ids_ = np.concatenate([self.item_ids_, np.sort(new)]).astype(str)
            self.popularity_ = np.concatenate([self.popularity_, np.zeros(len(new))])
            self._build_indexes()
        return new

    @staticmethod
    def _encode(encoder: FeatureEncoder, rows: pd.DataFrame | None, n: int, source: str) -> np.ndarray:
        if rows is None or not encoder.dimension:
            return np.zeros((n, encoder.dimension), dtype=np.float32)
        return encoder.encode(rows, source)

    def _build_feature_index(self) -> None:
        self.feature_user_index_ = {u: k for k, u in enumerate(self.feature_user_ids_.tolist())}

    def _make_net(self, data: InteractionData | None, arrays: Mapping[str, np.ndarray] | None = None) -> _Net:
        params = self.params
        if arrays is not None:
            item_matrix, user_matrix = arrays["item_features"], arrays["user_features"]
            context_dim = self.context_encoder_.dimension
        else:
            item_matrix = self._item_matrix
            user_matrix = np.vstack([self._user_matrix, np.zeros((1, self._user_matrix.shape[1]), dtype=np.float32)])
            context_dim = self._event_contexts.shape[1]
        net = _MetaNet(
            self.n_items,
            params.hidden_dimension,
            params.dropout,
            torch.as_tensor(np.array(item_matrix, dtype=np.float32)),
            torch.as_tensor(np.array(user_matrix, dtype=np.float32)),
            context_dim,
        )
        if arrays is None:
            with torch.no_grad():  # never-interacted items start (and stay) with no id part: features only
                net.item_embedding.weight[torch.as_tensor(self.popularity_ == 0)] = 0.0
        return net

    def _event_context(self, batch_positions: np.ndarray, device: torch.device) -> torch.Tensor | None:
        if not self._event_contexts.shape[1]:
            return None
        return torch.as_tensor(self._event_contexts[batch_positions], device=device)

    # ----------------------------------------------------------------- scoring
    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        return self._score_users([""] * len(histories), histories, context)

    def _score_users(
        self, user_ids: Sequence[str], histories: Sequence[np.ndarray], context: Mapping[str, str] | None
    ) -> np.ndarray:
        rows = [self.feature_user_index_.get(u) for u in user_ids]
        encoded = None
        if context and self.context_encoder_.dimension:
            encoded = torch.as_tensor(self.context_encoder_.encode_mapping(context))[None, :]
        return self._score_rows(histories, rows, encoded)

    def add_items(self, items: pd.DataFrame) -> list[str]:
        """Add items first met after training (PutItems) to the catalogue, scored from their features alone.

        Returns the ids added (those the model already knows are left as they are). Their features are encoded
        with the encoder fitted in training; a value it never saw encodes as nothing.
        """
        rows = items.astype({ITEM_ID: str}) if ITEM_ID in items.columns else items
        new = self._extend_catalogue(aligned(rows, ITEM_ID, rows[ITEM_ID].to_numpy(dtype=str), "items").index)
        if not len(new):
            return []
        encoded = self._encode(self.item_encoder_, aligned(rows, ITEM_ID, new, "items"), len(new), "items")
        net = self._net
        assert isinstance(net, _MetaNet)
        with torch.no_grad():
            net.item_features = torch.cat([net.item_features, torch.as_tensor(encoded)])
            weight = torch.cat([net.item_embedding.weight, torch.zeros(len(new), net.item_embedding.embedding_dim)])
            net.item_embedding = nn.Embedding.from_pretrained(weight, freeze=True)
            net.item_bias = nn.Parameter(torch.cat([net.item_bias, torch.zeros(len(new))]), requires_grad=False)
        return new.tolist()

    # ------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._state_arrays()
        arrays.update(self.item_encoder_.to_arrays(_ITEM))
        arrays.update(self.user_encoder_.to_arrays(_USER))
        arrays.update(self.context_encoder_.to_arrays(_CONTEXT))
        arrays["feature_user_ids"] = self.feature_user_ids_
        return arrays

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.item_encoder_ = FeatureEncoder.from_arrays(arrays, _ITEM)
        self.user_encoder_ = FeatureEncoder.from_arrays(arrays, _USER)
        self.context_encoder_ = FeatureEncoder.from_arrays(arrays, _CONTEXT)
        self.feature_user_ids_ = arrays["feature_user_ids"].astype(str)
        self._build_feature_index()
        super()._restore(arrays)


def _empty() -> FeatureEncoder:
    return FeatureEncoder((), (), (), (), ())
