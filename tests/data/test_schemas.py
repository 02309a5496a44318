"""Schemas are accepted and rejected as Personalize does, with the reason."""

from __future__ import annotations

import json

import pytest

from recsmith.data.sample import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
from recsmith.data.schemas import DatasetType, parse_schema
from recsmith.errors import SchemaError


def test_sample_schemas_parse_and_fit_their_types() -> None:
    parsed = parse_schema(json.dumps(INTERACTIONS_SCHEMA))
    parsed.check_for(DatasetType.INTERACTIONS)
    items = parse_schema(json.dumps(ITEMS_SCHEMA))
    assert items.field("GENRES").categorical and items.field("GENRES").nullable


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"type": "array", "items": "string"}), "must be an Avro record"),
        (json.dumps({"type": "record", "name": "x", "fields": []}), "non-empty list of fields"),
        (json.dumps({"type": "record", "name": "x", "fields": [{"name": "A", "type": "map"}]}), "not allowed"),
        (
            json.dumps({"type": "record", "name": "x", "fields": [{"name": "A", "type": "int", "categorical": True}]}),
            "only string fields can be categorical",
        ),
        (
            json.dumps({"type": "record", "name": "x", "fields": [{"name": "A", "type": "string"}] * 2}),
            "appears twice",
        ),
    ],
)
def test_bad_schemas_are_rejected_with_reason(schema: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_schema(schema)


def test_interactions_need_user_item_timestamp() -> None:
    schema = parse_schema(
        json.dumps({"type": "record", "name": "x", "fields": [{"name": "USER_ID", "type": "string"}]})
    )
    with pytest.raises(SchemaError, match="lacks field ITEM_ID"):
        schema.check_for(DatasetType.INTERACTIONS)
