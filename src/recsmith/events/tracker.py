"""Event trackers and PutEvents, with Personalize's fields and limits.

One tracker per dataset group; its tracking id authorises PutEvents. A call carries 1 to 10 events, each with
``eventType`` and ``sentAt``; ``eventId`` deduplicates (one is derived from the event when omitted, so a
retried call does not count twice).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from recsmith.arns import validate_name
from recsmith.catalog import Resource, ResourceType
from recsmith.errors import InvalidInputError, ResourceAlreadyExistsError, ResourceNotFoundError
from recsmith.events.store import StoredEvent, properties_json
from recsmith.platform import Platform

MAX_EVENTS_PER_CALL = 10
MAX_EVENT_BYTES = 10 * 1024
MAX_PROPERTIES_CHARS = 1024


def create_event_tracker(platform: Platform, name: str, dataset_group: str) -> Resource:
    """The group's event tracker, with a new tracking id; a group has at most one."""
    validate_name(name, "event tracker")
    group = platform.catalog.get(ResourceType.DATASET_GROUP, dataset_group)
    if platform.catalog.list(ResourceType.EVENT_TRACKER, dataset_group_arn=group.arn):
        raise ResourceAlreadyExistsError(f"dataset group {group.name!r} already has an event tracker")
    tracking_id = str(uuid.uuid4())
    return platform.create_resource(
        ResourceType.EVENT_TRACKER,
        name,
        arn_id=tracking_id,
        dataset_group_arn=group.arn,
        attributes={"trackingId": tracking_id, "accountId": platform.settings.account_id},
    )


def tracker_for(platform: Platform, tracking_id: str) -> Resource:
    """The tracker a tracking id belongs to; an unknown id is an error."""
    found = platform.catalog.list(ResourceType.EVENT_TRACKER, where={"trackingId": tracking_id})
    if not found:
        raise ResourceNotFoundError(f"no event tracker with trackingId {tracking_id!r}")
    return found[0]


_TRACKERS: dict[tuple[str, str], tuple[str, float]] = {}  # (catalog URL, tracking id) -> (group ARN, expiry)
_TRACKERS_LOCK = threading.Lock()
TRACKER_CACHE_SECONDS = 2.0


def tracker_group(platform: Platform, tracking_id: str) -> str:
    """The dataset group a tracking id writes to, remembered for 2 s so PutEvents skips the catalog query.

    Only known ids are remembered: a new tracker works at once, a deleted one stops within 2 s.
    """
    key = (platform.settings.resolved_catalog_url(), tracking_id)
    now = time.monotonic()
    with _TRACKERS_LOCK:
        cached = _TRACKERS.get(key)
    if cached is not None and cached[1] > now:
        return cached[0]
    tracker = tracker_for(platform, tracking_id)
    assert tracker.dataset_group_arn is not None
    with _TRACKERS_LOCK:
        _TRACKERS[key] = (tracker.dataset_group_arn, now + TRACKER_CACHE_SECONDS)
    return tracker.dataset_group_arn


def put_events(
    platform: Platform,
    tracking_id: str,
    session_id: str,
    event_list: Sequence[Mapping[str, Any]],
    user_id: str | None = None,
) -> int:
    """Validate and durably store 1-10 events; returns how many were new. Nothing is stored if one is bad."""
    return platform.events.append(checked_events(platform, tracking_id, session_id, event_list, user_id))


async def put_events_async(
    platform: Platform,
    tracking_id: str,
    session_id: str,
    event_list: Sequence[Mapping[str, Any]],
    user_id: str | None = None,
) -> int:
    """:func:`put_events` for an asyncio server: validation runs in the loop, the commit in the writer thread."""
    events = checked_events(platform, tracking_id, session_id, event_list, user_id)
    return await platform.events.append_async(events)


def checked_events(
    platform: Platform,
    tracking_id: str,
    session_id: str,
    event_list: Sequence[Mapping[str, Any]],
    user_id: str | None = None,
) -> list[StoredEvent]:
    """The events of one PutEvents call as the store keeps them; InvalidInputError names the first bad one."""
    group_arn = tracker_group(platform, tracking_id)
    if not session_id:
        raise InvalidInputError("sessionId is required")
    if not isinstance(event_list, Sequence) or not 1 <= len(event_list) <= MAX_EVENTS_PER_CALL:
        count = len(event_list) if isinstance(event_list, Sequence) else type(event_list).__name__
        raise InvalidInputError(f"eventList must hold 1 to {MAX_EVENTS_PER_CALL} events, got {count}")
    return [
        _stored_event(group_arn, tracking_id, session_id, user_id, event, position)
        for position, event in enumerate(event_list)
    ]


def _stored_event(
    group_arn: str,
    tracking_id: str,
    session_id: str,
    user_id: str | None,
    event: Mapping[str, Any],
    position: int,
) -> StoredEvent:
    where = f"eventList[{position}]"
    if not isinstance(event, Mapping):
        raise InvalidInputError(f"{where}: must be an object with eventType and sentAt")
    size = len(json.dumps(event, default=str).encode())
    if size > MAX_EVENT_BYTES:
        raise InvalidInputError(f"{where}: event is {size} bytes; the limit is {MAX_EVENT_BYTES}")
    event_type = event.get("eventType")
    if not event_type:
        raise InvalidInputError(f"{where}: eventType is required")
    if event.get("sentAt") in (None, ""):
        raise InvalidInputError(f"{where}: sentAt is required (epoch seconds or ISO 8601)")
    sent_at = _epoch_seconds(event["sentAt"], where)
    properties = properties_json(event.get("properties"))
    if properties is not None and len(properties) > MAX_PROPERTIES_CHARS:
        raise InvalidInputError(f"{where}: properties exceed {MAX_PROPERTIES_CHARS} characters")
    value = event.get("eventValue")
    impression = event.get("impression") or []
    if not isinstance(impression, list):
        raise InvalidInputError(f"{where}: impression must be a list of item ids")
    event_id = event.get("eventId") or _derived_event_id(session_id, user_id, event)
    return StoredEvent(
        dataset_group_arn=group_arn,
        tracking_id=tracking_id,
        event_id=str(event_id),
        user_id=user_id,
        session_id=session_id,
        item_id=None if event.get("itemId") is None else str(event["itemId"]),
        event_type=str(event_type),
        event_value=None if value is None else float(value),
        sent_at=sent_at,
        properties=properties,
        recommendation_id=event.get("recommendationId"),
        impression=[str(i) for i in impression],
    )


def _epoch_seconds(value: Any, where: str) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        try:
            seconds = float(value)
        except ValueError:
            try:
                return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise InvalidInputError(f"{where}: sentAt {value!r} is neither epoch seconds nor ISO 8601") from None
    if seconds > 1e11:
        raise InvalidInputError(f"{where}: sentAt {value!r} looks like milliseconds; send epoch seconds")
    return seconds


def _derived_event_id(session_id: str, user_id: str | None, event: Mapping[str, Any]) -> str:
    """A stable id for an event sent without one, so that a retried call is not stored twice."""
    payload = json.dumps([session_id, user_id, dict(event)], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]
