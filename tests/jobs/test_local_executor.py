"""The local executor with real worker processes: bounded, durable, and honest about jobs whose worker died.

Faults are real: kill -9 of a worker mid-import and mid-training, kill -9 of the process that owns the pool
with jobs queued, a stop of a training, and a pool stopped with a job running. After each, nothing is left
IN PROGRESS, nothing half-written stays (the dataset, the model registry), and no process is orphaned.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from recsmith.catalog import ProcessRef, Resource, ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.export import start_dataset_export_job
from recsmith.data.imports import create_dataset_import_job, start_dataset_import_job
from recsmith.data.sample import INTERACTIONS_SCHEMA, SampleFiles
from recsmith.jobs import JobKind
from recsmith.jobs.local import LocalExecutor, live_pools
from recsmith.jobs.processes import is_alive
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.training.solutions import SolutionConfig, create_solution
from recsmith.training.versions import start_solution_version
from recsmith.workflow import ImportConfig, import_dataset
from tests.conftest import REPO_ROOT

HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
# long enough to be killed midway: AutoML over two recipes with an HPO budget it never reaches here
LONG_TRAINING = SolutionConfig(
    perform_automl=True,
    perform_hpo=True,
    hpo_trials=100,
    hpo_seconds=600,
    max_parallel_jobs=2,
    automl_recipes=("sims", "popularity_count"),
)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    built = Platform(Settings(home=tmp_path / "home", dvc_track=False, import_part_rows=1, job_poll_seconds=0.2))
    yield built
    built.catalog.dispose()


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def status(platform: Platform, kind: JobKind, arn: str) -> Status:
    return platform.catalog.get(kind.resource_type, arn).status


def group_processes(leader: int) -> list[psutil.Process]:
    """Live processes whose process group is ``leader`` (a worker and what it started). A zombie has exited and
    holds nothing; where PID 1 does not reap orphans (containers), the killed workers' children stay zombies."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == leader and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def dataset_with_base(platform: Platform, tmp_path: Path, group: str = "shop") -> str:
    if platform.catalog.find(ResourceType.SCHEMA, "interactions") is None:
        create_schema(platform, "interactions", json.dumps(INTERACTIONS_SCHEMA))
    create_dataset_group(platform, group)
    dataset = create_dataset(platform, f"{group}-interactions", group, "INTERACTIONS", "interactions").arn
    base = tmp_path / f"{group}-base.csv"
    base.write_text(HEADER + "u1,i1,1700000000,click,1\n")
    assert create_dataset_import_job(platform, f"{group}-base", dataset, str(base)).status is Status.ACTIVE
    return dataset


def big_csv(path: Path, rows: int = 600_000) -> Path:
    """An import that takes seconds with one row per Parquet part."""
    path.write_text(HEADER + "".join(f"u{n % 991},i{n % 97},{1_700_000_000 + n},click,1\n" for n in range(rows)))
    return path


def worker_of(platform: Platform, arn: str) -> ProcessRef:
    job = platform.catalog.job_queue.get(arn)
    assert job is not None and job.worker is not None, f"{arn} has no worker"
    return job.worker


def test_a_bounded_pool_runs_queued_jobs_one_at_a_time_and_creates_return_at_once(
    tmp_path: Path, database_url: str
) -> None:
    """On SQLite and PostgreSQL catalogs: the workers get the catalog's URL with the rest of the settings."""
    platform = Platform(Settings(home=tmp_path / "home", catalog_url=database_url, dvc_track=False))
    datasets = [dataset_with_base(platform, tmp_path, group) for group in ("shop", "books")]
    jobs = []
    for n, dataset in enumerate(datasets):
        started = time.perf_counter()
        job = start_dataset_import_job(platform, f"more-{n}", dataset, str(big_csv(tmp_path / f"{n}.csv", 20_000)))
        platform.jobs.submit(JobKind.DATASET_IMPORT, job.arn)
        assert time.perf_counter() - started < 5, "a create must not wait for its job"
        jobs.append(job.arn)
    assert live_pools(platform) == []
    assert [status(platform, JobKind.DATASET_IMPORT, arn) for arn in jobs] == [Status.CREATE_PENDING] * 2
    seen = set()
    with LocalExecutor(platform, workers=1) as pool:
        assert [p.pool_id for p in live_pools(platform)] == [pool.pool_id]

        def both_done() -> bool:
            states = tuple(status(platform, JobKind.DATASET_IMPORT, arn) for arn in jobs)
            seen.add(states)
            assert states.count(Status.CREATE_IN_PROGRESS) <= 1, "a one-worker pool ran two jobs at once"
            return states == (Status.ACTIVE, Status.ACTIVE)

        wait_for("both imports", both_done)
    assert (Status.CREATE_IN_PROGRESS, Status.CREATE_PENDING) in seen, seen  # the second waited its turn
    assert live_pools(platform) == []
    assert platform.catalog.job_queue.list() == []
    platform.catalog.dispose()


