"""Import jobs: all or nothing, and a bad row names file, row, column and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsmith.catalog import ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.imports import create_dataset_import_job, read_current
from recsmith.data.sample import INTERACTIONS_SCHEMA, SampleFiles
from recsmith.errors import InvalidInputError
from recsmith.platform import Platform

GOOD = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nu1,i1,1700000000,click,1.0\nu1,i2,1700000100,click,\n"


@pytest.fixture
def dataset(platform: Platform) -> str:
    create_dataset_group(platform, "shop")
    create_schema(platform, "shop-interactions", json.dumps(INTERACTIONS_SCHEMA))
    return create_dataset(platform, "shop-interactions", "shop", "INTERACTIONS", "shop-interactions").arn


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def test_sample_imports_whole(platform: Platform, dataset: str, sample_files: SampleFiles) -> None:
    job = create_dataset_import_job(platform, "first", dataset, str(sample_files.interactions))
    assert job.status is Status.ACTIVE
    version = job.attributes["dataVersion"]
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, dataset))
    assert frame is not None and len(frame) == version["rowCount"]
    assert len(version["md5"]) == 32 and Path(version["path"]).is_dir()
    assert [p["name"] for p in version["partMd5s"]] == ["part-00000.parquet"]


@pytest.mark.parametrize(
    ("text", "row", "column", "reason"),
    [
        ("", 1, None, "file is empty"),
        ("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n", 2, None, "header but no data rows"),
        ("USER_ID,ITEM_ID\nu1,i1\n", 1, "TIMESTAMP", "required column is missing"),
        ("USER_ID,ITEM_ID,TIMESTAMP,COLOR\nu1,i1,1,red\n", 1, "COLOR", "not in schema"),
        (GOOD + "u2,i3,17000oops,click,1\n", 4, "TIMESTAMP", "expected an integer"),
        (GOOD + "u2,i3,1700000000000,click,1\n", 4, "TIMESTAMP", "looks like milliseconds"),
        (GOOD + "u2,i3,2024-01-01T00:00:00,click,1\n", 4, "TIMESTAMP", "date string"),
        (GOOD + "u2,i3,-5,click,1\n", 4, "TIMESTAMP", "negative"),
        (GOOD + "u2,i3,1700000000000000,click,1\n", 4, "TIMESTAMP", "looks like microseconds"),
        (GOOD + "u2,i3,4102444800,click,1\n", 4, "TIMESTAMP", "in the future"),
        (GOOD + 'u2,"i3,1700000000,click,1\nu3,i4,1700000000,click,1\n', 4, None, "malformed CSV"),
        (GOOD + 'u2,i3,1700000000,"cl\nick",1\n', 4, "EVENT_TYPE", "unbalanced quote"),
        (GOOD + ",i3,1700000000,click,1\n", 4, "USER_ID", "not nullable"),
        (GOOD + "u2,i3,1700000000,click,lots\n", 4, "EVENT_VALUE", "expected a number"),
        (GOOD + "u2,i3,1700000000,click,1,extra\n", 4, None, "malformed CSV"),
        (GOOD.encode() + b"u2,i\xff3,1700000000,click,1\n", 4, None, "not valid UTF-8"),
    ],
)
def test_bad_file_fails_job_and_changes_nothing(
    platform: Platform,
    dataset: str,
    tmp_path: Path,
    text: str | bytes,
    row: int,
    column: str | None,
    reason: str,
) -> None:
    assert (
        create_dataset_import_job(platform, "good", dataset, write(tmp_path, GOOD, "good.csv")).status is Status.ACTIVE
    )
    before = platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"]
    path = write(tmp_path, text)
    job = create_dataset_import_job(platform, "bad", dataset, path)
    assert job.status is Status.CREATE_FAILED
    assert job.failure_reason is not None
    expected = f"{path}, row {row}" + (f", column {column}" if column else "")
    assert job.failure_reason.startswith(expected), job.failure_reason
    assert reason in job.failure_reason
    assert platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"] == before


def test_incremental_appends_and_full_replaces(platform: Platform, dataset: str, tmp_path: Path) -> None:
    create_dataset_import_job(platform, "full", dataset, write(tmp_path, GOOD, "a.csv"))
    more = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu9,i9,1700000500,click\nu1,i1,1700000000,click\n"
    job = create_dataset_import_job(platform, "inc", dataset, write(tmp_path, more, "b.csv"), "INCREMENTAL")
    assert job.attributes["dataVersion"]["rowCount"] == 3
    assert job.attributes["dataVersion"]["rowsReplaced"] == 1
    job = create_dataset_import_job(platform, "full2", dataset, write(tmp_path, more, "c.csv"), "FULL")
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, dataset))
    assert frame is not None and sorted(frame[USER_ID]) == ["u1", "u9"]


def test_unknown_mode_and_missing_file_are_clear(platform: Platform, dataset: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="allowed: FULL, INCREMENTAL"):
        create_dataset_import_job(platform, "x", dataset, write(tmp_path, GOOD), "SOMETIMES")
    job = create_dataset_import_job(platform, "y", dataset, str(tmp_path / "absent.csv"))
    assert job.status is Status.CREATE_FAILED and "no such file" in (job.failure_reason or "")


def test_movielens_imports_as_found(platform: Platform, dataset: str, tmp_path: Path) -> None:
    from recsmith.data.movielens import convert_movielens
    from tests.conftest import MOVIELENS

    if not MOVIELENS.is_dir():
        pytest.skip(f"{MOVIELENS} is not there (it sits beside the checkout in CI)")
    files = convert_movielens(MOVIELENS, tmp_path / "ml")
    job = create_dataset_import_job(platform, "ml", dataset, str(files.interactions))
    assert job.status is Status.ACTIVE, job.failure_reason
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, dataset))
    assert frame is not None
    # 100,836 ratings plus the extra row of a user and an item that appear nowhere else
    assert len(frame) == 100_837
    extra = frame[(frame[USER_ID] == "999") & (frame[ITEM_ID] == "999999")]
    assert len(extra) == 1 and int(extra[TIMESTAMP].iloc[0]) == 1493846415
    assert pd.api.types.is_integer_dtype(frame[TIMESTAMP])


def test_group_with_dependants_cannot_be_deleted(platform: Platform, dataset: str) -> None:
    from recsmith.data.datasets import delete_dataset_group
    from recsmith.errors import ResourceInUseError

    with pytest.raises(ResourceInUseError, match="still has dataset 'shop-interactions'; delete it first"):
        delete_dataset_group(platform, "shop")
    platform.catalog.delete(ResourceType.DATASET, dataset)
    assert delete_dataset_group(platform, "shop").name == "shop"


def _rows(count: int, start: int = 0) -> str:
    return "".join(f"u{n % 997},i{n % 101},{1_700_000_000 + n},click,1.0\n" for n in range(start, start + count))


def test_bad_rows_deep_in_a_multi_batch_file_are_all_counted(platform: Platform, dataset: str, tmp_path: Path) -> None:
    """A 600k-row file (several 16 MiB read batches): the bad values sit near its end, one in another column."""
    header = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
    bad = "".join(f"u1,i1,17000oops{n},click,1\n" for n in range(12)) + "u1,i1,1700000000,click,lots\n"
    path = write(tmp_path, header + _rows(600_000) + bad + _rows(10, 600_000))
    job = create_dataset_import_job(platform, "deep", dataset, path)
    assert job.status is Status.CREATE_FAILED
    reason = job.failure_reason or ""
    assert reason.startswith(f"{path}, row 600002, column TIMESTAMP: expected an integer (long) (value '17000oops0')")
    assert "13 bad row(s) in all; the first 10: row 600002 TIMESTAMP" in reason
    assert "row 600011 TIMESTAMP" in reason and "row 600012" not in reason
    assert job.attributes["badRowCount"] == 13 and len(job.attributes["badRows"]) == 10
    assert job.attributes["badRows"][0] == {
        "file": path,
        "row": 600002,
        "column": "TIMESTAMP",
        "value": "17000oops0",
        "reason": "expected an integer (long)",
    }
    assert platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"] is None
    assert not list(platform.settings.data_root.rglob(".staging-*"))


def test_exact_duplicates_are_dropped_and_counted(platform: Platform, dataset: str, tmp_path: Path) -> None:
    text = GOOD + "u1,i1,1700000000,purchase,3.0\nu1,i1,1700000001,click,1\nu1,i2,1700000100,click,\n"
    job = create_dataset_import_job(platform, "dups", dataset, write(tmp_path, text))
    assert job.status is Status.ACTIVE, job.failure_reason
    assert job.attributes["duplicatesDropped"] == 2
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, dataset))
    assert frame is not None and len(frame) == 3
    # the last of equal keys is kept
    kept = frame[(frame[USER_ID] == "u1") & (frame[ITEM_ID] == "i1") & (frame[TIMESTAMP] == 1700000000)]
    assert kept["EVENT_TYPE"].tolist() == ["purchase"]


def test_parquet_source_with_native_types(platform: Platform, dataset: str, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {USER_ID: ["u1", "u2"], ITEM_ID: ["i1", "i2"], TIMESTAMP: [1700000000, 1700000001], "EVENT_TYPE": ["a", "b"]}
    )
    frame.to_parquet(tmp_path / "good.parquet")
    assert create_dataset_import_job(platform, "pq", dataset, str(tmp_path / "good.parquet")).status is Status.ACTIVE
    frame[TIMESTAMP] = [1700000000, 1700000000123]
    frame.to_parquet(tmp_path / "ms.parquet")
    job = create_dataset_import_job(platform, "pq-ms", dataset, str(tmp_path / "ms.parquet"))
    assert (job.failure_reason or "").startswith(f"{tmp_path / 'ms.parquet'}, row 2, column TIMESTAMP: timestamp looks")


def test_categorical_over_the_length_limit(platform: Platform, tmp_path: Path) -> None:
    from recsmith.data.sample import ITEMS_SCHEMA

    create_dataset_group(platform, "shop")
    create_schema(platform, "shop-items", json.dumps(ITEMS_SCHEMA))
    items = create_dataset(platform, "shop-items", "shop", "ITEMS", "shop-items").arn
    text = "ITEM_ID,GENRES,CREATION_TIMESTAMP\ni1,a|b,1700000000\ni2," + "x" * 1001 + ",1700000000\n"
    job = create_dataset_import_job(platform, "long", items, write(tmp_path, text))
    assert job.status is Status.CREATE_FAILED
    assert (job.failure_reason or "").startswith(f"{tmp_path / 'data.csv'}, row 3, column GENRES: categorical value")
    assert platform.catalog.get(ResourceType.DATASET, items).attributes["dataVersion"] is None


def test_small_write_quota_fails_like_a_full_disk(tmp_path: Path, sample_files: SampleFiles) -> None:
    from recsmith.settings import Settings

    small = Platform(Settings(home=tmp_path / "home", import_write_quota_bytes=4096))
    create_dataset_group(small, "shop")
    create_schema(small, "shop-interactions", json.dumps(INTERACTIONS_SCHEMA))
    dataset = create_dataset(small, "shop-interactions", "shop", "INTERACTIONS", "shop-interactions").arn
    job = create_dataset_import_job(small, "big", dataset, str(sample_files.interactions))
    assert job.status is Status.CREATE_FAILED
    assert "could not write data version" in (job.failure_reason or "")
    assert "[Errno 28] no space left" in (job.failure_reason or "")
    assert "import write quota of 4096 bytes" in (job.failure_reason or "")
    assert small.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"] is None
    folder = small.settings.data_root / "shop" / "INTERACTIONS"
    assert not folder.exists() or not list(folder.iterdir())
    small.catalog.dispose()
