"""Forecast schemas are checked against their domain and dataset type, naming what is wrong."""

from __future__ import annotations

import pytest

from recsmith.errors import SchemaError
from recsmith.forecast.schemas import DatasetType, Domain, parse_schema


def _attributes(*pairs: tuple[str, str]) -> dict:
    return {"Attributes": [{"AttributeName": n, "AttributeType": t} for n, t in pairs]}


def test_each_domain_names_its_id_and_target() -> None:
    retail = parse_schema(
        _attributes(("item_id", "string"), ("timestamp", "timestamp"), ("demand", "float"), ("store", "string")),
        Domain.RETAIL,
        DatasetType.TARGET_TIME_SERIES,
    )
    assert (retail.id_field, retail.target_field, retail.dimensions) == ("item_id", "demand", ["store"])
    ec2 = parse_schema(
        _attributes(("instance_type", "string"), ("timestamp", "timestamp"), ("number_of_instances", "integer")),
        Domain.EC2_CAPACITY,
        DatasetType.TARGET_TIME_SERIES,
    )
    assert ec2.target_field == "number_of_instances"


TTS = DatasetType.TARGET_TIME_SERIES
RTS = DatasetType.RELATED_TIME_SERIES
META = DatasetType.ITEM_METADATA


@pytest.mark.parametrize(
    ("pairs", "kind", "message"),
    [
        ((("item_id", "string"), ("timestamp", "timestamp")), TTS, "needs attribute target_value"),
        (
            (("item_id", "string"), ("timestamp", "string"), ("target_value", "float")),
            TTS,
            "attribute timestamp must be of type timestamp, not string",
        ),
        ((("item_id", "blob"),), META, "AttributeType 'blob' is not allowed"),
        ((("item-id", "string"),), META, "AttributeName 'item-id' must be"),
        ((("item_id", "string"), ("item_id", "string")), META, "appears twice"),
        (
            (("item_id", "string"), ("timestamp", "timestamp"), ("target_value", "float")),
            RTS,
            "must not hold the target target_value",
        ),
        ((("item_id", "string"), ("timestamp", "timestamp"), ("color", "string")), RTS, "at least one integer"),
    ],
)
def test_bad_schemas_say_what_is_wrong(pairs: tuple, kind: DatasetType, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_schema(_attributes(*pairs), Domain.CUSTOM, kind)


def test_empty_schema_unknown_domain_and_type_are_refused() -> None:
    with pytest.raises(SchemaError, match="Schema must be"):
        parse_schema({"Attributes": []}, Domain.CUSTOM, META)
    with pytest.raises(SchemaError, match="unknown Domain 'SHOES'; allowed: RETAIL, CUSTOM"):
        Domain.parse("SHOES")
    with pytest.raises(SchemaError, match="unknown DatasetType 'INTERACTIONS'"):
        DatasetType.parse("INTERACTIONS")
