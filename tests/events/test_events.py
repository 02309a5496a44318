"""PutEvents: Personalize's limits, durable before it returns, eventId dedupe, visible at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from recsmith.catalog import ResourceType
from recsmith.data.datasets import create_dataset_group
from recsmith.errors import InvalidInputError, ResourceAlreadyExistsError, ResourceNotFoundError
from recsmith.events.store import EventStore
from recsmith.events.tracker import create_event_tracker, put_events
from recsmith.platform import Platform
from recsmith.settings import Settings


@pytest.fixture
def tracked(tmp_path: Path, database_url: str) -> tuple[Platform, str]:
    platform = Platform(Settings(home=tmp_path / "home", event_store_url=database_url))
    create_dataset_group(platform, "shop")
    tracking_id = create_event_tracker(platform, "shop-tracker", "shop").attributes["trackingId"]
    return platform, tracking_id


def event(item: str, event_id: str | None = None, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {"eventType": "click", "itemId": item, "sentAt": time.time(), **extra}
    if event_id:
        out["eventId"] = event_id
    return out


def test_events_are_durable_deduplicated_and_visible(tracked: tuple[Platform, str]) -> None:
    platform, tracking_id = tracked
    assert put_events(platform, tracking_id, "s1", [event("i1", "e1"), event("i2", "e2")], user_id="u1") == 2
    assert put_events(platform, tracking_id, "s1", [event("i1", "e1")], user_id="u1") == 0
    arn = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    # a new store on the same URL (another process, after a crash) sees the committed events
    reopened = EventStore(platform.events.url)
    assert reopened.recent_items(arn, "u1") == ["i1", "i2"]
    assert list(reopened.events_frame(arn)["ITEM_ID"]) == ["i1", "i2"]
    reopened.dispose()


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([], "1 to 10 events"),
        ([event(f"i{n}") for n in range(11)], "1 to 10 events"),
        ([event("ok"), {"itemId": "i1", "sentAt": 1}], "eventList\\[1\\]\\.eventType: required"),
        ([{"itemId": "i1", "sentAt": 1}], "eventType: required"),
        ([{"eventType": "click", "itemId": "i1"}], "sentAt: required"),
        ([event("i1", properties="x" * 11_000)], "limit is 10240"),
        ([event("i1", sentAt=1_700_000_000_000)], "looks like milliseconds"),
    ],
)
def test_bad_calls_store_nothing(tracked: tuple[Platform, str], events: list[dict[str, object]], message: str) -> None:
    platform, tracking_id = tracked
    with pytest.raises(InvalidInputError, match=message):
        put_events(platform, tracking_id, "s1", events, user_id="u1")
    arn = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    assert platform.events.recent_items(arn, "u1") == []


def test_unknown_tracking_id_and_second_tracker_are_refused(tracked: tuple[Platform, str]) -> None:
    platform, _ = tracked
    with pytest.raises(ResourceNotFoundError, match="no event tracker with trackingId"):
        put_events(platform, "nope", "s1", [event("i1")])
    with pytest.raises(ResourceAlreadyExistsError, match="already has an event tracker"):
        create_event_tracker(platform, "again", "shop")


def test_concurrent_calls_share_commits_and_every_event_is_stored_once(tracked: tuple[Platform, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    platform, tracking_id = tracked

    def send(n: int) -> int:
        # every call repeats the shared event "dup"; only one call may count it as new
        batch = [event(f"i{n}-{k}", f"e{n}-{k}") for k in range(9)] + [event("dup", "dup")]
        return put_events(platform, tracking_id, f"s{n}", batch, user_id=f"u{n}")

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(send, range(40)))
    assert sum(counts) == 40 * 9 + 1
    arn = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    assert platform.events.count(arn) == 40 * 9 + 1
