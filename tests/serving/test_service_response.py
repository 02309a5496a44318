"""Promotions, metadataColumns, reasons and anonymous sessions over the real campaign endpoint.

Called with boto3's personalize-runtime and personalize-events clients (``endpoint_url``), except where a field is
recsmith's own and botocore would refuse to send it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
import pytest
from botocore.exceptions import ClientError

from recsmith.campaigns.filters import create_filter
from recsmith.catalog import ResourceType
from recsmith.data.imports import read_current
from recsmith.data.sample import generate_sample
from recsmith.workflow import ImportConfig, import_dataset
from tests.serving.servers import aws_client, signed

if TYPE_CHECKING:
    from conftest import Served

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def items(served: Served, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The sample's ITEMS imported into the served group, as the endpoint will read them."""
    sample = generate_sample(tmp_path_factory.mktemp("response-items"))
    import_dataset(
        served.platform,
        ImportConfig(
            dataset_group="store",
            dataset_type="ITEMS",
            data_location=str(sample.items),
            schema_file=str(sample.items_schema),
        ),
    )
    frame = read_current(served.platform, served.platform.catalog.get(ResourceType.DATASET, "store-items"))
    assert frame is not None
    return frame.set_index("ITEM_ID")


@pytest.fixture(scope="module")
def histories(served: Served) -> dict[str, set[str]]:
    """Each user's items in the training data."""
    frame = read_current(served.platform, served.platform.catalog.get(ResourceType.DATASET, "store-interactions"))
    assert frame is not None
    out: dict[str, set[str]] = defaultdict(set)
    for user, item in zip(frame["USER_ID"].astype(str), frame["ITEM_ID"].astype(str), strict=True):
        out[user].add(item)
    return out


def _client(served: Served, service: str) -> Any:
    return aws_client(served.url, service)


def _co_users(histories: dict[str, set[str]], a: str, b: str) -> int:
    return sum(1 for items in histories.values() if a in items and b in items)


def test_promotions_are_spread_marked_and_chosen_by_their_filter(served: Served, items: pd.DataFrame) -> None:
    comedy = create_filter(served.platform, "resp-promo", "store", "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)")
    runtime = _client(served, "personalize-runtime")
    promotion = {
        "name": "comedy-push",
        "percentPromotedItems": 15,
        "filterArn": comedy.arn,
        "filterValues": {"GENRE": '"comedy"'},
    }
    answer = runtime.get_recommendations(
        campaignArn=served.campaign_arn, userId="u0007", numResults=10, promotions=[promotion]
    )["itemList"]
    ids = [entry["itemId"] for entry in answer]
    assert len(ids) == 10 and len(set(ids)) == 10
    promoted = [k for k, entry in enumerate(answer) if entry.get("promotionName") == "comedy-push"]
    assert promoted == [2, 7]  # ceil(10 * 15%) = 2, one in the middle of each half
    for k in promoted:
        assert "comedy" in str(items.at[ids[k], "GENRES"]).split("|")
        assert answer[k]["reason"][0] == "Promoted item"
    assert all("promotionName" not in answer[k] for k in range(10) if k not in promoted)
    plain = runtime.get_recommendations(campaignArn=served.campaign_arn, userId="u0007", numResults=10)["itemList"]
    others = [entry["itemId"] for entry in plain if entry["itemId"] not in {ids[k] for k in promoted}]
    assert [ids[k] for k in range(10) if k not in promoted] == others[:8]  # the rest is the model's own order

    with pytest.raises(ClientError, match=r"InvalidInputException.*less than or equal to 100"):
        runtime.get_recommendations(
            campaignArn=served.campaign_arn, userId="u0007", promotions=[{**promotion, "percentPromotedItems": 101}]
        )
    with pytest.raises(ClientError, match=r"InvalidInputException.*regular expression pattern"):
        runtime.get_recommendations(
            campaignArn=served.campaign_arn, userId="u0007", promotions=[{**promotion, "name": "-bad"}]
        )


def test_metadata_columns_come_back_with_each_item(served: Served, items: pd.DataFrame) -> None:
    runtime = _client(served, "personalize-runtime")
    answer = runtime.get_recommendations(
        campaignArn=served.campaign_arn, userId="u0011", numResults=6, metadataColumns={"ITEMS": ["GENRES"]}
    )["itemList"]
    assert len(answer) == 6
    for entry in answer:
        assert entry["metadata"] == {"GENRES": str(items.at[entry["itemId"], "GENRES"])}
    ranked = runtime.get_personalized_ranking(
        campaignArn=served.campaign_arn,
        userId="u0011",
        inputList=["i0001", "i0002"],
        metadataColumns={"ITEMS": ["GENRES", "CREATION_TIMESTAMP"]},
    )["personalizedRanking"]
    assert ranked[0]["metadata"]["CREATION_TIMESTAMP"] == str(items.at[ranked[0]["itemId"], "CREATION_TIMESTAMP"])
    with pytest.raises(ClientError, match=r"InvalidInputException.*no column 'PRICE'"):
        runtime.get_recommendations(
            campaignArn=served.campaign_arn, userId="u0011", metadataColumns={"ITEMS": ["PRICE"]}
        )
    with pytest.raises(ClientError, match=r"InvalidInputException.*at most 50"):
        runtime.get_recommendations(
            campaignArn=served.campaign_arn, userId="u0011", numResults=60, metadataColumns={"ITEMS": ["GENRES"]}
        )


