"""Score a fitted recipe on a split: full-catalogue ranking for each test user, seen items excluded."""

from __future__ import annotations

from models.base import Recipe
from models.columns import ITEM_ID
from recsmith.evaluation.metrics import MRR_CUTOFF, compute_metrics
from recsmith.evaluation.split import Split

_BATCH = 256


def evaluate_recipe(recipe: Recipe, split: Split, exclude_seen: bool = True) -> dict[str, float]:
    """Personalize's metrics for ``recipe`` (fitted on ``split.train``) against ``split``'s ground truth."""
    truth = split.ground_truth()
    users = sorted(truth)
    recommended: dict[str, list[str]] = {}
    for start in range(0, len(users), _BATCH):
        batch = users[start : start + _BATCH]
        for user, answer in zip(batch, recipe.recommend(batch, MRR_CUTOFF, exclude_seen=exclude_seen), strict=True):
            recommended[user] = answer.item_ids
    return compute_metrics(recommended, truth, n_training_items=int(split.train[ITEM_ID].nunique()))
