"""The recipe table: every recipe with its ARN, Personalize names and recipe type, as ListRecipes shows it."""

from __future__ import annotations

import pytest

from models import get_recipe_class, recipe_ids
from models.base import RecipeType
from models.registry import RECIPE_ARN_PREFIX, describe_recipe, list_recipes, resolve_recipe_id
from recsmith.training.solutions import SolutionConfig

PERSONALIZE = {
    "aws-user-personalization-v2": "user_personalization_v2",
    "aws-user-personalization": "hrnn_coldstart",
    "aws-personalized-ranking-v2": "personalized_ranking_v2",
    "aws-personalized-ranking": "personalized_ranking",
    "aws-sims": "sims",
    "aws-hrnn": "hrnn",
    "aws-hrnn-metadata": "hrnn_metadata",
    "aws-hrnn-coldstart": "hrnn_coldstart",
    "aws-popularity-count": "popularity_count",
    "aws-trending-now": "trending_now",
    "aws-semantic-similarity": "semantic_similarity",
    "aws-item-affinity": "item_affinity",
    "aws-item-attribute-affinity": "item_attribute_affinity",
}


def test_every_row_names_its_class_and_the_class_agrees_on_id_and_type() -> None:
    rows = list_recipes()
    assert [r.recipe_id for r in rows] == recipe_ids()
    for row in rows:
        recipe_cls = get_recipe_class(row.recipe_id)
        assert (recipe_cls.recipe_id, recipe_cls.recipe_type) == (row.recipe_id, row.recipe_type)
        assert row.recipe_arn == RECIPE_ARN_PREFIX + row.recipe_id and row.description


@pytest.mark.parametrize(("name", "recipe_id"), sorted(PERSONALIZE.items()))
def test_personalize_names_and_arns_resolve_to_our_recipes(name: str, recipe_id: str) -> None:
    assert resolve_recipe_id(name) == resolve_recipe_id(RECIPE_ARN_PREFIX + name) == recipe_id
    assert RECIPE_ARN_PREFIX + name in describe_recipe(name).personalize_arns
    assert SolutionConfig(recipe=RECIPE_ARN_PREFIX + name).recipe == recipe_id


def test_types_filter_and_unknown_names_list_the_known_ones() -> None:
    segmentation = [r.recipe_id for r in list_recipes(RecipeType.USER_SEGMENTATION)]
    assert segmentation == ["item_affinity", "item_attribute_affinity"]
    unknown = "unknown recipe 'arn:aws:personalize:::recipe/aws-nope'; known recipes: .*aws-sims"
    with pytest.raises(KeyError, match=unknown):
        describe_recipe("arn:aws:personalize:::recipe/aws-nope")
