"""Offline metrics with Personalize's names and formulas; each is pinned by a test to a worked example.

For one test user with recommended list ``r`` (best first, position 1 at the top) and relevant set ``T``:

- ``precision_at_K``  = |r[:K] ∩ T| / K
- ``recall_at_K``     = |r[:K] ∩ T| / |T|
- ``hit_at_K``        = 1 if r[:K] ∩ T else 0
- ``normalized_discounted_cumulative_gain_at_K`` = DCG / IDCG, DCG = Σ_{p ≤ K, r_p ∈ T} 1 / log2(1 + p),
  IDCG = Σ_{p ≤ min(K, |T|)} 1 / log2(1 + p). Personalize's example: hits at 2 and 5 give 0.6241.
- ``mean_reciprocal_rank_at_25`` = 1 / (position of the first relevant item in r[:25]), 0 if none.

Each is averaged over test users. ``coverage`` = distinct items recommended over all test users / distinct
items in the training data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

CUTOFFS = (5, 10, 25)
MRR_CUTOFF = 25
OBJECTIVE_METRICS = (
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_25",
    "mean_reciprocal_rank_at_25",
    "precision_at_10",
    "precision_at_5",
    "precision_at_25",
    "coverage",
)


def precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    return sum(1 for item in recommended[:k] if item in relevant) / k


def recall_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    return sum(1 for item in recommended[:k] if item in relevant) / len(relevant)


def hit_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    return 1.0 if any(item in relevant for item in recommended[:k]) else 0.0


def ndcg_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(1 + p) for p, item in enumerate(recommended[:k], start=1) if item in relevant)
    ideal = sum(1.0 / math.log2(1 + p) for p in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal if ideal else 0.0


def reciprocal_rank_at_k(recommended: Sequence[str], relevant: set[str], k: int = MRR_CUTOFF) -> float:
    for position, item in enumerate(recommended[:k], start=1):
        if item in relevant:
            return 1.0 / position
    return 0.0


def compute_metrics(
    recommendations: Mapping[str, Sequence[str]],
    ground_truth: Mapping[str, set[str]],
    n_training_items: int,
) -> dict[str, float]:
    """Every metric, averaged over the users of ``ground_truth`` (a user without recommendations scores 0)."""
    users = [u for u in ground_truth if ground_truth[u]]
    if not users:
        raise ValueError("no test user has ground-truth items; cannot compute metrics")
    sums: dict[str, float] = {}

    def add(name: str, value: float) -> None:
        sums[name] = sums.get(name, 0.0) + value

    recommended_items: set[str] = set()
    for user in users:
        recommended = list(recommendations.get(user, ()))
        relevant = ground_truth[user]
        recommended_items.update(recommended)
        for k in CUTOFFS:
            add(f"precision_at_{k}", precision_at_k(recommended, relevant, k))
            add(f"normalized_discounted_cumulative_gain_at_{k}", ndcg_at_k(recommended, relevant, k))
            add(f"recall_at_{k}", recall_at_k(recommended, relevant, k))
            add(f"hit_at_{k}", hit_at_k(recommended, relevant, k))
        add("mean_reciprocal_rank_at_25", reciprocal_rank_at_k(recommended, relevant, MRR_CUTOFF))
    metrics = {name: total / len(users) for name, total in sums.items()}
    metrics["coverage"] = len(recommended_items) / n_training_items if n_training_items else 0.0
    metrics["test_users"] = float(len(users))
    return dict(sorted(metrics.items()))
