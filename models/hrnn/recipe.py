"""HRNN: a hierarchical recurrent network over sessions, after the idea of Quadrana et al. 2017 (arXiv 1706.04148).

Sessions are consecutive pieces of ``bptt`` events, counted back from the end of each user's time-ordered
history (the user's latest ``max_sessions`` pieces are kept). Training and scoring cut histories the same way,
because scoring sees no timestamps (see below); cutting at inactivity gaps in training only made the session
GRU meet, at scoring time, sequences that span several sessions, and it lost accuracy. Two GRUs make the hierarchy:

- the session GRU reads a session's item embeddings and, after each item, predicts the next one;
- the user GRU reads each finished session's final hidden state; its output, through ``tanh(W c + b)``,
  is the initial state of the user's next session (the first session starts from zero). That initial state
  also predicts the session's first item, so what a user did in earlier sessions is trained directly.

Scores are ``h . e_i + b_i`` with the item embeddings ``e`` shared between input and output (weight tying).

Training (session-parallel over users): users with similar session counts are batched; for each session
index the batch runs the session GRU over the padded ``(batch, bptt)`` session (a mask hides padding and users
with fewer sessions) and takes one optimiser step. The user state is carried to the next session index
detached, so the user GRU learns through one session step (truncated back-propagation at the user level).
The loss is a sampled softmax: each step shares ``num_negatives`` items drawn with probability proportional to
popularity; every candidate's logit is corrected by ``- log(num_negatives * q_i)`` (log-Q correction), and a
negative equal to the target is masked. With ``recency_mask`` an event's loss weight grows linearly from 0.5
(the user's oldest kept event) to 1 (the newest).

Scoring: the base class hands over item indices only, without timestamps, so the live session cannot be cut
at time gaps. HRNN takes the latest ``bptt`` items as the current session and the earlier pieces of ``bptt`` as
past sessions, as in training; the user GRU runs over those, then the session GRU over the current
session. A new event therefore changes the next answer at once. Inference runs one history at a time on the
CPU, so a batch answers exactly as the same users asked one by one, and a loaded model answers exactly as the saved one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from torch import nn

from models.base import Compute, InteractionData, Recipe, RecipeParams, RecipeType, SearchDimension


class HrnnParams(RecipeParams):
    """HRNN hyperparameters (names as Personalize's where it has them)."""

    hidden_dimension: int = Field(default=64, ge=4, le=1024, description="Size of item embeddings and GRU states.")
    bptt: int = Field(default=32, ge=2, le=512, description="Longest session used in training (longer ones are cut).")
    recency_mask: bool = Field(default=True, description="Weight a user's recent events more in the training loss.")
    min_user_history_length_percentile: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Users with shorter histories than this percentile are not trained on."
    )
    max_user_history_length_percentile: float = Field(
        default=0.99, ge=0.0, le=1.0, description="Users with longer histories than this percentile are not trained on."
    )
    max_sessions: int = Field(default=20, ge=1, le=1000, description="Latest sessions of each user that are used.")
    epochs: int = Field(default=15, ge=1, le=1000, description="Passes over the training sessions.")
    batch_size: int = Field(
        default=64, ge=1, description="Users per training batch (smaller on small data: 8 batches an epoch at least)."
    )
    learning_rate: float = Field(default=0.01, gt=0.0, description="Adam learning rate.")
    num_negatives: int = Field(default=1024, ge=1, description="Popularity-sampled negatives per training step.")
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="Dropout on item embeddings and GRU outputs.")


