"""Campaigns: a solution version deployed behind an endpoint, AUTO (follows the registry) or MANUAL (pinned).

The catalog holds what a campaign should serve; serving workers ask :func:`campaign_target` and swap models
when the answer changes. For an AUTO campaign the answer is the version the registered model's ``production``
alias names (falling back to the version it was created with while nothing is in production); for a MANUAL
campaign it is the solution version it was last created or updated with. Every move is recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from mlflow.tracking import MlflowClient

from recsmith.arns import validate_name
from recsmith.catalog import CampaignMove, Resource, ResourceType, Status
from recsmith.errors import InvalidInputError, ResourceInUseError
from recsmith.platform import Platform
from recsmith.training.registry import production_version


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
    """The model version a campaign should serve right now."""

    solution_version_arn: str
    model_name: str
    model_version: str

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.model_version}"


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
    """Deploy a solution version as a campaign; ACTIVE at once (the serving process loads it)."""
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
    """Pin a campaign to another solution version and/or change its update mode."""
    current = platform.catalog.get(ResourceType.CAMPAIGN, campaign)
    attributes: dict[str, object] = {}
    if update_mode is not None:
        attributes["updateMode"] = UpdateMode.parse(update_mode).value
    if solution_version is not None:
        version = _active_version(platform, solution_version, None)
        if version.attributes["solutionArn"] != current.attributes["solutionArn"]:
            raise InvalidInputError(
                f"solution version {version.arn} belongs to another solution than campaign {current.name!r}"
            )
        attributes["solutionVersionArn"] = version.arn
        platform.catalog.record_campaign_move(
            CampaignMove(
                campaign_arn=current.arn,
                at=time.time(),
                actor=actor,
                from_version=current.attributes["solutionVersionArn"],
                to_version=version.arn,
                reason="update-campaign",
            )
        )
    if not attributes:
        raise InvalidInputError("update-campaign needs a new solution version or update mode")
    return platform.catalog.update(current, attributes=attributes)


def campaign_target(platform: Platform, campaign: Resource, client: MlflowClient | None = None) -> CampaignTarget:
    """What ``campaign`` should serve now (AUTO: the registry's production version; MANUAL: its pin)."""
    model_name = campaign.attributes["modelName"]
    if campaign.attributes.get("updateMode") == UpdateMode.AUTO:
        platform.configure_mlflow()
        client = client or MlflowClient()
        version = production_version(client, model_name)
        if version is not None:
            model_version = client.get_model_version(model_name, version)
            arn = model_version.tags.get("recsmith.solution_version_arn", "")
            return CampaignTarget(solution_version_arn=arn, model_name=model_name, model_version=str(version))
    pinned = platform.catalog.get(ResourceType.SOLUTION_VERSION, campaign.attributes["solutionVersionArn"])
    return CampaignTarget(
        solution_version_arn=pinned.arn, model_name=model_name, model_version=pinned.attributes["modelVersion"]
    )


def delete_campaign(platform: Platform, campaign: str) -> Resource:
    return platform.catalog.delete(ResourceType.CAMPAIGN, campaign)
