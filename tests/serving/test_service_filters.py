"""Filters over the real campaign endpoint, called with boto3's personalize-runtime client."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from recsmith.campaigns.filters import create_filter
from recsmith.catalog import ResourceType
from recsmith.data.imports import read_current
from recsmith.data.sample import generate_sample
from recsmith.workflow import ImportConfig, import_dataset
from tests.serving.servers import aws_client

if TYPE_CHECKING:
    from conftest import Served

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def genres(served: Served, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """The sample's ITEMS imported into the served group (the endpoint picks them up without a restart)."""
    sample = generate_sample(tmp_path_factory.mktemp("served-items"))
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
    return {str(i): set(str(g).split("|")) for i, g in zip(frame["ITEM_ID"], frame["GENRES"], strict=True)}


def _runtime(served: Served) -> Any:
    return aws_client(served.url, "personalize-runtime")


def test_boto3_recommendations_and_ranking_with_a_filter(
    served: Served, genres: dict[str, set[str]], tmp_path: Path
) -> None:
    by_genre = create_filter(served.platform, "store-genre", "store", "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)")
    runtime = _runtime(served)
    recs = runtime.get_recommendations(
        campaignArn=served.campaign_arn,
        userId="u0003",
        numResults=15,
        filterArn=by_genre.arn,
        filterValues={"GENRE": '"comedy","drama"'},
    )
    items = [entry["itemId"] for entry in recs["itemList"]]
    assert len(items) == 15 and all(genres[i] & {"comedy", "drama"} for i in items)

    no_drama = create_filter(
        served.platform, "store-no-drama", "store", 'EXCLUDE ItemID WHERE Items.GENRES IN ("drama")'
    )
    candidates = [f"i{k:04d}" for k in range(1, 25)]
    ranked = runtime.get_personalized_ranking(
        campaignArn=served.campaign_arn, userId="u0003", inputList=candidates, filterArn=no_drama.arn
    )
    ranked_ids = [entry["itemId"] for entry in ranked["personalizedRanking"]]
    assert sorted(ranked_ids) == sorted(i for i in candidates if "drama" not in genres[i])

    with pytest.raises(ClientError, match=r"InvalidInputException.*filter parameter \$GENRE has no value"):
        runtime.get_recommendations(campaignArn=served.campaign_arn, userId="u0003", filterArn=by_genre.arn)


def test_boto3_related_items_with_a_current_item_filter(served: Served, genres: dict[str, set[str]]) -> None:
    """SIMS's related items (``itemId``) filtered by the current item's own genres, over HTTP."""
    same_genre = create_filter(
        served.platform, "store-same-genre", "store", "INCLUDE ItemID WHERE Items.GENRES IN (CurrentItem.GENRES)"
    )
    runtime = _runtime(served)
    related = runtime.get_recommendations(
        campaignArn=served.campaign_arn, itemId="i0010", numResults=12, filterArn=same_genre.arn
    )
    items = [entry["itemId"] for entry in related["itemList"]]
    assert len(items) == 12 and "i0010" not in items
    assert all(genres[i] & genres["i0010"] for i in items)
    with pytest.raises(ClientError, match="CurrentItem in a filter works only with related-items"):
        runtime.get_recommendations(campaignArn=served.campaign_arn, userId="u0003", filterArn=same_genre.arn)


def test_an_interactions_filter_sees_a_purchase_sent_by_put_events(served: Served) -> None:
    """EXCLUDE purchased items: an item bought through PutEvents leaves the user's next answer at once."""
    no_purchased = create_filter(
        served.platform,
        "store-no-purchased",
        "store",
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
    )
    runtime = _runtime(served)
    events = aws_client(served.url, "personalize-events")

    def answer() -> list[str]:
        response = runtime.get_recommendations(
            campaignArn=served.campaign_arn, userId="u0007", numResults=20, filterArn=no_purchased.arn
        )
        return [entry["itemId"] for entry in response["itemList"]]

    before = answer()
    bought = before[0]
    events.put_events(
        trackingId=served.tracking_id,
        userId="u0007",
        sessionId="s-filter-purchase",
        eventList=[{"eventType": "purchase", "itemId": bought, "sentAt": time.time()}],
    )
    after = answer()
    assert bought not in after and len(after) == 20
