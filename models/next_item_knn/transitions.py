"""Directed item-to-item transitions within a window of each user's time-ordered history.

Sequences carry what co-occurrence loses: what users take *next*. For every pair of a user's interactions at
most ``window`` positions apart, the earlier item i and the later item j add

- ``distance ** -distance_exponent`` to T(i, j) (forward: j came after i),
- ``backward_weight`` times that to T(j, i) (users who took j had often taken i just before),

where distance is the number of positions between them. Pairs with the same timestamp have no order (a batch
of ratings saved at once), so they add the mean of the two weights both ways. Each user's pairs are scaled by
``len(history) ** -user_length_exponent``, so a user with thousands of items does not outweigh everyone
else (an IDF-like weight; 0 leaves users equal per pair).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def transition_counts(
    user_codes: np.ndarray,
    item_codes: np.ndarray,
    timestamps: np.ndarray,
    n_items: int,
    *,
    window: int,
    distance_exponent: float,
    backward_weight: float,
    user_length_exponent: float = 0.0,
) -> sp.csr_matrix:
    """T as a sparse ``n_items x n_items`` matrix (float64, zero diagonal).

    ``user_codes``, ``item_codes`` and ``timestamps`` are parallel arrays ordered by user, then time.
    """
    if user_length_exponent:
        lengths = np.bincount(user_codes).astype(np.float64)
        user_weight = np.power(np.maximum(lengths, 1.0), -user_length_exponent)[user_codes]
    else:
        user_weight = np.ones(len(user_codes))
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for distance in range(1, window + 1):
        if distance >= len(item_codes):
            break
        same_user = user_codes[distance:] == user_codes[:-distance]
        before, after = item_codes[:-distance][same_user], item_codes[distance:][same_user]
        tied = (timestamps[distance:] == timestamps[:-distance])[same_user]
        weight = float(distance) ** -distance_exponent * user_weight[:-distance][same_user]
        forward = np.where(tied, weight * (1.0 + backward_weight) / 2.0, weight)
        backward = np.where(tied, forward, weight * backward_weight)
        rows += [before, after]
        cols += [after, before]
        values += [forward, backward]
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float64)
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(values)
    distinct = r != c  # an item repeated within the window says nothing about what comes next
    matrix = sp.csr_matrix((v[distinct], (r[distinct], c[distinct])), shape=(n_items, n_items), dtype=np.float64)
    matrix.sum_duplicates()
    return matrix
