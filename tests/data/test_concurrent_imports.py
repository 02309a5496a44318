"""Two INCREMENTAL imports into one dataset at the same moment never lose rows (issue 15, finding 2).

The check "is another import running?" and the record "this import runs" are one step in the catalog: the
second of two concurrent imports is refused with ``ResourceInUseError`` (Personalize's
``ResourceInUseException``), or it runs after the first has ended; in every case the dataset ends holding every
row of every import that ended ACTIVE. Before the fix both imports ended ACTIVE and the later commit replaced
the earlier version, losing its rows. Run with threads in one process and with two processes, on SQLite and
PostgreSQL catalogs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from recsmith.catalog import ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.imports import create_dataset_import_job, read_current
from recsmith.data.sample import INTERACTIONS_SCHEMA
from recsmith.errors import ResourceInUseError
from recsmith.platform import Platform
from recsmith.settings import Settings
from tests.conftest import REPO_ROOT

HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
ROWS = 20_000  # enough that the two imports overlap for a good part of a second
ROUNDS = 3
PROCESS_ROUNDS = 2  # each process round costs a few seconds of start-up on a loaded machine

CHILD = """
import json, sys
from pathlib import Path
from recsmith.catalog import ResourceType
from recsmith.data.imports import create_dataset_import_job
from recsmith.errors import ResourceInUseError
from recsmith.platform import Platform

spec = json.loads(sys.argv[1])
platform = Platform.from_env()
platform.catalog.list(ResourceType.DATASET_IMPORT_JOB)  # connected before the first start line
for round_ in spec["rounds"]:
    Path(round_["ready"]).touch()
    while not Path(round_["go"]).exists():
        pass
    try:
        job = create_dataset_import_job(platform, round_["name"], spec["dataset"], round_["source"], "INCREMENTAL")
        print(json.dumps({"status": job.status.value, "reason": job.failure_reason}), flush=True)
    except ResourceInUseError as exc:
        print(json.dumps({"refused": str(exc)}), flush=True)
"""


def _platform(tmp_path: Path, database_url: str) -> Platform:
    return Platform(Settings(home=tmp_path / "home", catalog_url=database_url, dvc_track=False))


def _rows(path: Path, tag: str, count: int) -> Path:
    path.write_text(
        HEADER + "".join(f"{tag}-u{n % 997},i{n % 389},{1_700_000_000 + n},click,1\n" for n in range(count))
    )
    return path


def _dataset(platform: Platform, tmp_path: Path) -> str:
    create_dataset_group(platform, "shop")
    create_schema(platform, "shop-interactions", json.dumps(INTERACTIONS_SCHEMA))
    dataset = create_dataset(platform, "shop-interactions", "shop", "INTERACTIONS", "shop-interactions").arn
    first = create_dataset_import_job(platform, "base", dataset, str(_rows(tmp_path / "base.csv", "base", 100)))
    assert first.status is Status.ACTIVE
    return dataset


def _check_round(platform: Platform, dataset: str, outcomes: dict[str, dict[str, Any]], expected: int) -> int:
    """Every import either ended ACTIVE or was refused as in use; the dataset holds base + every ACTIVE import."""
    active = [tag for tag, outcome in outcomes.items() if outcome.get("status") == Status.ACTIVE.value]
    refused = [tag for tag, outcome in outcomes.items() if "refused" in outcome]
    assert sorted(active + refused) == sorted(outcomes), outcomes
    assert active, outcomes
    for tag in refused:
        assert "has an import job in progress" in outcomes[tag]["refused"]
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, dataset))
    assert frame is not None
    expected += ROWS * len(active)
    users = frame["USER_ID"].str.split("-").str[0].value_counts().to_dict()
    lost = {tag: ROWS - users.get(tag, 0) for tag in active if users.get(tag, 0) != ROWS}
    assert not lost, f"rows of ACTIVE imports lost: {lost} (outcomes {outcomes})"
    assert len(frame) == expected
    return expected


def test_concurrent_incremental_imports_in_threads_lose_no_rows(tmp_path: Path, database_url: str) -> None:
    platform = _platform(tmp_path, database_url)
    dataset = _dataset(platform, tmp_path)
    expected = 100
    for round_ in range(ROUNDS):
        tags = [f"r{round_}a", f"r{round_}b"]
        sources = {tag: _rows(tmp_path / f"{tag}.csv", tag, ROWS) for tag in tags}
        outcomes: dict[str, dict[str, Any]] = {}
        barrier = threading.Barrier(len(tags))

        def run(
            tag: str,
            barrier: threading.Barrier = barrier,
            sources: dict[str, Path] = sources,
            outcomes: dict[str, dict[str, Any]] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                job = create_dataset_import_job(platform, tag, dataset, str(sources[tag]), "INCREMENTAL")
                outcomes[tag] = {"status": job.status.value, "reason": job.failure_reason}
            except ResourceInUseError as exc:
                outcomes[tag] = {"refused": str(exc)}

        threads = [threading.Thread(target=run, args=(tag,)) for tag in tags]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        expected = _check_round(platform, dataset, outcomes, expected)
    platform.catalog.dispose()


@pytest.mark.slow
def test_concurrent_incremental_imports_in_processes_lose_no_rows(tmp_path: Path, database_url: str) -> None:
    platform = _platform(tmp_path, database_url)
    dataset = _dataset(platform, tmp_path)
    env = {
        **os.environ,
        "RECSMITH_HOME": str(platform.settings.home),
        "RECSMITH_CATALOG_URL": database_url,
        "RECSMITH_DVC_TRACK": "false",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
    }
    sides = ["a", "b"]
    children = {}
    for side in sides:
        rounds = [
            {
                "name": f"r{n}{side}",
                "source": str(_rows(tmp_path / f"r{n}{side}.csv", f"r{n}{side}", ROWS)),
                "ready": str(tmp_path / f"ready-{n}{side}"),
                "go": str(tmp_path / f"go-{n}"),
            }
            for n in range(PROCESS_ROUNDS)
        ]
        argv = [sys.executable, "-c", CHILD, json.dumps({"dataset": dataset, "rounds": rounds})]
        children[side] = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    expected = 100
    try:
        for n in range(PROCESS_ROUNDS):
            deadline = time.monotonic() + 120
            while not all((tmp_path / f"ready-{n}{side}").exists() for side in sides):
                assert time.monotonic() < deadline, "the import processes never became ready"
                assert all(child.poll() is None for child in children.values()), "an import process died"
                time.sleep(0.01)
            (tmp_path / f"go-{n}").touch()
            outcomes = {}
            for side, child in children.items():
                assert child.stdout is not None
                outcomes[f"r{n}{side}"] = json.loads(child.stdout.readline())
            expected = _check_round(platform, dataset, outcomes, expected)
    finally:
        for child in children.values():
            child.kill()
            child.wait()
    platform.catalog.dispose()