def test_kill_9_of_a_worker_mid_import_and_a_pool_stop_leave_the_dataset_unchanged(
    platform: Platform, tmp_path: Path
) -> None:
    dataset = dataset_with_base(platform, tmp_path)
    before = platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"]
    folder = platform.settings.data_root / "shop" / "INTERACTIONS"
    source = big_csv(tmp_path / "big.csv")
    pool = LocalExecutor(platform, workers=1).start()
    try:
        for name in ("killed", "stopped-with-pool"):
            job = start_dataset_import_job(platform, name, dataset, str(source), "INCREMENTAL")
            pool.submit(JobKind.DATASET_IMPORT, job.arn)
            wait_for("a part being written", lambda: bool(list(folder.glob(".staging-*/part-*.parquet"))))
            worker = worker_of(platform, job.arn)
            assert status(platform, JobKind.DATASET_IMPORT, job.arn) is Status.CREATE_IN_PROGRESS
            if name == "killed":
                os.kill(worker.pid, signal.SIGKILL)
                wait_for(
                    "the job to end",
                    lambda: status(platform, JobKind.DATASET_IMPORT, job.arn) != Status.CREATE_IN_PROGRESS,  # noqa: B023
                )
                reason = f"import failed: its worker process (pid {worker.pid}) was killed by SIGKILL"
            else:
                pool.stop()
                reason = "import failed: the job executor was stopped before it finished"
            ended = platform.catalog.get(ResourceType.DATASET_IMPORT_JOB, job.arn)
            assert ended.status is Status.CREATE_FAILED
            assert (ended.failure_reason or "").startswith(reason), ended.failure_reason
            assert not psutil.pid_exists(worker.pid) or psutil.Process(worker.pid).status() == psutil.STATUS_ZOMBIE
            assert platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"] == before
            assert sorted(p.name for p in folder.iterdir()) == [before["id"]], "what the import wrote was kept"
    finally:
        pool.stop()
    assert platform.catalog.job_queue.list() == []


