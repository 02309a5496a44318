"""DeepFM (Guo et al. 2017): a factorization machine and a deep network over the same field embeddings.

Fields of a (user, item) pair, each embedded to one vector of size ``embedding_dimension``:

- user side: the user id (index 0 stands for an unknown user), the USERS metadata fields, the user's latest
  item (the one before the interaction in training; the newest of history plus recent events at serving, so
  a PutEvents changes the next answer), and the interactions' context fields (the request's ``context``);
- item side: the item id and the ITEMS metadata fields.

Categorical, multi-valued ``|`` and numeric fields all become bags of vocabulary indices (see
:mod:`models.deepfm.features`). The score is ``sum of first-order weights + FM pairwise term + MLP(all field
vectors)``; the FM term is computed as ``0.5 (|sum v|^2 - sum |v|^2)``.

Training: each observed interaction is a positive; ``num_negatives`` items drawn uniformly per positive are
its negatives (uniform beat popularity-proportional negatives on MovieLens); the loss is the softmax cross
entropy of the positive among them. Negatives are drawn batch by batch, never materialised for the whole
epoch, so memory stays at the size of the data plus one batch. The user id is hidden with probability
``user_id_dropout`` so that the model also learns to score users from their features and latest item alone
(new users with metadata, anonymous sessions).

Scoring splits the first MLP layer into a user part and an item part, so the item side is computed once per
call and each user costs one pass over the items. It runs on the CPU, one user at a time: a batch answers
exactly as the same users asked one by one, and a loaded model exactly as the saved one. Training uses CUDA
when present. A user with no id, history, metadata or context is left to the base class (popular items).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn

from models.base import Compute, InteractionData, Recipe, RecipeParams, RecipeType, SearchDimension
from models.columns import ITEM_ID, USER_ID
from models.deepfm.features import (
    MAX_BAG,
    FieldSpec,
    Vocabulary,
    context_columns,
    encode_rows,
    metadata_fields,
)


class DeepFmParams(RecipeParams):
    """deepfm hyperparameters."""

    embedding_dimension: int = Field(default=32, ge=2, le=512, description="Size of every field embedding.")
    hidden_dimension: int = Field(
        default=128, ge=4, le=2048, description="Width of the first MLP layer (the second is half)."
    )
    epochs: int = Field(default=8, ge=1, le=1000, description="Passes over the interactions.")
    batch_size: int = Field(default=512, ge=1, description="Positive interactions per step.")
    num_negatives: int = Field(default=32, ge=1, le=4096, description="Uniform negative items per positive.")
    learning_rate: float = Field(default=0.003, gt=0.0, description="Adam learning rate.")
    weight_decay: float = Field(default=0.0, ge=0.0, description="Adam L2 penalty.")
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="Dropout on the MLP's hidden layers.")
    user_id_dropout: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Chance of hiding the user id in training (teaches cold scoring)."
    )


class _Net(nn.Module):
    def __init__(
        self, n_users: int, n_items: int, n_vocab: int, user_fields: int, item_fields: int, params: DeepFmParams
    ) -> None:
        super().__init__()
        dim, hidden = params.embedding_dimension, params.hidden_dimension
        self.user_emb = nn.Embedding(n_users + 1, dim)
        self.prev_emb = nn.Embedding(n_items + 1, dim)
        self.item_emb = nn.Embedding(n_items + 1, dim)
        self.meta_emb = nn.Embedding(n_vocab, dim)
        self.user_bias = nn.Embedding(n_users + 1, 1)
        self.prev_bias = nn.Embedding(n_items + 1, 1)
        self.item_bias = nn.Embedding(n_items + 1, 1)
        self.meta_bias = nn.Embedding(n_vocab, 1)
        for table in (self.user_emb, self.prev_emb, self.item_emb, self.meta_emb):
            nn.init.normal_(table.weight, std=0.05)
        for bias in (self.user_bias, self.prev_bias, self.item_bias, self.meta_bias):
            nn.init.zeros_(bias.weight)
        self.first_user = nn.Linear(user_fields * dim, hidden)
        self.first_item = nn.Linear(item_fields * dim, hidden, bias=False)
        self.rest = nn.Sequential(
            nn.ReLU(), nn.Dropout(params.dropout), nn.Linear(hidden, hidden // 2), nn.ReLU(),
            nn.Dropout(params.dropout), nn.Linear(hidden // 2, 1),
        )  # fmt: skip

    def _bags(self, idx: torch.Tensor, wts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Field vectors ``(..., F, D)`` and first-order terms ``(...)`` of bags ``(..., F, MAX_BAG)``."""
        w = wts.unsqueeze(-1)
        vectors = (self.meta_emb(idx) * w).sum(-2)
        linear = (self.meta_bias(idx) * w).sum((-1, -2, -3))
        return vectors, linear

    def user_side(
        self, users: torch.Tensor, prev: torch.Tensor, meta: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """User-side field vectors ``(B, Fu, D)`` and first-order terms ``(B,)``; ``meta`` are the user's bags."""
        meta_vectors, meta_linear = self._bags(*meta)
        ids = torch.stack([self.user_emb(users), self.prev_emb(prev)], dim=1)
        linear = self.user_bias(users)[:, 0] + self.prev_bias(prev)[:, 0] + meta_linear
        return torch.cat([ids, meta_vectors], dim=1), linear

    def item_side(
        self, items: torch.Tensor, meta: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Item-side field vectors ``(..., Fi, D)`` and first-order terms for item indices ``items`` (1-based)."""
        meta_vectors, meta_linear = self._bags(*meta)
        vectors = torch.cat([self.item_emb(items).unsqueeze(-2), meta_vectors], dim=-2)
        return vectors, self.item_bias(items)[..., 0] + meta_linear

    def score(self, user: tuple[torch.Tensor, torch.Tensor], item: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Scores ``(B, C)`` of user sides ``(B, Fu, D)`` against item sides ``(B, C, Fi, D)`` or ``(C, Fi, D)``."""
        u_vec, u_lin = user
        i_vec, i_lin = item
        if i_vec.dim() == 3:
            i_vec, i_lin = i_vec.unsqueeze(0), i_lin.unsqueeze(0)
        u_sum = u_vec.sum(1)  # (B, D)
        u_sq = (u_vec * u_vec).sum((1, 2))  # (B,)
        i_sum = i_vec.sum(-2)  # (B|1, C, D)
        i_sq = (i_vec * i_vec).sum((-1, -2))
        total = u_sum.unsqueeze(1) + i_sum
        fm = 0.5 * ((total * total).sum(-1) - u_sq.unsqueeze(1) - i_sq)
        first = self.first_user(u_vec.flatten(1)).unsqueeze(1) + self.first_item(i_vec.flatten(-2))
        deep = self.rest(first).squeeze(-1)
        return u_lin.unsqueeze(1) + i_lin + fm + deep


def _threads(compute: Compute) -> int:
    """Torch threads for training: one unless the compute settings pin a number (AutoML pins it per worker).
    deepfm's matrices are small, so threads mostly wait for each other: on a loaded 2-core machine a 1,000-row
    fit took 35 s with two threads and 5 s with one, and the MovieLens fit 78 s with one thread and more than
    400 s with two."""
    return compute.torch_threads if compute.torch_threads > 0 else 1


def _specs_to_arrays(prefix: str, specs: Sequence[FieldSpec]) -> dict[str, np.ndarray]:
    return {
        f"{prefix}_columns": np.asarray([s.column for s in specs], dtype=str),
        f"{prefix}_kinds": np.asarray([s.kind for s in specs], dtype=str),
        f"{prefix}_stats": np.asarray([[s.mean, s.std] for s in specs], dtype=np.float64).reshape(-1, 2),
    }


def _specs_from_arrays(prefix: str, arrays: Mapping[str, np.ndarray]) -> list[FieldSpec]:
    columns, kinds, stats = arrays[f"{prefix}_columns"], arrays[f"{prefix}_kinds"], arrays[f"{prefix}_stats"]
    return [
        FieldSpec(str(c), str(k), float(s[0]), float(s[1]))
        for c, k, s in zip(columns.tolist(), kinds.tolist(), stats, strict=True)
    ]


class DeepFm(Recipe):
    """Factorization machine plus MLP over user, latest-item, context and item fields; sampled negatives."""

    params: DeepFmParams

    recipe_id = "deepfm"
    recipe_type = RecipeType.USER_PERSONALIZATION
    Params = DeepFmParams
    search_space = {
        "embedding_dimension": SearchDimension("int", 16, 96, log=True),
        "learning_rate": SearchDimension("float", 1e-3, 1e-2, log=True),
        "num_negatives": SearchDimension("int", 8, 64, log=True),
        "dropout": SearchDimension("float", 0.0, 0.4),
        "epochs": SearchDimension("int", 4, 16),
    }

    # ----------------------------------------------------------------- fitting
    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        params = self.params
        torch.set_num_threads(_threads(self.compute))
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self._encode_metadata(data)
        # training rows, in the base class's (user, time) order
        ordered = data.interactions.loc[frame.index]
        prev = np.zeros(len(item_codes), dtype=np.int64)
        prev[1:] = item_codes[:-1] + 1
        prev[self.history_indptr_[:-1][np.diff(self.history_indptr_) > 0]] = 0  # a user's first event has none
        context = (
            [
                dict(zip(self.context_columns_, row, strict=True))
                for row in ordered[self.context_columns_].itertuples(index=False)
            ]
            if self.context_columns_
            else []
        )
        ctx_specs = [FieldSpec(c, "cat") for c in self.context_columns_]
        ctx_idx, ctx_wts = encode_rows(self._vocab, ctx_specs, context, grow=True) if context else (None, None)
        self.vocab_keys_ = np.asarray(self._vocab.keys, dtype=str)
        device = self.compute.torch_device()
        net = _Net(
            len(self.user_ids_), self.n_items, len(self._vocab), self._user_field_count(), 1 + len(self.item_fields_),
            params,
        ).to(device)  # fmt: skip
        self._train(net, user_codes.astype(np.int64), prev, item_codes.astype(np.int64), ctx_idx, ctx_wts, rng, device)
        self._net = net.cpu().eval()
        self._item_cache: tuple[torch.Tensor, ...] | None = None

    def _user_field_count(self) -> int:
        return 2 + len(self.user_fields_) + len(self.context_columns_)

    def _encode_metadata(self, data: InteractionData) -> None:
        self._vocab = Vocabulary()
        self.user_fields_ = metadata_fields(data.users, USER_ID)
        self.item_fields_ = metadata_fields(data.items, ITEM_ID)
        self.context_columns_ = context_columns(data.interactions)
        users = data.users if data.users is not None and self.user_fields_ else None
        if users is not None:
            users = users.drop_duplicates(USER_ID, keep="last")
            rows = users.to_dict("records")
            self.meta_user_ids_ = users[USER_ID].astype(str).to_numpy(dtype=str)
            self.meta_user_idx_, self.meta_user_wts_ = encode_rows(self._vocab, self.user_fields_, rows, grow=True)
        else:
            self.meta_user_ids_ = np.empty(0, dtype=str)
            self.meta_user_idx_ = np.zeros((0, 0, MAX_BAG), dtype=np.int64)
            self.meta_user_wts_ = np.zeros((0, 0, MAX_BAG), dtype=np.float32)
        rows_by_item: dict[str, dict[str, object]] = {}
        if data.items is not None and self.item_fields_:
            for row in data.items.drop_duplicates(ITEM_ID, keep="last").to_dict("records"):
                rows_by_item[str(row[ITEM_ID])] = row
        item_rows = [rows_by_item.get(i, {}) for i in self.item_ids_.tolist()]
        self.item_meta_idx_, self.item_meta_wts_ = encode_rows(self._vocab, self.item_fields_, item_rows, grow=True)
        self._build_meta_index()

    def _build_meta_index(self) -> None:
        self._meta_user_row = {u: r for r, u in enumerate(self.meta_user_ids_.tolist())}

    def _user_meta_rows(self, user_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        idx = np.zeros((len(user_ids), len(self.user_fields_), MAX_BAG), dtype=np.int64)
        wts = np.zeros((len(user_ids), len(self.user_fields_), MAX_BAG), dtype=np.float32)
        for r, user in enumerate(user_ids):
            row = self._meta_user_row.get(user)
            if row is not None:
                idx[r], wts[r] = self.meta_user_idx_[row], self.meta_user_wts_[row]
        return idx, wts

    def _train(
        self,
        net: _Net,
        users: np.ndarray,
        prev: np.ndarray,
        items: np.ndarray,
        ctx_idx: np.ndarray | None,
        ctx_wts: np.ndarray | None,
        rng: np.random.Generator,
        device: torch.device,
    ) -> None:
        params = self.params
        meta_idx, meta_wts = self._user_meta_rows(self.user_ids_.tolist())
        user_meta_idx = torch.as_tensor(meta_idx, device=device)
        user_meta_wts = torch.as_tensor(meta_wts, device=device)
        item_meta_idx = torch.as_tensor(
            np.concatenate([np.zeros_like(self.item_meta_idx_[:1]), self.item_meta_idx_]), device=device
        )
        item_meta_wts = torch.as_tensor(
            np.concatenate([np.zeros_like(self.item_meta_wts_[:1]), self.item_meta_wts_]), device=device
        )
        ctx_i = torch.as_tensor(ctx_idx, device=device) if ctx_idx is not None else None
        ctx_w = torch.as_tensor(ctx_wts, device=device) if ctx_wts is not None else None
        optimiser = torch.optim.Adam(net.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
        n, k = len(items), params.num_negatives
        size = min(params.batch_size, max(1, -(-n // 8)))  # at least 8 steps an epoch on small data
        net.train()
        for _ in range(params.epochs):
            order = rng.permutation(n)
            for start in range(0, n, size):
                rows = order[start : start + size]
                u = users[rows]
                hide = rng.random(len(rows)) < params.user_id_dropout
                u_t = torch.as_tensor(np.where(hide, -1, u) + 1, device=device)
                u_code = torch.as_tensor(u, device=device)
                idx_parts = [user_meta_idx[u_code]]
                wts_parts = [user_meta_wts[u_code]]
                if ctx_i is not None and ctx_w is not None:
                    rows_t = torch.as_tensor(rows, device=device)
                    idx_parts.append(ctx_i[rows_t])
                    wts_parts.append(ctx_w[rows_t])
                user = net.user_side(
                    u_t, torch.as_tensor(prev[rows], device=device), (torch.cat(idx_parts, 1), torch.cat(wts_parts, 1))
                )
                pos = items[rows]
                negatives = rng.integers(self.n_items, size=(len(rows), k))
                candidates = torch.as_tensor(np.concatenate([pos[:, None], negatives], axis=1) + 1, device=device)
                item = net.item_side(candidates, (item_meta_idx[candidates], item_meta_wts[candidates]))
                logits = net.score(user, item)
                clash = candidates[:, 1:] == candidates[:, :1]
                logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(clash, float("-inf"))], dim=1)
                loss = -torch.log_softmax(logits, dim=1)[:, 0].mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        net.eval()

    # ----------------------------------------------------------------- scoring
    def _item_side(self) -> tuple[torch.Tensor, torch.Tensor]:
        if getattr(self, "_item_cache", None) is None:
            with torch.no_grad():
                items = torch.arange(1, self.n_items + 1)
                self._item_cache = self._net.item_side(
                    items, (torch.as_tensor(self.item_meta_idx_), torch.as_tensor(self.item_meta_wts_))
                )
        assert self._item_cache is not None
        return self._item_cache[0], self._item_cache[1]

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        return self._score_users([""] * len(histories), histories, context)

    def _score_users(
        self, user_ids: Sequence[str], histories: Sequence[np.ndarray], context: Mapping[str, str] | None
    ) -> np.ndarray:
        scores = np.full((len(histories), self.n_items), -np.inf, dtype=np.float64)
        ctx_specs = [FieldSpec(c, "cat") for c in self.context_columns_]
        ctx_rows = [dict(context or {})]
        ctx_idx, ctx_wts = encode_rows(self._vocab_lookup(), ctx_specs, ctx_rows, grow=False)
        meta_idx, meta_wts = self._user_meta_rows(user_ids)
        item = self._item_side()
        with torch.no_grad():
            for row, (user, history) in enumerate(zip(user_ids, histories, strict=True)):
                code = self.user_index_.get(user)
                known = code is not None or len(history) or meta_wts[row].any() or ctx_wts.any()
                if not known:
                    continue
                u = torch.as_tensor([0 if code is None else code + 1])
                p = torch.as_tensor([int(history[-1]) + 1 if len(history) else 0])
                bags = (
                    torch.as_tensor(np.concatenate([meta_idx[row : row + 1], ctx_idx], axis=1)),
                    torch.as_tensor(np.concatenate([meta_wts[row : row + 1], ctx_wts], axis=1)),
                )
                scores[row] = self._net.score(self._net.user_side(u, p, bags), item)[0].numpy().astype(np.float64)
        return scores

    def _vocab_lookup(self) -> Vocabulary:
        if getattr(self, "_vocab", None) is None:
            self._vocab = Vocabulary(self.vocab_keys_.tolist())
        return self._vocab

    # ------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"net.{name}": t.detach().cpu().numpy() for name, t in self._net.state_dict().items()}
        arrays.update(_specs_to_arrays("user_fields", self.user_fields_))
        arrays.update(_specs_to_arrays("item_fields", self.item_fields_))
        arrays.update(
            vocab_keys=self.vocab_keys_,
            context_columns=np.asarray(self.context_columns_, dtype=str),
            meta_user_ids=self.meta_user_ids_,
            meta_user_idx=self.meta_user_idx_,
            meta_user_wts=self.meta_user_wts_,
            item_meta_idx=self.item_meta_idx_,
            item_meta_wts=self.item_meta_wts_,
        )
        return arrays

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        params = self.params
        self.user_fields_ = _specs_from_arrays("user_fields", arrays)
        self.item_fields_ = _specs_from_arrays("item_fields", arrays)
        self.vocab_keys_ = arrays["vocab_keys"].astype(str)
        self.context_columns_ = arrays["context_columns"].astype(str).tolist()
        self.meta_user_ids_ = arrays["meta_user_ids"].astype(str)
        self.meta_user_idx_, self.meta_user_wts_ = arrays["meta_user_idx"], arrays["meta_user_wts"]
        self.item_meta_idx_, self.item_meta_wts_ = arrays["item_meta_idx"], arrays["item_meta_wts"]
        self._vocab = Vocabulary(self.vocab_keys_.tolist())
        self._build_meta_index()
        net = _Net(
            len(self.user_ids_), self.n_items, len(self._vocab), self._user_field_count(), 1 + len(self.item_fields_),
            params,
        )  # fmt: skip
        net.load_state_dict(
            {k.removeprefix("net."): torch.as_tensor(np.array(v)) for k, v in arrays.items() if k.startswith("net.")}
        )
        self._net = net.eval()
        self._item_cache = None
