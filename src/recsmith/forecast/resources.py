"""Forecast's names, ARNs and statuses over the shared catalog.

Forecast names are stricter than Personalize's (``^[a-zA-Z][a-zA-Z0-9_]*$``, at most 63 characters: no hyphens)
and its ARNs read ``arn:aws:forecast:{region}:{account}:{type}/{id}``. Its statuses are the catalog's with an
underscore where Personalize writes a space (``CREATE_PENDING``, ``CREATE_IN_PROGRESS``, ``ACTIVE``,
``CREATE_FAILED``, ``DELETE_PENDING``), so one lifecycle serves both services.
"""

from __future__ import annotations

import re
from typing import Any

from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import InvalidInputError, ResourceNotFoundError
from recsmith.platform import Platform
from recsmith.settings import Settings

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,62}$")
ARN_PREFIX = "arn:aws:forecast:"

# catalog type -> the type word in Forecast's ARN
ARN_TYPES: dict[ResourceType, str] = {
    ResourceType.FORECAST_DATASET_GROUP: "dataset-group",
    ResourceType.FORECAST_DATASET: "dataset",
    ResourceType.FORECAST_DATASET_IMPORT_JOB: "dataset-import-job",
    ResourceType.PREDICTOR: "predictor",
    ResourceType.FORECAST: "forecast",
    ResourceType.FORECAST_EXPORT_JOB: "forecast-export-job",
}
RUNNING = (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS)


def validate_name(name: str, what: str) -> str:
    """Forecast's name rule: 1-63 letters, digits or '_', starting with a letter."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            f"invalid {what} name {name!r}: use 1-63 letters, digits or '_', starting with a letter"
        )
    return name


def forecast_arn(settings: Settings, resource_type: ResourceType, resource_id: str) -> str:
    """``arn:aws:forecast:{region}:{account}:{type}/{id}``."""
    return f"{ARN_PREFIX}{settings.region}:{settings.account_id}:{ARN_TYPES[resource_type]}/{resource_id}"


def forecast_status(status: Status) -> str:
    """The catalog's status as Forecast spells it."""
    return status.value.replace(" ", "_")


def get(platform: Platform, resource_type: ResourceType, arn_or_name: str, field: str) -> Resource:
    """The resource with this ARN (or unambiguous name); a missing one names the request field."""
    if not isinstance(arn_or_name, str) or not arn_or_name:
        raise InvalidInputError(f"{field} is required")
    try:
        return platform.catalog.get(resource_type, arn_or_name)
    except ResourceNotFoundError as exc:
        raise ResourceNotFoundError(f"{field}: no {ARN_TYPES[resource_type]} {arn_or_name!r}") from exc


def times(resource: Resource) -> dict[str, Any]:
    """The CreationTime and LastModificationTime every Describe answer carries (epoch seconds)."""
    return {"CreationTime": resource.creation_time, "LastModificationTime": resource.last_updated_time}


def status_fields(resource: Resource) -> dict[str, Any]:
    """``Status`` and, for a failed resource, ``Message`` with the reason."""
    out: dict[str, Any] = {"Status": forecast_status(resource.status)}
    if resource.failure_reason:
        out["Message"] = resource.failure_reason
    return out
