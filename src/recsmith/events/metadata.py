"""PutUsers and PutItems: live user and item metadata, with Personalize's fields and limits.

A call names a USERS (PutUsers) or ITEMS (PutItems) dataset by ARN and carries 1 to 10 records, each an id
(1-256 characters) and ``properties``: a JSON object as a string (at most 24,000 characters for a user, 32,000
for an item). As in Personalize, the keys are the camelCase form of the schema's field names
(``numberOfRatings`` for ``NUMBER_OF_RATINGS``, ``genres`` for ``GENRES``); the schema's own spelling is
accepted too. Every value is checked against the dataset's schema by the shared rules of
:mod:`recsmith.data.rules` (ids of 1-256 characters that every store can hold, finite numbers in their type's
range); one bad record refuses the whole call and nothing is stored.

Records are appended to the event store (``put_users`` / ``put_items``); the newest record of an id wins.
:func:`current_metadata` lays them over the bulk data version, which is what filters see at the next request
and what training reads at the next training.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from models.columns import ITEM_ID, USER_ID
from recsmith.catalog import Resource, ResourceType
from recsmith.data import rules
from recsmith.data.datasets import dataset_schema, find_dataset
from recsmith.data.imports import read_current
from recsmith.data.schemas import DatasetSchema, DatasetType, SchemaField
from recsmith.data.validation import TIMESTAMP_FIELDS
from recsmith.errors import InvalidInputError
from recsmith.platform import Platform

MAX_RECORDS_PER_CALL = rules.MAX_RECORDS_PER_CALL
MAX_ID_CHARS = rules.MAX_ID_CHARS
MAX_PROPERTIES_CHARS = {DatasetType.USERS: 24_000, DatasetType.ITEMS: 32_000}
MAX_CATEGORICAL_CHARS = rules.MAX_CATEGORICAL_CHARS

_ID_COLUMN = {DatasetType.USERS: USER_ID, DatasetType.ITEMS: ITEM_ID}
_ID_KEY = {DatasetType.USERS: "userId", DatasetType.ITEMS: "itemId"}
_LIST_KEY = {DatasetType.USERS: "users", DatasetType.ITEMS: "items"}


def put_users(platform: Platform, dataset_arn: str, users: Sequence[Mapping[str, Any]]) -> int:
    """PutUsers: validate 1-10 ``{"userId", "properties"}`` records and store them durably; returns the count."""
    return _put(platform, DatasetType.USERS, dataset_arn, users)


def put_items(platform: Platform, dataset_arn: str, items: Sequence[Mapping[str, Any]]) -> int:
    """PutItems: validate 1-10 ``{"itemId", "properties"}`` records and store them durably; returns the count."""
    return _put(platform, DatasetType.ITEMS, dataset_arn, items)


def _put(platform: Platform, kind: DatasetType, dataset_arn: str, records: Sequence[Mapping[str, Any]]) -> int:
    dataset = _dataset(platform, kind, dataset_arn)
    name = _LIST_KEY[kind]
    records = rules.check_list(records, name, min_items=1, max_items=MAX_RECORDS_PER_CALL, noun="records")
    schema = dataset_schema(platform, dataset)
    now = time.time()
    latest = rules.latest_timestamp(now, platform.settings.import_future_tolerance_seconds)
    rows = [
        {
            "dataset_group_arn": dataset.dataset_group_arn,
            "dataset_arn": dataset.arn,
            "entity_id": entity_id,
            "properties": json.dumps(properties, sort_keys=True),
            "put_at": now,
        }
        for entity_id, properties in (
            _record(kind, schema, record, f"{name}[{position}]", latest) for position, record in enumerate(records)
        )
    ]
    platform.events.put_records(kind.value, rows)
    return len(rows)


def _dataset(platform: Platform, kind: DatasetType, dataset_arn: str) -> Resource:
    if not dataset_arn:
        raise InvalidInputError("datasetArn is required")
    rules.check_string(dataset_arn, "datasetArn", max_chars=rules.MAX_ID_CHARS)
    dataset = platform.catalog.get(ResourceType.DATASET, dataset_arn)
    actual = dataset.attributes.get("datasetType")
    if actual != kind.value:
        operation = "PutUsers" if kind is DatasetType.USERS else "PutItems"
        raise InvalidInputError(f"{operation} needs a {kind.value} dataset; {dataset.arn} is a {actual} dataset")
    return dataset


def _record(
    kind: DatasetType, schema: DatasetSchema, record: Mapping[str, Any], where: str, latest: int
) -> tuple[str, dict[str, Any]]:
    if not isinstance(record, Mapping):
        raise InvalidInputError(f"{where}: must be an object with {_ID_KEY[kind]} and properties")
    id_key = _ID_KEY[kind]
    if record.get(id_key) is None:
        raise InvalidInputError(f"{where}.{id_key}: required, a string of 1 to {MAX_ID_CHARS} characters")
    entity_id = rules.check_id(record[id_key], f"{where}.{id_key}")
    raw = record.get("properties")
    properties = _properties(kind, raw, f"{where}.properties")
    fields = {_field_key(f.name): f for f in schema.fields if f.name != _ID_COLUMN[kind]}
    typed: dict[str, Any] = {}
    for key, value in properties.items():
        field = fields.get(_field_key(key))
        if field is None:
            allowed = ", ".join(_camel(f.name) for f in fields.values()) or "none"
            raise InvalidInputError(
                f"{where}.properties: key {key!r} matches no field of schema {schema.name!r} (allowed: {allowed})"
            )
        typed[field.name] = _typed(field, value, f"{where}.properties.{key}", latest)
    missing = [f for f in fields.values() if not f.nullable and typed.get(f.name) is None]
    if missing:
        raise InvalidInputError(
            f"{where}.properties: {_camel(missing[0].name)!r} is required (field {missing[0].name} of schema "
            f"{schema.name!r} is not nullable)"
        )
    return entity_id, typed


def _properties(kind: DatasetType, raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        limit = MAX_PROPERTIES_CHARS[kind]
        if not 1 <= len(raw) <= limit:
            raise InvalidInputError(f"{where}: {len(raw)} characters; the limit is 1 to {limit}")
        raw = rules.parse_json(rules.check_string(raw, where, max_chars=limit), where)
    if not isinstance(raw, dict):
        raise InvalidInputError(f'{where}: must be a JSON object such as {{"genres": "Comedy|Drama"}}')
    return raw


def _typed(field: SchemaField, value: Any, where: str, latest: int) -> Any:
    if value is None or value == "":
        if not field.nullable:
            raise InvalidInputError(f"{where}: empty, but field {field.name} is not nullable")
        return None
    if field.type == "string":
        if isinstance(value, bool | dict | list):
            raise InvalidInputError(f"{where}: expected a string, got {json.dumps(value)}")
        text = value if isinstance(value, str) else str(rules.check_number(value, where, largest=math.inf))
        if isinstance(value, str):  # NUL and unpaired surrogates would fail the next training, not this call
            limit = rules.MAX_TEXTUAL_CHARS if field.textual else max(MAX_PROPERTIES_CHARS.values())
            rules.check_string(text, where, max_chars=limit, min_chars=0)
        if field.categorical:
            long_part = next((p for p in text.split("|") if len(p) > MAX_CATEGORICAL_CHARS), None)
            if long_part is not None:
                raise InvalidInputError(
                    f"{where}: categorical value of {len(long_part)} characters; the limit is {MAX_CATEGORICAL_CHARS}"
                )
        return text
    if field.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidInputError(f"{where}: expected a boolean (true or false), got {json.dumps(value)}")
    number = _number(value, where, field)
    if field.type in ("int", "long"):
        if not number.is_integer():
            raise InvalidInputError(f"{where}: expected an integer ({field.type}), got {json.dumps(value)}")
        bounds = rules.INT_RANGE if field.type == "int" else rules.LONG_RANGE
        whole = rules.check_integer(int(value) if isinstance(value, int) else int(number), where, bounds=bounds)
        if field.name in TIMESTAMP_FIELDS:  # as imports check them: epoch seconds, not negative, not in the future
            rules.check_epoch_seconds(whole, where, latest=latest)
        return whole
    return rules.check_number(number, where, largest=rules.FLOAT_MAX if field.type == "float" else math.inf)


def _number(value: Any, where: str, field: SchemaField) -> float:
    if isinstance(value, bool):
        raise InvalidInputError(f"{where}: expected a number ({field.type}), got {json.dumps(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInputError(f"{where}: number out of range for {field.type}") from None
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where}: expected a number ({field.type}), got {json.dumps(value)}") from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{where}: expected a finite number, got {json.dumps(value)}")
    return number


def _field_key(name: str) -> str:
    """``numberOfRatings``, ``NUMBER_OF_RATINGS`` and ``number_of_ratings`` all become ``NUMBEROFRATINGS``."""
    return re.sub(r"[^A-Za-z0-9]", "", name).upper()


def _camel(name: str) -> str:
    """``NUMBER_OF_RATINGS`` as Personalize spells it in properties: ``numberOfRatings``."""
    head, *rest = name.lower().split("_")
    return head + "".join(part.capitalize() for part in rest)


def current_metadata(
    platform: Platform, dataset_group_arn: str, dataset_type: DatasetType | str
) -> pd.DataFrame | None:
    """The group's USERS or ITEMS records now: the bulk data version with every PutUsers/PutItems laid over it.

    A put record replaces the bulk row of the same id (the newest put wins); fields a put record leaves out are
    empty. Ids are strings. ``None`` when the group has neither bulk data nor put records of that type.
    """
    kind = DatasetType.parse(str(dataset_type))
    if kind is DatasetType.INTERACTIONS:
        raise InvalidInputError("current_metadata reads USERS or ITEMS, not INTERACTIONS")
    id_column = _ID_COLUMN[kind]
    dataset = find_dataset(platform, dataset_group_arn, kind)
    bulk = read_current(platform, dataset) if dataset is not None else None
    latest: dict[str, dict[str, Any]] = {}
    for _, entity_id, properties, _ in platform.events.put_rows(kind.value, dataset_group_arn):
        latest[entity_id] = json.loads(properties)
    if bulk is not None:
        bulk = bulk.astype({id_column: str})
    if not latest:
        return None if bulk is None or bulk.empty else bulk.reset_index(drop=True)
    put = pd.DataFrame([{id_column: key, **values} for key, values in latest.items()])
    if bulk is None or bulk.empty:
        if dataset is not None:
            columns = [f.name for f in dataset_schema(platform, dataset).fields]
            put = put.reindex(columns=columns)
        return put.reset_index(drop=True)
    kept = bulk[~bulk[id_column].isin(list(latest))]
    put = put.reindex(columns=bulk.columns)
    for column in bulk.columns:
        if column != id_column:
            try:
                put[column] = put[column].astype(bulk[column].dtype)
            except (TypeError, ValueError):
                put[column] = put[column].astype(object)
            if put[column].dtype == object:
                put[column] = put[column].where(put[column].notna(), None)
    return pd.concat([kept, put], ignore_index=True)
