"""Anonymous sessions: events without a userId belong to their session, then to the first user seen in it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from recsmith.catalog import ResourceType
from recsmith.data.datasets import create_dataset_group
from recsmith.events.tracker import create_event_tracker, put_events
from recsmith.platform import Platform
from recsmith.settings import Settings


@pytest.fixture
def tracked(tmp_path: Path, database_url: str) -> tuple[Platform, str, str]:
    platform = Platform(Settings(home=tmp_path / "home", event_store_url=database_url))
    group = create_dataset_group(platform, "shop").arn
    tracking_id = create_event_tracker(platform, "shop-tracker", "shop").attributes["trackingId"]
    return platform, tracking_id, group


def _event(item: str, kind: str = "click") -> dict[str, object]:
    return {"eventType": kind, "itemId": item, "sentAt": time.time()}


def test_anonymous_events_join_the_first_user_of_their_session(tracked: tuple[Platform, str, str]) -> None:
    platform, tracking_id, group = tracked
    store = platform.events
    put_events(platform, tracking_id, "s1", [_event("i1"), _event("i2", "purchase")])
    # before anyone signs in, the session id is the visitor's identity
    assert store.recent_items(group, "s1") == ["i1", "i2"]
    assert store.recent_items(group, "alice") == []

    put_events(platform, tracking_id, "s1", [_event("i3")], user_id="alice")
    put_events(platform, tracking_id, "s1", [_event("i4")])  # anonymous again, same session
    put_events(platform, tracking_id, "s1", [_event("i5")], user_id="bob")  # a second user comes too late
    put_events(platform, tracking_id, "s2", [_event("i6")], user_id="bob")

    assert store.recent_items(group, "alice") == ["i1", "i2", "i3", "i4"]
    assert store.user_events(group, "alice")[1] == ("i2", "purchase")  # what EVENT_TYPE filters read
    assert store.recent_items(group, "bob") == ["i5", "i6"]
    assert store.recent_items(group, "s1") == []  # the session now belongs to alice
    assert store.recent_items(group, "alice", limit=2) == ["i3", "i4"]

    frame = platform.events.events_frame(group)
    assert list(zip(frame["USER_ID"], frame["ITEM_ID"], strict=True)) == [
        ("alice", "i1"),
        ("alice", "i2"),
        ("alice", "i3"),
        ("alice", "i4"),
        ("bob", "i5"),
        ("bob", "i6"),
    ]


def test_a_session_without_a_user_trains_under_its_session_id(tracked: tuple[Platform, str, str]) -> None:
    platform, tracking_id, group = tracked
    put_events(platform, tracking_id, "visitor-9", [_event("i1"), _event("i2")])
    put_events(platform, tracking_id, "s2", [{"eventType": "view", "sentAt": time.time()}], user_id="carol")
    frame = platform.events.events_frame(group)
    assert list(frame["USER_ID"]) == ["visitor-9", "visitor-9"]  # carol's item-less event is no interaction
    assert frame["TIMESTAMP"].dtype == "int64"
    assert platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn == group
