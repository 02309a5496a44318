"""The jobs table: a queued job goes to exactly one pool, one process begins a job, a final status ends it, and
an in-progress key is held by one job at a time; on SQLite and PostgreSQL, from threads and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from recsmith.catalog import Catalog, JobState, ProcessRef, Resource, ResourceType, Status
from recsmith.errors import ResourceInUseError
from tests.conftest import REPO_ROOT

JOBS = 40
CLAIMERS = 4

CLAIM = """
import json, sys, time
from pathlib import Path
from recsmith.catalog import Catalog, ProcessRef
url, name, go = sys.argv[1:4]
catalog = Catalog(url)
me = ProcessRef(host="claimer", pid=int(name), started=0.0)
while not Path(go).exists():
    pass
claimed = []
while (job := catalog.job_queue.claim(name, me)) is not None:
    claimed.append(job.resource_arn)
print(json.dumps(claimed))
"""


def _job(n: int) -> Resource:
    return Resource(
        arn=f"arn:aws:personalize:us-east-1:000000000000:dataset-export-job/e{n:03d}",
        resource_type=ResourceType.DATASET_EXPORT_JOB,
        name=f"e{n:03d}",
        status=Status.CREATE_PENDING,
    )


def _queue(catalog: Catalog, count: int) -> list[str]:
    creator = ProcessRef(host="test", pid=1, started=0.0)
    arns = []
    for n in range(count):
        job = catalog.create_job(_job(n), owner=creator)
        assert catalog.job_queue.submit(job.arn)
        arns.append(job.arn)
    return arns


def test_each_queued_job_is_claimed_once_by_concurrent_threads(database_url: str) -> None:
    catalog = Catalog(database_url)
    arns = _queue(catalog, JOBS)
    claimed: dict[str, list[str]] = {}
    barrier = threading.Barrier(CLAIMERS)

    def claim(name: str, n: int) -> None:
        me = ProcessRef(host="claimer", pid=100 + n, started=0.0)
        mine = claimed.setdefault(name, [])
        barrier.wait()
        while (job := catalog.job_queue.claim(name, me)) is not None:
            mine.append(job.resource_arn)

    threads = [threading.Thread(target=claim, args=(f"pool{n}", n)) for n in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    every = [arn for mine in claimed.values() for arn in mine]
    assert sorted(every) == sorted(arns), "a job was claimed twice or never"
    assert all(job.state is JobState.RUNNING for job in catalog.job_queue.list())
    assert catalog.job_queue.claim("late", ProcessRef(host="claimer", pid=9, started=0.0)) is None
    catalog.dispose()


@pytest.mark.slow
def test_each_queued_job_is_claimed_once_by_concurrent_processes(database_url: str, tmp_path: Path) -> None:
    catalog = Catalog(database_url)
    arns = _queue(catalog, JOBS)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])}
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM, database_url, str(n), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for n in range(CLAIMERS)
    ]
    go.touch()
    every = []
    for claimer in claimers:
        out, _ = claimer.communicate(timeout=120)
        assert claimer.returncode == 0
        every += json.loads(out)
    assert sorted(every) == sorted(arns), "a job was claimed twice or never"
    catalog.dispose()


def test_one_process_begins_a_job_and_a_final_status_ends_its_row(database_url: str) -> None:
    catalog = Catalog(database_url)
    creator = ProcessRef(host="test", pid=1, started=0.0)
    other = ProcessRef(host="test", pid=2, started=0.0)
    job = catalog.create_job(_job(1), owner=creator)
    with pytest.raises(ResourceInUseError, match="is being run by another process"):
        catalog.begin_job(ResourceType.DATASET_EXPORT_JOB, job.arn, other)
    begun = catalog.begin_job(ResourceType.DATASET_EXPORT_JOB, job.arn, creator)
    assert begun.status is Status.CREATE_IN_PROGRESS
    with pytest.raises(ResourceInUseError, match="is CREATE IN_PROGRESS, not CREATE PENDING"):
        catalog.begin_job(ResourceType.DATASET_EXPORT_JOB, job.arn, creator)
    queued = catalog.job_queue.get(job.arn)
    assert queued is not None and queued.owner == creator and queued.state is JobState.RUNNING
    catalog.update(begun, status=Status.ACTIVE)
    assert catalog.job_queue.get(job.arn) is None
    assert not catalog.job_queue.submit(job.arn)
    assert catalog.job_queue.get(job.arn) is None
    catalog.dispose()


def test_an_exclusive_key_is_held_until_its_job_ends(database_url: str) -> None:
    catalog = Catalog(database_url)
    creator = ProcessRef(host="test", pid=1, started=0.0)
    key = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/INTERACTIONS"
    first = catalog.create_job(_job(1), owner=creator, exclusive_key=key)
    with pytest.raises(ResourceInUseError, match="is in use by .*dataset-export-job/e001"):
        catalog.create_job(_job(2), owner=creator, exclusive_key=key)
    assert catalog.find(ResourceType.DATASET_EXPORT_JOB, _job(2).arn) is None, "the refused job was half recorded"
    catalog.update(first, status=Status.CREATE_FAILED, failure_reason="why")
    second = catalog.create_job(_job(2), owner=creator, exclusive_key=key)
    holder = catalog.job_queue.holder(key)
    assert holder is not None and holder.resource_arn == second.arn
    catalog.delete(ResourceType.DATASET_EXPORT_JOB, second.arn)
    assert catalog.job_queue.holder(key) is None
    catalog.dispose()


def test_only_the_expected_owner_is_taken_over_and_a_stop_only_from_in_flight(database_url: str) -> None:
    catalog = Catalog(database_url)
    dead = ProcessRef(host="test", pid=1, started=0.0)
    reaper, late = ProcessRef(host="test", pid=2, started=0.0), ProcessRef(host="test", pid=3, started=0.0)
    job = catalog.create_job(_job(1), owner=dead)
    assert catalog.job_queue.take_over(job.arn, dead, reaper)
    assert not catalog.job_queue.take_over(job.arn, dead, late), "two reapers both won"
    stopping = catalog.set_status_if(
        ResourceType.DATASET_EXPORT_JOB, job.arn, Status.CREATE_STOPPING, only_from={Status.CREATE_PENDING}
    )
    assert stopping is not None and stopping.status is Status.CREATE_STOPPING
    catalog.update(stopping, status=Status.CREATE_STOPPED)
    assert (
        catalog.set_status_if(
            ResourceType.DATASET_EXPORT_JOB, job.arn, Status.CREATE_STOPPING, only_from={Status.CREATE_PENDING}
        )
        is None
    )
    assert catalog.job_queue.get(job.arn) is None
    catalog.dispose()
