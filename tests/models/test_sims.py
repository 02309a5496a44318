"""SIMS's neighbour table equals its documented formula, worked out pair by pair on generated data.

The table is computed by :func:`models.neighbours.cooccurrence_neighbours`, which next_item_knn shares; this
pins that sharing it did not change what SIMS learns.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pandas as pd

from models.base import InteractionData
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from models.sims.recipe import Sims, SimsParams


def random_histories(seed: int = 7, n_users: int = 60, n_items: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        length = int(rng.integers(2, 12))
        # skewed item choice so that popularity differs; repeats allowed (they must count once)
        items = rng.zipf(1.6, size=length) % n_items
        for t, item in enumerate(items.tolist()):
            rows.append((f"u{u:02d}", f"i{item:02d}", 1_000 + 10 * t))
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP])


def expected_similarity(frame: pd.DataFrame, params: SimsParams) -> dict[tuple[str, str], float]:
    """C(i, j) / (n_i^d n_j^d) over each user's latest ``max_user_history_length`` rows, pairs with C >= min."""
    users_of: dict[str, set[str]] = {}
    pair_count: Counter[tuple[str, str]] = Counter()
    for _, rows in frame.sort_values([USER_ID, TIMESTAMP], kind="stable").groupby(USER_ID):
        items = set(rows[ITEM_ID].tolist()[-params.max_user_history_length :])
        for item in items:
            users_of.setdefault(item, set()).add(str(rows[USER_ID].iloc[0]))
        for a, b in combinations(sorted(items), 2):
            pair_count[(a, b)] += 1
            pair_count[(b, a)] += 1
    d = params.popularity_discount_factor
    return {
        (a, b): c / (len(users_of[a]) ** d * len(users_of[b]) ** d)
        for (a, b), c in pair_count.items()
        if c >= params.min_cointeraction_count
    }


def test_sims_similarities_follow_the_formula() -> None:
    frame = random_histories()
    params = SimsParams(popularity_discount_factor=0.4, min_cointeraction_count=2, max_user_history_length=6)
    sims = Sims(params).fit(InteractionData(frame))
    expected = expected_similarity(frame, params)
    learned = {}
    for i, item in enumerate(sims.item_ids_.tolist()):
        for j, value in zip(sims.neighbors_[i].tolist(), sims.similarity_[i].tolist(), strict=True):
            if np.isfinite(value):
                learned[(item, str(sims.item_ids_[j]))] = value
    assert learned.keys() == expected.keys()
    for pair, value in expected.items():
        assert learned[pair] == np.float32(value) or abs(learned[pair] - value) < 1e-5 * value


def test_sims_keeps_the_best_neighbours_best_first() -> None:
    frame = random_histories(seed=11)
    sims = Sims(SimsParams(num_neighbors=3, min_cointeraction_count=1)).fit(InteractionData(frame))
    expected = expected_similarity(frame, sims.params)  # type: ignore[arg-type]
    for i, item in enumerate(sims.item_ids_.tolist()):
        kept = sims.similarity_[i][np.isfinite(sims.similarity_[i])]
        assert np.all(np.diff(kept) <= 0)
        best = sorted((v for (a, _), v in expected.items() if a == item), reverse=True)[:3]
        np.testing.assert_allclose(kept, best, rtol=1e-5)
