"""The campaign endpoint: a BentoML 1.4 service that speaks Personalize's runtime and events REST-JSON API.

boto3's ``personalize-runtime`` (GetRecommendations, GetPersonalizedRanking) and ``personalize-events``
(PutEvents) clients work against it unchanged, given ``endpoint_url``. A thin adapter: every route calls one
function of :mod:`recsmith`, and a :class:`~recsmith.errors.RecsmithError` becomes the AWS error shape
(``{"__type": code, "message": ...}`` plus ``x-amzn-ErrorType``) with the error's HTTP status, which botocore
turns into the matching modeled exception.

Configured by the environment, read once when the module is imported (:class:`~recsmith.settings.Settings`):
``RECSMITH_CAMPAIGN`` (the campaign's ARN or name), the usual ``RECSMITH_*`` settings,
``RECSMITH_SERVING_WORKERS`` (worker processes, default 1), ``RECSMITH_SERVING_ACCESS_LOG`` (``0`` turns the
per-request access log off) and ``RECSMITH_SERVING_TRACING`` (``1`` traces GetRecommendations and
GetPersonalizedRanking with OpenTelemetry; off by default). Each worker holds its own model
(:class:`~recsmith.campaigns.holder.ModelHolder`): it loads what the campaign serves, reports itself in the
catalog, and swaps when the campaign controller commits a move; it never decides or records one (the
controller runs in the process that supervises this server, ``recsmith serve-campaign``). Swagger UI is at
``/``, the OpenAPI document at ``/docs.json``, readiness at ``/readyz``. Start it with
:func:`recsmith.campaigns.server.serve_campaign` or
``bentoml serve serving.service:CampaignService --working-dir <repo>``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from typing import Annotated, Any

import bentoml
from bentoml.validators import ContentType

from recsmith.api.auth import SigV4Middleware, ensure_admin_credentials, platform_verifier
from recsmith.api.tenancy import require_group, require_request
from recsmith.campaigns import recommend
from recsmith.campaigns.filters import warm_filters
from recsmith.campaigns.holder import ModelHolder
from recsmith.campaigns.server import exit_with_parent
from recsmith.catalog import ResourceType
from recsmith.catalog.access_keys import AccessKey
from recsmith.data.request_limits import RequestLimits
from recsmith.errors import InvalidInputError, RecsmithError
from recsmith.platform import Platform
from recsmith.settings import load_settings
from serving.events_api import aws_error, events_app
from serving.inputs import Arn, Context, FilterValues, Id, InputList, MetadataColumns, NumResults

logger = logging.getLogger("bentoml.recsmith")

INVALID_INPUT = "InvalidInputException"
INGEST_PATHS = ("/events",)
SUPERVISOR_MARKERS = ("circusd", "bentoml")  # BentoML's arbiter (circus) renames itself circusd
SCORING_PATHS = ("/recommendations", "/personalize-ranking")
SETTINGS = load_settings()
"""This server's settings, read once; every worker process imports this module and so reads them once."""

JsonAnswer = Annotated[dict[str, Any], ContentType("application/json")]
"""A JSON object answer. Declaring the media type spares BentoML from deriving it per response from the
return type's JSON schema, which cost a sixth of a request's CPU time in a served worker."""


