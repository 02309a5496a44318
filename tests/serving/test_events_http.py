"""PutEvents, PutUsers and PutItems over the real campaign endpoint, called with boto3's personalize-events client.

Client-side parameter validation is off, as a non-boto3 caller would send anything: the server must refuse bad
calls itself, with an AWS-shaped error, and store nothing.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from recsmith.campaigns.filters import create_filter
from recsmith.catalog import ResourceType
from recsmith.data.sample import generate_sample
from recsmith.events.metadata import current_metadata
from recsmith.workflow import ImportConfig, import_dataset
from tests.serving.servers import aws_client

if TYPE_CHECKING:
    from conftest import Served

pytestmark = pytest.mark.integration


def _client(served: Served, service: str) -> Any:
    return aws_client(served.url, service, validate=False)


def _event(item: str, **extra: Any) -> dict[str, Any]:
    return {"eventType": "click", "itemId": item, "sentAt": time.time(), **extra}


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([], "eventList must hold 1 to 10 events, got 0"),
        ([_event(f"i{n:04d}") for n in range(11)], "eventList must hold 1 to 10 events, got 11"),
        ([_event("i0001", properties=json.dumps({"note": "x" * 11_000}))], r"eventList\[0\]: event is \d+ bytes"),
        ([_event("i0001"), {"eventType": "click", "itemId": "i0002"}], r"eventList\[1\]\.sentAt: required"),
    ],
    ids=["no-events", "eleven-events", "too-large", "no-sentAt"],
)
def test_bad_put_events_are_refused_and_store_nothing(
    served: Served, events: list[dict[str, Any]], message: str
) -> None:
    group = served.platform.catalog.get(ResourceType.DATASET_GROUP, "store").arn
    before = served.platform.events.count(group)
    client = _client(served, "personalize-events")
    with pytest.raises(client.exceptions.InvalidInputException, match=message):
        client.put_events(trackingId=served.tracking_id, userId="u-bad", sessionId="s-bad", eventList=events)
    assert served.platform.events.count(group) == before


def test_a_bad_tracking_id_is_refused(served: Served) -> None:
    client = _client(served, "personalize-events")
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="no event tracker with trackingId 'nope'"):
        client.put_events(trackingId="nope", sessionId="s", eventList=[_event("i0001")])


def test_put_items_reach_filters_at_the_next_request(served: Served, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A new item, so the served group's other items keep the metadata other test modules expect."""
    platform = served.platform
    if platform.catalog.find(ResourceType.DATASET, "store-items") is None:
        sample = generate_sample(tmp_path_factory.mktemp("items"))
        import_dataset(
            platform,
            ImportConfig(
                dataset_group="store",
                dataset_type="ITEMS",
                data_location=str(sample.items),
                schema_file=str(sample.items_schema),
            ),
        )
    items_arn = platform.catalog.get(ResourceType.DATASET, "store-items").arn
    runtime = _client(served, "personalize-runtime")
    events = _client(served, "personalize-events")
    only_new = create_filter(platform, "store-brandnew", "store", 'INCLUDE ItemID WHERE Items.GENRES IN ("Brandnew")')
    ranked = runtime.get_personalized_ranking(
        campaignArn=served.campaign_arn, userId="u0003", inputList=["i0001", "brand-new-item"], filterArn=only_new.arn
    )
    assert ranked["personalizedRanking"] == []  # cached before the put: the put must invalidate it

    creation = int(time.time())
    answer = events.put_items(
        datasetArn=items_arn,
        items=[
            {
                "itemId": "brand-new-item",
                "properties": json.dumps({"genres": "Brandnew", "creationTimestamp": creation}),
            }
        ],
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    ranked = runtime.get_personalized_ranking(
        campaignArn=served.campaign_arn, userId="u0003", inputList=["i0001", "brand-new-item"], filterArn=only_new.arn
    )
    assert [entry["itemId"] for entry in ranked["personalizedRanking"]] == ["brand-new-item"]

    with pytest.raises(events.exceptions.InvalidInputException, match=r"items\[0\]\.properties\.genres: expected a"):
        events.put_items(datasetArn=items_arn, items=[{"itemId": "i0003", "properties": '{"genres": ["a"]}'}])
    with pytest.raises(events.exceptions.InvalidInputException, match="PutUsers needs a USERS dataset"):
        events.put_users(datasetArn=items_arn, users=[{"userId": "u1"}])
    frame = current_metadata(platform, platform.catalog.get(ResourceType.DATASET_GROUP, "store").arn, "ITEMS")
    assert frame is not None
    assert frame.set_index("ITEM_ID").loc["brand-new-item", "GENRES"] == "Brandnew"
