"""Personalize's events API (PutEvents, PutUsers, PutItems) as a plain Starlette app mounted on the campaign service.

Why not ``@bentoml.api``: a BentoML API call costs about 3.5 ms of CPU (IO models, context, thread hop), which
capped PutEvents at a few hundred calls a second; a bare route costs a fraction of that. The routes stay thin:
each parses the JSON body as botocore's rest-json protocol sends it and calls one function of
:mod:`recsmith.events`; a :class:`~recsmith.errors.RecsmithError` becomes the AWS error shape, so boto3's
``personalize-events`` client raises the modeled exception. PutEvents is validated in the event loop and awaits the
event store's writer thread, which commits every call queued so far in one transaction (group commit, see
:meth:`recsmith.events.store.EventStore.append`); PutUsers and PutItems run in Starlette's thread pool.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from recsmith.data import rules
from recsmith.data.request_limits import PARSED_JSON
from recsmith.errors import InvalidInputError, RecsmithError
from recsmith.events.metadata import put_items, put_users
from recsmith.events.tracker import put_events_async
from recsmith.platform import Platform

_OK = b"{}"


def aws_error(status: int, code: str, message: str) -> JSONResponse:
    """An error body and headers that botocore's rest-json parser turns into ``ClientError(code, msg)``."""
    return JSONResponse(
        {"__type": code, "message": message},
        status_code=status,
        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())},
    )


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object the body holds, parsed by the shared rules (size, depth, no NaN), once: the service's
    :class:`~recsmith.data.request_limits.RequestLimits` middleware leaves it in the scope."""
    parsed = request.scope.get(PARSED_JSON)
    if isinstance(parsed, dict):
        return parsed
    return rules.parse_json_body(await request.body())


def _text(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    """A string field; its length and characters are the core function's rules (named in its refusals)."""
    value = body.get(key)
    if value is None and not required:
        return None
    if value is None:
        raise InvalidInputError(f"{key}: required")
    if not isinstance(value, str):
        raise InvalidInputError(f"{key}: expected a string, got {type(value).__name__}")
    return value


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        raise InvalidInputError(f"{key}: required")
    if not isinstance(value, list):
        raise InvalidInputError(f"{key}: expected a list, got {type(value).__name__}")
    return value


def events_app(platform: Callable[[], Platform]) -> Starlette:
    """The routes ``POST /events``, ``/users`` and ``/items`` over the platform ``platform()`` returns."""

    def route(handler: Callable[[Platform, dict[str, Any]], Any]) -> Callable[[Request], Awaitable[Response]]:
        """A sync handler runs in the thread pool; PutEvents is async and waits for its group commit."""

        async def endpoint(request: Request) -> Response:
            try:
                body = await _body(request)
                if asyncio.iscoroutinefunction(handler):
                    await handler(platform(), body)
                else:
                    await run_in_threadpool(handler, platform(), body)
            except RecsmithError as exc:
                return aws_error(exc.http_status, exc.code, str(exc))
            return Response(_OK, media_type="application/json")

        return endpoint

    async def events(target: Platform, body: dict[str, Any]) -> None:
        await put_events_async(
            target,
            str(_text(body, "trackingId")),
            str(_text(body, "sessionId")),
            _list(body, "eventList"),
            user_id=_text(body, "userId", required=False),
        )

    def users(target: Platform, body: dict[str, Any]) -> None:
        put_users(target, str(_text(body, "datasetArn")), _list(body, "users"))

    def items(target: Platform, body: dict[str, Any]) -> None:
        put_items(target, str(_text(body, "datasetArn")), _list(body, "items"))

    return Starlette(
        routes=[
            Route("/events", route(events), methods=["POST"]),
            Route("/users", route(users), methods=["POST"]),
            Route("/items", route(items), methods=["POST"]),
        ]
    )
