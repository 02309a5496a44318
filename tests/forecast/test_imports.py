"""Forecast import jobs: every row checked, all or nothing, INCREMENTAL replaces, kill -9 leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from recsmith.catalog import ResourceType, Status
from recsmith.errors import InvalidInputError, ResourceInUseError
from recsmith.forecast.datasets import create_dataset
from recsmith.forecast.imports import create_dataset_import_job, start_dataset_import_job, strptime_format
from recsmith.forecast.lifecycle import reap_interrupted_jobs
from recsmith.forecast.workflow import CUSTOM_SCHEMA
from recsmith.platform import Platform
from tests.forecast.conftest import write_demand_csv


@pytest.fixture
def dataset(platform: Platform) -> str:
    return create_dataset(platform, "demand", "CUSTOM", "TARGET_TIME_SERIES", {"Attributes": CUSTOM_SCHEMA}, "H").arn


def _current(platform: Platform, dataset: str) -> pd.DataFrame:
    version = platform.catalog.get(ResourceType.FORECAST_DATASET, dataset).attributes["dataVersion"]
    return pd.read_parquet(version["path"])


def test_headerless_csv_becomes_a_typed_version_with_statistics(
    platform: Platform, dataset: str, tmp_path: Path
) -> None:
    source = write_demand_csv(tmp_path / "demand.csv", hours=48, items=("a", "b"))
    job = create_dataset_import_job(platform, "first", dataset, str(source))
    assert job.status is Status.ACTIVE, job.failure_reason
    assert job.arn.endswith(":dataset-import-job/demand/first")
    frame = _current(platform, dataset)
    assert len(frame) == 96 and list(frame.columns) == ["timestamp", "target_value", "item_id"]
    assert str(frame["timestamp"].dtype).startswith("datetime64")
    stats = job.attributes["FieldStatistics"]
    assert stats["item_id"]["CountDistinct"] == 2 and stats["timestamp"]["Min"] == "2024-01-01 00:00:00"


def test_a_first_line_of_attribute_names_is_a_header(platform: Platform, dataset: str, tmp_path: Path) -> None:
    source = tmp_path / "with-header.csv"
    source.write_text("timestamp,target_value,item_id\n2024-01-01 00:00:00,1.5,a\n")
    job = create_dataset_import_job(platform, "header", dataset, str(source))
    assert job.status is Status.ACTIVE, job.failure_reason
    assert _current(platform, dataset)["target_value"].tolist() == [1.5]


def test_bad_rows_are_named_and_change_nothing(platform: Platform, dataset: str, tmp_path: Path) -> None:
    good = create_dataset_import_job(platform, "good", dataset, str(write_demand_csv(tmp_path / "g.csv", hours=24)))
    before = platform.catalog.get(ResourceType.FORECAST_DATASET, dataset).attributes["dataVersion"]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "2024-01-02 00:00:00,3.5,a\n"
        "2024-01-02 01:00,4,a\n"  # wrong timestamp format
        "2024-01-02 02:00:00,lots,a\n"  # not a number
        "2024-01-02 03:00:00,inf,a\n"  # not finite
        "2024-01-02 04:00:00,1,\n"  # no item id
        "2024-01-02 05:00:00,,a\n"  # a missing target: allowed
    )
    job = create_dataset_import_job(platform, "bad", dataset, str(bad))
    assert job.status is Status.CREATE_FAILED
    assert job.failure_reason.startswith(f"{bad}, row 2, column timestamp: timestamp does not match TimestampFormat")
    assert "4 bad row(s) in all" in job.failure_reason
    rows = [(r["row"], r["column"]) for r in job.attributes["badRows"]]
    assert rows == [(2, "timestamp"), (3, "target_value"), (4, "target_value"), (5, "item_id")]
    assert platform.catalog.get(ResourceType.FORECAST_DATASET, dataset).attributes["dataVersion"] == before
    assert good.status is Status.ACTIVE


def test_malformed_csv_and_missing_files_fail_the_job(platform: Platform, dataset: str, tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text("2024-01-01 00:00:00,1,a\n2024-01-01 01:00:00,1,a,surprise\n")
    job = create_dataset_import_job(platform, "extra", dataset, str(extra))
    assert job.status is Status.CREATE_FAILED
    assert "row 2: malformed CSV: expected 3 fields, found 4" in job.failure_reason
    missing = create_dataset_import_job(platform, "missing", dataset, str(tmp_path / "nope.csv"))
    assert missing.failure_reason == f"{tmp_path / 'nope.csv'}: no such file or folder"


def test_incremental_replaces_the_same_series_and_timestamp(platform: Platform, dataset: str, tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text("2024-01-01 00:00:00,1,a\n2024-01-01 01:00:00,2,a\n")
    second = tmp_path / "second.csv"
    second.write_text("2024-01-01 01:00:00,20,a\n2024-01-01 02:00:00,3,a\n")
    create_dataset_import_job(platform, "one", dataset, str(first))
    job = create_dataset_import_job(platform, "two", dataset, str(second), import_mode="INCREMENTAL")
    assert job.status is Status.ACTIVE, job.failure_reason
    frame = _current(platform, dataset).sort_values("timestamp")
    assert frame["target_value"].tolist() == [1.0, 20.0, 3.0]
    create_dataset_import_job(platform, "three", dataset, str(first))  # FULL replaces everything
    assert _current(platform, dataset)["target_value"].tolist() == [1.0, 2.0]


def test_timestamp_formats_parquet_and_time_zones(platform: Platform, dataset: str, tmp_path: Path) -> None:
    assert strptime_format("yyyy-MM-dd'T'HH:mm:ss") == "%Y-%m-%dT%H:%M:%S"
    iso = tmp_path / "iso.csv"
    iso.write_text("2024-01-01T05:00:00,1,a\n")
    job = create_dataset_import_job(
        platform, "iso", dataset, str(iso), timestamp_format="yyyy-MM-dd'T'HH:mm:ss", time_zone="Europe/Paris"
    )
    assert job.status is Status.ACTIVE and job.attributes["TimeZone"] == "Europe/Paris"
    assert _current(platform, dataset)["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 05:00:00")
    epoch = tmp_path / "epoch.csv"
    epoch.write_text("1704085200,2,a\n")
    assert (
        create_dataset_import_job(platform, "epoch", dataset, str(epoch), timestamp_format="epoch").status
        is Status.ACTIVE
    )
    assert _current(platform, dataset)["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 05:00:00")
    parquet = tmp_path / "demand.parquet"
    pd.DataFrame(
        {"timestamp": pd.to_datetime(["2024-01-01 00:00"]), "target_value": [4.0], "item_id": ["p"]}
    ).to_parquet(parquet)
    job = create_dataset_import_job(platform, "pq", dataset, str(parquet), file_format="PARQUET")
    assert job.status is Status.ACTIVE, job.failure_reason
    with pytest.raises(InvalidInputError, match="TimeZone 'Mars/Olympus' is not a known time zone"):
        start_dataset_import_job(platform, "mars", dataset, str(iso), time_zone="Mars/Olympus")
    with pytest.raises(InvalidInputError, match="only the pattern letters yyyy, MM, dd, HH, mm and ss"):
        start_dataset_import_job(platform, "weird", dataset, str(iso), timestamp_format="EEE, d MMM yyyy")
    with pytest.raises(InvalidInputError, match="invalid DatasetImportJobName name 'bad-name'"):
        start_dataset_import_job(platform, "bad-name", dataset, str(iso))


_RUN_IMPORT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from recsmith.forecast.imports import run_dataset_import_job
    from recsmith.platform import Platform
    from recsmith.settings import Settings

    run_dataset_import_job(Platform(Settings(home=Path(sys.argv[1]))), sys.argv[2])
    """
)


