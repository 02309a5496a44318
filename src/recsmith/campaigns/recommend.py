"""Campaign requests, shared by the HTTP service, the CLI and batch jobs: GetRecommendations and
GetPersonalizedRanking with Personalize's fields, limits and response shape.

Each request reads the model once (a snapshot of the holder), then the user's newest events from the event
store, so a PutEvents changes that user's next answer without retraining: the recipe folds the events into the
user's history, and items already seen are not recommended again. Besides Personalize's fields, every response
names the solution version and registered model version that produced it (``solutionVersionArn``,
``modelVersion``).

Each returned item carries ``reason`` (Personalize's ``PredictedItem.reason`` list): ``Model``,
``Exploration``, ``Popular item`` (popularity backfill) or ``Promoted item``, plus ``Because of item X`` where
the recipe can name the user's own item that led to it (sims, session recipes). GetRecommendations also takes
``promotions`` (:mod:`recsmith.campaigns.promotions`) and, like GetPersonalizedRanking, ``metadataColumns``
(:mod:`recsmith.campaigns.item_metadata`). An anonymous visitor is asked for by its ``sessionId`` as the user
id: the session's events are its history, and they join the user once a userId arrives in that session
(:mod:`recsmith.events.store`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from models.base import REASON_PROMOTED, RecipeType, Recommendation, UnsupportedOperation
from recsmith.campaigns import item_metadata
from recsmith.campaigns.filters import ALLOW_ALL, FilterDecision, apply_filter
from recsmith.campaigns.holder import ModelHolder, ServedModel
from recsmith.campaigns.promotions import Promotion, interleave, parse_promotions
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


def _entries(answer: Recommendation, promotion: str | None = None) -> list[dict[str, Any]]:
    """Response items (Personalize's PredictedItem) of ``answer``; ``promotion`` marks them as promoted."""
    entries = []
    for k, (item, score) in enumerate(zip(answer.item_ids, answer.scores, strict=True)):
        entry: dict[str, Any] = {"itemId": item, "score": float(score), "reason": answer.reasons_of(k)}
        if promotion is not None:
            entry["promotionName"] = promotion
            entry["reason"] = [REASON_PROMOTED, *entry["reason"]]
        entries.append(entry)
    return entries


def _response(
    key: str,
    entries: list[dict[str, Any]],
    served: ServedModel,
    platform: Platform,
    group_arn: str | None,
    columns: list[str],
) -> dict[str, Any]:
    if columns:
        if group_arn is None:
            raise InvalidInputError("metadataColumns needs the campaign's dataset group")
        values = platform.campaign_caches.item_metadata.lookup(
            platform, group_arn, [e["itemId"] for e in entries], columns
        )
        for entry, metadata in zip(entries, values, strict=True):
            entry["metadata"] = metadata
    return {
        key: entries,
        "recommendationId": f"RID-{uuid.uuid4()}",
        "solutionVersionArn": served.solution_version_arn,
        "modelVersion": served.model_version,
    }


def _check_metadata_results(columns: list[str], num_results: int) -> None:
    if columns and num_results > item_metadata.MAX_RESULTS_WITH_METADATA:
        raise InvalidInputError(
            f"numResults is at most {item_metadata.MAX_RESULTS_WITH_METADATA} when metadataColumns are requested, "
            f"got {num_results}"
        )


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
    promotions: Sequence[Mapping[str, Any]] | None = None,
    metadata_columns: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Top items for a user (USER_PERSONALIZATION) or items related to an item (RELATED_ITEMS).

    Exactly one of ``user_id``/``item_id``; ``num_results`` 1-500 (1-50 with ``metadata_columns``). An
    unknown user without events gets popular items; a user id that is an anonymous session's id gets that
    session's events as its history. A recipe that cannot answer related-items requests raises
    UnsupportedCapabilityError. With ``filter_arn`` (a filter of the campaign's group, see
    :mod:`recsmith.campaigns.filters`) the filtered items are left out and the list is backfilled from the
    remaining candidates; for related items, ``CurrentItem`` is ``item_id``. With ``promotions`` a share of the
    list comes from the promotion's filter (the request's filter governs the other items, as in Personalize).
    """
    if not isinstance(num_results, int) or not 1 <= num_results <= MAX_RESULTS:
        raise InvalidInputError(f"numResults must be an integer from 1 to {MAX_RESULTS}, got {num_results!r}")
    if bool(user_id) == bool(item_id):
        raise InvalidInputError("pass exactly one of userId (recommendations) or itemId (related items)")
    promotion = parse_promotions(promotions)
    columns = item_metadata.requested_columns(metadata_columns)
    _check_metadata_results(columns, num_results)
    served, group_arn = _resolve(platform, holder_or_model, campaign)
    recipe = served.recipe
    if recipe.recipe_type is RecipeType.PERSONALIZED_RANKING:  # as Personalize: ranking campaigns only rank
        raise UnsupportedCapabilityError(
            f"campaign {campaign!r} serves a PERSONALIZED_RANKING recipe ({recipe.recipe_id}); "
            "it answers GetPersonalizedRanking (userId + inputList), not GetRecommendations"
        )
    user, current = (str(user_id) if user_id else None), (str(item_id) if item_id else None)

    def decide(arn: str | None, values: Mapping[str, str] | None) -> FilterDecision:
        if not arn:
            return ALLOW_ALL
        return apply_filter(platform, arn, values, group_arn, user_id=user, current_item=current)

    allowed = decide(filter_arn, filter_values)
    if item_id:

        def answer(allowed: FilterDecision, n: int) -> Recommendation:
            try:
                return recipe.similar_items([str(item_id)], n, filter_items=allowed.blocked(recipe.item_ids_) or None)[
                    0
                ]
            except UnsupportedOperation as exc:
                raise UnsupportedCapabilityError(
                    f"campaign {campaign!r} serves a {recipe.recipe_type} recipe ({recipe.recipe_id}); "
                    "it cannot answer itemId requests, pass userId"
                ) from exc

    else:
        person = str(user_id)
        recent = _recent_items(platform, group_arn, person)

        def answer(allowed: FilterDecision, n: int) -> Recommendation:
            if person not in recipe.user_index_ and not recent:
                return recipe.popular_items(n, filter_items=allowed.exclude, items=allowed.include)
            return recipe.recommend(
                [person],
                n,
                context=dict(context) if context else None,
                recent_events={person: recent},
                filter_items=allowed.exclude,
                items=allowed.include,
            )[0]

    if promotion is None:
        entries = _entries(answer(allowed, num_results))
    else:
        entries = _promoted_entries(promotion, answer, decide, allowed, num_results)
    return _response("itemList", entries, served, platform, group_arn, columns)


def _promoted_entries(
    promotion: Promotion,
    answer: Callable[[FilterDecision, int], Recommendation],
    decide: Callable[[str | None, Mapping[str, str] | None], FilterDecision],
    allowed: FilterDecision,
    num_results: int,
) -> list[dict[str, Any]]:
    """The promotion's share from its own filter, the rest from the request's, spread through the list."""
    promoted = answer(decide(promotion.filter_arn, promotion.filter_values), promotion.count(num_results))
    regular = answer(allowed.without(promoted.item_ids), num_results - len(promoted))
    merged = interleave(_entries(promoted, promotion.name), _entries(regular), num_results)
    return [entry for entry, _ in merged]


def get_personalized_ranking(
    platform: Platform,
    holder_or_model: ModelHolder | ServedModel,
    campaign: str,
    user_id: str,
    input_list: Sequence[str],
    context: Mapping[str, str] | None = None,
    filter_arn: str | None = None,
    filter_values: Mapping[str, str] | None = None,
    metadata_columns: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """``input_list`` (1-500 item ids, repeats dropped) re-ordered for ``user_id``; unknown items go last.

    With ``filter_arn`` the items the filter removes are dropped from the ranking, as Personalize does;
    ``metadata_columns`` returns ITEMS fields with each item (then at most 50 input items).
    """
    if not user_id:
        raise InvalidInputError("userId is required")
    if not 1 <= len(input_list) <= MAX_INPUT_LIST:
        raise InvalidInputError(f"inputList must hold 1 to {MAX_INPUT_LIST} item ids, got {len(input_list)}")
    columns = item_metadata.requested_columns(metadata_columns)
    _check_metadata_results(columns, len(input_list))
    served, group_arn = _resolve(platform, holder_or_model, campaign)
    items = list(dict.fromkeys(str(i) for i in input_list))
    if filter_arn:
        decision = apply_filter(platform, filter_arn, filter_values, group_arn, user_id=str(user_id))
        items = [i for i in items if decision.allows(i)]
    recent = _recent_items(platform, group_arn, str(user_id))
    answer = served.recipe.rank(str(user_id), items, context=dict(context) if context else None, recent_events=recent)
    return _response("personalizedRanking", _entries(answer), served, platform, group_arn, columns)
