"""Personalize's events API (``/events``, ``/users``, ``/items``) for every tracker and dataset, by id or ARN.

PutEvents is routed by ``trackingId`` (its tracker's dataset group), PutUsers and PutItems by ``datasetArn``;
a tenant key may write only into its own group. The handlers call the core functions the CLI and the campaign
server call (:mod:`recsmith.events`), which own the validation of events and records: PutEvents is validated in
the event loop and awaits the event store's group commit; PutUsers and PutItems run on a thread.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from recsmith.api import tenancy
from recsmith.api.context import AsyncHandler, Call
from recsmith.catalog import ResourceType
from recsmith.errors import InvalidInputError, ResourceNotFoundError
from recsmith.events.metadata import put_items, put_users
from recsmith.events.tracker import put_events_async, tracker_group


async def put_events(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    tracking_id = params["trackingId"]
    try:
        group = tracker_group(call.platform, tracking_id)
    except ResourceNotFoundError as exc:  # PutEvents' model has one error: an unknown tracker is bad input
        raise InvalidInputError(str(exc)) from exc
    tenancy.require_group(call.key, group, f"event tracker {tracking_id}")
    await put_events_async(
        call.platform, tracking_id, params["sessionId"], params["eventList"], user_id=params.get("userId")
    )
    return {}


def _dataset_group(call: Call, dataset_arn: str) -> None:
    tenancy.require(call.key, call.platform.catalog.get(ResourceType.DATASET, dataset_arn))


async def put_users_handler(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    def write() -> None:
        _dataset_group(call, params["datasetArn"])
        put_users(call.platform, params["datasetArn"], params["users"])

    await run_in_threadpool(write)
    return {}


async def put_items_handler(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    def write() -> None:
        _dataset_group(call, params["datasetArn"])
        put_items(call.platform, params["datasetArn"], params["items"])

    await run_in_threadpool(write)
    return {}


HANDLERS: dict[str, AsyncHandler] = {
    "PutEvents": put_events,
    "PutUsers": put_users_handler,
    "PutItems": put_items_handler,
}
