"""personalized_ranking: re-ranks a given item list for a user with a trained user model (hrnn by default).

As Personalize's PERSONALIZED_RANKING recipes, it answers ``rank(user, items)``: the base model scores the
user's known items and the ones it never saw go last, in input order (the base class's ``rank``). The base
model is any USER_PERSONALIZATION recipe, named by ``base_recipe`` with its own hyperparameters in
``base_hyperparameters``; it is fitted on the same data and saved inside this recipe's arrays (prefixed
``base.``), so the model file stays JSON plus ``.npz``. ``recommend`` still works (the contract asks it of every
recipe, and ``items=`` is ranking), but a campaign of this recipe type refuses GetRecommendations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from models.base import InteractionData, Recipe, RecipeParams, RecipeType, SearchDimension


class PersonalizedRankingParams(RecipeParams):
    """The base user model and its hyperparameters."""

    base_recipe: str = Field(default="hrnn", description="USER_PERSONALIZATION recipe that scores the items.")
    base_hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Hyperparameters of the base recipe (its defaults otherwise)."
    )

    @field_validator("base_recipe")
    @classmethod
    def _user_model(cls, value: str) -> str:
        from models.registry import get_recipe_class, recipe_ids

        allowed = [r for r in recipe_ids() if get_recipe_class(r).recipe_type is RecipeType.USER_PERSONALIZATION]
        if value not in allowed:
            raise ValueError(
                f"base_recipe {value!r} is not a user-personalization recipe; allowed: {', '.join(allowed)}"
            )
        return value


class PersonalizedRanking(Recipe):
    """Ranks given items for a user with a fitted user-personalization recipe."""

    params: PersonalizedRankingParams

    recipe_id = "personalized_ranking"
    recipe_type = RecipeType.PERSONALIZED_RANKING
    Params = PersonalizedRankingParams
    search_space: ClassVar[Mapping[str, SearchDimension]] = {}

    def _base(self) -> Recipe:
        params = self.params
        from models.registry import get_recipe_class

        recipe_cls = get_recipe_class(params.base_recipe)
        return recipe_cls(recipe_cls.Params(**params.base_hyperparameters), seed=self.seed, compute=self.compute)

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        # the base model factorizes the same interactions the same way, so its item indices are ours
        self.base_ = self._base().fit(data)

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        return self.base_._score(histories, context)

    def _score_users(
        self, user_ids: Sequence[str], histories: Sequence[np.ndarray], context: Mapping[str, str] | None
    ) -> np.ndarray:
        return self.base_._score_users(user_ids, histories, context)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {f"base.{k}": v for k, v in self.base_._state_arrays().items()}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        base = self._base()
        base.item_ids_, base.user_ids_ = self.item_ids_, self.user_ids_
        base.history_indices_, base.history_indptr_ = self.history_indices_, self.history_indptr_
        base.popularity_ = self.popularity_
        base._build_indexes()
        base._restore({k.removeprefix("base."): v for k, v in arrays.items() if k.startswith("base.")})
        self.base_ = base


class PersonalizedRankingV2Params(PersonalizedRankingParams):
    """As personalized_ranking's, with user_personalization_v2's transformer as the default base model."""

    base_recipe: str = Field(
        default="user_personalization_v2", description="USER_PERSONALIZATION recipe that scores the items."
    )


class PersonalizedRankingV2(PersonalizedRanking):
    """Personalize's Personalized-Ranking-v2: ranks given items with user_personalization_v2 (by default)."""

    params: PersonalizedRankingV2Params

    recipe_id = "personalized_ranking_v2"
    Params = PersonalizedRankingV2Params
