"""Item neighbour tables, shared by the item-kNN recipes (sims, next_item_knn).

A neighbour table keeps, for each item, its ``k`` best related items and their similarities, best first
(``neighbors[i, r]`` is the r-th neighbour of item i; ``-inf`` similarity marks an empty slot). The tables are
computed a block of rows at a time, so a catalogue of 10k items never needs a dense 10k x 10k matrix.

Scoring a user from a neighbour table (:func:`neighbour_scores`) sums, over the user's latest items, the
item's weight times its similarity to each neighbour; :func:`strongest_source` names, for each recommended
item, the user's item that added most to its score (the "because of item X" reason).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

BLOCK_ROWS = 512
"""Rows of the item-item matrix computed at once: 512 x 10k float32 is 20 MB."""


@dataclass(frozen=True)
class NeighbourTable:
    """Each item's best neighbours (``neighbors``, int32) and their similarities (``similarity``, float32)."""

    neighbors: np.ndarray
    similarity: np.ndarray


def top_k_rows(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row of ``block`` and their values, best first (``-inf``: nothing there)."""
    n_cols = block.shape[1]
    if k < n_cols:
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
    else:
        top = np.argsort(-block, axis=1)[:, :k]
    top_values = np.take_along_axis(block, top, axis=1)
    order = np.argsort(-top_values, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_values, order, axis=1)


def neighbour_table(n_items: int, num_neighbors: int, block: Callable[[int, int], np.ndarray]) -> NeighbourTable:
    """The table of the item-item matrix whose rows ``start:stop`` are ``block(start, stop)`` (dense, ``-inf``
    where two items are not related), keeping ``num_neighbors`` per item."""
    k = min(num_neighbors, max(n_items - 1, 1))
    neighbors = np.zeros((n_items, k), dtype=np.int32)
    similarity = np.full((n_items, k), -np.inf, dtype=np.float32)
    for start in range(0, n_items, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n_items)
        neighbors[start:stop], similarity[start:stop] = top_k_rows(block(start, stop), k)
    return NeighbourTable(neighbors, similarity)


class Cooccurrence:
    """Whole-history co-occurrence similarity, C(i, j) / (n_i ** d * n_j ** d), a block of rows at a time.

    C(i, j) counts users who interacted with both items, n_i the users of item i, d is the popularity discount
    (0: raw counts, 0.5: cosine). Pairs seen together by fewer than ``min_count`` users are not related.
    """

    def __init__(self, users_items: sp.csr_matrix, popularity_discount_factor: float, min_count: int) -> None:
        users_items = users_items.copy()
        users_items.sum_duplicates()
        users_items.data[:] = 1.0  # a user who repeats an item counts once
        self.users_items = users_items
        self.item_users = users_items.T.tocsr()
        counts = np.asarray(users_items.sum(axis=0)).ravel()
        self.discount = np.power(np.maximum(counts, 1.0), popularity_discount_factor)
        self.min_count = min_count

    def block(self, start: int, stop: int) -> np.ndarray:
        """Similarities of items ``start:stop`` to every item (``-inf``: not related, and an item to itself)."""
        co = (self.item_users[start:stop] @ self.users_items).toarray()
        co[np.arange(stop - start), np.arange(start, stop)] = 0.0
        co[co < self.min_count] = 0.0
        sim = co / self.discount[start:stop, None] / self.discount[None, :]
        sim[co == 0] = -np.inf
        return sim


def cooccurrence_neighbours(
    users_items: sp.csr_matrix, *, popularity_discount_factor: float, min_count: int, num_neighbors: int
) -> NeighbourTable:
    """Each item's ``num_neighbors`` best co-occurrence neighbours (see :class:`Cooccurrence`).

    ``users_items`` is the user x item matrix of the interactions that count (any non-zero is one use).
    """
    cooccurrence = Cooccurrence(users_items, popularity_discount_factor, min_count)
    return neighbour_table(users_items.shape[1], num_neighbors, cooccurrence.block)


def latest_distinct(history: np.ndarray, limit: int) -> np.ndarray:
    """The user's latest ``limit`` distinct items, newest first."""
    seen: dict[int, None] = {}
    for item in history[::-1].tolist():
        if item not in seen:
            seen[item] = None
            if len(seen) == limit:
                break
    return np.fromiter(seen, dtype=np.int64, count=len(seen))


def neighbour_scores(table: NeighbourTable, latest: np.ndarray, weights: np.ndarray, n_items: int) -> np.ndarray:
    """Scores of every item for a user whose latest items are ``latest`` (weighted by ``weights``): the sum of
    weight x similarity over the user's items; ``-inf`` where none of them has the item as a neighbour."""
    scores = np.full(n_items, -np.inf, dtype=np.float64)
    if not len(latest):
        return scores
    nbrs = table.neighbors[latest].ravel()
    sims = (table.similarity[latest] * weights[:, None]).ravel()
    valid = np.isfinite(sims)
    if not valid.any():
        return scores
    acc = np.zeros(n_items, dtype=np.float64)
    np.add.at(acc, nbrs[valid], sims[valid])
    touched = np.zeros(n_items, dtype=bool)
    touched[nbrs[valid]] = True
    scores[touched] = acc[touched]
    return scores


def strongest_source(
    table: NeighbourTable, latest: np.ndarray, weights: np.ndarray, items: np.ndarray, n_items: int
) -> list[int | None]:
    """For each of ``items``, the one of ``latest`` whose weighted similarity added most to its score.

    None where no item of ``latest`` has it as a neighbour (popularity backfill): a reason is never guessed.
    """
    if not len(latest) or not len(items):
        return [None] * len(items)
    # contribution[h, k]: weight of history item h times its similarity to recommended item k
    position = np.full(n_items, -1, dtype=np.int64)
    position[items] = np.arange(len(items))
    slots = position[table.neighbors[latest]]
    sims = table.similarity[latest].astype(np.float64) * weights[:, None]
    valid = (slots >= 0) & np.isfinite(sims)
    contribution = np.full((len(latest), len(items)), -np.inf)
    rows = np.broadcast_to(np.arange(len(latest))[:, None], slots.shape)
    contribution[rows[valid], slots[valid]] = sims[valid]
    best = np.argmax(contribution, axis=0)
    found = np.isfinite(contribution[best, np.arange(len(items))])
    return [int(latest[b]) if ok else None for b, ok in zip(best.tolist(), found.tolist(), strict=True)]
