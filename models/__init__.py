"""recsmith's recipes: one package per recipe, all behind the contract in :mod:`models.base`.

This package knows nothing of the platform (no catalog, MLflow or serving imports); ``recsmith`` reaches the
recipes through :func:`models.registry.get_recipe_class`.
"""

from models.base import InteractionData, Recipe, RecipeType, Recommendation, UnsupportedOperation
from models.registry import get_recipe_class, recipe_ids

__all__ = [
    "InteractionData",
    "Recipe",
    "RecipeType",
    "Recommendation",
    "UnsupportedOperation",
    "get_recipe_class",
    "recipe_ids",
]