def _answer(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return call()
    except RecsmithError as exc:
        return aws_error(exc.http_status, exc.code, str(exc))  # type: ignore[return-value]


class AwsErrorShape:
    """ASGI middleware: BentoML's own request-validation errors (400/422, ``{"error", "detail"}``) become
    ``InvalidInputException`` in AWS's shape, so boto3 reports them as it would Personalize's. Responses that
    already carry ``x-amzn-ErrorType`` pass through untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        body: list[bytes] = []

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                if message["status"] in (400, 422) and b"x-amzn-errortype" not in names:
                    held.update(message)
                    return
            elif message["type"] == "http.response.body" and held:
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                await _send_invalid_input(send, held, b"".join(body))
                return
            await send(message)

        await self.app(scope, receive, rewrite)


async def _send_invalid_input(send: Any, start: dict[str, Any], raw: bytes) -> None:
    try:
        detail = json.loads(raw or b"{}")
    except ValueError:
        detail = {"error": raw.decode(errors="replace")}
    if isinstance(detail, list) and detail:
        detail = detail[0]
    if not isinstance(detail, dict):
        detail = {"error": str(detail)}
    parts = [str(detail.get("error", "invalid input"))]
    for error in detail.get("detail") or []:
        parts.append(f"{'.'.join(map(str, error.get('loc', [])))}: {error.get('msg')}")
    payload = json.dumps({"__type": INVALID_INPUT, "message": "; ".join(parts)}).encode()
    headers = [
        (name, value)
        for name, value in start.get("headers", [])
        if name.lower() not in (b"content-length", b"content-type")
    ]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"x-amzn-errortype", INVALID_INPUT.encode()),
    ]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@functools.cache
def worker_platform() -> Platform:
    """The one Platform of this worker process, shared by the BentoML APIs and the mounted events routes."""
    return Platform(SETTINGS)


@bentoml.service(
    name="recsmith_campaign",
    workers=SETTINGS.serving_workers,
    traffic={"timeout": 30},
    # PutEvents is the high-rate path: no per-request access-log line, metrics or tracing span for it; one log
    # line per request costs more than scoring does, so RECSMITH_SERVING_ACCESS_LOG=0 turns the rest off too
    logging={
        "access": {
            "enabled": SETTINGS.serving_access_log,
            "skip_paths": ["/metrics", "/healthz", "/livez", "/readyz", *INGEST_PATHS],
        }
    },
    # OpenTelemetry spans cost ~15% of a GetRecommendations in a worker and go nowhere until a tracing exporter
    # is configured (BentoML's ``tracing`` config), so the API routes are traced only with
    # RECSMITH_SERVING_TRACING=1; PutEvents never is
    tracing={"excluded_urls": [*INGEST_PATHS, *([] if SETTINGS.serving_tracing else SCORING_PATHS)]},
)
class CampaignService:
    """One campaign: GetRecommendations and GetPersonalizedRanking; PutEvents, PutUsers and PutItems are the
    mounted routes of :mod:`serving.events_api`."""

    def __init__(self) -> None:
        # runs once in each worker process; loading fails the worker if the campaign's model cannot serve.
        # BentoML runs each worker in a session of its own: tie it to the arbiter first, so none outlives it
        exit_with_parent(parent_markers=SUPERVISOR_MARKERS)
        self.platform = worker_platform()
        ensure_admin_credentials(self.platform.settings)  # the first server to start writes home/credentials
        campaign = self.platform.settings.campaign
        if not campaign:
            raise InvalidInputError("RECSMITH_CAMPAIGN must name the campaign this server serves")
        self.holder = ModelHolder(self.platform, campaign)
        self.holder.refresh()
        served = self.holder.current
        # the tables filters read (millions of interactions) are built now, not by the first filtered request
        warmed = warm_filters(self.platform, self.holder.dataset_group_arn)
        logger.info(
            "worker %s serves campaign %s with model version %s (filter tables ready: %s)",
            os.getpid(),
            self.holder.campaign_arn,
            served.model_version,
            ", ".join(warmed) or "none",
        )

    @bentoml.on_startup
    def start_poller(self) -> None:
        # from now on this worker reports in the catalog and takes part in the campaign's updates
        self.holder.start()

    @bentoml.on_shutdown
    def stop_poller(self) -> None:
        self.holder.stop()

    @bentoml.api(route="/recommendations")
    def get_recommendations(
        self,
        campaignArn: Arn | None = None,
        recommenderArn: Arn | None = None,
        userId: Id | None = None,
        itemId: Id | None = None,
        numResults: NumResults = recommend.DEFAULT_RESULTS,
        context: Context | None = None,
        filterArn: Arn | None = None,
        filterValues: FilterValues | None = None,
        promotions: list[dict[str, Any]] | None = None,
        metadataColumns: MetadataColumns | None = None,
        sessionId: Id | None = None,
    ) -> JsonAnswer:
        """GetRecommendations: items for ``userId``, or items related to ``itemId``.

        ``promotions`` and ``metadataColumns`` are Personalize's; ``sessionId`` (recsmith's) asks for an
        anonymous visitor by its session when no ``userId`` is given, as passing the session id as
        ``userId`` does.
        """

        def call() -> dict[str, Any]:
            if not campaignArn:
                raise InvalidInputError("campaignArn is required (recommenders are not supported)")
            return recommend.get_recommendations(
                self.platform,
                self.holder,
                campaignArn,
                user_id=userId or (sessionId if not itemId else None),
                item_id=itemId,
                num_results=numResults,
                context=context,
                filter_arn=filterArn,
                filter_values=filterValues,
                promotions=promotions,
                metadata_columns=metadataColumns,
            )

        return _answer(call)

    @bentoml.api(route="/personalize-ranking")
    def get_personalized_ranking(
        self,
        campaignArn: Arn,
        inputList: InputList,
        userId: Id,
        context: Context | None = None,
        filterArn: Arn | None = None,
        filterValues: FilterValues | None = None,
        metadataColumns: MetadataColumns | None = None,
    ) -> JsonAnswer:
        """GetPersonalizedRanking: ``inputList`` re-ordered for ``userId``; unknown items go last."""

        def call() -> dict[str, Any]:
            return recommend.get_personalized_ranking(
                self.platform,
                self.holder,
                campaignArn,
                user_id=userId,
                input_list=inputList,
                context=context,
                filter_arn=filterArn,
                filter_values=filterValues,
                metadata_columns=metadataColumns,
            )

        return _answer(call)


def authorize(key: AccessKey, path: str, params: dict[str, Any]) -> None:
    """A tenant key reaches this server only for its own group: the campaign's, and whatever the body names."""
    if key.is_admin:
        return
    platform = worker_platform()
    campaign = platform.catalog.get(ResourceType.CAMPAIGN, str(platform.settings.campaign))
    require_group(key, campaign.dataset_group_arn, campaign.arn)
    require_request(platform, key, path, params)


CampaignService.mount_asgi_app(events_app(worker_platform), path="/")  # type: ignore[attr-defined]
CampaignService.add_asgi_middleware(AwsErrorShape)
# body size and JSON depth are refused before anything reads the body (the signature check reads it whole)
CampaignService.add_asgi_middleware(RequestLimits)  # body size, JSON depth, 404/405 in AWS's shape
# every route but the probes is SigV4-signed, against the keys in the catalog (recsmith.api.auth)
CampaignService.add_asgi_middleware(
    SigV4Middleware,
    verifier=platform_verifier(worker_platform),
    public_paths=frozenset({"/readyz", "/livez", "/healthz"}),
    authorize=authorize,
)
