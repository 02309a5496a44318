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


def _record(*fields: dict[str, object]) -> str:
    return json.dumps(
        {"type": "record", "name": "x", "namespace": "com.amazonaws.personalize.schema", "fields": fields}
    )


BASE = (
    {"name": "USER_ID", "type": "string"},
    {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"},
)


@pytest.mark.parametrize("kind", ["string", "int", "long", "float", "double", "boolean"])
@pytest.mark.parametrize("union", [False, True, "null-last"])
def test_every_avro_primitive_and_null_union_is_accepted(kind: str, union: bool | str) -> None:
    declared: object = kind if union is False else (["null", kind] if union is True else [kind, "null"])
    schema = parse_schema(_record(*BASE, {"name": "EXTRA", "type": declared}))
    schema.check_for(DatasetType.INTERACTIONS)
    extra = schema.field("EXTRA")
    assert extra is not None and extra.type == kind and extra.nullable is (union is not False)


def test_categorical_textual_reserved_fields_and_no_field_cap() -> None:
    fields = [
        *BASE,
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "IMPRESSION", "type": ["null", "string"]},
        {"name": "RECOMMENDATION_ID", "type": ["null", "string"]},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
    ]
    parse_schema(_record(*fields)).check_for(DatasetType.INTERACTIONS)
    many = [{"name": "ITEM_ID", "type": "string"}, {"name": "CREATION_TIMESTAMP", "type": "long"}]
    many += [{"name": "DESCRIPTION", "type": ["null", "string"], "textual": True}]
    many += [{"name": f"F_{n}", "type": ["null", "string"], "categorical": True} for n in range(160)]
    items = parse_schema(_record(*many))
    items.check_for(DatasetType.ITEMS)
    assert len(items.fields) == 163 and items.field("DESCRIPTION").textual  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("extra", "kind", "message"),
    [
        ({"name": "EVENT_VALUE", "type": "string"}, DatasetType.INTERACTIONS, "EVENT_VALUE must be of type float"),
        ({"name": "EVENT_TYPE", "type": "int"}, DatasetType.INTERACTIONS, "EVENT_TYPE must be of type string"),
        (
            {"name": "EVENT_TYPE", "type": "string", "categorical": True},
            DatasetType.INTERACTIONS,
            "EVENT_TYPE cannot be categorical",
        ),
        ({"name": "CREATION_TIMESTAMP", "type": "string"}, DatasetType.ITEMS, "CREATION_TIMESTAMP must be of type"),
    ],
)
def test_reserved_fields_keep_their_types(extra: dict[str, object], kind: DatasetType, message: str) -> None:
    base = BASE if kind is DatasetType.INTERACTIONS else ({"name": "ITEM_ID", "type": "string"},)
    with pytest.raises(SchemaError, match=message):
        parse_schema(_record(*base, extra)).check_for(kind)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("[1, 2]", "must be an Avro record.*not 'list'"),
        ('"record"', "must be an Avro record.*not 'str'"),
        (_record({"name": "bad-name", "type": "string"}), "an Avro name starts with a letter"),
        (_record({"name": "A", "type": ["null", "string", "int"]}), 'a union must be one type plus "null"'),
        (_record({"name": "A", "type": ["null", "null"]}), 'a union must be one type plus "null"'),
        (_record({"name": "A", "type": {"type": "array", "items": "string"}}), "arrays, maps and nested records"),
        (_record({"name": "A", "type": "string", "categorical": "yes"}), "categorical must be true or false"),
        (_record({"name": "A", "type": "string", "categorical": True, "textual": True}), "both categorical and"),
    ],
)
def test_more_schemas_personalize_rejects(schema: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_schema(schema)