@pytest.mark.slow
def test_kill_9_of_the_pool_owner_with_jobs_queued(platform: Platform, tmp_path: Path) -> None:
    dataset = dataset_with_base(platform, tmp_path)
    before = platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"]
    running = start_dataset_import_job(platform, "running", dataset, str(big_csv(tmp_path / "big.csv")))
    platform.jobs.submit(JobKind.DATASET_IMPORT, running.arn)
    queued = []
    for n in range(2):
        export = start_dataset_export_job(platform, f"export-{n}", dataset, str(tmp_path / "out"), "BULK")
        platform.jobs.submit(JobKind.DATASET_EXPORT, export.arn)
        queued.append(export.arn)
    env = {
        **os.environ,
        "RECSMITH_HOME": str(platform.settings.home),
        "RECSMITH_DVC_TRACK": "false",
        "RECSMITH_IMPORT_PART_ROWS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
    }
    owner = subprocess.Popen(
        [sys.executable, "-m", "recsmith.cli", "run-jobs", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        folder = platform.settings.data_root / "shop" / "INTERACTIONS"
        wait_for("the import to write", lambda: bool(list(folder.glob(".staging-*/part-*.parquet"))))
        worker = worker_of(platform, running.arn)
        owner.send_signal(signal.SIGKILL)  # the pool's process only: its worker must not outlive it
        owner.wait(timeout=30)
        wait_for("the worker to die with its pool", lambda: not group_processes(worker.pid), timeout=30)
    finally:
        os.killpg(owner.pid, signal.SIGKILL) if owner.poll() is None else None
    assert [status(platform, JobKind.DATASET_EXPORT, arn) for arn in queued] == [Status.CREATE_PENDING] * 2
    assert status(platform, JobKind.DATASET_IMPORT, running.arn) is Status.CREATE_IN_PROGRESS
    with LocalExecutor(platform, workers=1) as pool:  # the restart: the dead worker's job ends, the queue runs
        failed = platform.catalog.get(ResourceType.DATASET_IMPORT_JOB, running.arn)
        assert failed.status is Status.CREATE_FAILED
        assert (failed.failure_reason or "").startswith(f"import was interrupted: its process (pid {worker.pid} on")
        assert pool.wait_idle(timeout=120)
    exports = [platform.catalog.get(ResourceType.DATASET_EXPORT_JOB, arn) for arn in queued]
    assert [e.status for e in exports] == [Status.ACTIVE] * 2, [e.failure_reason for e in exports]
    assert platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"] == before
    assert platform.catalog.job_queue.list() == []


def _training(platform: Platform, sample_files: SampleFiles) -> Resource:
    import_dataset(
        platform,
        ImportConfig(
            dataset_group="shop",
            data_location=str(sample_files.interactions),
            schema_file=str(sample_files.interactions_schema),
        ),
    )
    create_solution(platform, "shop-auto", "shop", LONG_TRAINING)
    version = start_solution_version(platform, "shop-auto")
    platform.jobs.submit(JobKind.SOLUTION_VERSION, version.arn)
    return version


def _mid_training(platform: Platform, arn: str) -> ProcessRef:
    """Wait until the training runs and has started its candidate processes (with two cores or more)."""
    wait_for("the training to begin", lambda: status(platform, JobKind.SOLUTION_VERSION, arn) != Status.CREATE_PENDING)
    worker = worker_of(platform, arn)
    if len(os.sched_getaffinity(0)) >= 2:  # AutoML trains its two candidates in a spawn process pool
        wait_for("the candidate processes", lambda: len(group_processes(worker.pid)) >= 3, timeout=90)
    assert status(platform, JobKind.SOLUTION_VERSION, arn) is Status.CREATE_IN_PROGRESS
    return worker


def _runs(platform: Platform, version_arn: str) -> list[str]:
    """Statuses of the training's MLflow run and its nested runs."""
    from mlflow.tracking import MlflowClient

    platform.configure_mlflow()
    client = MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    parents = client.search_runs(experiments, f"tags.`recsmith.solution_version_arn` = '{version_arn}'")
    nested = [
        run
        for parent in parents
        for run in client.search_runs(experiments, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    ]
    return [run.info.status for run in [*parents, *nested]]


def _registered_versions(platform: Platform, version_arn: str) -> list[object]:
    from mlflow.tracking import MlflowClient

    platform.configure_mlflow()
    found = MlflowClient().search_model_versions("name = 'shop.shop-auto'")
    return [v for v in found if v.tags.get("recsmith.solution_version_arn") == version_arn]


@pytest.mark.slow
def test_kill_9_mid_training_fails_after_restart_and_leaves_no_model_or_process(
    platform: Platform, tmp_path: Path, sample_files: SampleFiles
) -> None:
    version = _training(platform, sample_files)
    env = {
        **os.environ,
        "RECSMITH_HOME": str(platform.settings.home),
        "RECSMITH_DVC_TRACK": "false",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
    }
    owner = subprocess.Popen(
        [sys.executable, "-m", "recsmith.cli", "run-jobs", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        worker = _mid_training(platform, version.arn)
        # the machine loses the pool and the worker at once: the candidates it started are left behind
        owner.send_signal(signal.SIGKILL)
        os.kill(worker.pid, signal.SIGKILL)
        owner.wait(timeout=30)
        wait_for("the worker to be gone", lambda: not is_alive(worker), timeout=30)
    finally:
        os.killpg(owner.pid, signal.SIGKILL) if owner.poll() is None else None
    assert status(platform, JobKind.SOLUTION_VERSION, version.arn) is Status.CREATE_IN_PROGRESS
    try:
        with LocalExecutor(platform, workers=1):
            failed = platform.catalog.get(ResourceType.SOLUTION_VERSION, version.arn)
        assert failed.status is Status.CREATE_FAILED
        assert (failed.failure_reason or "").startswith(f"training was interrupted: its process (pid {worker.pid} on")
        assert group_processes(worker.pid) == [], "the training's processes outlived it"
    finally:
        for leftover in group_processes(worker.pid):  # only if the assertion above failed
            leftover.kill()
    assert _registered_versions(platform, version.arn) == []
    assert set(_runs(platform, version.arn)) <= {"FAILED"}, "an MLflow run of the dead training is still RUNNING"
    assert platform.catalog.job_queue.list() == []


@pytest.mark.slow
def test_stop_of_a_training_kills_it_and_ends_create_stopped(platform: Platform, sample_files: SampleFiles) -> None:
    version = _training(platform, sample_files)
    with LocalExecutor(platform, workers=1) as pool:
        worker = _mid_training(platform, version.arn)
        pool.stop(JobKind.SOLUTION_VERSION, version.arn)
        assert status(platform, JobKind.SOLUTION_VERSION, version.arn) in {
            Status.CREATE_STOPPING,
            Status.CREATE_STOPPED,
        }
        wait_for(
            "CREATE STOPPED", lambda: status(platform, JobKind.SOLUTION_VERSION, version.arn) is Status.CREATE_STOPPED
        )
        wait_for("the worker group to end", lambda: not group_processes(worker.pid), timeout=30)
    stopped = platform.catalog.get(ResourceType.SOLUTION_VERSION, version.arn)
    assert stopped.failure_reason is None
    assert _registered_versions(platform, version.arn) == []
    from recsmith.errors import ResourceInUseError

    with pytest.raises(ResourceInUseError, match="is CREATE STOPPED; only a job in progress can be stopped"):
        platform.jobs.stop(JobKind.SOLUTION_VERSION, version.arn)
