"""The one ASGI app of ``recsmith serve``: Personalize's control plane, runtime and events on one endpoint.

Routing comes from botocore's models (:mod:`recsmith.api.service_models`): ``POST /`` with ``X-Amz-Target``
for JSON 1.1 services, each rest-json operation's method and path for the others. :data:`SERVICE_HANDLERS` says
which operations this server claims, per service; adding a service (Forecast) is one entry there and one in
``SERVICE_NAMES``. For every call the dispatcher

1. finds the operation (an unknown one is ``UnknownOperationException``; one the model has but recsmith does not
   answer says so in the same shape),
2. parses the body (no NaN or Infinity, bounded depth) and checks it against the input shape,
3. runs the handler: control-plane handlers on a thread (catalog writes, fsync), runtime and events handlers in
   the loop (they await their own I/O),
4. shapes the answer by the output shape (control plane) and encodes it, or turns a
   :class:`~recsmith.errors.RecsmithError` into AWS's error shape with its status.

The app is a bare ASGI callable rather than a Starlette application: a GetRecommendations is mostly our own work,
and a framework's request objects, routing and middleware stack cost more than the scoring of a small model.
SigV4 runs before it, as :class:`~recsmith.api.auth.SigV4Middleware`; :func:`create_app` builds both.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any, cast

import orjson
from starlette.concurrency import run_in_threadpool

from recsmith.api import events, personalize, runtime
from recsmith.api.auth import (
    BODY_SCOPE,
    KEY_SCOPE,
    ASGIApp,
    KeyCache,
    Receive,
    Scope,
    Send,
    SigV4Middleware,
    read_body,
    send_error,
)
from recsmith.api.context import AnyHandler, AsyncHandler, Call, Handler, ServerState
from recsmith.api.runtime import CampaignPool
from recsmith.api.service_models import ServiceSpec, ServiceTable
from recsmith.api.shapes import Paginator, shape_output
from recsmith.api.sigv4 import SigV4Verifier
from recsmith.api.validation import check_input
from recsmith.catalog.access_keys import AccessKeyStore, server_cipher
from recsmith.errors import RecsmithError
from recsmith.platform import Platform
from recsmith.settings import Settings

logger = logging.getLogger(__name__)

SERVICE_HANDLERS: dict[str, Mapping[str, AnyHandler]] = {
    "personalize": personalize.HANDLERS,
    "personalize-runtime": runtime.HANDLERS,
    "personalize-events": events.HANDLERS,
}

_JSON_11 = b"application/x-amz-json-1.1"
_JSON = b"application/json"


class _Answer(Exception):
    """An error answer: status, AWS code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(message)


class Metrics:
    """Request counts and latency per operation and outcome, in Prometheus's text format (per worker)."""

    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(self.BUCKETS) + 1))

    def observe(self, operation: str, outcome: str, seconds: float) -> None:
        self.counts[(operation, outcome)] += 1
        self.seconds[operation] += seconds
        slots = self.buckets[operation]
        for index, bound in enumerate(self.BUCKETS):
            if seconds <= bound:
                slots[index] += 1
                break
        else:
            slots[-1] += 1

    def render(self, pool: CampaignPool) -> bytes:
        lines = [
            "# HELP recsmith_api_requests_total Requests answered by this worker, by operation and outcome.",
            "# TYPE recsmith_api_requests_total counter",
        ]
        for (operation, outcome), count in sorted(self.counts.items()):
            lines.append(f'recsmith_api_requests_total{{operation="{operation}",outcome="{outcome}"}} {count}')
        lines += [
            "# HELP recsmith_api_request_seconds Time to answer, by operation.",
            "# TYPE recsmith_api_request_seconds histogram",
        ]
        for operation, slots in sorted(self.buckets.items()):
            running = 0
            for bound, count in zip((*self.BUCKETS, float("inf")), slots, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'recsmith_api_request_seconds_bucket{{operation="{operation}",le="{le}"}} {running}')
            lines.append(f'recsmith_api_request_seconds_sum{{operation="{operation}"}} {self.seconds[operation]}')
            lines.append(f'recsmith_api_request_seconds_count{{operation="{operation}"}} {running}')
        lines += [
            "# HELP recsmith_api_campaigns_loaded Campaign models this worker holds.",
            "# TYPE recsmith_api_campaigns_loaded gauge",
            f"recsmith_api_campaigns_loaded {len(pool.campaign_arns)}",
        ]
        return ("\n".join(lines) + "\n").encode()


