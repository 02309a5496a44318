"""Event trackers and PutEvents, with Personalize's fields and limits.

One tracker per dataset group; its tracking id authorises PutEvents. A call carries 1 to 10 events, each with
``eventType`` and ``sentAt``; ``eventId`` deduplicates (one is derived from the event when omitted, so a
retried call does not count twice). Every field is checked by the shared rules of :mod:`recsmith.data.rules`
before anything reaches the event store, whichever face the call came through.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from recsmith.arns import validate_name
from recsmith.catalog import Resource, ResourceType
from recsmith.data import rules
from recsmith.errors import InvalidInputError, ResourceAlreadyExistsError, ResourceNotFoundError
from recsmith.events.store import StoredEvent

if TYPE_CHECKING:
    from recsmith.platform import Platform

MAX_EVENTS_PER_CALL = rules.MAX_EVENTS_PER_CALL
MAX_EVENT_BYTES = rules.MAX_EVENT_BYTES
MAX_PROPERTIES_CHARS = rules.MAX_EVENT_PROPERTIES_CHARS
TRACKER_CACHE_SECONDS = 2.0


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


class TrackerCache:
    """Which dataset group each tracking id writes to, remembered for a while so PutEvents skips the catalog query.

    Owned by the :class:`~recsmith.platform.Platform` (``platform.trackers``), so two platforms in one process
    (two tenants, two tests) never share entries. Only known ids are remembered: a new tracker works at once, a
    deleted one stops within ``seconds``.
    """

    def __init__(self, platform: Platform, seconds: float = TRACKER_CACHE_SECONDS) -> None:
        self._platform = platform
        self._seconds = seconds
        self._groups: dict[str, tuple[str, float]] = {}  # tracking id -> (group ARN, expiry)
        self._lock = threading.Lock()

    def group_of(self, tracking_id: str) -> str:
        """The ARN of the dataset group ``tracking_id`` writes to; ResourceNotFoundError when unknown."""
        now = time.monotonic()
        with self._lock:
            cached = self._groups.get(tracking_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        tracker = tracker_for(self._platform, tracking_id)
        assert tracker.dataset_group_arn is not None
        with self._lock:
            self._groups[tracking_id] = (tracker.dataset_group_arn, now + self._seconds)
        return tracker.dataset_group_arn


def tracker_group(platform: Platform, tracking_id: str) -> str:
    """The dataset group a tracking id writes to, through the platform's :class:`TrackerCache`."""
    return platform.trackers.group_of(tracking_id)


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
    """The events of one PutEvents call as the store keeps them, by the rules of :mod:`recsmith.data.rules`.

    InvalidInputError names the first bad field (``eventList[1].sentAt: ...``); nothing of a refused call is
    stored. ``sentAt`` may lie at most ``import_future_tolerance_seconds`` ahead, the tolerance imports use.
    """
    rules.check_id(tracking_id, "trackingId")
    group_arn = platform.trackers.group_of(tracking_id)
    rules.check_id(session_id, "sessionId")
    rules.optional(rules.check_id, user_id, "userId")
    events = rules.check_list(
        event_list, "eventList", min_items=1, max_items=rules.MAX_EVENTS_PER_CALL, noun="events"
    )
    latest = rules.latest_timestamp(time.time(), platform.settings.import_future_tolerance_seconds)
    return [
        _stored_event(group_arn, tracking_id, session_id, user_id, event, f"eventList[{position}]", latest)
        for position, event in enumerate(events)
    ]


def _stored_event(
    group_arn: str,
    tracking_id: str,
    session_id: str,
    user_id: str | None,
    event: Any,
    where: str,
    latest: int,
) -> StoredEvent:
    event = rules.check_object(event, where)
    size = rules.json_size(event, where)
    if size > rules.MAX_EVENT_BYTES:
        raise InvalidInputError(f"{where}: event is {size} bytes; the limit is {rules.MAX_EVENT_BYTES}")
    if event.get("eventType") is None:
        raise InvalidInputError(f"{where}.eventType: required")
    event_type = rules.check_string(event["eventType"], f"{where}.eventType")
    if event.get("sentAt") is None:
        raise InvalidInputError(f"{where}.sentAt: required (epoch seconds)")
    sent_at = rules.check_epoch_seconds(event["sentAt"], f"{where}.sentAt", latest=latest)
    event_id = rules.optional(rules.check_id, event.get("eventId"), f"{where}.eventId")
    item_id = rules.optional(rules.check_id, event.get("itemId"), f"{where}.itemId")
    value = rules.optional(rules.check_number, event.get("eventValue"), f"{where}.eventValue")
    properties = _properties(event.get("properties"), f"{where}.properties")
    recommendation_id = rules.optional(
        rules.check_string,
        event.get("recommendationId"),
        f"{where}.recommendationId",
        max_chars=rules.MAX_RECOMMENDATION_ID_CHARS,
    )
    impression = _impression(event.get("impression"), f"{where}.impression")
    if event.get("metricAttribution") is not None:
        attribution = rules.check_object(event["metricAttribution"], f"{where}.metricAttribution")
        rules.check_printable_ascii(
            attribution.get("eventAttributionSource"),
            f"{where}.metricAttribution.eventAttributionSource",
            max_chars=rules.MAX_ATTRIBUTION_SOURCE_CHARS,
        )
    return StoredEvent(
        dataset_group_arn=group_arn,
        tracking_id=tracking_id,
        event_id=event_id or _derived_event_id(session_id, user_id, event),
        user_id=user_id,
        session_id=session_id,
        item_id=item_id,
        event_type=event_type,
        event_value=value,
        sent_at=sent_at,
        properties=properties,
        recommendation_id=recommendation_id,
        impression=impression,
    )


def _properties(value: Any, where: str) -> str | None:
    """``properties``: a JSON object of at most 1024 characters whose keys are not PutEvents' own fields."""
    if value is None:
        return None
    text = rules.check_json_object_text(value, where, max_chars=rules.MAX_EVENT_PROPERTIES_CHARS)
    reserved = sorted(key for key in json.loads(text) if key.lower() in rules.RESERVED_EVENT_PROPERTIES)
    if reserved:
        raise InvalidInputError(
            f"{where}: key {reserved[0]!r} is a PutEvents field, not a property "
            f"(reserved, any case: {', '.join(sorted(rules.RESERVED_EVENT_PROPERTIES))})"
        )
    return text


def _impression(value: Any, where: str) -> list[str]:
    """``impression``: 1 to 25 item ids, none holding '|' (the store and datasets join them with it)."""
    if value is None:
        return []
    items = rules.check_list(value, where, min_items=1, max_items=rules.MAX_IMPRESSION_ITEMS)
    checked = [rules.check_id(item, f"{where}[{position}]") for position, item in enumerate(items)]
    for position, item in enumerate(checked):
        if "|" in item:
            raise InvalidInputError(f"{where}[{position}]: an impression item id cannot hold '|'")
    return checked


def _derived_event_id(session_id: str, user_id: str | None, event: Mapping[str, Any]) -> str:
    """A stable id for an event sent without one, so that a retried call is not stored twice."""
    payload = json.dumps([session_id, user_id, dict(event)], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]
