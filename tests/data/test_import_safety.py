"""An import killed midway changes nothing: its job ends CREATE FAILED and what it wrote is removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsmith.catalog import ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.imports import create_dataset_import_job, describe_dataset_import_job, list_dataset_import_jobs
from recsmith.data.sample import INTERACTIONS_SCHEMA
from recsmith.errors import ResourceInUseError
from recsmith.platform import Platform
from tests.conftest import REPO_ROOT

HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
IMPORT = """
import sys
from recsmith.data.imports import create_dataset_import_job
from recsmith.platform import Platform
create_dataset_import_job(Platform.from_env(), sys.argv[1], sys.argv[2], sys.argv[3])
"""


def test_sigkill_midway_leaves_the_dataset_unchanged(platform: Platform, tmp_path: Path) -> None:
    create_dataset_group(platform, "shop")
    create_schema(platform, "shop-interactions", json.dumps(INTERACTIONS_SCHEMA))
    dataset = create_dataset(platform, "shop-interactions", "shop", "INTERACTIONS", "shop-interactions").arn
    small = tmp_path / "small.csv"
    small.write_text(HEADER + "u1,i1,1700000000,click,1\n")
    assert create_dataset_import_job(platform, "first", dataset, str(small)).status is Status.ACTIVE
    before = platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"]
    # big enough to take a second or more: several read batches, a part rolled every batch
    big = tmp_path / "big.csv"
    big.write_text(HEADER + "".join(f"u{n % 991},i{n % 97},{1_700_000_000 + n},click,1\n" for n in range(1_500_000)))
    env = {
        **os.environ,
        "RECSMITH_HOME": str(platform.settings.home),
        "RECSMITH_IMPORT_PART_ROWS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
    }
    child = subprocess.Popen([sys.executable, "-c", IMPORT, "killed", dataset, str(big)], env=env)
    folder = platform.settings.data_root / "shop" / "INTERACTIONS"
    deadline = time.monotonic() + 60
    while not list(folder.glob(".staging-*/part-*.parquet")):  # midway: a part is being written
        assert child.poll() is None, "the import ended before it could be killed"
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    # the catalog still says the job runs; its owner is dead
    assert platform.catalog.get(ResourceType.DATASET_IMPORT_JOB, "killed").status is Status.CREATE_IN_PROGRESS
    job = describe_dataset_import_job(platform, "killed")
    assert job.status is Status.CREATE_FAILED
    assert (job.failure_reason or "").startswith(f"import was interrupted: its process (pid {child.pid} on ")
    assert platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"] == before
    assert sorted(p.name for p in folder.iterdir()) == sorted([before["id"], before["id"] + ".dvc"])
    assert [j.status for j in list_dataset_import_jobs(platform)] == [Status.ACTIVE, Status.CREATE_FAILED]


def test_a_running_import_of_a_live_process_is_not_reaped(platform: Platform, tmp_path: Path) -> None:
    from recsmith.arns import make_arn
    from recsmith.catalog import ProcessRef, Resource
    from recsmith.data.imports import reap_interrupted_import_jobs, start_dataset_import_job

    create_schema(platform, "interactions", json.dumps(INTERACTIONS_SCHEMA))
    datasets = []
    for group in ("shop", "books"):
        create_dataset_group(platform, group)
        datasets.append(create_dataset(platform, f"{group}-interactions", group, "INTERACTIONS", "interactions"))
    # an import run on another machine: not this host's to judge
    elsewhere = platform.catalog.create_job(
        Resource(
            arn=make_arn(platform.settings, ResourceType.DATASET_IMPORT_JOB, "elsewhere"),
            resource_type=ResourceType.DATASET_IMPORT_JOB,
            name="elsewhere",
            dataset_group_arn=datasets[0].dataset_group_arn,
            status=Status.CREATE_PENDING,
            attributes={"datasetArn": datasets[0].arn},
        ),
        owner=ProcessRef(host="another-host", pid=1, started=0.0),
        exclusive_key=datasets[0].arn,
    )
    source = tmp_path / "a.csv"
    source.write_text(HEADER + "u1,i1,1700000000,click,1\n")
    mine = start_dataset_import_job(platform, "mine", datasets[1].arn, str(source))  # held by this live process
    assert reap_interrupted_import_jobs(platform) == []
    assert [j.status for j in list_dataset_import_jobs(platform)] == [Status.CREATE_PENDING] * 2
    assert describe_dataset_import_job(platform, elsewhere.arn).status is Status.CREATE_PENDING
    assert describe_dataset_import_job(platform, mine.arn).status is Status.CREATE_PENDING
    # one import at a time per dataset
    with pytest.raises(ResourceInUseError, match="has an import job in progress \\(elsewhere\\); wait for it"):
        create_dataset_import_job(platform, "second", datasets[0].arn, str(source))
    with pytest.raises(ResourceInUseError, match="has an import job in progress \\(mine\\); wait for it"):
        create_dataset_import_job(platform, "third", datasets[1].arn, str(source))
