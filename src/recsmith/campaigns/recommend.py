"""Campaign requests, shared by the HTTP service, the CLI and batch jobs: GetRecommendations and
GetPersonalizedRanking with Personalize's fields, limits and response shape.

Each request reads the model once (a snapshot of the holder), then the user's newest events from the event
store, so a PutEvents changes that user's next answer without retraining: the recipe folds the events into the
user's history, and items already seen are not recommended again. Besides Personalize's fields, every response
names the solution version and registered model version that produced it (``solutionVersionArn``,
``modelVersion``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.base import Recipe, RecipeType, Recommendation, UnsupportedOperation
from recsmith.campaigns.filters import FilterDecision, apply_filter
from recsmith.campaigns.holder import ModelHolder, ServedModel
from recsmith.catalog import ResourceType
from recsmith.errors import InvalidInputError, ResourceNotFoundError, UnsupportedCapabilityError
from recsmith.platform import Platform

MAX_RESULTS = 500
MAX_INPUT_LIST = 500
DEFAULT_RESULTS = 25


def _resolve(
    platform: Platform, holder_or_model: ModelHolder | ServedModel, campaign: str
) -> tuple[ServedModel, str | None]:
    """The model snapshot to answer with and the campaign's dataset group; a campaign this holder does not
    serve is ResourceNotFound, as Personalize answers for an unknown campaign ARN."""
    if isinstance(holder_or_model, ModelHolder):
        if campaign not in (holder_or_model.campaign_arn, holder_or_model.campaign_name):
            raise ResourceNotFoundError(
                f"campaign {campaign!r} is not served here; this endpoint serves {holder_or_model.campaign_arn}"
            )
        return holder_or_model.current, holder_or_model.dataset_group_arn
    resource = platform.catalog.get(ResourceType.CAMPAIGN, campaign)
    return holder_or_model, resource.dataset_group_arn


def _recent_items(platform: Platform, group_arn: str | None, user_id: str) -> list[str]:
    return platform.events.recent_items(group_arn, user_id) if group_arn else []


def _blocked(recipe: Recipe, decision: FilterDecision | None) -> set[str] | None:
    """The model's items a filter decision removes (None without a filter)."""
    if decision is None:
        return None
    blocked = set(decision.exclude)
    if decision.include is not None:
        ids = recipe.item_ids_
        blocked.update(ids[~np.isin(ids, list(decision.include))].tolist())
    return blocked


def _response(key: str, answer: Recommendation, served: ServedModel) -> dict[str, Any]:
    return {
        key: [{"itemId": i, "score": float(s)} for i, s in zip(answer.item_ids, answer.scores, strict=True)],
        "recommendationId": f"RID-{uuid.uuid4()}",
        "solutionVersionArn": served.solution_version_arn,
        "modelVersion": served.model_version,
    }


def get_recommendations(
    platform: Platform,
    holder_or_model: ModelHolder | ServedModel,
    campaign: str,
    user_id: str | None = None,
    item_id: str | None = None,
    num_results: int = DEFAULT_RESULTS,
    context: Mapping[str, str] | None = None,
    filter_arn: str | None = None,
    filter_values: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Top items for a user (USER_PERSONALIZATION) or items related to an item (RELATED_ITEMS).

    Exactly one of ``user_id``/``item_id``; ``num_results`` 1-500. An unknown user without events gets popular
    items; a recipe that cannot answer related-items requests raises UnsupportedCapabilityError. With
    ``filter_arn`` (a filter of the campaign's group, see :mod:`recsmith.campaigns.filters`) the filtered
    items are left out and the list is backfilled from the remaining candidates; for related items,
    ``CurrentItem`` is ``item_id``.
    """
    if not isinstance(num_results, int) or not 1 <= num_results <= MAX_RESULTS:
        raise InvalidInputError(f"numResults must be an integer from 1 to {MAX_RESULTS}, got {num_results!r}")
    if bool(user_id) == bool(item_id):
        raise InvalidInputError("pass exactly one of userId (recommendations) or itemId (related items)")
    served, group_arn = _resolve(platform, holder_or_model, campaign)
    recipe = served.recipe
    if recipe.recipe_type is RecipeType.PERSONALIZED_RANKING:  # as Personalize: ranking campaigns only rank
        raise UnsupportedCapabilityError(
            f"campaign {campaign!r} serves a PERSONALIZED_RANKING recipe ({recipe.recipe_id}); "
            "it answers GetPersonalizedRanking (userId + inputList), not GetRecommendations"
        )
    decision = (
        apply_filter(
            platform,
            filter_arn,
            filter_values,
            group_arn,
            user_id=str(user_id) if user_id else None,
            current_item=str(item_id) if item_id else None,
        )
        if filter_arn
        else None
    )
    blocked = _blocked(recipe, decision)
    if item_id:
        try:
            answer = recipe.similar_items([str(item_id)], num_results, filter_items=blocked)[0]
        except UnsupportedOperation as exc:
            raise UnsupportedCapabilityError(
                f"campaign {campaign!r} serves a {recipe.recipe_type} recipe ({recipe.recipe_id}); "
                "it cannot answer itemId requests, pass userId"
            ) from exc
        return _response("itemList", answer, served)
    user = str(user_id)
    recent = _recent_items(platform, group_arn, user)
    if user not in recipe.user_index_ and not recent:
        answer = recipe.popular_items(num_results, filter_items=blocked)
    else:
        answer = recipe.recommend(
            [user],
            num_results,
            context=dict(context) if context else None,
            recent_events={user: recent},
            filter_items=blocked,
        )[0]
    return _response("itemList", answer, served)


def get_personalized_ranking(
    platform: Platform,
    holder_or_model: ModelHolder | ServedModel,
    campaign: str,
    user_id: str,
    input_list: Sequence[str],
    context: Mapping[str, str] | None = None,
    filter_arn: str | None = None,
    filter_values: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``input_list`` (1-500 item ids, repeats dropped) re-ordered for ``user_id``; unknown items go last.

    With ``filter_arn`` the items the filter removes are dropped from the ranking, as Personalize does.
    """
    if not user_id:
        raise InvalidInputError("userId is required")
    if not 1 <= len(input_list) <= MAX_INPUT_LIST:
        raise InvalidInputError(f"inputList must hold 1 to {MAX_INPUT_LIST} item ids, got {len(input_list)}")
    served, group_arn = _resolve(platform, holder_or_model, campaign)
    items = list(dict.fromkeys(str(i) for i in input_list))
    if filter_arn:
        decision = apply_filter(platform, filter_arn, filter_values, group_arn, user_id=str(user_id))
        items = [i for i in items if decision.allows(i)]
    recent = _recent_items(platform, group_arn, str(user_id))
    answer = served.recipe.rank(str(user_id), items, context=dict(context) if context else None, recent_events=recent)
    return _response("personalizedRanking", answer, served)
