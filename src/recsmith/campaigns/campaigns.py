"""Campaigns: a solution version deployed behind an endpoint, AUTO (follows the registry) or MANUAL (pinned).

What a campaign serves lives in its catalog record, and only the campaign controller
(:mod:`recsmith.campaigns.controller`) changes it:

- ``solutionVersionArn`` / ``modelVersion``: what every worker serves once the latest update is done;
- ``latestCampaignUpdate`` (Personalize's ``CampaignUpdateSummary``, plus recsmith's ``modelVersion``,
  ``updateId``, ``actor``, ``reason`` and ``activateAt``): the move under way or last made. Its status goes
  CREATE PENDING (an ``UpdateCampaign`` asked for it) → CREATE IN_PROGRESS (workers load the version) → ACTIVE,
  or CREATE FAILED with ``failureReason`` while the old version keeps serving. An IN_PROGRESS update with
  ``activateAt`` is committed: every worker switches to it at that moment.

:func:`create_campaign` and :func:`update_campaign` are the calls of the CLI and the API; serving workers read
:func:`campaign_plan`. Reading never moves anything.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from recsmith.arns import validate_name
from recsmith.catalog import CampaignMove, Resource, ResourceType, Status
from recsmith.errors import InvalidInputError, ResourceInUseError
from recsmith.platform import Platform

LATEST_UPDATE = "latestCampaignUpdate"


class UpdateMode(StrEnum):
    AUTO = "AUTO"
    MANUAL = "MANUAL"

    @classmethod
    def parse(cls, value: str) -> UpdateMode:
        try:
            return cls(value.upper())
        except ValueError:
            raise InvalidInputError(f"unknown update mode {value!r}; allowed: AUTO, MANUAL") from None


@dataclass(frozen=True)
class CampaignTarget:
    """A model version a campaign serves or moves to."""

    solution_version_arn: str
    model_name: str
    model_version: str

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.model_version}"


class CampaignUpdate(BaseModel):
    """A campaign's ``latestCampaignUpdate``: one move, requested, under way, done or failed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    update_id: str
    solution_version_arn: str
    model_version: str
    status: Status
    failure_reason: str | None = None
    creation_time: float
    last_updated_time: float
    actor: str
    reason: str
    activate_at: float | None = None

    @property
    def committed(self) -> bool:
        """Every worker has the version ready; they switch at ``activate_at``."""
        return self.status is Status.CREATE_IN_PROGRESS and self.activate_at is not None

    def with_status(self, status: Status, now: float, **changes: Any) -> CampaignUpdate:
        return self.model_copy(update={"status": status, "last_updated_time": now, **changes})

    def attribute(self) -> dict[str, Any]:
        """Personalize's ``CampaignUpdateSummary`` fields, then recsmith's."""
        out: dict[str, Any] = {
            "solutionVersionArn": self.solution_version_arn,
            "status": self.status.value,
            "creationDateTime": self.creation_time,
            "lastUpdatedDateTime": self.last_updated_time,
            "modelVersion": self.model_version,
            "updateId": self.update_id,
            "actor": self.actor,
            "reason": self.reason,
        }
        if self.failure_reason:
            out["failureReason"] = self.failure_reason
        if self.activate_at is not None:
            out["activateAt"] = self.activate_at
        return out

    @classmethod
    def of(cls, campaign: Resource) -> CampaignUpdate | None:
        """The campaign's latest update (None before the first one; an older record's missing fields filled)."""
        raw = campaign.attributes.get(LATEST_UPDATE)
        if not raw:
            return None
        when = float(raw.get("lastUpdatedDateTime") or campaign.last_updated_time)
        return cls(
            update_id=str(raw.get("updateId") or f"legacy-{when}"),
            solution_version_arn=str(raw.get("solutionVersionArn", "")),
            model_version=str(raw.get("modelVersion", "")),
            status=Status(raw.get("status", Status.ACTIVE.value)),
            failure_reason=raw.get("failureReason"),
            creation_time=float(raw.get("creationDateTime") or when),
            last_updated_time=when,
            actor=str(raw.get("actor", "unknown")),
            reason=str(raw.get("reason", "")),
            activate_at=raw.get("activateAt"),
        )


def new_update(target: CampaignTarget, status: Status, actor: str, reason: str, now: float) -> CampaignUpdate:
    return CampaignUpdate(
        update_id=uuid.uuid4().hex,
        solution_version_arn=target.solution_version_arn,
        model_version=target.model_version,
        status=status,
        creation_time=now,
        last_updated_time=now,
        actor=actor,
        reason=reason,
    )


def _active_version(platform: Platform, solution_version: str | None, solution: str | None) -> Resource:
    """The solution version named, or the newest ACTIVE one of the solution named."""
    if solution_version:
        version = platform.catalog.get(ResourceType.SOLUTION_VERSION, solution_version)
    elif solution:
        solution_resource = platform.catalog.get(ResourceType.SOLUTION, solution)
        versions = [
            v
            for v in platform.catalog.list(ResourceType.SOLUTION_VERSION, where={"solutionArn": solution_resource.arn})
            if v.status is Status.ACTIVE
        ]
        if not versions:
            raise ResourceInUseError(f"solution {solution_resource.name!r} has no ACTIVE solution version yet")
        version = versions[-1]
    else:
        raise InvalidInputError("pass a solution version (or a solution, for its latest ACTIVE version)")
    if version.status is not Status.ACTIVE:
        raise ResourceInUseError(f"solution version {version.arn} is {version.status}, not ACTIVE")
    return version