def _loads(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)  # refuses NaN/Infinity and nesting deeper than 1024
    except orjson.JSONDecodeError as exc:
        raise _Answer(400, "SerializationException", f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _Answer(400, "SerializationException", "request body must be a JSON object")
    return value


class RecsmithApp:
    """Routes, checks and answers every Personalize call; behind :class:`SigV4Middleware`."""

    def __init__(self, platform: Platform, *, paginator_secret: bytes, preload: bool = True) -> None:
        self.platform = platform
        self.table = ServiceTable(SERVICE_HANDLERS)
        self.state = ServerState(
            platform=platform,
            campaigns=CampaignPool(platform),
            paginator=Paginator(paginator_secret),
        )
        self.metrics = Metrics()
        self.preload = preload
        self._preloading: list[Future[Any]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._openapi: bytes | None = None

    # ---------------------------------------------------------- lifecycle
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.preload:
                    self._preloading = await run_in_threadpool(self.state.campaigns.preload)
                self._sweeper = asyncio.create_task(self._sweep())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._sweeper is not None:
                    self._sweeper.cancel()
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(max(self.platform.settings.campaign_poll_seconds, 1.0))
            try:
                await run_in_threadpool(self.state.campaigns.sweep)
            except RecsmithError:
                logger.exception("campaign sweep failed")

    def close(self) -> None:
        self.state.campaigns.close()

    # ------------------------------------------------------------ routing
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET":
            await self._get(path, scope, send)
            return
        started = time.perf_counter()
        operation = "unknown"
        try:
            spec, operation, content_type = self._route(scope, path, method)
            body = scope.get(BODY_SCOPE)
            if body is None:
                body = await read_body(receive, self.platform.settings.api_max_body_bytes)
            answer = await self._dispatch(spec, operation, scope, _loads(body))
            await _send_json(send, 200, answer, content_type)
            self.metrics.observe(operation, "ok", time.perf_counter() - started)
        except _Answer as exc:
            await send_error(send, exc.status, exc.code, exc.message)
            self.metrics.observe(operation, exc.code, time.perf_counter() - started)
        except RecsmithError as exc:
            await send_error(send, exc.http_status, exc.code, str(exc))
            self.metrics.observe(operation, exc.code, time.perf_counter() - started)
        except Exception:  # an unexpected failure is a 500 in AWS's shape, never a dropped connection
            logger.exception("%s failed", operation)
            await send_error(send, 500, "ServiceException", "internal error; the server log has the details")
            self.metrics.observe(operation, "ServiceException", time.perf_counter() - started)

    def _route(self, scope: Scope, path: str, method: str) -> tuple[ServiceSpec, str, bytes]:
        if path == "/" and method == "POST":
            target = next((v for k, v in scope["headers"] if k == b"x-amz-target"), None)
            if target is None:
                raise _Answer(400, "UnknownOperationException", "POST / needs an X-Amz-Target header")
            spec, operation = self.table.by_target(target.decode("latin-1"))
            if spec is None or operation not in spec.operation_names:
                raise _Answer(400, "UnknownOperationException", f"unknown operation {target.decode('latin-1')!r}")
            return spec, operation, _JSON_11
        route = self.table.by_path(method, path)
        if route is None:
            raise _Answer(404, "UnknownOperationException", f"no operation at {method} {path}")
        return route.service, route.operation.name, _JSON

    async def _dispatch(self, spec: ServiceSpec, operation: str, scope: Scope, params: dict[str, Any]) -> Any:
        handler = SERVICE_HANDLERS[spec.name].get(operation)
        if handler is None:
            raise _Answer(
                400,
                "UnknownOperationException",
                f"{spec.model.metadata.get('serviceId', spec.name)} {operation} is not supported by recsmith; "
                "GET /openapi.json lists the operations it answers",
            )
        model = spec.operation(operation)
        check_input(model.input_shape, params)
        call = Call(state=self.state, key=scope[KEY_SCOPE], operation=operation)
        if inspect.iscoroutinefunction(handler):
            return await cast(AsyncHandler, handler)(call, params)
        result = await run_in_threadpool(cast(Handler, handler), call, params)
        return shape_output(model.output_shape, result)

    # -------------------------------------------------------- GET routes
    async def _get(self, path: str, scope: Scope, send: Send) -> None:
        if path == "/livez":
            await _send_json(send, 200, {"status": "ok"}, _JSON)
        elif path == "/readyz":  # ready once the campaigns ACTIVE at start-up are loaded (or failed to load)
            loading = sum(not future.done() for future in self._preloading)
            if loading:
                await _send_json(send, 503, {"status": "loading", "campaignsLoading": loading}, _JSON)
            else:
                await _send_json(send, 200, {"status": "ok"}, _JSON)
        elif path == "/metrics":
            body = self.metrics.render(self.state.campaigns)
            await _send(send, 200, body, b"text/plain; version=0.0.4")
        elif path == "/openapi.json":
            if self._openapi is None:
                from recsmith.api.openapi import openapi_document

                self._openapi = orjson.dumps(openapi_document(self.table, SERVICE_HANDLERS))
            await _send(send, 200, self._openapi, _JSON)
        elif path in ("/", "/docs"):
            from recsmith.api.openapi import docs_page

            await _send(send, 200, docs_page(self.table, SERVICE_HANDLERS).encode(), b"text/html; charset=utf-8")
        else:
            await send_error(send, 404, "UnknownOperationException", f"no operation at GET {path}")


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, value: Any, content_type: bytes) -> None:
    await _send(send, status, orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY), content_type)


def build_app(platform: Platform, *, preload: bool = True) -> tuple[ASGIApp, RecsmithApp]:
    """The signed app over ``platform``: SigV4 in front of :class:`RecsmithApp`; returns both layers."""
    settings = platform.settings
    cipher = server_cipher(settings)
    keys = AccessKeyStore(settings.resolved_catalog_url(), cipher)
    inner = RecsmithApp(platform, paginator_secret=_secret(settings), preload=preload)
    verifier = SigV4Verifier(
        KeyCache(keys),
        region=settings.region,
        services=inner.table.signing_names,
        skew_seconds=settings.api_clock_skew_seconds,
    )
    return SigV4Middleware(inner, verifier, max_body_bytes=settings.api_max_body_bytes), inner


def _secret(settings: Settings) -> bytes:
    """A per-installation secret for nextToken signatures, derived from the server key (one for all workers)."""
    if settings.server_key is not None:
        material = settings.server_key.get_secret_value().encode()
    else:
        material = (settings.resolved_home / "server.key").read_bytes()
    return hashlib.sha256(b"recsmith-next-token:" + material).digest()


def create_app() -> ASGIApp:
    """uvicorn's factory (``recsmith.api.app:create_app``): one app per worker process, settings read once."""
    app, _ = build_app(Platform.from_env())
    return app
