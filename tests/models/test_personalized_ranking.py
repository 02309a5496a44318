"""personalized_ranking ranks a given list by a user model: it finds a chain's next item where popularity cannot."""

from __future__ import annotations

import numpy as np
import pytest

from models import InteractionData, Recipe, RecipeType, get_recipe_class
from tests.models.test_hrnn import _split_last, chains


def _target_rank(recipe: Recipe, targets: dict[str, str], items: list[str], seed: int = 0) -> float:
    """Mean position (0 = top) of each user's next item among itself and 9 other items."""
    rng = np.random.default_rng(seed)
    positions = []
    for user, target in sorted(targets.items()):
        others = [i for i in rng.choice(items, size=12, replace=False).tolist() if i != target][:9]
        ranked = recipe.rank(user, [*others, target]).item_ids
        positions.append(ranked.index(target))
    return float(np.mean(positions))


def test_ranking_with_hrnn_puts_the_next_item_of_a_chain_first() -> None:
    train, targets = _split_last(chains(n_users=100))
    items = sorted(set(train["ITEM_ID"]))
    ranking = get_recipe_class("personalized_ranking")({"base_hyperparameters": {"epochs": 6}}, seed=0)
    ranking.fit(InteractionData(train))
    popular = get_recipe_class("popularity_count")().fit(InteractionData(train))
    # random order puts the target at 4.5 on average
    assert _target_rank(ranking, targets, items) < 1.5
    assert _target_rank(ranking, targets, items) < _target_rank(popular, targets, items) - 2.0


def test_base_recipe_must_be_a_user_model() -> None:
    assert get_recipe_class("personalized_ranking").recipe_type is RecipeType.PERSONALIZED_RANKING
    with pytest.raises(ValueError, match="not a user-personalization recipe; allowed: .*hrnn"):
        get_recipe_class("personalized_ranking")({"base_recipe": "sims"})