def create_campaign(
    platform: Platform,
    name: str,
    *,
    solution_version: str | None = None,
    solution: str | None = None,
    update_mode: str = UpdateMode.MANUAL,
    actor: str = "create-campaign",
) -> Resource:
    """Deploy a solution version as a campaign; ACTIVE at once (the serving process loads it).

    An AUTO campaign starts on this version too; the controller moves it to the registry's production version
    at its next pass if that is another one.
    """
    validate_name(name, "campaign")
    mode = UpdateMode.parse(update_mode)
    version = _active_version(platform, solution_version, solution)
    campaign = platform.create_resource(
        ResourceType.CAMPAIGN,
        name,
        dataset_group_arn=version.dataset_group_arn,
        attributes={
            "solutionVersionArn": version.arn,
            "solutionArn": version.attributes["solutionArn"],
            "modelName": version.attributes["modelName"],
            "modelVersion": str(version.attributes["modelVersion"]),
            "updateMode": mode.value,
            "minProvisionedTPS": 1,
        },
    )
    platform.catalog.record_campaign_move(
        CampaignMove(
            campaign_arn=campaign.arn,
            at=time.time(),
            actor=actor,
            from_version=None,
            to_version=version.arn,
            reason=f"created ({mode.value})",
        )
    )
    return campaign


def update_campaign(
    platform: Platform,
    campaign: str,
    *,
    solution_version: str | None = None,
    update_mode: str | None = None,
    actor: str = "update-campaign",
) -> Resource:
    """Ask for a MANUAL campaign to move to another solution version and/or change its update mode.

    The move is a request (``latestCampaignUpdate`` CREATE PENDING, naming ``actor``): the campaign controller
    rolls it out and records it, and the old version serves until then. An AUTO campaign follows the registry,
    so it takes no solution version (promote the version, or pass ``update_mode="MANUAL"`` with it).
    """
    if solution_version is None and update_mode is None:
        raise InvalidInputError("update-campaign needs a new solution version or update mode")
    mode = UpdateMode.parse(update_mode) if update_mode is not None else None
    while True:  # a compare-and-set: read, decide, write only if nobody wrote in between
        current = platform.catalog.get(ResourceType.CAMPAIGN, campaign)
        if current.status is not Status.ACTIVE:
            raise ResourceInUseError(f"campaign {current.name!r} is {current.status.value}; it must be ACTIVE")
        attributes: dict[str, Any] = {}
        effective = mode or UpdateMode.parse(current.attributes.get("updateMode", UpdateMode.MANUAL))
        if mode is not None:
            attributes["updateMode"] = mode.value
        if solution_version is not None:
            if effective is UpdateMode.AUTO:
                raise InvalidInputError(
                    f"campaign {current.name!r} is AUTO: it serves the registry's production version; promote "
                    "the version instead, or pass update mode MANUAL to pin it"
                )
            pending = CampaignUpdate.of(current)
            if pending is not None and pending.committed:
                raise ResourceInUseError(
                    f"campaign {current.name!r} is switching to {pending.solution_version_arn} now; "
                    "update it again once that update is ACTIVE"
                )
            version = _active_version(platform, solution_version, None)
            if version.attributes["solutionArn"] != current.attributes["solutionArn"]:
                raise InvalidInputError(
                    f"solution version {version.arn} belongs to another solution than campaign {current.name!r}"
                )
            target = CampaignTarget(
                solution_version_arn=version.arn,
                model_name=current.attributes["modelName"],
                model_version=str(version.attributes["modelVersion"]),
            )
            request = new_update(target, Status.CREATE_PENDING, actor, "UpdateCampaign", time.time())
            attributes[LATEST_UPDATE] = request.attribute()
        written = platform.coordination.compare_and_update(current, attributes)
        if written is not None:
            return written


def served_target(platform: Platform, campaign: Resource) -> CampaignTarget:
    """What ``campaign``'s record says is served (before any update under way)."""
    model_version = campaign.attributes.get("modelVersion")
    if model_version is None:  # a campaign recorded before modelVersion was kept beside the solution version
        pinned = platform.catalog.get(ResourceType.SOLUTION_VERSION, campaign.attributes["solutionVersionArn"])
        model_version = pinned.attributes["modelVersion"]
    return CampaignTarget(
        solution_version_arn=campaign.attributes["solutionVersionArn"],
        model_name=campaign.attributes["modelName"],
        model_version=str(model_version),
    )


@dataclass(frozen=True)
class CampaignPlan:
    """What a serving worker of a campaign does now: serve ``serve``; have ``upcoming`` ready (loaded and
    smoke-tested) for update ``update_id``; switch to it at ``activate_at`` once that is set (committed)."""

    serve: CampaignTarget
    upcoming: CampaignTarget | None = None
    update_id: str | None = None
    activate_at: float | None = None


def campaign_plan(platform: Platform, campaign: Resource, now: float) -> CampaignPlan:
    """A worker's reading of ``campaign``'s record at ``now`` (see the module docstring)."""
    served = served_target(platform, campaign)
    update = CampaignUpdate.of(campaign)
    if update is None or update.status is not Status.CREATE_IN_PROGRESS or update.model_version == served.model_version:
        return CampaignPlan(serve=served)
    upcoming = CampaignTarget(update.solution_version_arn, served.model_name, update.model_version)
    if update.activate_at is not None and now >= update.activate_at:
        return CampaignPlan(serve=upcoming)
    return CampaignPlan(serve=served, upcoming=upcoming, update_id=update.update_id, activate_at=update.activate_at)


def delete_campaign(platform: Platform, campaign: str) -> Resource:
    return platform.catalog.delete(ResourceType.CAMPAIGN, campaign)
