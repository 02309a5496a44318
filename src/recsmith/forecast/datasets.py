"""Forecast dataset groups and datasets.

Unlike Personalize's, a Forecast dataset stands on its own (it has a domain, a type, a schema and a data
frequency) and a dataset group lists the datasets it uses, at most one of each type, all of the group's domain.
A dataset's data lives in immutable data versions written by its import jobs (:mod:`recsmith.forecast.imports`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recsmith.catalog import Resource, ResourceType
from recsmith.errors import InvalidInputError, ResourceInUseError
from recsmith.forecast.resources import RUNNING, forecast_arn, get, times, validate_name
from recsmith.forecast.schemas import DatasetType, Domain, ForecastSchema, check_frequency, parse_schema
from recsmith.platform import Platform


def create_dataset_group(platform: Platform, name: str, domain: str, dataset_arns: Sequence[str] = ()) -> Resource:
    """A new dataset group of ``domain``, optionally with its datasets."""
    validate_name(name, "DatasetGroupName")
    kind = Domain.parse(domain)
    datasets = _checked_datasets(platform, kind, dataset_arns)
    arn = forecast_arn(platform.settings, ResourceType.FORECAST_DATASET_GROUP, name)
    return platform.catalog.create(
        Resource(
            arn=arn,
            resource_type=ResourceType.FORECAST_DATASET_GROUP,
            name=name,
            dataset_group_arn=arn,
            attributes={"Domain": kind.value, "DatasetArns": datasets},
        )
    )


def update_dataset_group(platform: Platform, dataset_group: str, dataset_arns: Sequence[str]) -> Resource:
    """Replace the group's datasets (Forecast's UpdateDatasetGroup)."""
    group = get(platform, ResourceType.FORECAST_DATASET_GROUP, dataset_group, "DatasetGroupArn")
    datasets = _checked_datasets(platform, Domain(group.attributes["Domain"]), dataset_arns)
    return platform.catalog.update(group, attributes={"DatasetArns": datasets})


def _checked_datasets(platform: Platform, domain: Domain, dataset_arns: Sequence[str]) -> list[str]:
    if isinstance(dataset_arns, str) or not all(isinstance(a, str) for a in dataset_arns):
        raise InvalidInputError("DatasetArns must be a list of dataset ARNs")
    seen: dict[str, str] = {}
    arns = []
    for value in dataset_arns:
        dataset = get(platform, ResourceType.FORECAST_DATASET, value, "DatasetArns")
        if dataset.attributes["Domain"] != domain.value:
            raise InvalidInputError(
                f"dataset {dataset.name} is of domain {dataset.attributes['Domain']}, the group's is {domain.value}"
            )
        kind = dataset.attributes["DatasetType"]
        if kind in seen:
            raise InvalidInputError(f"DatasetArns holds two {kind} datasets: {seen[kind]} and {dataset.name}")
        seen[kind] = dataset.name
        arns.append(dataset.arn)
    return arns


def group_dataset(platform: Platform, group: Resource, dataset_type: DatasetType) -> Resource | None:
    """The group's dataset of ``dataset_type``, if it has one."""
    for arn in group.attributes.get("DatasetArns", []):
        dataset = platform.catalog.find(ResourceType.FORECAST_DATASET, arn)
        if dataset is not None and dataset.attributes["DatasetType"] == dataset_type.value:
            return dataset
    return None


def create_dataset(
    platform: Platform,
    name: str,
    domain: str,
    dataset_type: str,
    schema: dict[str, Any],
    data_frequency: str | None = None,
) -> Resource:
    """A dataset with a checked schema; a time series dataset needs its ``DataFrequency``."""
    validate_name(name, "DatasetName")
    kind = DatasetType.parse(dataset_type)
    parsed = parse_schema(schema, Domain.parse(domain), kind)
    if kind is DatasetType.ITEM_METADATA:
        if data_frequency is not None:
            raise InvalidInputError("an ITEM_METADATA dataset has no DataFrequency")
    else:
        if data_frequency is None:
            raise InvalidInputError(f"a {kind} dataset needs a DataFrequency")
        check_frequency(data_frequency, "DataFrequency")
    arn = forecast_arn(platform.settings, ResourceType.FORECAST_DATASET, name)
    attributes: dict[str, Any] = {
        "Domain": parsed.domain.value,
        "DatasetType": kind.value,
        "Schema": parsed.to_forecast(),
        "dataVersion": None,
    }
    if data_frequency is not None:
        attributes["DataFrequency"] = data_frequency
    return platform.catalog.create(
        Resource(arn=arn, resource_type=ResourceType.FORECAST_DATASET, name=name, attributes=attributes)
    )


def dataset_schema(dataset: Resource) -> ForecastSchema:
    """The checked schema a dataset was created with."""
    attributes = dataset.attributes
    return parse_schema(attributes["Schema"], Domain(attributes["Domain"]), DatasetType(attributes["DatasetType"]))


def describe_dataset_group(group: Resource) -> dict[str, Any]:
    return {
        "DatasetGroupName": group.name,
        "DatasetGroupArn": group.arn,
        "DatasetArns": list(group.attributes.get("DatasetArns", [])),
        "Domain": group.attributes["Domain"],
        "Status": "ACTIVE",
        **times(group),
    }


def describe_dataset(dataset: Resource) -> dict[str, Any]:
    out = {
        "DatasetArn": dataset.arn,
        "DatasetName": dataset.name,
        "Domain": dataset.attributes["Domain"],
        "DatasetType": dataset.attributes["DatasetType"],
        "Schema": dataset.attributes["Schema"],
        "Status": "ACTIVE",
        **times(dataset),
    }
    if "DataFrequency" in dataset.attributes:
        out["DataFrequency"] = dataset.attributes["DataFrequency"]
    return out


def delete_dataset_group(platform: Platform, dataset_group: str) -> Resource:
    """Delete a group whose predictors are gone (its datasets stay: they are not the group's)."""
    group = get(platform, ResourceType.FORECAST_DATASET_GROUP, dataset_group, "DatasetGroupArn")
    predictors = platform.catalog.list(ResourceType.PREDICTOR, dataset_group_arn=group.arn)
    if predictors:
        raise ResourceInUseError(
            f"dataset group {group.name} still has predictor {predictors[0].name}; delete it first"
        )
    return platform.catalog.delete(ResourceType.FORECAST_DATASET_GROUP, group.arn)


def delete_dataset(platform: Platform, dataset: str) -> Resource:
    """Delete a dataset no group uses and no import job is writing (its data versions stay on disk, tracked)."""
    target = get(platform, ResourceType.FORECAST_DATASET, dataset, "DatasetArn")
    for group in platform.catalog.list(ResourceType.FORECAST_DATASET_GROUP):
        if target.arn in group.attributes.get("DatasetArns", []):
            raise ResourceInUseError(f"dataset {target.name} is in dataset group {group.name}; update the group first")
    for job in platform.catalog.list(ResourceType.FORECAST_DATASET_IMPORT_JOB, where={"DatasetArn": target.arn}):
        if job.status in RUNNING:
            raise ResourceInUseError(f"dataset {target.name} has import job {job.name} in progress")
    return platform.catalog.delete(ResourceType.FORECAST_DATASET, target.arn)


__all__ = [
    "create_dataset",
    "create_dataset_group",
    "dataset_schema",
    "delete_dataset",
    "delete_dataset_group",
    "describe_dataset",
    "describe_dataset_group",
    "group_dataset",
    "update_dataset_group",
]
