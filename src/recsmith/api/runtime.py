"""Personalize's runtime (``/recommendations``, ``/personalize-ranking``) for every campaign, routed by ARN.

:class:`CampaignPool` is the worker process's set of campaign models: one
:class:`~recsmith.campaigns.holder.ModelHolder` per campaign, created on the campaign's first request (or when
``CreateCampaign`` deploys it, or at start-up for every ACTIVE campaign), refreshed by the holder's own poller,
and dropped when the campaign is deleted. The pool belongs to the app object, not to the module, so two apps
in one process (tests) never share models.

A request reads the holder from a dict and scores in the event loop: scoring is CPU work under the GIL, so a
hop to a thread would only add its cost. Loading a model (seconds) never runs in the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from recsmith.api import tenancy
from recsmith.api.context import AsyncHandler, Call
from recsmith.campaigns import recommend
from recsmith.campaigns.holder import ModelHolder
from recsmith.catalog import ResourceType, Status
from recsmith.errors import InvalidInputError, RecsmithError, ResourceNotFoundError
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

_SERVABLE = (Status.ACTIVE, Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS)


class CampaignPool:
    """The campaign models one worker process serves, by campaign ARN."""

    def __init__(self, platform: Platform, load_threads: int = 2) -> None:
        self.platform = platform
        self._holders: dict[str, ModelHolder] = {}
        self._loading: dict[str, Future[ModelHolder]] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(load_threads, thread_name_prefix="campaign-load")

    def serving(self, campaign_arn: str) -> ModelHolder | None:
        """The holder of a campaign this worker has loaded (a dict read: the request path)."""
        return self._holders.get(campaign_arn)

    @property
    def campaign_arns(self) -> list[str]:
        return list(self._holders)

    def _load(self, campaign_arn: str) -> ModelHolder:
        from recsmith.campaigns.filters import warm_filters

        try:
            campaign = self.platform.catalog.get(ResourceType.CAMPAIGN, campaign_arn)
            if campaign.status not in _SERVABLE:
                raise ResourceNotFoundError(f"campaign {campaign.arn} is {campaign.status.value}; it serves nothing")
            holder = ModelHolder(self.platform, campaign.arn)
            holder.refresh()
            if holder.dataset_group_arn:
                warm_filters(self.platform, holder.dataset_group_arn)
            holder.start()
            with self._lock:
                self._holders[campaign.arn] = holder
            logger.info("serving campaign %s (model version %s)", campaign.arn, holder.current.model_version)
            return holder
        finally:
            with self._lock:
                self._loading.pop(campaign_arn, None)

    def load(self, campaign_arn: str) -> Future[ModelHolder]:
        """Start loading a campaign in the background (once, however many ask)."""
        with self._lock:
            future = self._loading.get(campaign_arn)
            if future is None:
                future = self._executor.submit(self._load, campaign_arn)
                self._loading[campaign_arn] = future
            return future

    async def holder(self, campaign_arn: str) -> ModelHolder:
        found = self._holders.get(campaign_arn)
        if found is not None:
            return found
        return await asyncio.wrap_future(self.load(campaign_arn))

    def deploy(self, campaign_arn: str) -> None:
        """CreateCampaign: CREATE IN_PROGRESS until this worker has loaded and smoke-tested the model, then
        ACTIVE (or CREATE FAILED with the reason)."""
        campaign = self.platform.catalog.get(ResourceType.CAMPAIGN, campaign_arn)
        campaign = self.platform.catalog.update(campaign, status=Status.CREATE_IN_PROGRESS)
        future = self.load(campaign_arn)

        def settle(done: Future[ModelHolder]) -> None:
            exc = done.exception()
            try:
                current = self.platform.catalog.get(ResourceType.CAMPAIGN, campaign_arn)
                if exc is None:
                    self.platform.catalog.update(current, status=Status.ACTIVE)
                else:
                    logger.error("campaign %s cannot serve: %s", campaign_arn, exc)
                    self.platform.catalog.update(
                        current, status=Status.CREATE_FAILED, failure_reason=f"the model did not load: {exc}"
                    )
            except RecsmithError:
                logger.exception("campaign %s: cannot record its deployment", campaign_arn)

        future.add_done_callback(settle)

    def preload(self) -> list[Future[ModelHolder]]:
        """Load every ACTIVE campaign in the background, so first requests do not wait for a model."""
        return [
            self.load(campaign.arn)
            for campaign in self.platform.catalog.list(ResourceType.CAMPAIGN)
            if campaign.status is Status.ACTIVE
        ]

    def nudge(self, campaign_arn: str) -> None:
        """Refresh a campaign's model now (an UpdateCampaign), not at the next poll."""
        holder = self._holders.get(campaign_arn)
        if holder is not None:
            self._executor.submit(holder.refresh)

    def drop(self, campaign_arn: str) -> None:
        with self._lock:
            holder = self._holders.pop(campaign_arn, None)
        if holder is not None:
            holder.stop()

    def sweep(self) -> None:
        """Drop the models of campaigns deleted since they were loaded (by another worker or the CLI)."""
        for arn in list(self._holders):
            if self.platform.catalog.find(ResourceType.CAMPAIGN, arn) is None:
                logger.info("campaign %s was deleted; its model is dropped", arn)
                self.drop(arn)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for arn in list(self._holders):
            self.drop(arn)


async def _campaign(call: Call, campaign_arn: str | None) -> ModelHolder:
    if not campaign_arn:
        raise InvalidInputError("campaignArn is required (recommenders are not supported)")
    pool = call.state.campaigns
    holder = pool.serving(campaign_arn)
    if holder is None:
        campaign = call.platform.catalog.get(ResourceType.CAMPAIGN, campaign_arn)
        tenancy.require(call.key, campaign)
        holder = await pool.holder(campaign.arn)
    tenancy.require_group(call.key, holder.dataset_group_arn, campaign_arn)
    return holder


async def get_recommendations(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    holder = await _campaign(call, params.get("campaignArn"))
    return recommend.get_recommendations(
        call.platform,
        holder,
        holder.campaign_arn,
        user_id=params.get("userId") or (params.get("sessionId") if not params.get("itemId") else None),
        item_id=params.get("itemId"),
        num_results=params.get("numResults", recommend.DEFAULT_RESULTS),
        context=params.get("context"),
        filter_arn=params.get("filterArn"),
        filter_values=params.get("filterValues"),
        promotions=params.get("promotions"),
        metadata_columns=params.get("metadataColumns"),
    )


async def get_personalized_ranking(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    holder = await _campaign(call, params.get("campaignArn"))
    return recommend.get_personalized_ranking(
        call.platform,
        holder,
        holder.campaign_arn,
        user_id=params["userId"],
        input_list=params["inputList"],
        context=params.get("context"),
        filter_arn=params.get("filterArn"),
        filter_values=params.get("filterValues"),
        metadata_columns=params.get("metadataColumns"),
    )


HANDLERS: dict[str, AsyncHandler] = {
    "GetRecommendations": get_recommendations,
    "GetPersonalizedRanking": get_personalized_ranking,
}