@pytest.mark.slow
def test_kill_9_mid_import_is_reaped_and_changes_nothing(platform: Platform, dataset: str, tmp_path: Path) -> None:
    small = create_dataset_import_job(platform, "small", dataset, str(write_demand_csv(tmp_path / "s.csv", hours=24)))
    before = platform.catalog.get(ResourceType.FORECAST_DATASET, dataset).attributes["dataVersion"]
    big = write_demand_csv(tmp_path / "big.csv", hours=24 * 365 * 3, items=tuple(f"i{n}" for n in range(20)))
    job = start_dataset_import_job(platform, "big", dataset, str(big))
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN_IMPORT, str(platform.settings.home), job.arn], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while (
            platform.catalog.get(ResourceType.FORECAST_DATASET_IMPORT_JOB, job.arn).status
            is not Status.CREATE_IN_PROGRESS
        ):
            assert time.monotonic() < deadline and process.poll() is None, "the import never started"
            time.sleep(0.05)
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    reaped = reap_interrupted_jobs(platform)  # what every start, describe and list of a job runs first
    assert [r.arn for r in reaped] == [job.arn]
    assert reaped[0].status is Status.CREATE_FAILED
    assert f"interrupted: its process (pid {process.pid}" in (reaped[0].failure_reason or "")
    assert platform.catalog.get(ResourceType.FORECAST_DATASET, dataset).attributes["dataVersion"] == before
    folder = platform.settings.data_root / "forecast" / "demand"
    assert not [p for p in folder.iterdir() if p.name.startswith(".staging-")]
    assert small.status is Status.ACTIVE
    again = create_dataset_import_job(platform, "after", dataset, str(tmp_path / "s.csv"))
    assert again.status is Status.ACTIVE, again.failure_reason


def test_a_second_import_while_one_runs_is_refused(platform: Platform, dataset: str, tmp_path: Path) -> None:
    source = str(write_demand_csv(tmp_path / "d.csv", hours=24))
    start_dataset_import_job(platform, "pending", dataset, source)
    with pytest.raises(ResourceInUseError, match="has import job pending in progress"):
        start_dataset_import_job(platform, "second", dataset, source)
