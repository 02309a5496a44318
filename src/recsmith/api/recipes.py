"""Recipe ARNs: ours (``arn:aws:personalize:::recipe/<recipe id>``) and Personalize's, mapped to ours.

Code written for Personalize names its recipes (``aws-sims``, ``aws-user-personalization``...); each maps to
the recsmith recipe that does the same job, so a ``CreateSolution`` copied from Personalize trains. The list of
recipes comes from the recipe registry (:mod:`models.registry`), never from a copy here: a recipe added there is
listed and usable at once. An alias whose target is not registered is left out.
"""

from __future__ import annotations

import functools
from typing import Any

from models.registry import get_recipe_class, recipe_ids
from recsmith.errors import ResourceNotFoundError

RECIPE_ARN_PREFIX = "arn:aws:personalize:::recipe/"

# Personalize's recipe -> ours. aws-user-personalization explores new items within an age cut-off, which is
# what hrnn_coldstart adds to hrnn_metadata; the v2 recipes map to their recsmith namesakes when registered.
PERSONALIZE_RECIPES: dict[str, str] = {
    "aws-sims": "sims",
    "aws-hrnn": "hrnn",
    "aws-hrnn-metadata": "hrnn_metadata",
    "aws-hrnn-coldstart": "hrnn_coldstart",
    "aws-popularity-count": "popularity_count",
    "aws-personalized-ranking": "personalized_ranking",
    "aws-user-personalization": "hrnn_coldstart",
    "aws-user-personalization-v2": "user_personalization_v2",
    "aws-personalized-ranking-v2": "personalized_ranking_v2",
    "aws-trending-now": "trending_now",
    "aws-semantic-similarity": "semantic_similarity",
    "aws-item-affinity": "item_affinity",
    "aws-item-attribute-affinity": "item_attribute_affinity",
}


def recipe_arn(name: str) -> str:
    return RECIPE_ARN_PREFIX + name


def recipe_id_of(arn_or_id: str) -> str:
    """Our recipe id for a recipe ARN (ours or Personalize's) or id; ResourceNotFound for an unknown one."""
    name = arn_or_id.removeprefix(RECIPE_ARN_PREFIX)
    name = PERSONALIZE_RECIPES.get(name, name)
    if name not in recipe_ids():
        raise ResourceNotFoundError(
            f"no recipe {arn_or_id!r}; recipes: {', '.join(recipe_arn(n) for n in sorted(_all_names()))}"
        )
    return name


def _all_names() -> list[str]:
    ours = recipe_ids()
    return ours + [alias for alias, target in PERSONALIZE_RECIPES.items() if target in ours]


@functools.cache
def _recipe(name: str) -> dict[str, Any]:
    target = PERSONALIZE_RECIPES.get(name, name)
    cls = get_recipe_class(target)
    doc = (cls.__doc__ or cls.__module__).strip().split("\n\n")[0]
    description = " ".join(doc.split())
    if target != name:
        description = f"Personalize's {name}, answered by recsmith's {target}: {description}"
    return {
        "name": name,
        "recipeArn": recipe_arn(name),
        "algorithmArn": f"arn:aws:personalize:::algorithm/{target}",
        "status": "ACTIVE",
        "description": description,
        "recipeType": str(cls.recipe_type.value),
        "creationDateTime": 0.0,
        "lastUpdatedDateTime": 0.0,
    }


def describe_recipe(arn_or_id: str) -> dict[str, Any]:
    name = arn_or_id.removeprefix(RECIPE_ARN_PREFIX)
    if name not in _all_names():
        recipe_id_of(arn_or_id)  # raises with the list
    return _recipe(name)


def list_recipes() -> list[dict[str, Any]]:
    """Every recipe, ours first, then Personalize's names for them."""
    return [_recipe(name) for name in _all_names()]
