"""PutEvents, PutUsers and PutItems refuse what would poison a store or a later training (issue 15, findings 1 and 4).

Each hostile value below was accepted once: ``sentAt`` ``-inf`` or NaN stopped every later training of its group
("Cannot convert non-finite values (NA or inf) to integer"), objects were stored as their Python text, and an
over-long id failed the commit on PostgreSQL with a 500. Now each is an InvalidInputError naming the field, the
store holds nothing of the call, and what training reads from the store still converts.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from recsmith.catalog import ResourceType
from recsmith.data.datasets import create_dataset_group
from recsmith.errors import InvalidInputError
from recsmith.events.tracker import create_event_tracker, put_events
from recsmith.platform import Platform
from recsmith.settings import Settings

NOW = time.time()
DAY = 86_400


@pytest.fixture
def tracked(tmp_path: Path, database_url: str) -> tuple[Platform, str]:
    platform = Platform(Settings(home=tmp_path / "home", event_store_url=database_url))
    create_dataset_group(platform, "shop")
    tracking_id = create_event_tracker(platform, "shop-tracker", "shop").attributes["trackingId"]
    return platform, tracking_id


def event(**fields: Any) -> dict[str, Any]:
    return {"eventType": "click", "itemId": "i1", "sentAt": NOW, **fields}


HOSTILE_EVENTS = [
    (event(sentAt=-math.inf), r"eventList\[0\]\.sentAt: expected a finite number"),
    (event(sentAt=math.nan), r"eventList\[0\]\.sentAt: expected a finite number"),
    (event(sentAt="-inf"), r"eventList\[0\]\.sentAt: expected epoch seconds as a number, got a string"),
    (event(sentAt=[1]), r"eventList\[0\]\.sentAt: expected epoch seconds as a number, got a list"),
    (event(sentAt={}), r"eventList\[0\]\.sentAt: expected epoch seconds as a number, got an object"),
    (event(sentAt=True), r"eventList\[0\]\.sentAt: expected epoch seconds as a number, got a boolean"),
    (event(sentAt=-1), r"eventList\[0\]\.sentAt: timestamp is negative"),
    (event(sentAt=90_000_000_000), r"eventList\[0\]\.sentAt: timestamp \d+ is in the future"),  # year 4821
    (event(sentAt=NOW + 2 * DAY), r"eventList\[0\]\.sentAt: timestamp \d+ is in the future"),
    (event(sentAt=10**400), r"eventList\[0\]\.sentAt: .* is not a time in epoch seconds"),
    (event(eventType={"a": 1}), r"eventList\[0\]\.eventType: expected a string, got an object"),
    (event(eventType=""), r"eventList\[0\]\.eventType: must be a string of 1 to 256 characters, got 0"),
    (event(itemId={"a": 1}), r"eventList\[0\]\.itemId: expected a string, got an object"),
    (event(itemId=7), r"eventList\[0\]\.itemId: expected a string, got a number"),
    (event(eventId={"a": 1}), r"eventList\[0\]\.eventId: expected a string, got an object"),
    (event(eventId="e" * 301), r"eventList\[0\]\.eventId: must be a string of 1 to 256 characters, got 301"),
    (event(itemId="i" * 257), r"eventList\[0\]\.itemId: must be a string of 1 to 256 characters, got 257"),
    (event(itemId="i\x001"), r"eventList\[0\]\.itemId: holds a NUL character"),
    (event(itemId="i\ud8001"), r"eventList\[0\]\.itemId: holds an unpaired surrogate"),
    (event(eventValue="abc"), r"eventList\[0\]\.eventValue: expected a number, got a string"),
    (event(eventValue={}), r"eventList\[0\]\.eventValue: expected a number, got an object"),
    (event(eventValue=math.inf), r"eventList\[0\]\.eventValue: expected a finite number"),
    (event(eventValue=1e300), r"eventList\[0\]\.eventValue: number out of range"),
    (event(recommendationId={}), r"eventList\[0\]\.recommendationId: expected a string, got an object"),
    (event(recommendationId="r" * 41), r"eventList\[0\]\.recommendationId: must be a string of 1 to 40"),
    (event(properties="[1, 2]"), r"eventList\[0\]\.properties: must be a JSON object"),
    (event(properties="not json"), r"eventList\[0\]\.properties: not valid JSON"),
    (event(properties='{"a": NaN}'), r"eventList\[0\]\.properties: NaN is not a JSON number"),
    (event(properties=7), r"eventList\[0\]\.properties: expected a string, got a number"),
    (event(properties=json.dumps({"note": "x" * 1100})), r"eventList\[0\]\.properties: must be a string of 1 to 1024"),
    (event(properties='{"userId": "u2"}'), r"eventList\[0\]\.properties: key 'userId' is a PutEvents field"),
    (event(impression=[]), r"eventList\[0\]\.impression must hold 1 to 25 members, got 0"),
    (event(impression=["a|b"]), r"eventList\[0\]\.impression\[0\]: an impression item id cannot hold '\|'"),
    (event(impression=[{"a": 1}]), r"eventList\[0\]\.impression\[0\]: expected a string, got an object"),
    (event(metricAttribution={"eventAttributionSource": "\n"}), r"eventAttributionSource: must be printable ASCII"),
    (event(note="x" * 11_000), r"eventList\[0\]: event is \d+ bytes; the limit is 10240"),
    ("click", r"eventList\[0\]: expected an object, got a string"),
]
HOSTILE_CALLS = [
    ({"session_id": "s" * 257}, r"sessionId: must be a string of 1 to 256 characters, got 257"),
    ({"session_id": ""}, r"sessionId: must be a string of 1 to 256 characters, got 0"),
    ({"user_id": "u" * 1_000_000}, r"userId: must be a string of 1 to 256 characters, got 1000000"),
    ({"user_id": {"a": 1}}, r"userId: expected a string, got an object"),
    ({"event_list": {"eventType": "click"}}, r"eventList: expected a list, got an object"),
    ({"event_list": []}, r"eventList must hold 1 to 10 events, got 0"),
    ({"event_list": [event(eventId=f"e{n}") for n in range(11)]}, r"eventList must hold 1 to 10 events, got 11"),
]


def test_hostile_values_are_refused_naming_the_field(tracked: tuple[Platform, str]) -> None:
    """Every case on one store (a fresh store per case cost a PostgreSQL database each): none stores anything."""
    platform, tracking_id = tracked
    for bad, message in HOSTILE_EVENTS:
        with pytest.raises(InvalidInputError, match=message):
            put_events(platform, tracking_id, "s1", [bad], user_id="u1")
    for call, message in HOSTILE_CALLS:
        arguments: dict[str, Any] = {"session_id": "s1", "event_list": [event()], "user_id": "u1", **call}
        with pytest.raises(InvalidInputError, match=message):
            put_events(platform, tracking_id, **arguments)
    assert platform.events.count(platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn) == 0


def test_a_bad_event_refuses_its_whole_call_and_training_still_reads_the_group(tracked: tuple[Platform, str]) -> None:
    """One bad event in a call of three: nothing of it is stored; the good events sent after train as ever."""
    platform, tracking_id = tracked
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    with pytest.raises(InvalidInputError, match=r"eventList\[1\]\.sentAt: expected a finite number"):
        put_events(platform, tracking_id, "s1", [event(), event(sentAt=-math.inf), event()], user_id="u1")
    assert platform.events.count(group) == 0
    sent = [event(itemId=f"i{n}", sentAt=NOW - n, eventValue=n, properties='{"device": "phone"}') for n in range(3)]
    assert put_events(platform, tracking_id, "s1", sent, user_id="u1") == 3
    frame = platform.events.events_frame(group)  # what a training snapshot reads: int64 timestamps
    assert sorted(frame["ITEM_ID"]) == ["i0", "i1", "i2"]
    assert str(frame["TIMESTAMP"].dtype) == "int64"


def test_events_and_imports_share_one_future_tolerance(tmp_path: Path) -> None:
    """``sentAt`` may lie as far ahead as an imported TIMESTAMP may: ``import_future_tolerance_seconds``."""
    platform = Platform(Settings(home=tmp_path / "home", import_future_tolerance_seconds=3600))
    create_dataset_group(platform, "shop")
    tracking_id = create_event_tracker(platform, "shop-tracker", "shop").attributes["trackingId"]
    assert put_events(platform, tracking_id, "s1", [event(sentAt=time.time() + 1800)], user_id="u1") == 1
    with pytest.raises(InvalidInputError, match=r"sentAt: timestamp \d+ is in the future"):
        put_events(platform, tracking_id, "s1", [event(sentAt=time.time() + 7200)], user_id="u1")


def test_what_botocore_sends_is_accepted(tracked: tuple[Platform, str]) -> None:
    """botocore serialises a datetime ``sentAt`` as epoch seconds, whole or with a fraction; both are accepted,
    and so is a timezone-aware datetime from Python callers, with every optional field at its limit."""
    from datetime import UTC, datetime

    platform, tracking_id = tracked
    full = event(
        eventId="e" * 256,
        itemId="i" * 256,
        eventValue=3.5,
        properties=json.dumps({"device": "p" * 1000}),
        recommendationId="r" * 40,
        impression=[f"i{n}" for n in range(25)],
        metricAttribution={"eventAttributionSource": "newsletter"},
    )
    calls = [
        [full],
        [event(sentAt=int(NOW), eventId="whole"), event(sentAt=NOW - 0.25, eventId="fraction")],
        [event(sentAt=datetime.now(UTC), eventId="aware")],
    ]
    assert [put_events(platform, tracking_id, "s" * 256, call, user_id="u" * 256) for call in calls] == [1, 2, 1]
    with pytest.raises(InvalidInputError, match=r"sentAt: a datetime needs a timezone"):
        put_events(platform, tracking_id, "s1", [event(sentAt=datetime.now())], user_id="u1")


def test_put_items_applies_the_import_rules(tmp_path: Path, database_url: str) -> None:
    """PutItems refuses what an import of the same dataset refuses: a negative or future CREATION_TIMESTAMP, an
    integer beyond 64 bits, an id PostgreSQL cannot hold (NUL)."""
    from recsmith.data.sample import generate_sample
    from recsmith.events.metadata import put_items
    from recsmith.workflow import ImportConfig, import_dataset

    platform = Platform(Settings(home=tmp_path / "home", event_store_url=database_url))
    sample = generate_sample(tmp_path / "sample")
    location, schema = str(sample.items), str(sample.items_schema)
    import_dataset(
        platform, ImportConfig(dataset_group="shop", dataset_type="ITEMS", data_location=location, schema_file=schema)
    )
    items = platform.catalog.get(ResourceType.DATASET, "shop-items").arn
    cases = [
        ({"itemId": "n1", "properties": '{"creationTimestamp": -5}'}, r"creationTimestamp: timestamp is negative"),
        ({"itemId": "n1", "properties": json.dumps({"creationTimestamp": int(NOW) + 2 * DAY})}, r"is in the future"),
        ({"itemId": "n1", "properties": '{"creationTimestamp": 1e400}'}, r"creationTimestamp: expected a finite"),
        ({"itemId": "n1", "properties": '{"creationTimestamp": ' + "9" * 30 + "}"}, r"integer out of range"),
        ({"itemId": "n\x001", "properties": '{"creationTimestamp": 1}'}, r"items\[0\]\.itemId: holds a NUL character"),
        ({"itemId": "n1", "properties": '{"creationTimestamp": 1, "genres": "a\\ud800"}'}, r"unpaired surrogate"),
    ]
    for record, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            put_items(platform, items, [record])
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    assert platform.events.put_version("ITEMS", group) == 0