class _Net(nn.Module):
    def __init__(self, n_items: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.item_embedding = nn.Embedding(n_items, hidden)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.session_gru = nn.GRU(hidden, hidden, batch_first=True)
        self.user_gru = nn.GRUCell(hidden, hidden)
        self.init_session = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        nn.init.normal_(self.item_embedding.weight, std=0.1)

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """The vectors of item indices ``items``: input of the session GRU and output embedding (tied)."""
        return self.item_embedding(items)

    def all_item_vectors(self) -> torch.Tensor:
        return self.item_embedding.weight

    def user_start(self, user_rows: torch.Tensor) -> torch.Tensor:
        """The user GRU's initial state for users ``user_rows`` (hrnn: zero; hrnn_metadata: from user features)."""
        return torch.zeros(len(user_rows), self.item_embedding.embedding_dim, device=user_rows.device)

    def contextualise(self, predictors: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """Predictor states adjusted by the event's context (hrnn has none, so they pass through)."""
        return predictors

    def session_start(self, user_state: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.init_session(user_state))

    def run_session(self, items: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        """Hidden states after each item of ``items`` (batch, length) from initial states ``h0`` (batch, hidden)."""
        out, _ = self.session_gru(self.dropout(self.item_vectors(items)), h0.unsqueeze(0).contiguous())
        return out


@dataclass(frozen=True)
class _TrainingSet:
    """Per kept user (index ``k``): sessions, loss weights, event positions; ``users[k]`` is the user code."""

    sessions: list[list[np.ndarray]]
    weights: list[list[np.ndarray]]
    positions: list[list[np.ndarray]]
    users: np.ndarray


def torch_threads(compute: Compute, n_events: int) -> int:
    """Torch threads for training: one on small data, where a second thread only spins waiting for the first
    (on a loaded 2-core machine that made tiny test fits vary from 1 s to 75 s); the compute settings' pinned
    number (``RECSMITH_TORCH_THREADS`` at the entry point, or AutoML's per-worker share) overrides."""
    if compute.torch_threads > 0:
        return compute.torch_threads
    return 1 if n_events < 50_000 else max(1, min(4, len(os.sched_getaffinity(0))))


class Hrnn(Recipe):
    """Hierarchical GRU: a session GRU whose initial state comes from a user GRU over past sessions."""

    params: HrnnParams

    recipe_id = "hrnn"
    recipe_type = RecipeType.USER_PERSONALIZATION
    Params = HrnnParams
    search_space = {
        "hidden_dimension": SearchDimension("int", 32, 256, log=True),
        "learning_rate": SearchDimension("float", 5e-4, 2e-2, log=True),
        "dropout": SearchDimension("float", 0.0, 0.5),
        "epochs": SearchDimension("int", 5, 40),
    }

    # ----------------------------------------------------------------- fitting
    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        torch.set_num_threads(torch_threads(self.compute, len(item_codes)))
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        device = self.compute.torch_device()
        sessions, weights, positions, users = self._training_sessions(item_codes)
        net = self._make_net(data).to(device)
        if sessions:
            self._train(net, _TrainingSet(sessions, weights, positions, users), rng, device)
        self._net = net.cpu().eval()

    def _make_net(self, data: InteractionData | None, arrays: Mapping[str, np.ndarray] | None = None) -> _Net:
        """The network to train (from ``data``) or to restore (from saved ``arrays``); subclasses add features."""
        params = self.params
        return _Net(self.n_items, params.hidden_dimension, params.dropout)

    def _event_context(self, batch_positions: np.ndarray, device: torch.device) -> torch.Tensor | None:
        """Context features of the events at ``batch_positions`` (``-1``: padding); hrnn uses none."""
        return None

    def _training_sessions(
        self, item_codes: np.ndarray
    ) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]], list[list[np.ndarray]], np.ndarray]:
        """Per kept user: the latest sessions (item index arrays), each event's loss weight and its position in
        the time-ordered training frame; and the kept users' codes."""
        params = self.params
        lengths = np.diff(self.history_indptr_)
        low = np.quantile(lengths, params.min_user_history_length_percentile)
        high = np.quantile(lengths, params.max_user_history_length_percentile)
        keep = (lengths >= low) & (lengths <= high)
        if not keep.any():
            keep[:] = True
        sessions: list[list[np.ndarray]] = []
        weights: list[list[np.ndarray]] = []
        positions: list[list[np.ndarray]] = []
        for u in np.flatnonzero(keep):
            start, stop = self.history_indptr_[u], self.history_indptr_[u + 1]
            items = item_codes[start:stop]
            pieces = _score_pieces(np.arange(len(items)), params.bptt, params.max_sessions)
            first, last = pieces[0][0], pieces[-1][-1]
            span = max(last - first, 1)
            sessions.append([items[p].astype(np.int64) for p in pieces])
            positions.append([start + p for p in pieces])
            if params.recency_mask:
                weights.append([0.5 + 0.5 * (p - first) / span for p in pieces])
            else:
                weights.append([np.ones(len(p)) for p in pieces])
        return sessions, weights, positions, np.flatnonzero(keep)

    def _train(
        self,
        net: _Net,
        data: _TrainingSet,
        rng: np.random.Generator,
        device: torch.device,
    ) -> None:
        params = self.params
        sessions, weights = data.sessions, data.weights
        hidden, length = params.hidden_dimension, params.bptt
        q = self.popularity_ / self.popularity_.sum()
        # items never interacted with (catalogue-only items of hrnn_metadata) are never sampled: q = 0
        log_q = torch.as_tensor(np.log(params.num_negatives * np.maximum(q, 1e-12)), dtype=torch.float32, device=device)
        q_cdf = np.cumsum(q)
        optimiser = torch.optim.Adam(net.parameters(), lr=params.learning_rate)
        by_count = np.argsort([len(s) for s in sessions], kind="stable")
        size = min(params.batch_size, -(-len(sessions) // 8))  # at least 8 batches per epoch on small data
        batches = [by_count[i : i + size] for i in range(0, len(by_count), size)]
        net.train()
        for _ in range(params.epochs):
            for b in rng.permutation(len(batches)):
                users = batches[b]
                n_sessions = max(len(sessions[u]) for u in users)
                user_state = net.user_start(torch.as_tensor(data.users[users], device=device))
                final = torch.zeros(len(users), hidden, device=device)
                started = torch.zeros(len(users), dtype=torch.bool, device=device)
                for s in range(n_sessions):
                    items = np.zeros((len(users), length), dtype=np.int64)
                    wts = np.zeros((len(users), length), dtype=np.float32)
                    where = np.full((len(users), length), -1, dtype=np.int64)
                    for row, u in enumerate(users):
                        if s < len(sessions[u]):
                            n = len(sessions[u][s])
                            items[row, :n] = sessions[u][s]
                            wts[row, :n] = weights[u][s]
                            where[row, :n] = data.positions[u][s]
                    items_t = torch.as_tensor(items, device=device)
                    wts_t = torch.as_tensor(wts, device=device)
                    present = wts_t[:, 0] > 0
                    # the user GRU reads the previous session (detached: truncated BPTT at the user level)
                    new_state = net.user_gru(final, user_state)
                    state = torch.where(started[:, None], new_state, user_state)
                    h0 = net.session_start(state)
                    out = net.run_session(items_t, h0)
                    # predictor before item t: h0 for t = 0, the GRU output after item t - 1 otherwise
                    predictors = net.dropout(torch.cat([h0.unsqueeze(1), out[:, :-1]], dim=1))
                    predictors = net.contextualise(predictors, self._event_context(where, device))
                    negatives = np.searchsorted(q_cdf, rng.random(params.num_negatives) * q_cdf[-1])
                    negatives = np.minimum(negatives, self.n_items - 1)
                    loss = _sampled_softmax(
                        net, predictors, items_t, wts_t, torch.as_tensor(negatives, device=device), log_q
                    )
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    with torch.no_grad():
                        n_valid = (wts_t > 0).sum(dim=1).clamp(min=1)
                        last = out[torch.arange(len(users), device=device), n_valid - 1]
                        final = torch.where(present[:, None], last, final).detach()
                        user_state = torch.where(present[:, None], state, user_state).detach()
                        started = started | present
        net.eval()

    # ----------------------------------------------------------------- scoring
    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        return self._score_rows(histories, [None] * len(histories), None)

    def _score_rows(
        self, histories: Sequence[np.ndarray], user_rows: Sequence[int | None], context: torch.Tensor | None
    ) -> np.ndarray:
        """Scores from histories; ``user_rows`` index the net's user features (None: none, or not known)."""
        scores = np.full((len(histories), self.n_items), -np.inf, dtype=np.float64)
        with torch.no_grad():
            table = self._net.all_item_vectors()
            bias = self._net.item_bias
            for row, (history, user_row) in enumerate(zip(histories, user_rows, strict=True)):
                if not len(history) and user_row is None:
                    continue
                final = self._final_state(np.asarray(history, dtype=np.int64), user_row)
                predictor = self._net.contextualise(final[:, None], context)[0, 0]
                scores[row] = (predictor @ table.T + bias).numpy().astype(np.float64)
        return scores

    def _final_state(self, history: np.ndarray, user_row: int | None) -> torch.Tensor:
        """The state that predicts the next item: the user GRU over past pieces, the session GRU over the latest."""
        params = self.params
        net = self._net
        rows = torch.as_tensor([-1 if user_row is None else user_row])
        user_state = net.user_start(rows)
        if not len(history):
            return net.session_start(user_state)
        final: torch.Tensor | None = None
        for piece in _score_pieces(history, params.bptt, params.max_sessions):
            if final is not None:
                user_state = net.user_gru(final, user_state)
            out = net.run_session(torch.as_tensor(piece)[None, :], net.session_start(user_state))
            final = out[:, -1]
        assert final is not None
        return final

    def _explain(self, history: np.ndarray, items: np.ndarray) -> list[int | None]:
        """For each recommended item, the one of the user's latest 10 items whose vector is most like it.

        Similarity is the cosine between the history item's vector (the session GRU's input) and the
        recommended item's output vector; both are the same tied embedding, so "like" means "the network
        treats them alike". Returns item indices (of the history items), as the base hook expects.
        """
        recent = np.asarray(history, dtype=np.int64)[-10:]
        if not len(recent) or not len(items):
            return [None] * len(items)
        with torch.no_grad():
            table = self._net.all_item_vectors()
            left = torch.nn.functional.normalize(table[torch.as_tensor(recent)], dim=1)
            right = torch.nn.functional.normalize(table[torch.as_tensor(np.asarray(items, dtype=np.int64))], dim=1)
            best = (right @ left.T).argmax(dim=1).numpy()
        return [int(recent[k]) for k in best]

    # ------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {name: tensor.detach().cpu().numpy() for name, tensor in self._net.state_dict().items()}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        net = self._make_net(None, arrays)
        names = net.state_dict().keys()  # other saved arrays (feature encoders) belong to subclasses
        net.load_state_dict({name: torch.as_tensor(np.array(arrays[name])) for name in names})
        self._net = net.eval()


def _sampled_softmax(
    net: _Net,
    predictors: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor,
) -> torch.Tensor:
    """Weighted sampled-softmax loss with log-Q correction over the events whose weight is positive."""
    valid = weights > 0
    h = predictors[valid]
    pos = targets[valid]
    w = weights[valid]
    table, bias = net.item_vectors, net.item_bias
    pos_logit = (h * table(pos)).sum(-1) + bias[pos] - log_q[pos]
    neg_logit = h @ table(negatives).T + bias[negatives] - log_q[negatives]
    neg_logit = neg_logit.masked_fill(negatives[None, :] == pos[:, None], float("-inf"))
    logits = torch.cat([pos_logit[:, None], neg_logit], dim=1)
    loss = -torch.log_softmax(logits, dim=1)[:, 0]
    return (loss * w).sum() / w.sum()


def _score_pieces(history: np.ndarray, bptt: int, max_sessions: int) -> list[np.ndarray]:
    """The history cut into pieces of ``bptt`` counted back from its end, oldest first, latest ``max_sessions``."""
    ends = range(len(history), 0, -bptt)
    pieces = [history[max(0, end - bptt) : end] for end in ends][:max_sessions]
    return pieces[::-1]
