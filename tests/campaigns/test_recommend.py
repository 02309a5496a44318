"""GetRecommendations / GetPersonalizedRanking in process, against a trained SIMS campaign."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from models.base import InteractionData
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from models.popularity_count.recipe import PopularityCount
from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.holder import ModelHolder, ServedModel
from recsmith.campaigns.recommend import get_personalized_ranking, get_recommendations
from recsmith.errors import InvalidInputError, ResourceNotFoundError, UnsupportedCapabilityError
from recsmith.events.tracker import put_events

if TYPE_CHECKING:
    from conftest import Trained


@pytest.fixture(scope="module")
def holder(trained: Trained) -> ModelHolder:
    campaign = create_campaign(trained.platform, "shop-recommend", solution_version=trained.versions[0])
    held = ModelHolder(trained.platform, campaign.arn)
    assert held.refresh() is True
    return held


def _items(response: dict, key: str = "itemList") -> list[str]:
    return [entry["itemId"] for entry in response[key]]


def test_known_user_gets_unseen_items_and_the_model_version(trained: Trained, holder: ModelHolder) -> None:
    response = get_recommendations(
        trained.platform, holder, holder.campaign_arn, user_id="u0001", num_results=10
    )
    items = _items(response)
    recipe = holder.current.recipe
    seen = set(recipe.item_ids_[recipe.user_history("u0001")].tolist())
    assert len(items) == 10 and len(set(items)) == 10
    assert not seen & set(items)
    scores = [entry["score"] for entry in response["itemList"]]
    assert scores == sorted(scores, reverse=True)
    assert response["recommendationId"].startswith("RID-")
    assert response["solutionVersionArn"] == trained.versions[0]
    assert response["modelVersion"] == holder.current.model_version


def test_campaign_name_is_accepted_and_default_is_25(trained: Trained, holder: ModelHolder) -> None:
    response = get_recommendations(trained.platform, holder, "shop-recommend", user_id="u0002")
    assert len(response["itemList"]) == 25


def test_unknown_user_gets_popular_items(trained: Trained, holder: ModelHolder) -> None:
    response = get_recommendations(
        trained.platform, holder, holder.campaign_arn, user_id="nobody", num_results=5
    )
    assert _items(response) == holder.current.recipe.popular_items(5).item_ids


def test_related_items(trained: Trained, holder: ModelHolder) -> None:
    response = get_recommendations(
        trained.platform, holder, holder.campaign_arn, item_id="i0010", num_results=8
    )
    items = _items(response)
    assert len(items) == 8 and "i0010" not in items
    assert items == holder.current.recipe.similar_items(["i0010"], 8)[0].item_ids


def test_related_items_from_a_popularity_model_is_unsupported(trained: Trained, holder: ModelHolder) -> None:
    frame = pd.DataFrame({USER_ID: ["a", "a", "b"], ITEM_ID: ["x", "y", "x"], TIMESTAMP: [1, 2, 3]})
    popular = ServedModel(PopularityCount().fit(InteractionData(frame)), "arn:test", "1")
    with pytest.raises(UnsupportedCapabilityError, match="cannot answer itemId requests"):
        get_recommendations(trained.platform, popular, holder.campaign_arn, item_id="x")
    # the same model answers user requests
    assert _items(get_recommendations(trained.platform, popular, holder.campaign_arn, user_id="b")) == ["y"]


def test_personalized_ranking_puts_unknown_items_last(trained: Trained, holder: ModelHolder) -> None:
    recipe = holder.current.recipe
    top = get_recommendations(trained.platform, holder, holder.campaign_arn, user_id="u0003", num_results=3)
    known = list(reversed(_items(top)))
    response = get_personalized_ranking(
        trained.platform,
        holder,
        holder.campaign_arn,
        user_id="u0003",
        input_list=["zz-new", *known, "aa-new"],
    )
    ranked = _items(response, "personalizedRanking")
    assert ranked[-2:] == ["zz-new", "aa-new"]
    assert ranked[:3] == list(reversed(known))
    assert ranked[:3] == recipe.rank("u0003", known).item_ids
    assert response["modelVersion"] == holder.current.model_version


def test_put_events_changes_the_next_answer(trained: Trained, holder: ModelHolder) -> None:
    user = "u0004"
    before = _items(get_recommendations(trained.platform, holder, holder.campaign_arn, user_id=user))
    clicked = before[:3]
    put_events(
        trained.platform,
        trained.tracking_id,
        "session-1",
        [{"eventType": "click", "itemId": item, "sentAt": time.time()} for item in clicked],
        user_id=user,
    )
    after = _items(get_recommendations(trained.platform, holder, holder.campaign_arn, user_id=user))
    assert after != before
    assert not set(clicked) & set(after)


def test_events_make_an_unknown_user_personal(trained: Trained, holder: ModelHolder) -> None:
    user = "brand-new-user"
    popular = _items(get_recommendations(trained.platform, holder, holder.campaign_arn, user_id=user))
    put_events(
        trained.platform,
        trained.tracking_id,
        "session-2",
        [{"eventType": "click", "itemId": "i0010", "sentAt": time.time()}],
        user_id=user,
    )
    after = _items(
        get_recommendations(trained.platform, holder, holder.campaign_arn, user_id=user, num_results=5)
    )
    assert after == holder.current.recipe.similar_items(["i0010"], 5)[0].item_ids
    assert after != popular[:5]


@pytest.mark.parametrize("num_results", [0, 501, -1])
def test_num_results_out_of_range(trained: Trained, holder: ModelHolder, num_results: int) -> None:
    with pytest.raises(InvalidInputError, match=r"numResults must be an integer from 1 to 500"):
        get_recommendations(
            trained.platform, holder, holder.campaign_arn, user_id="u0001", num_results=num_results
        )


@pytest.mark.parametrize(("user_id", "item_id"), [(None, None), ("u0001", "i0001")])
def test_exactly_one_of_user_and_item(
    trained: Trained, holder: ModelHolder, user_id: str | None, item_id: str | None
) -> None:
    with pytest.raises(InvalidInputError, match="exactly one of userId"):
        get_recommendations(trained.platform, holder, holder.campaign_arn, user_id=user_id, item_id=item_id)


def test_input_list_limits(trained: Trained, holder: ModelHolder) -> None:
    with pytest.raises(InvalidInputError, match="inputList must hold 1 to 500"):
        get_personalized_ranking(
            trained.platform, holder, holder.campaign_arn, user_id="u0001", input_list=[]
        )
    with pytest.raises(InvalidInputError, match="inputList must hold 1 to 500"):
        get_personalized_ranking(
            trained.platform,
            holder,
            holder.campaign_arn,
            user_id="u0001",
            input_list=[f"i{i}" for i in range(501)],
        )


def test_another_campaign_is_not_found(trained: Trained, holder: ModelHolder) -> None:
    other = holder.campaign_arn.replace("shop-recommend", "elsewhere")
    with pytest.raises(ResourceNotFoundError, match="is not served here"):
        get_recommendations(trained.platform, holder, other, user_id="u0001")


def test_a_ranking_campaign_refuses_get_recommendations_but_ranks(trained: Trained, holder: ModelHolder) -> None:
    from models.personalized_ranking.recipe import PersonalizedRanking

    frame = pd.DataFrame({USER_ID: ["a", "a", "b"], ITEM_ID: ["x", "y", "x"], TIMESTAMP: [1, 2, 3]})
    recipe = PersonalizedRanking({"base_recipe": "deepfm", "base_hyperparameters": {"epochs": 1}}).fit(
        InteractionData(frame)
    )
    ranking = ServedModel(recipe, "arn:test", "1")
    with pytest.raises(UnsupportedCapabilityError, match="not GetRecommendations"):
        get_recommendations(trained.platform, ranking, holder.campaign_arn, user_id="b")
    answer = get_personalized_ranking(trained.platform, ranking, holder.campaign_arn, "b", ["new", "y", "x"])
    assert [i["itemId"] for i in answer["personalizedRanking"]][-1] == "new"
