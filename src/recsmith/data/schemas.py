"""Dataset schemas: Avro record JSON, accepted as Personalize accepts it.

A schema is ``{"type": "record", "name": ..., "namespace": ..., "fields": [...]}``; each field has a ``name``
and a ``type`` that is one of string, int, long, float, double, boolean, or a union of one of them with
``"null"``; string fields may be ``categorical`` (multi-valued with ``|``) or ``textual``. Each dataset type has
required fields (Interactions: USER_ID, ITEM_ID, TIMESTAMP; Items: ITEM_ID; Users: USER_ID).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsmith.errors import SchemaError

PRIMITIVE_TYPES = ("string", "int", "long", "float", "double", "boolean")


class DatasetType(StrEnum):
    """The dataset types of a dataset group."""

    INTERACTIONS = "INTERACTIONS"
    ITEMS = "ITEMS"
    USERS = "USERS"

    @classmethod
    def parse(cls, value: str) -> DatasetType:
        try:
            return cls(value.upper())
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise SchemaError(f"unknown dataset type {value!r}; allowed: {allowed}") from None


# Personalize's reserved optional fields, wherever they appear: the types they may have
RESERVED_FIELDS: dict[str, tuple[str, ...]] = {
    "EVENT_TYPE": ("string",),
    "EVENT_VALUE": ("float", "double"),
    "IMPRESSION": ("string",),
    "RECOMMENDATION_ID": ("string",),
    "EVENT_ATTRIBUTION_SOURCE": ("string",),
    "CREATION_TIMESTAMP": ("long", "int"),
}
_AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

REQUIRED_FIELDS: dict[DatasetType, dict[str, tuple[str, ...]]] = {
    DatasetType.INTERACTIONS: {USER_ID: ("string",), ITEM_ID: ("string",), TIMESTAMP: ("long", "int")},
    DatasetType.ITEMS: {ITEM_ID: ("string",)},
    DatasetType.USERS: {USER_ID: ("string",)},
}


class SchemaField(BaseModel):
    """One field of a schema."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    nullable: bool = False
    categorical: bool = False
    textual: bool = False


class DatasetSchema(BaseModel):
    """A parsed schema; ``source`` is the JSON as the user wrote it."""

    model_config = ConfigDict(frozen=True)

    name: str
    fields: tuple[SchemaField, ...]
    source: str

    def field(self, name: str) -> SchemaField | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def check_for(self, dataset_type: DatasetType) -> None:
        """Raise unless the schema has the fields ``dataset_type`` requires, with the right types."""
        for name, types in REQUIRED_FIELDS[dataset_type].items():
            found = self.field(name)
            if found is None:
                raise SchemaError(f"schema {self.name!r} lacks field {name}, which {dataset_type} datasets require")
            if found.type not in types or found.nullable:
                raise SchemaError(
                    f"schema {self.name!r}: field {name} must be of type {' or '.join(types)} and not null, "
                    f"not {found.type}{' or null' if found.nullable else ''}"
                )
        for found in self.fields:
            allowed = RESERVED_FIELDS.get(found.name)
            if allowed and found.type not in allowed:
                raise SchemaError(
                    f"schema {self.name!r}: reserved field {found.name} must be of type {' or '.join(allowed)}, "
                    f"not {found.type}"
                )
            if found.name == "EVENT_TYPE" and found.categorical:
                raise SchemaError(f"schema {self.name!r}: reserved field EVENT_TYPE cannot be categorical")

    def check_update(self, new: DatasetSchema) -> None:
        """Raise unless ``new`` only adds nullable fields to this schema (what UpdateDataset allows), so the
        data already imported stays valid under it."""
        for old in self.fields:
            found = new.field(old.name)
            if found is None:
                raise SchemaError(f"schema {new.name!r} drops field {old.name}; an update can only add fields")
            if found != old:
                raise SchemaError(
                    f"schema {new.name!r} changes field {old.name} ({_describe(old)} -> {_describe(found)}); "
                    "an update can only add fields"
                )
        for added in new.fields:
            if self.field(added.name) is None and not added.nullable:
                raise SchemaError(
                    f'schema {new.name!r}: added field {added.name} must be nullable (a union with "null"), '
                    "since the rows already imported have no value for it"
                )


def _describe(field: SchemaField) -> str:
    flags = [field.type] + (["null"] if field.nullable else [])
    flags += ["categorical"] if field.categorical else []
    flags += ["textual"] if field.textual else []
    return "/".join(flags)


def parse_schema(text: str) -> DatasetSchema:
    """Parse and check an Avro record schema; the error names the field and what is allowed."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"schema is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "record":
        got = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise SchemaError(
            f'schema must be an Avro record: {{"type": "record", "name": ..., "fields": [...]}}, not {got!r}'
        )
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaError("schema record needs a name")
    raw_fields = doc.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SchemaError("schema record needs a non-empty list of fields")
    fields: list[SchemaField] = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_fields):
        parsed = _parse_field(raw, position)
        if parsed.name in seen:
            raise SchemaError(f"schema field {parsed.name!r} appears twice")
        seen.add(parsed.name)
        fields.append(parsed)
    return DatasetSchema(name=name, fields=tuple(fields), source=text)


def _parse_field(raw: Any, position: int) -> SchemaField:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise SchemaError(f"schema field #{position + 1} must be an object with a name")
    name = raw["name"]
    if not _AVRO_NAME.match(name):
        raise SchemaError(
            f"schema field {name!r}: an Avro name starts with a letter or _ and holds only letters, digits and _"
        )
    declared = raw.get("type")
    nullable = False
    if isinstance(declared, list):
        non_null = [t for t in declared if t != "null"]
        nullable = len(non_null) < len(declared)
        if len(non_null) != 1 or len(declared) != len(set(map(str, declared))):
            raise SchemaError(f'schema field {name!r}: a union must be one type plus "null", got {declared}')
        declared = non_null[0]
    if declared not in PRIMITIVE_TYPES:
        raise SchemaError(
            f"schema field {name!r}: type {declared!r} is not allowed; allowed: {', '.join(PRIMITIVE_TYPES)} "
            '(optionally in a union with "null"; arrays, maps and nested records are not)'
        )
    for flag in ("categorical", "textual"):
        if not isinstance(raw.get(flag, False), bool):
            raise SchemaError(f"schema field {name!r}: {flag} must be true or false, not {raw[flag]!r}")
    categorical = bool(raw.get("categorical", False))
    textual = bool(raw.get("textual", False))
    if (categorical or textual) and declared != "string":
        raise SchemaError(f"schema field {name!r}: only string fields can be categorical or textual")
    if categorical and textual:
        raise SchemaError(f"schema field {name!r}: a field cannot be both categorical and textual")
    return SchemaField(name=name, type=declared, nullable=nullable, categorical=categorical, textual=textual)
