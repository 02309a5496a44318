"""Forecast's dataset schemas: ``{"Attributes": [{"AttributeName", "AttributeType"}, ...]}``, checked as Forecast
checks them against the dataset's domain and type.

Each domain names its series' id field and its target field (CUSTOM: ``item_id`` and ``target_value``; RETAIL:
``item_id`` and ``demand``; ...). A TARGET_TIME_SERIES needs the id, ``timestamp`` and the target; a
RELATED_TIME_SERIES the id, ``timestamp`` and at least one numeric feature; an ITEM_METADATA the id and at least
one attribute. The order of the attributes is the column order of a CSV import (Forecast's files have no
header). Other string attributes of a target series can be forecast dimensions (``ForecastDimensions``).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from recsmith.errors import SchemaError

ATTRIBUTE_TYPES = ("string", "integer", "float", "timestamp", "geolocation")
NUMERIC_TYPES = ("integer", "float")
TIMESTAMP = "timestamp"
_ATTRIBUTE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,62}$")
FREQUENCIES = ("Y", "M", "W", "D", "H", "30min", "15min", "10min", "5min", "1min")


class Domain(StrEnum):
    """Forecast's dataset domains: each fixes the id and target field names."""

    RETAIL = "RETAIL"
    CUSTOM = "CUSTOM"
    INVENTORY_PLANNING = "INVENTORY_PLANNING"
    EC2_CAPACITY = "EC2_CAPACITY"
    WORK_FORCE = "WORK_FORCE"
    WEB_TRAFFIC = "WEB_TRAFFIC"
    METRICS = "METRICS"

    @classmethod
    def parse(cls, value: Any) -> Domain:
        try:
            return cls(str(value))
        except ValueError:
            raise SchemaError(f"unknown Domain {value!r}; allowed: {', '.join(d.value for d in cls)}") from None


class DatasetType(StrEnum):
    TARGET_TIME_SERIES = "TARGET_TIME_SERIES"
    RELATED_TIME_SERIES = "RELATED_TIME_SERIES"
    ITEM_METADATA = "ITEM_METADATA"

    @classmethod
    def parse(cls, value: Any) -> DatasetType:
        try:
            return cls(str(value))
        except ValueError:
            raise SchemaError(f"unknown DatasetType {value!r}; allowed: {', '.join(d.value for d in cls)}") from None


# domain -> (id field, target field)
DOMAIN_FIELDS: dict[Domain, tuple[str, str]] = {
    Domain.RETAIL: ("item_id", "demand"),
    Domain.CUSTOM: ("item_id", "target_value"),
    Domain.INVENTORY_PLANNING: ("item_id", "demand"),
    Domain.EC2_CAPACITY: ("instance_type", "number_of_instances"),
    Domain.WORK_FORCE: ("workforce_type", "workforce_demand"),
    Domain.WEB_TRAFFIC: ("item_id", "value"),
    Domain.METRICS: ("metric_name", "metric_value"),
}


class Attribute(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str


class ForecastSchema(BaseModel):
    """A checked schema of one dataset: its attributes in file order, and which ones play which part."""

    model_config = ConfigDict(frozen=True)

    attributes: tuple[Attribute, ...]
    domain: Domain
    dataset_type: DatasetType

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.attributes]

    def type_of(self, name: str) -> str | None:
        return next((a.type for a in self.attributes if a.name == name), None)

    @property
    def id_field(self) -> str:
        return DOMAIN_FIELDS[self.domain][0]

    @property
    def target_field(self) -> str:
        return DOMAIN_FIELDS[self.domain][1]

    @property
    def dimensions(self) -> list[str]:
        """String attributes besides the id: what ``ForecastDimensions`` may name."""
        return [a.name for a in self.attributes if a.type == "string" and a.name != self.id_field]

    def to_forecast(self) -> dict[str, Any]:
        return {"Attributes": [{"AttributeName": a.name, "AttributeType": a.type} for a in self.attributes]}


def parse_schema(raw: Any, domain: Domain, dataset_type: DatasetType) -> ForecastSchema:
    """Check a request's ``Schema`` for a dataset of ``domain`` and ``dataset_type``; the error names the
    attribute and what is allowed."""
    if not isinstance(raw, dict) or not isinstance(raw.get("Attributes"), list) or not raw["Attributes"]:
        raise SchemaError('Schema must be {"Attributes": [{"AttributeName": ..., "AttributeType": ...}, ...]}')
    if len(raw["Attributes"]) > 100:
        raise SchemaError("Schema has more than 100 attributes")
    attributes: list[Attribute] = []
    for position, item in enumerate(raw["Attributes"]):
        if not isinstance(item, dict):
            raise SchemaError(f"Schema attribute #{position + 1} must be an object")
        name, kind = item.get("AttributeName"), item.get("AttributeType")
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.match(name):
            raise SchemaError(
                f"Schema attribute #{position + 1}: AttributeName {name!r} must be 1-63 letters, digits or '_', "
                "starting with a letter"
            )
        if kind not in ATTRIBUTE_TYPES:
            raise SchemaError(
                f"Schema attribute {name}: AttributeType {kind!r} is not allowed; allowed: {', '.join(ATTRIBUTE_TYPES)}"
            )
        if any(a.name == name for a in attributes):
            raise SchemaError(f"Schema attribute {name} appears twice")
        attributes.append(Attribute(name=name, type=kind))
    schema = ForecastSchema(attributes=tuple(attributes), domain=domain, dataset_type=dataset_type)
    _check_required(schema)
    return schema


def _require(schema: ForecastSchema, name: str, allowed: tuple[str, ...]) -> None:
    found = schema.type_of(name)
    if found is None:
        raise SchemaError(
            f"a {schema.dataset_type} dataset of domain {schema.domain} needs attribute {name} ({' or '.join(allowed)})"
        )
    if found not in allowed:
        raise SchemaError(f"attribute {name} must be of type {' or '.join(allowed)}, not {found}")


def _check_required(schema: ForecastSchema) -> None:
    _require(schema, schema.id_field, ("string",))
    if schema.dataset_type is DatasetType.ITEM_METADATA:
        if len(schema.attributes) < 2:
            raise SchemaError(f"an ITEM_METADATA dataset needs an attribute besides {schema.id_field}")
        if schema.type_of(TIMESTAMP) is not None:
            raise SchemaError("an ITEM_METADATA dataset has no timestamp attribute")
        return
    _require(schema, TIMESTAMP, ("timestamp",))
    if [a.name for a in schema.attributes if a.type == "timestamp"] != [TIMESTAMP]:
        raise SchemaError("a time series dataset has exactly one timestamp attribute, named timestamp")
    if schema.dataset_type is DatasetType.TARGET_TIME_SERIES:
        _require(schema, schema.target_field, NUMERIC_TYPES)
    else:
        if schema.type_of(schema.target_field) is not None:
            raise SchemaError(f"a RELATED_TIME_SERIES dataset must not hold the target {schema.target_field}")
        features = [a for a in schema.attributes if a.type in NUMERIC_TYPES]
        if not features:
            raise SchemaError("a RELATED_TIME_SERIES dataset needs at least one integer or float attribute")


def check_frequency(value: Any, field: str) -> str:
    if value not in FREQUENCIES:
        raise SchemaError(f"{field} {value!r} is not a frequency; allowed: {', '.join(FREQUENCIES)}")
    return str(value)
