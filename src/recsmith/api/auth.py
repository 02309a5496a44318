"""SigV4 as pure ASGI middleware, shared by ``recsmith serve`` and the BentoML campaign service.

:class:`SigV4Middleware` reads the body (up to a size limit: 413 past it), verifies the signature with
:class:`~recsmith.api.sigv4.SigV4Verifier`, and hands the app the verified key in ``scope["recsmith.key"]`` and
the body in ``scope["recsmith.body"]`` (it is also replayed through ``receive``, so any ASGI app works behind
it). Refusals are AWS's JSON error shape with status 403. ``/readyz`` and ``/livez`` pass unsigned: probes
carry no credentials. No import of BentoML or Starlette here: the campaign service adds the class with
``add_asgi_middleware``.

Keys are looked up through :class:`KeyCache`: a known key is remembered for a few seconds, so a request does not
cost a catalog query, and a deleted key stops working within that time. Unknown ids are remembered too, so a
flood of made-up keys cannot turn into a flood of queries.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

from recsmith.api.sigv4 import SignedRequest, SigV4Verifier
from recsmith.catalog.access_keys import (
    AccessKey,
    AccessKeyStore,
    read_shared_credentials,
    write_shared_credentials,
)
from recsmith.errors import PayloadTooLargeError, RecsmithError
from recsmith.platform import Platform
from recsmith.settings import Settings

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/readyz", "/livez"})
CREDENTIALS_PROFILE = "recsmith"
# credential-scope services a campaign server accepts: botocore signs all three Personalize APIs "personalize"
SIGNING_NAMES = frozenset({"personalize", "personalize-runtime", "personalize-events"})
KEY_SCOPE = "recsmith.key"
BODY_SCOPE = "recsmith.body"


class KeyCache:
    """Access keys by id, remembered for ``ttl_seconds`` (known and unknown alike)."""

    def __init__(self, store: AccessKeyStore, ttl_seconds: float = 5.0, max_entries: int = 10_000) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[str, tuple[AccessKey | None, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, access_key_id: str) -> AccessKey | None:
        now = time.monotonic()
        cached = self._entries.get(access_key_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        key = self._store.find(access_key_id) if len(access_key_id) <= 128 else None
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[access_key_id] = (key, now + self._ttl)
        return key


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"__type": code, "message": message})


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    """AWS's error shape: JSON ``__type`` and ``message``, and ``x-amzn-ErrorType`` for rest-json clients."""
    body = error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/x-amz-json-1.1"),
                (b"content-length", str(len(body)).encode()),
                (b"x-amzn-errortype", code.encode()),
                (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; :class:`PayloadTooLargeError` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def signed_request(scope: Scope, body: bytes) -> SignedRequest:
    raw_path = scope.get("raw_path")
    return SignedRequest(
        method=scope["method"],
        raw_path=raw_path.decode("latin-1") if raw_path else scope["path"],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=[(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in scope["headers"]],
        body=body,
    )


Authorize = Callable[[AccessKey, str, dict[str, Any]], None]
"""Checks a verified key against the request's path and JSON body; raises AccessDeniedError."""


class SigV4Middleware:
    """Verify every request's SigV4 signature (but ``public_paths``) before ``app`` sees it.

    ``verifier`` may be a factory, called on the first request: a BentoML service has its platform only inside
    its worker processes. ``authorize``, when given, checks the verified key against what the JSON body names
    (a campaign server mounts routes it does not dispatch itself); ``recsmith serve`` checks in its handlers.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: SigV4Verifier | Callable[[], SigV4Verifier],
        *,
        max_body_bytes: int = 1_048_576,
        public_paths: frozenset[str] = PUBLIC_PATHS,
        authorize: Authorize | None = None,
    ) -> None:
        self.app = app
        self._verifier = verifier if isinstance(verifier, SigV4Verifier) else None
        self._factory = None if isinstance(verifier, SigV4Verifier) else verifier
        self.max_body_bytes = max_body_bytes
        self.public_paths = public_paths
        self.authorize = authorize

    @property
    def verifier(self) -> SigV4Verifier:
        if self._verifier is None:
            assert self._factory is not None
            self._verifier = self._factory()
        return self._verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        try:
            verifier = self.verifier
            body = await read_body(receive, self.max_body_bytes)
            key = verifier.verify(signed_request(scope, body))
            if self.authorize is not None and scope["method"] == "POST":
                self.authorize(key, scope["path"], _json_object(body))
        except RecsmithError as exc:
            await send_error(send, exc.http_status, exc.code, str(exc))
            return
        scope[KEY_SCOPE] = key
        scope[BODY_SCOPE] = body
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        return {}  # the app refuses it in its own words
    return value if isinstance(value, dict) else {}


def platform_verifier(platform: Callable[[], Platform]) -> Callable[[], SigV4Verifier]:
    """A verifier factory over the keys of ``platform()``'s catalog (for servers that build it per worker)."""

    def build() -> SigV4Verifier:
        settings = platform().settings
        return SigV4Verifier(
            KeyCache(AccessKeyStore.from_settings(settings)),
            region=settings.region,
            services=SIGNING_NAMES,
            skew_seconds=settings.api_clock_skew_seconds,
        )

    return build


def ensure_admin_credentials(settings: Settings, store: AccessKeyStore | None = None) -> tuple[AccessKey, Path]:
    """The admin key in ``home/credentials`` (profile ``recsmith``), created at first start.

    The first start of ``recsmith serve`` or of a campaign server creates an admin key and writes it, with the
    region, in the AWS shared-credentials format (mode 0600); later starts find it there and in the catalog and
    keep it. A file lock makes concurrent first starts agree on one key.
    """
    home = settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    path = home / "credentials"
    owned = store is None
    store = store or AccessKeyStore.from_settings(settings)
    try:
        with (home / ".credentials.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            existing = read_shared_credentials(path, CREDENTIALS_PROFILE)
            key = store.find(existing) if existing else None
            if key is None or not key.is_admin:
                key = store.create(None, description="admin key written to home/credentials at first start")
                write_shared_credentials(path, CREDENTIALS_PROFILE, key, settings.region)
                logger.info(
                    "wrote admin access key %s to %s (profile %s)", key.access_key_id, path, CREDENTIALS_PROFILE
                )
            return key, path
    finally:
        if owned:
            store.dispose()
