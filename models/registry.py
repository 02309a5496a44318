"""The recipe registry: recipe id (the same string everywhere) to recipe class."""

from __future__ import annotations

import importlib

from models.base import Recipe

# recipe id -> "module:Class"; imported lazily so that listing recipes stays cheap
_RECIPES: dict[str, str] = {
    "popularity_count": "models.popularity_count.recipe:PopularityCount",
    "hrnn": "models.hrnn.recipe:Hrnn",
    "hrnn_coldstart": "models.hrnn.coldstart:HrnnColdstart",
    "hrnn_metadata": "models.hrnn.metadata:HrnnMetadata",
    "sims": "models.sims.recipe:Sims",
    "next_item_knn": "models.next_item_knn.recipe:NextItemKnn",
    "deepfm": "models.deepfm.recipe:DeepFm",
    "personalized_ranking": "models.personalized_ranking.recipe:PersonalizedRanking",
}


def recipe_ids() -> list[str]:
    """Every recipe id the platform ships, sorted."""
    return sorted(_RECIPES)


def get_recipe_class(recipe_id: str) -> type[Recipe]:
    """The class of recipe ``recipe_id``; a ``KeyError`` lists the known ids."""
    try:
        target = _RECIPES[recipe_id]
    except KeyError:
        raise KeyError(f"unknown recipe {recipe_id!r}; known recipes: {', '.join(recipe_ids())}") from None
    module_name, class_name = target.split(":")
    recipe_cls: type[Recipe] = getattr(importlib.import_module(module_name), class_name)
    return recipe_cls
