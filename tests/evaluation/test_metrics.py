"""Every metric pinned to a hand-worked example."""

from __future__ import annotations

import math

import pytest

from recsmith.evaluation.metrics import (
    compute_metrics,
    hit_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank_at_k,
)

LIST = ["a", "b", "c", "d", "e", "f"]


def test_ndcg_matches_personalize_worked_example() -> None:
    # Personalize's own: relevant items at ranks 2 and 5 -> (1/log3 + 1/log6) / (1/log2 + 1/log3) = 0.6241
    assert ndcg_at_k(LIST, {"b", "e"}, 5) == pytest.approx(0.6241, abs=1e-4)


def test_ndcg_perfect_and_empty() -> None:
    assert ndcg_at_k(LIST, {"a", "b"}, 5) == pytest.approx(1.0)
    assert ndcg_at_k(LIST, {"z"}, 5) == 0.0
    # ideal DCG uses min(K, |relevant|) positions: 1 hit at rank 1 of 3 relevant, K=2
    assert ndcg_at_k(LIST, {"a", "y", "z"}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_precision_recall_hit() -> None:
    assert precision_at_k(LIST, {"b", "e"}, 5) == pytest.approx(2 / 5)
    assert precision_at_k(LIST, {"b", "e"}, 10) == pytest.approx(2 / 10)
    assert recall_at_k(LIST, {"b", "e", "z"}, 5) == pytest.approx(2 / 3)
    assert hit_at_k(LIST, {"e"}, 5) == 1.0
    assert hit_at_k(LIST, {"f"}, 5) == 0.0


def test_reciprocal_rank_uses_first_relevant_item() -> None:
    assert reciprocal_rank_at_k(LIST, {"c", "e"}) == pytest.approx(1 / 3)
    assert reciprocal_rank_at_k(LIST, {"z"}) == 0.0
    assert reciprocal_rank_at_k(["x"] * 25 + ["a"], {"a"}) == 0.0


def test_compute_metrics_averages_users_and_counts_coverage() -> None:
    metrics = compute_metrics(
        {"u1": ["a", "b", "c", "d", "e"], "u2": ["a", "f", "g", "h", "i"]},
        {"u1": {"b", "e"}, "u2": {"z"}},
        n_training_items=18,
    )
    assert metrics["normalized_discounted_cumulative_gain_at_5"] == pytest.approx(0.6241 / 2, abs=1e-4)
    assert metrics["precision_at_5"] == pytest.approx((2 / 5 + 0) / 2)
    assert metrics["mean_reciprocal_rank_at_25"] == pytest.approx((1 / 2 + 0) / 2)
    assert metrics["coverage"] == pytest.approx(9 / 18)
    assert metrics["test_users"] == 2


def test_compute_metrics_needs_ground_truth() -> None:
    with pytest.raises(ValueError, match="no test user"):
        compute_metrics({}, {}, 10)