def test_every_item_carries_a_true_reason(served: Served, histories: dict[str, set[str]]) -> None:
    runtime = _client(served, "personalize-runtime")
    answer = runtime.get_recommendations(campaignArn=served.campaign_arn, userId="u0003", numResults=25)["itemList"]
    explained = 0
    for entry in answer:
        reasons = entry["reason"]
        assert reasons and reasons[0] in {"Model", "Popular item"}
        for reason in reasons[1:]:
            cause = reason.removeprefix("Because of item ")
            # the named item is the user's own, and users really took both together
            assert cause in histories["u0003"]
            assert _co_users(histories, cause, entry["itemId"]) >= 2
            explained += 1
    assert explained >= 10
    unknown = runtime.get_recommendations(campaignArn=served.campaign_arn, userId="nobody-at-all", numResults=3)
    assert [entry["reason"] for entry in unknown["itemList"]] == [["Popular item"]] * 3


def _ask(served: Served, **fields: str) -> dict[str, Any]:
    """GetRecommendations over plain HTTP, to read recsmith's ``modelVersion`` (boto3 drops unmodeled fields)."""
    response = httpx.post(
        f"{served.url}/recommendations", json={"campaignArn": served.campaign_arn, **fields}, auth=signed(served.url)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _same_model(served: Served, *users: str) -> list[list[dict[str, Any]]]:
    """Each user's items from one and the same model version (other tests may be swapping the campaign's)."""
    for _ in range(20):
        answers = [_ask(served, userId=user) for user in users]
        if len({answer["modelVersion"] for answer in answers}) == 1:
            return [answer["itemList"] for answer in answers]
        time.sleep(0.5)
    raise AssertionError(f"the campaign kept changing model versions while asking for {users}")


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["itemId"] for entry in entries]


def test_anonymous_session_gets_session_recommendations_and_joins_the_user(
    served: Served, histories: dict[str, set[str]]
) -> None:
    runtime = _client(served, "personalize-runtime")
    events = _client(served, "personalize-events")
    browsed = sorted(histories["u0003"])[:3]
    events.put_events(
        trackingId=served.tracking_id,
        sessionId="anon-1",
        eventList=[
            {"eventType": "click", "itemId": browsed[0], "sentAt": time.time()},
            {"eventType": "click", "itemId": browsed[1], "sentAt": time.time()},
            {"eventType": "purchase", "itemId": browsed[2], "sentAt": time.time()},
        ],
    )
    # the session id is the visitor's identity: its events are the history, and they explain the answer
    anonymous, popular = _same_model(served, "anon-1", "nobody-anon")
    ids = _ids(anonymous)
    assert ids != _ids(popular) and not set(browsed) & set(ids)
    causes = {r.removeprefix("Because of item ") for e in anonymous for r in e["reason"][1:]}
    assert causes and causes <= set(browsed)
    # recsmith's own sessionId field asks for the same visitor
    for _ in range(20):
        by_session, by_user = _ask(served, sessionId="anon-1"), _ask(served, userId="anon-1")
        if by_session["modelVersion"] == by_user["modelVersion"]:
            break
    assert _ids(by_session["itemList"]) == _ids(by_user["itemList"])

    # the visitor signs in: the anonymous events now belong to the user, for serving and for filters
    events.put_events(
        trackingId=served.tracking_id,
        userId="signed-in-1",
        sessionId="anon-1",
        eventList=[{"eventType": "click", "itemId": browsed[0], "sentAt": time.time()}],
    )
    # the same four events sent by a signed-in user from the start give the same answer; the last one alone does not
    for user, sent in (("replay-1", [*browsed, browsed[0]]), ("control-1", [browsed[0]])):
        events.put_events(
            trackingId=served.tracking_id,
            userId=user,
            sessionId=f"session-{user}",
            eventList=[{"eventType": "click", "itemId": item, "sentAt": time.time()} for item in sent],
        )
    joined, replay, control = _same_model(served, "signed-in-1", "replay-1", "control-1")
    assert _ids(joined) == _ids(replay) and _ids(joined) != _ids(control)
    no_purchased = create_filter(
        served.platform, "resp-no-purchased", "store", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    )
    ranked = runtime.get_personalized_ranking(
        campaignArn=served.campaign_arn, userId="signed-in-1", inputList=browsed, filterArn=no_purchased.arn
    )["personalizedRanking"]
    assert sorted(entry["itemId"] for entry in ranked) == sorted(browsed[:2])
