"""The recipe registry: one table of every recipe the platform ships, keyed by recipe id (the same string
everywhere: registry key, config discriminator, MLflow tag).

Each row says where the class lives (imported lazily, so listing recipes stays cheap and never loads torch),
its Personalize recipe type, the Personalize recipe names that map to it (``aws-sims`` -> ``sims``), the
training modes it supports (UPDATE where folding new interactions in is exact and cheap) and a one-line
description. ``ListRecipes``/``DescribeRecipe`` read :func:`list_recipes` and :func:`describe_recipe`; a recipe
given by our id, our ARN, a Personalize name or a Personalize ARN resolves with :func:`resolve_recipe_id`.

ARNs have Personalize's form: ``arn:aws:personalize:::recipe/<name>``, with our recipe id as the name for ours
(``arn:aws:personalize:::recipe/next_item_knn``) and Personalize's own names for its recipes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from models.base import Recipe, RecipeType

RECIPE_ARN_PREFIX = "arn:aws:personalize:::recipe/"
FULL = "FULL"
UPDATE = "UPDATE"


@dataclass(frozen=True)
class RecipeInfo:
    """One recipe as ``ListRecipes``/``DescribeRecipe`` show it."""

    recipe_id: str
    target: str
    """``module:Class`` of the implementation."""
    recipe_type: RecipeType
    description: str
    personalize_names: tuple[str, ...] = ()
    """Personalize recipe names that map to this recipe, the closest first (``aws-sims``)."""
    training_modes: tuple[str, ...] = (FULL,)

    @property
    def recipe_arn(self) -> str:
        """Our ARN of the recipe: ``arn:aws:personalize:::recipe/<recipe id>``."""
        return RECIPE_ARN_PREFIX + self.recipe_id

    @property
    def personalize_arns(self) -> tuple[str, ...]:
        """The Personalize recipe ARNs that resolve to this recipe (``arn:aws:personalize:::recipe/aws-sims``)."""
        return tuple(RECIPE_ARN_PREFIX + name for name in self.personalize_names)


_TABLE: tuple[RecipeInfo, ...] = (
    RecipeInfo(
        "popularity_count",
        "models.popularity_count.recipe:PopularityCount",
        RecipeType.POPULAR_ITEMS,
        "The items with the most interactions; the baseline and the fallback for unknown users and items.",
        ("aws-popularity-count",),
        (FULL, UPDATE),
    ),
    RecipeInfo(
        "trending_now",
        "models.trending_now.recipe:TrendingNow",
        RecipeType.POPULAR_ITEMS,
        "Items whose interactions grow fastest between the last two windows of trend_discovery_frequency.",
        ("aws-trending-now",),
        (FULL, UPDATE),
    ),
    RecipeInfo(
        "sims",
        "models.sims.recipe:Sims",
        RecipeType.RELATED_ITEMS,
        "Item-item co-occurrence with a popularity discount and a minimum co-interaction count.",
        ("aws-sims",),
        (FULL, UPDATE),
    ),
    RecipeInfo(
        "semantic_similarity",
        "models.semantic_similarity.recipe:SemanticSimilarity",
        RecipeType.RELATED_ITEMS,
        "Related items from the text of item fields (TF-IDF and truncated SVD shipped offline, or a local model).",
        ("aws-semantic-similarity",),
    ),
    RecipeInfo(
        "next_item_knn",
        "models.next_item_knn.recipe:NextItemKnn",
        RecipeType.USER_PERSONALIZATION,
        "Sequential item-kNN: directed, distance-weighted transitions blended with co-occurrence.",
        (),
        (FULL, UPDATE),
    ),
    RecipeInfo(
        "user_personalization_v2",
        "models.user_personalization_v2.recipe:UserPersonalizationV2",
        RecipeType.USER_PERSONALIZATION,
        "Causal self-attention over each user's sequence, full-softmax cross-entropy at every position, "
        "event-type weights, item metadata and exploration of new items.",
        ("aws-user-personalization-v2",),
    ),
    RecipeInfo(
        "two_stage",
        "models.two_stage.recipe:TwoStage",
        RecipeType.USER_PERSONALIZATION,
        "Candidates from several recipes reranked by gradient-boosted trees on their scores, recency and "
        "popularity, trained on a time-based validation slice.",
    ),
    RecipeInfo(
        "hrnn",
        "models.hrnn.recipe:Hrnn",
        RecipeType.USER_PERSONALIZATION,
        "Hierarchical GRU over sessions with a sampled softmax (Personalize's legacy HRNN).",
        ("aws-hrnn",),
    ),
    RecipeInfo(
        "hrnn_metadata",
        "models.hrnn.metadata:HrnnMetadata",
        RecipeType.USER_PERSONALIZATION,
        "HRNN that also reads item, user and context features.",
        ("aws-hrnn-metadata",),
    ),
    RecipeInfo(
        "hrnn_coldstart",
        "models.hrnn.coldstart:HrnnColdstart",
        RecipeType.USER_PERSONALIZATION,
        "hrnn_metadata with exploration of new items (Personalize's User-Personalization: HRNN plus exploration).",
        ("aws-hrnn-coldstart", "aws-user-personalization"),
    ),
    RecipeInfo(
        "deepfm",
        "models.deepfm.recipe:DeepFm",
        RecipeType.USER_PERSONALIZATION,
        "Factorization machine plus a deep network over user, item and context fields.",
    ),
    RecipeInfo(
        "personalized_ranking",
        "models.personalized_ranking.recipe:PersonalizedRanking",
        RecipeType.PERSONALIZED_RANKING,
        "Re-ranks a given item list with a trained user model (hrnn by default).",
        ("aws-personalized-ranking",),
    ),
    RecipeInfo(
        "personalized_ranking_v2",
        "models.personalized_ranking.recipe:PersonalizedRankingV2",
        RecipeType.PERSONALIZED_RANKING,
        "Re-ranks a given item list with user_personalization_v2's transformer.",
        ("aws-personalized-ranking-v2",),
    ),
    RecipeInfo(
        "item_affinity",
        "models.affinity.recipe:ItemAffinity",
        RecipeType.USER_SEGMENTATION,
        "User segments: the users most likely to interact with given items (batch segment jobs).",
        ("aws-item-affinity",),
    ),
    RecipeInfo(
        "item_attribute_affinity",
        "models.affinity.recipe:ItemAttributeAffinity",
        RecipeType.USER_SEGMENTATION,
        "User segments: the users most likely to interact with items of given attributes (batch segment jobs).",
        ("aws-item-attribute-affinity",),
    ),
)
_BY_ID: dict[str, RecipeInfo] = {info.recipe_id: info for info in _TABLE}
_BY_NAME: dict[str, str] = {
    **{info.recipe_id: info.recipe_id for info in _TABLE},
    **{name: info.recipe_id for info in _TABLE for name in info.personalize_names},
}


def recipe_ids() -> list[str]:
    """Every recipe id the platform ships, sorted."""
    return sorted(_BY_ID)


def list_recipes(recipe_type: RecipeType | None = None) -> list[RecipeInfo]:
    """Every recipe (of ``recipe_type``, when given), sorted by id: what ``ListRecipes`` shows."""
    return [_BY_ID[r] for r in recipe_ids() if recipe_type is None or _BY_ID[r].recipe_type is recipe_type]


def resolve_recipe_id(name: str) -> str:
    """Our recipe id for ``name``: a recipe id, a Personalize recipe name (``aws-sims``) or either's ARN.

    A ``KeyError`` lists the known names.
    """
    key = name.removeprefix(RECIPE_ARN_PREFIX)
    try:
        return _BY_NAME[key]
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(_BY_NAME))}") from None


def describe_recipe(name: str) -> RecipeInfo:
    """The table row of recipe ``name`` (any form :func:`resolve_recipe_id` accepts): ``DescribeRecipe``."""
    return _BY_ID[resolve_recipe_id(name)]


def get_recipe_class(recipe_id: str) -> type[Recipe]:
    """The class of recipe ``recipe_id``; a ``KeyError`` lists the known ids."""
    try:
        target = _BY_ID[recipe_id].target
    except KeyError:
        raise KeyError(f"unknown recipe {recipe_id!r}; known recipes: {', '.join(recipe_ids())}") from None
    module_name, class_name = target.split(":")
    recipe_cls: type[Recipe] = getattr(importlib.import_module(module_name), class_name)
    return recipe_cls
