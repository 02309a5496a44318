"""AutoML's worker processes: fresh interpreters that never depend on how the parent was started, die with it,
and turn a dead worker into a TrainingError that names the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from recsmith.errors import TrainingError
from recsmith.training.workers import WorkerPool, import_path
from tests.training.worker_jobs import fail_on_three, record_pid_then_sleep, scaled_with_pid

REPO_ROOT = Path(__file__).resolve().parents[2]
TWO_CORES = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="AutoML uses worker processes from 2 cores")


def _wait_for_files(folder: Path, count: int, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = [p for p in folder.iterdir() if p.read_text()]
        if len(files) >= count:
            return [int(p.read_text()) for p in files]
        time.sleep(0.1)
    raise AssertionError(f"{count} workers did not start within {timeout} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead: its parent has not reaped it yet
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def test_jobs_run_in_other_processes_and_results_keep_job_order() -> None:
    results = WorkerPool(scaled_with_pid, workers=2).map([1, 2, 3, 4, 5], shared=10)

    assert [value for value, _ in results] == [10, 20, 30, 40, 50]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_a_failing_job_raises_its_own_exception_with_the_workers_traceback() -> None:
    with pytest.raises(ValueError, match="bad job 3") as raised:
        WorkerPool(fail_on_three, workers=2).map([1, 2, 3, 4], shared=0)

    assert any("in the worker process training job 2" in note for note in raised.value.__notes__)


def test_only_importable_functions_can_run_in_workers() -> None:
    with pytest.raises(ValueError, match="not importable by name"):
        import_path(lambda job, shared: job)
    assert import_path(scaled_with_pid) == "tests.training.worker_jobs:scaled_with_pid"


def test_a_worker_killed_mid_job_fails_the_run_and_names_the_signal(tmp_path: Path) -> None:
    pool = WorkerPool(record_pid_then_sleep, workers=2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pool.map(["a", "b"], shared=str(tmp_path), labels=["candidate a", "candidate b"])
        except BaseException as exc:  # noqa: BLE001 (handed to the test thread)
            errors.append(exc)

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    victim, other = _wait_for_files(tmp_path, 2)
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=30)

    assert not thread.is_alive()
    (error,) = errors
    assert isinstance(error, TrainingError)
    assert "died of SIGKILL (killed: out of memory, or by an operator)" in str(error)
    assert time.monotonic() - started < 30, "the run waited for the sleeping job instead of stopping it"
    assert not _alive(other), "the other worker outlived the failed run"


def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    pids = tmp_path / "pids"
    pids.mkdir()
    script.write_text(
        textwrap.dedent(
            f"""
            from recsmith.training.workers import WorkerPool
            from tests.training.worker_jobs import record_pid_then_sleep

            WorkerPool(record_pid_then_sleep, workers=2).map(["a", "b"], shared={str(pids)!r})
            """
        )
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        start_new_session=True,
    )
    try:
        workers = _wait_for_files(pids, 2)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "a worker outlived its killed parent"
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)


@TWO_CORES
def test_candidates_train_when_the_parents_main_cannot_be_imported_again(tmp_path: Path) -> None:
    """The parent's ``__main__`` fails when imported a second time, as the ``airflow`` entry point did inside a
    task (it read a database URL Airflow withholds from tasks): AutoML's workers must never import it."""
    script = tmp_path / "entry_point.py"
    script.write_text(
        textwrap.dedent(
            """
            import logging

            if __name__ != "__main__":
                raise RuntimeError("a worker re-imported its parent's __main__")

            from recsmith.data.sample import generate_sample
            from recsmith.evaluation.split import SplitMethod, split_interactions
            from recsmith.training.automl import CandidateJob, TrainingData, run_candidates

            import sys
            from pathlib import Path
            import pandas as pd

            logging.basicConfig(level=logging.INFO)
            frame = pd.read_csv(generate_sample(Path(sys.argv[1])).interactions)
            frame = frame.astype({"USER_ID": str, "ITEM_ID": str})
            split = split_interactions(frame, seed=1)
            validation = split_interactions(split.train, method=SplitMethod.LEAVE_LAST_OUT, seed=2)
            jobs = [CandidateJob(recipe, {}, 1, "normalized_discounted_cumulative_gain_at_10")
                    for recipe in ("popularity_count", "sims")]
            results = run_candidates(jobs, TrainingData(split, validation), max_parallel=2)
            print("chosen from", [r.recipe_id for r in results], [r.validation_metrics is not None for r in results])
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "sample")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        start_new_session=True,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "training 2 candidates in 2 processes" in done.stderr
    assert "chosen from ['popularity_count', 'sims'] [True, True]" in done.stdout
