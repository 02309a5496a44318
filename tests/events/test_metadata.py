"""PutUsers/PutItems: Personalize's fields and limits, schema-checked properties, and the put-over-bulk view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from recsmith.catalog import ResourceType
from recsmith.data.schemas import DatasetType
from recsmith.errors import InvalidInputError, ResourceNotFoundError
from recsmith.events.metadata import current_metadata, put_items, put_users
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.training.versions import training_metadata
from recsmith.workflow import ImportConfig, import_dataset

ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
        {"name": "PRICE", "type": "double"},
        {"name": "NUMBER_OF_RATINGS", "type": ["null", "long"]},
        {"name": "IN_STOCK", "type": ["null", "boolean"]},
    ],
}
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": ["null", "int"]}],
}


def _shop(tmp_path: Path, database_url: str) -> Iterator[tuple[Platform, str, str]]:
    """A group with three bulk items and a USERS dataset; yields the platform and both dataset ARNs."""
    platform = Platform(Settings(home=tmp_path / "home", event_store_url=database_url))
    (tmp_path / "items.json").write_text(json.dumps(ITEMS_SCHEMA))
    (tmp_path / "users.json").write_text(json.dumps(USERS_SCHEMA))
    (tmp_path / "items.csv").write_text(
        "ITEM_ID,GENRES,PRICE,NUMBER_OF_RATINGS,IN_STOCK\ni1,Comedy,1.5,3,true\ni2,Drama|Comedy,20,,false\ni3,,7,1,\n"
    )
    (tmp_path / "users.csv").write_text("USER_ID,AGE\nu1,30\n")
    for kind in ("ITEMS", "USERS"):
        import_dataset(
            platform,
            ImportConfig(
                dataset_group="shop",
                dataset_type=kind,
                data_location=str(tmp_path / f"{kind.lower()}.csv"),
                schema_file=str(tmp_path / f"{kind.lower()}.json"),
            ),
        )
    items = platform.catalog.get(ResourceType.DATASET, "shop-items").arn
    users = platform.catalog.get(ResourceType.DATASET, "shop-users").arn
    yield platform, items, users
    platform.catalog.dispose()
    platform.events.dispose()


@pytest.fixture
def shop(tmp_path: Path, database_url: str) -> Iterator[tuple[Platform, str, str]]:
    yield from _shop(tmp_path, database_url)


@pytest.fixture(scope="module")
def shared_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str, str]]:
    """One SQLite shop for the bad-input cases: validation refuses them before the store is touched."""
    folder = tmp_path_factory.mktemp("shop")
    yield from _shop(folder, f"sqlite:///{folder / 'store.db'}")


def test_put_items_lay_over_the_bulk_data_and_the_newest_put_wins(shop: tuple[Platform, str, str]) -> None:
    platform, items_arn, _ = shop
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    assert (
        put_items(
            platform,
            items_arn,
            [
                {"itemId": "i2", "properties": json.dumps({"genres": "Horror", "price": 5, "numberOfRatings": "12"})},
                {
                    "itemId": "i9",
                    "properties": json.dumps({"GENRES": "Action|Comedy", "price": "2.25", "inStock": "true"}),
                },
            ],
        )
        == 2
    )
    put_items(platform, items_arn, [{"itemId": "i9", "properties": json.dumps({"price": 3})}])
    frame = current_metadata(platform, group, "ITEMS")
    assert frame is not None
    rows = {row["ITEM_ID"]: row for row in frame.to_dict("records")}
    assert sorted(rows) == ["i1", "i2", "i3", "i9"]
    assert (rows["i2"]["GENRES"], rows["i2"]["PRICE"], rows["i2"]["NUMBER_OF_RATINGS"]) == ("Horror", 5.0, 12)
    assert rows["i9"]["PRICE"] == 3.0 and pd.isna(rows["i9"]["GENRES"])  # the newest put replaces the whole record
    assert rows["i1"]["GENRES"] == "Comedy" and pd.api.types.is_float_dtype(frame["PRICE"])
    trained_on = training_metadata(platform, group, DatasetType.ITEMS)  # the next training sees the puts too
    assert trained_on is not None and trained_on.set_index("ITEM_ID").loc["i2", "GENRES"] == "Horror"
    users = current_metadata(platform, group, DatasetType.USERS)
    assert users is not None and list(users["USER_ID"]) == ["u1"]


def test_put_users_without_bulk_data(tmp_path: Path) -> None:
    platform = Platform(Settings(home=tmp_path / "home"))
    from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema

    group = create_dataset_group(platform, "fresh")
    create_schema(platform, "fresh-users", json.dumps(USERS_SCHEMA))
    dataset = create_dataset(platform, "fresh-users", "fresh", "USERS", "fresh-users")
    assert current_metadata(platform, group.arn, "USERS") is None
    put_users(platform, dataset.arn, [{"userId": "u7", "properties": '{"age": 41}'}, {"userId": "u8"}])
    frame = current_metadata(platform, group.arn, "USERS")
    assert frame is not None
    assert frame.to_dict("records")[0] == {"USER_ID": "u7", "AGE": 41}
    assert list(frame.columns) == ["USER_ID", "AGE"]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([], "items must hold 1 to 10 records, got 0"),
        ([{"itemId": f"i{n}", "properties": '{"price": 1}'} for n in range(11)], "1 to 10 records, got 11"),
        ([{"properties": '{"price": 1}'}], r"items\[0\]\.itemId: required"),
        ([{"itemId": "x" * 257, "properties": '{"price": 1}'}], "1 to 256 characters"),
        ([{"itemId": "i1", "properties": "{price: 1}"}], r"items\[0\]\.properties: not valid JSON"),
        ([{"itemId": "i1", "properties": "[1]"}], "must be a JSON object"),
        ([{"itemId": "i1", "properties": '{"price": 1, "colour": "red"}'}], "key 'colour' matches no field.*price"),
        (
            [{"itemId": "ok", "properties": '{"price": 1}'}, {"itemId": "i1", "properties": '{"price": "cheap"}'}],
            r"items\[1\]\.properties\.price: expected a number \(double\)",
        ),
        ([{"itemId": "i1", "properties": '{"price": 1, "numberOfRatings": 1.5}'}], r"expected an integer \(long\)"),
        ([{"itemId": "i1", "properties": '{"price": 1, "inStock": "yes"}'}], "expected a boolean"),
        ([{"itemId": "i1", "properties": '{"genres": "Comedy"}'}], "'price' is required"),
        ([{"itemId": "i1", "properties": json.dumps({"price": 1, "genres": "x" * 1001})}], "limit is 1000"),
        ([{"itemId": "i1", "properties": json.dumps({"price": 1, "genres": "x" * 32_001})}], "limit is 1 to 32000"),
    ],
)
def test_bad_put_items_store_nothing(
    shared_shop: tuple[Platform, str, str], records: list[dict[str, str]], message: str
) -> None:
    platform, items_arn, _ = shared_shop
    with pytest.raises(InvalidInputError, match=message):
        put_items(platform, items_arn, records)
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    assert platform.events.put_version("ITEMS", group) == 0


def test_put_needs_a_dataset_of_the_right_type(shop: tuple[Platform, str, str]) -> None:
    platform, items_arn, users_arn = shop
    with pytest.raises(InvalidInputError, match="PutUsers needs a USERS dataset"):
        put_users(platform, items_arn, [{"userId": "u1"}])
    with pytest.raises(InvalidInputError, match="PutItems needs a ITEMS dataset"):
        put_items(platform, users_arn, [{"itemId": "i1", "properties": '{"price": 1}'}])
    with pytest.raises(ResourceNotFoundError, match="nope"):
        put_items(platform, items_arn.replace("shop/ITEMS", "nope/ITEMS"), [{"itemId": "i1"}])


def test_cli_put_items_and_put_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recsmith.cli import main

    home = tmp_path / "home"
    monkeypatch.setenv("RECSMITH_HOME", str(home))
    shop = _shop(tmp_path, f"sqlite:///{home / 'events.db'}")
    platform, items_arn, users_arn = next(shop)
    item = json.dumps([{"itemId": "i5", "properties": json.dumps({"price": 4, "genres": "Jazz"})}])
    assert main(["put-items", "--dataset-arn", items_arn, "--items", item]) == 0
    assert json.loads(capsys.readouterr().out) == {"itemsStored": 1}
    assert (
        main(["put-users", "--dataset-arn", users_arn, "--users", '[{"userId": "u5", "properties": "{\\"age\\": 5}"}]'])
        == 0
    )
    assert json.loads(capsys.readouterr().out) == {"usersStored": 1}
    assert (
        main(
            [
                "put-users",
                "--dataset-arn",
                users_arn,
                "--users",
                '[{"userId": "u6", "properties": "{\\"age\\": \\"old\\"}"}]',
            ]
        )
        != 0
    )
    assert 'users[0].properties.age: expected a number (int), got "old"' in capsys.readouterr().err
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    frame = current_metadata(platform, group, "ITEMS")
    assert frame is not None and "i5" in set(frame["ITEM_ID"])
    shop.close()
