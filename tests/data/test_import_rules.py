"""Imports apply the same rules as PutEvents: finite numbers in their type's range, ids of at most 256 characters.

A CSV ``nan`` or ``inf`` parses as a float, so an import once stored non-finite EVENT_VALUEs that PutEvents refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsmith.catalog import ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.imports import create_dataset_import_job, read_current
from recsmith.data.sample import INTERACTIONS_SCHEMA
from recsmith.platform import Platform

HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
GOOD_ROW = "u1,i1,1700000000,click,1.0\n"
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": ["null", "int"]}],
}


@pytest.fixture
def dataset(platform: Platform) -> str:
    create_dataset_group(platform, "shop")
    create_schema(platform, "shop-interactions", json.dumps(INTERACTIONS_SCHEMA))
    return create_dataset(platform, "shop-interactions", "shop", "INTERACTIONS", "shop-interactions").arn


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("u2,i3,1700000000,click,nan\n", "EVENT_VALUE", "expected a finite number"),
        ("u2,i3,1700000000,click,inf\n", "EVENT_VALUE", "expected a finite number"),
        ("u2,i3,1700000000,click,-Infinity\n", "EVENT_VALUE", "expected a finite number"),
        ("u2,i3,1700000000,click,1e39\n", "EVENT_VALUE", "number out of range for float"),
        (f"{'u' * 257},i3,1700000000,click,1\n", "USER_ID", "id longer than 256 characters"),
        (f"u2,{'i' * 257},1700000000,click,1\n", "ITEM_ID", "id longer than 256 characters"),
    ],
)
def test_rows_the_rules_refuse_fail_the_import(
    platform: Platform, dataset: str, tmp_path: Path, row: str, column: str, reason: str
) -> None:
    path = tmp_path / "data.csv"
    path.write_text(HEADER + GOOD_ROW + row)
    job = create_dataset_import_job(platform, "bad", dataset, str(path))
    assert job.status is Status.CREATE_FAILED
    assert (job.failure_reason or "").startswith(f"{path}, row 3, column {column}: {reason}"), job.failure_reason
    assert platform.catalog.get(ResourceType.DATASET, dataset).attributes.get("dataVersion") is None


def test_ids_at_the_limit_and_finite_values_import(platform: Platform, dataset: str, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(HEADER + f"{'u' * 256},{'i' * 256},1700000000,click,3.4e38\n" + GOOD_ROW)
    job = create_dataset_import_job(platform, "good", dataset, str(path))
    assert job.status is Status.ACTIVE, job.failure_reason
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, dataset))
    assert frame is not None and len(frame) == 2


def test_an_int_field_out_of_32_bits_fails_the_import(platform: Platform, tmp_path: Path) -> None:
    create_dataset_group(platform, "shop")
    create_schema(platform, "shop-users", json.dumps(USERS_SCHEMA))
    users = create_dataset(platform, "shop-users", "shop", "USERS", "shop-users").arn
    path = tmp_path / "users.csv"
    path.write_text("USER_ID,AGE\nu1,30\nu2,2147483648\n")
    job = create_dataset_import_job(platform, "users", users, str(path))
    assert job.status is Status.CREATE_FAILED
    assert "row 3, column AGE: integer out of range for int" in (job.failure_reason or ""), job.failure_reason
