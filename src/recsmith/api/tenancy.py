"""Tenants: a key limited to one dataset group reaches that group's resources and nothing else.

A dataset group is Personalize's isolation unit, so it is ours: every resource but schemas and recipes has a
dataset group in the catalog, and a tenant key may read or write a resource only when that group is its own.
Another tenant's resource is a 403 ``AccessDeniedException``; ``List*`` answers never show it.

Schemas have no dataset group in Personalize (an account's schemas are shared by its groups). Shared across
tenants they would let one tenant read another's field names and bind its datasets to them, so here a schema
belongs to the tenant whose key created it (recorded as ``tenantDatasetGroupArn``); a tenant sees and uses its
own schemas, the admin sees all of them. Recipes are public.
"""

from __future__ import annotations

from collections.abc import Iterable

from recsmith.catalog import Resource, ResourceType
from recsmith.catalog.access_keys import AccessKey
from recsmith.errors import AccessDeniedError
from recsmith.platform import Platform

SCHEMA_TENANT = "tenantDatasetGroupArn"


def resource_group(resource: Resource) -> str | None:
    """The dataset group that owns ``resource`` (a schema: the tenant that created it; None: the admin)."""
    if resource.resource_type is ResourceType.SCHEMA:
        value = resource.attributes.get(SCHEMA_TENANT)
        return str(value) if value else None
    return resource.dataset_group_arn


def allows_group(key: AccessKey, group_arn: str | None) -> bool:
    return key.is_admin or (group_arn is not None and group_arn == key.dataset_group_arn)


def require_group(key: AccessKey, group_arn: str | None, what: str) -> None:
    if not allows_group(key, group_arn):
        raise AccessDeniedError(
            f"access key {key.access_key_id} is not authorized to reach {what}: it is limited to dataset group "
            f"{key.dataset_group_arn}"
        )


def require(key: AccessKey, resource: Resource) -> Resource:
    """``resource`` when ``key`` may reach it; AccessDenied otherwise."""
    require_group(key, resource_group(resource), resource.arn)
    return resource


def get_owned(platform: Platform, key: AccessKey, resource_type: ResourceType, arn_or_name: str) -> Resource:
    """The catalog's resource, after checking that ``key`` may reach it."""
    return require(key, platform.catalog.get(resource_type, arn_or_name))


def visible(key: AccessKey, resources: Iterable[Resource]) -> list[Resource]:
    """The resources ``key`` may see, in order."""
    if key.is_admin:
        return list(resources)
    return [r for r in resources if allows_group(key, resource_group(r))]


def require_request(platform: Platform, key: AccessKey, path: str, params: dict[str, object]) -> None:
    """Check a runtime or events request body against ``key``'s group, by the resource it names.

    For servers that take bodies they did not route themselves (the BentoML campaign server mounts the events
    routes): PutEvents names a tracking id, PutUsers/PutItems a dataset, the runtime calls a campaign.
    """
    if key.is_admin:
        return
    from recsmith.events.tracker import tracker_group

    value = params.get("trackingId") if path == "/events" else None
    if isinstance(value, str):
        require_group(key, tracker_group(platform, value), f"event tracker {value}")
    dataset = params.get("datasetArn") if path in ("/users", "/items") else None
    if isinstance(dataset, str):
        require(key, platform.catalog.get(ResourceType.DATASET, dataset))
    campaign = params.get("campaignArn")
    if isinstance(campaign, str):
        found = platform.catalog.find(ResourceType.CAMPAIGN, campaign)
        if found is not None:
            require(key, found)
