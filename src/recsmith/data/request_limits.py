"""The rules of a request as a whole, as plain ASGI middleware that any HTTP face wraps around its app.

Before a route sees a request: its body is at most :data:`~recsmith.data.rules.MAX_REQUEST_BYTES` (413 beyond it,
decided from ``Content-Length`` before anything is read, or while reading a body sent in chunks: a 200 MB body
was once read whole, +150 MB of memory per request), and a JSON body parses by
:func:`~recsmith.data.rules.parse_json` (no ``NaN``, nesting at most 32 deep: 100,000 nested arrays once crashed a
route with a 500). After it: a 404 or 405 that the app answered in plain text is answered in Personalize's error
shape, so every answer a client reads is one that botocore parses. Refusals are in that shape too.

No framework is imported: the campaign service (BentoML) and ``recsmith serve`` wrap their apps alike. A JSON
body that passed is left in the scope under :data:`PARSED_JSON`, so a route need not parse it twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from recsmith.data import rules
from recsmith.errors import InvalidInputError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PARSED_JSON = "recsmith.parsed_json"
"""Scope key of the JSON object a body parsed to (only for bodies that are JSON objects)."""
UNKNOWN_OPERATION = "UnknownOperationException"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ERROR_TYPE = b"x-amzn-errortype"


def aws_error_body(code: str, message: str) -> bytes:
    """Personalize's error body: ``{"__type": code, "message": ...}``."""
    return json.dumps({"__type": code, "message": message}).encode()


def aws_error_headers(code: str, length: int) -> list[tuple[bytes, bytes]]:
    """The headers botocore reads an error code from, for a JSON body of ``length`` bytes."""
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(length).encode()),
        (_ERROR_TYPE, code.encode()),
        (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
    ]


async def send_aws_error(send: Send, status: int, code: str, message: str) -> None:
    """Answer with ``status`` and Personalize's error shape."""
    body = aws_error_body(code, message)
    await send({"type": "http.response.start", "status": status, "headers": aws_error_headers(code, len(body))})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """ASGI middleware: body size and JSON well-formedness before the app, the AWS error shape for 404/405 after."""

    def __init__(self, app: App, max_bytes: int = rules.MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in _BODY_METHODS:
            try:
                body = await self._body(scope, receive)
                if body and _is_json(scope):
                    scope[PARSED_JSON] = rules.parse_json_body(body, max_bytes=self.max_bytes)
            except InvalidInputError as exc:
                await send_aws_error(send, exc.http_status, exc.code, str(exc))
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, _unknown_paths_in_aws_shape(scope, send))

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise rules.RequestTooLargeError(int(declared), self.max_bytes)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise rules.RequestTooLargeError(None, self.max_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then waits on the real one (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _unknown_paths_in_aws_shape(scope: Scope, send: Send) -> Send:
    """A ``send`` that turns a plain 404/405 (no route, wrong method) into Personalize's error shape."""
    rewriting = False

    async def rewrite(message: Message) -> None:
        nonlocal rewriting
        if message["type"] == "http.response.start" and message["status"] in (404, 405):
            names = {name.lower() for name, _ in message.get("headers", [])}
            if _ERROR_TYPE not in names:
                rewriting = True
                what = "no such operation" if message["status"] == 404 else "method not allowed"
                text = f"{what}: {scope['method']} {scope.get('path', '')}"
                body = aws_error_body(UNKNOWN_OPERATION, text)
                headers = aws_error_headers(UNKNOWN_OPERATION, len(body))
                allow = [(n, v) for n, v in message.get("headers", []) if n.lower() == b"allow"]
                await send({"type": "http.response.start", "status": message["status"], "headers": headers + allow})
                await send({"type": "http.response.body", "body": body})
                return
        if rewriting:  # the app's own plain-text body is dropped
            return
        await send(message)

    return rewrite


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _is_json(scope: Scope) -> bool:
    """Bodies without a content type count as JSON: boto3's rest-json clients and curl's defaults send JSON."""
    kind = (_header(scope, b"content-type") or "").lower()
    return not kind or "json" in kind or kind.startswith("application/x-www-form-urlencoded")
