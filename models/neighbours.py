"""Item neighbour tables, shared by the item-kNN recipes (sims, next_item_knn).

A neighbour table keeps, for each item, its ``k`` best related items and their similarities, best first
(``neighbors[i, r]`` is the r-th neighbour of item i; ``-inf`` similarity marks an empty slot; equal
similarities by item index). The tables are computed a block of rows at a time from sparse rows (only related
pairs are ever stored), so a catalogue of 100k items never needs a dense 100k-wide block, and each row depends
on its own inputs alone: an update that recomputes the rows it changed gets the table a full fit would.

Scoring a user from a neighbour table (:func:`neighbour_scores`) sums, over the user's latest items, the
item's weight times its similarity to each neighbour; :func:`strongest_source` names, for each recommended
item, the user's item that added most to its score (the "because of item X" reason).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

BLOCK_ROWS = 256
"""Rows of the item-item relation computed at once (a sparse block: only related pairs are stored)."""


@dataclass(frozen=True)
class NeighbourTable:
    """Each item's best neighbours (``neighbors``, int32) and their similarities (``similarity``, float32)."""

    neighbors: np.ndarray
    similarity: np.ndarray


def neighbour_count(num_neighbors: int, n_items: int) -> int:
    """Slots per item in the table: ``num_neighbors``, or fewer when the catalogue is smaller."""
    return min(num_neighbors, max(n_items - 1, 1))


def sparse_top_k(block: sp.csr_matrix, k: int) -> NeighbourTable:
    """The ``k`` largest stored entries of each row of ``block``, best first; equal values by column index, so
    a row's answer depends on that row alone (an update that recomputes some rows matches a full fit). Empty
    slots hold neighbour 0 with similarity ``-inf``."""
    n_rows = block.shape[0]
    neighbors = np.zeros((n_rows, k), dtype=np.int32)
    similarity = np.full((n_rows, k), -np.inf, dtype=np.float32)
    lengths = np.diff(block.indptr)
    if not block.nnz:
        return NeighbourTable(neighbors, similarity)
    rows = np.repeat(np.arange(n_rows), lengths)
    order = np.lexsort((block.indices, -block.data, rows))
    position = np.arange(block.nnz) - np.repeat(block.indptr[:-1], lengths)
    keep = position < k
    chosen = order[keep]
    neighbors[rows[keep], position[keep]] = block.indices[chosen]
    similarity[rows[keep], position[keep]] = block.data[chosen]
    return NeighbourTable(neighbors, similarity)


def table_rows(rows: np.ndarray, k: int, similarities: Callable[[np.ndarray], sp.csr_matrix]) -> NeighbourTable:
    """The table rows of items ``rows`` (in that order), from ``similarities(some_rows)``: the sparse
    similarity rows of those items (stored entries are the related pairs), computed a block at a time."""
    neighbors = np.zeros((len(rows), k), dtype=np.int32)
    similarity = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for start in range(0, len(rows), BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, len(rows))
        part = sparse_top_k(similarities(rows[start:stop]), k)
        neighbors[start:stop], similarity[start:stop] = part.neighbors, part.similarity
    return NeighbourTable(neighbors, similarity)


def binary_user_items(user_codes: np.ndarray, item_codes: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """The user x item matrix with a 1 where the user interacted with the item (repeats count once)."""
    matrix = sp.csr_matrix(
        (np.ones(len(user_codes), dtype=np.float64), (user_codes, item_codes)), shape=(n_users, n_items)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def without_diagonal(block: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``block`` (rows ``rows`` of an item x item matrix) without each item's entry for itself."""
    block = block.tocoo()
    keep = block.col != rows[block.row]
    return sp.csr_matrix((block.data[keep], (block.row[keep], block.col[keep])), shape=block.shape)


class Cooccurrence:
    """Whole-history co-occurrence similarity, C(i, j) / (n_i ** d * n_j ** d), for any rows.

    C(i, j) counts users who interacted with both items, n_i the users of item i, d is the popularity discount
    (0: raw counts, 0.5: cosine). Pairs seen together by fewer than ``min_count`` users are not related (not
    stored), nor is an item to itself.
    """

    def __init__(self, users_items: sp.csr_matrix, popularity_discount_factor: float, min_count: int) -> None:
        self.users_items = users_items
        self.item_users = users_items.T.tocsr()
        self.users_per_item = np.asarray(users_items.sum(axis=0), dtype=np.float64).ravel()
        self.discount = np.power(np.maximum(self.users_per_item, 1.0), popularity_discount_factor)
        self.min_count = min_count

    def counts(self, rows: np.ndarray) -> sp.csr_matrix:
        """C restricted to ``rows``: co-occurrence counts of at least ``min_count``, diagonal left out."""
        co = without_diagonal((self.item_users[rows] @ self.users_items).tocsr(), rows)
        co.data[co.data < self.min_count] = 0.0
        co.eliminate_zeros()
        return co

    def rows(self, rows: np.ndarray) -> sp.csr_matrix:
        """Similarities of items ``rows`` to their related items (sparse; only related pairs are stored)."""
        co = self.counts(rows).tocoo()
        values = co.data / self.discount[rows[co.row]] / self.discount[co.col]
        return sp.csr_matrix((values, (co.row, co.col)), shape=co.shape)

    def related_items(self, items: np.ndarray) -> np.ndarray:
        """Every item some user took together with one of ``items`` (``items`` included): the rows whose
        similarities can change when these items' counts change."""
        if not len(items):
            return np.empty(0, dtype=np.int64)
        users = np.unique(self.item_users[items].indices)
        return np.union1d(items, np.unique(self.users_items[users].indices)).astype(np.int64)


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
