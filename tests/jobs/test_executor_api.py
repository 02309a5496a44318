"""The executor's contract without running workers: what submit and stop accept, the kinds table, the
settings a worker receives, and a job whose process died reading CREATE FAILED when described."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsmith.catalog import ProcessRef, ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.export import start_dataset_export_job
from recsmith.data.imports import describe_dataset_import_job, list_dataset_import_jobs, start_dataset_import_job
from recsmith.data.sample import INTERACTIONS_SCHEMA
from recsmith.errors import InvalidInputError, ResourceInUseError
from recsmith.jobs import JobKind
from recsmith.jobs.kinds import KINDS, discard_function, run_function
from recsmith.jobs.lifecycle import reap_dead_jobs, refresh_job
from recsmith.jobs.local import LocalExecutor
from recsmith.jobs.processes import process_ref
from recsmith.jobs.worker import read_settings, settings_payload
from recsmith.platform import Platform
from recsmith.settings import Settings


@pytest.fixture
def dataset(platform: Platform) -> Iterator[str]:
    create_dataset_group(platform, "shop")
    create_schema(platform, "shop-interactions", json.dumps(INTERACTIONS_SCHEMA))
    yield create_dataset(platform, "shop-interactions", "shop", "INTERACTIONS", "shop-interactions").arn


def test_every_kind_has_a_run_and_a_discard_function_and_names_its_resource_type() -> None:
    assert set(KINDS) == set(JobKind)
    for kind in JobKind:
        assert run_function(kind).__name__.startswith("run_")
        assert discard_function(kind).__name__.startswith("discard_")
        assert kind.resource_type.value == kind.value


def test_a_worker_receives_every_setting_secrets_included(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        catalog_url="postgresql://u@h/db",
        aws_secret_access_key="s3cret",  # type: ignore[arg-type]
        job_workers=3,
        dvc_track=False,
    )
    received = read_settings(io.StringIO(settings_payload(settings)))
    assert received == settings
    assert received.aws_secret_access_key is not None
    assert received.aws_secret_access_key.get_secret_value() == "s3cret"


def test_the_executor_is_a_setting(tmp_path: Path) -> None:
    assert isinstance(Platform(Settings(home=tmp_path)).jobs, LocalExecutor)
    with pytest.raises(InvalidInputError, match="the Airflow executor is not available yet; use 'local'"):
        _ = Platform(Settings(home=tmp_path, executor="airflow")).jobs


def test_submit_takes_pending_jobs_once_and_stop_of_a_queued_job_stops_it(
    platform: Platform, dataset: str, tmp_path: Path
) -> None:
    job = start_dataset_export_job(platform, "out", dataset, str(tmp_path / "out"), "BULK")
    platform.jobs.submit(JobKind.DATASET_EXPORT, job.arn)
    platform.jobs.submit(JobKind.DATASET_EXPORT, job.arn)  # twice is harmless
    queued = platform.catalog.job_queue.list()
    assert [(j.resource_arn, j.state.value) for j in queued] == [(job.arn, "queued")]
    platform.jobs.stop(JobKind.DATASET_EXPORT, job.arn)
    stopped = platform.catalog.get(ResourceType.DATASET_EXPORT_JOB, job.arn)
    assert stopped.status is Status.CREATE_STOPPED
    assert platform.catalog.job_queue.list() == []
    with pytest.raises(ResourceInUseError, match="is CREATE STOPPED, not CREATE PENDING"):
        platform.jobs.submit(JobKind.DATASET_EXPORT, job.arn)
    with pytest.raises(ResourceInUseError, match="is CREATE STOPPED; only a job in progress can be stopped"):
        platform.jobs.stop(JobKind.DATASET_EXPORT, job.arn)
    with pytest.raises(InvalidInputError, match="stop takes both a job kind and a resource ARN, or neither"):
        platform.jobs.stop(JobKind.DATASET_EXPORT)  # type: ignore[call-arg]


def test_a_job_run_in_the_foreground_cannot_be_stopped_by_the_executor(
    platform: Platform, dataset: str, tmp_path: Path
) -> None:
    job = start_dataset_export_job(platform, "fg", dataset, str(tmp_path / "out"), "BULK")  # held by this process
    with pytest.raises(ResourceInUseError, match=r"runs in the foreground of process \d+ on .*; stop that process"):
        platform.jobs.stop(JobKind.DATASET_EXPORT, job.arn)
    assert platform.catalog.get(ResourceType.DATASET_EXPORT_JOB, job.arn).status is Status.CREATE_PENDING


def _dead_process() -> ProcessRef:
    creator = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = process_ref(creator.pid)
    creator.kill()
    creator.wait()
    return dead


def test_a_job_whose_creator_died_reads_create_failed_and_frees_its_dataset(
    platform: Platform, dataset: str, tmp_path: Path
) -> None:
    """A create that died between start and run (or before submit) never leaves a job pending for ever, nor
    its dataset locked: the next import of the dataset, a describe or a list ends it."""
    source = tmp_path / "a.csv"
    source.write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nu1,i1,1700000000,click,1\n")
    dead = _dead_process()
    orphan = start_dataset_import_job(platform, "orphan", dataset, str(source))
    export = start_dataset_export_job(platform, "export", dataset, str(tmp_path / "out"), "BULK")
    for job in (orphan, export):  # as if the dead process had created them: the catalog names the owner
        assert platform.catalog.job_queue.take_over(job.arn, process_ref(), dead)
    again = start_dataset_import_job(platform, "again", dataset, str(source))  # the dead holder is ended first
    assert again.status is Status.CREATE_PENDING
    described = describe_dataset_import_job(platform, orphan.arn)
    assert described.status is Status.CREATE_FAILED
    assert (described.failure_reason or "").startswith(f"import was interrupted: its process (pid {dead.pid} on ")
    assert [j.status for j in list_dataset_import_jobs(platform)] == [Status.CREATE_FAILED, Status.CREATE_PENDING]
    export_now = refresh_job(platform, platform.catalog.get(ResourceType.DATASET_EXPORT_JOB, export.arn))
    assert export_now.status is Status.CREATE_FAILED
    assert (export_now.failure_reason or "").startswith("export was interrupted")
    assert reap_dead_jobs(platform) == []
