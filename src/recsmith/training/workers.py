"""Worker processes for AutoML and HPO candidates: fresh interpreters, `python -m recsmith.training.workers`.

Why not :mod:`multiprocessing`: a ``spawn`` or ``forkserver`` child re-imports the parent's ``__main__``, so a
worker depends on how its parent was started. Under Airflow's task runner the parent's ``__main__`` is the
``airflow`` entry point, and every worker died re-importing it (Airflow gives tasks no database URL, so the
import failed with "Could not parse SQLAlchemy URL", and AutoML failed on every try; issue 14). A ``fork``
copies torch's and MLflow's threads and locks. The workers here import recsmith and nothing of the parent's.

Protocol: the parent pickles the shared input (the splits) once to a private temporary file, starts each worker
with the function's import path, that file and two pipe descriptors, then sends jobs and reads results as
length-prefixed pickles over the pipes (never stdout, so whatever a library prints cannot corrupt a frame;
workers' logs go to the inherited stderr, which under Airflow is the task's log). A worker runs jobs one after
another until its job pipe closes. The pipes carry only what this process wrote, so unpickling them trusts
nothing it did not already trust.

Nothing outlives the parent: a worker whose parent dies (kill -9 of an Airflow task, an OOM kill) sees its
parent id change within a second and exits; when the parent stops early (a failed candidate, an interrupt) it
kills every worker before returning. A worker that dies mid-job fails the whole run with a
:class:`~recsmith.errors.TrainingError` that names the job and the signal.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

from recsmith.errors import TrainingError

logger = logging.getLogger(__name__)

Job = TypeVar("Job")
Shared = TypeVar("Shared")
Result = TypeVar("Result")

_HEADER = struct.Struct("!Q")
PARENT_CHECK_SECONDS = 1.0
"""How often a worker checks that its parent is alive."""


def _send(stream: BinaryIO, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the pipe closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the pipe closed mid-frame")
    return pickle.loads(data)  # noqa: S301 (our own worker's frame; see the module docstring)


def import_path(function: Callable[..., Any]) -> str:
    """``module:qualname`` of a module-level function, which a worker imports by that name."""
    path = f"{function.__module__}:{function.__qualname__}"
    if "<" in path or function.__module__ == "__main__":
        raise ValueError(f"{path} is not importable by name; workers need a module-level function of a package")
    return path


def _resolve(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (killed: out of memory, or by an operator)" if code == -signal.SIGKILL else ""
        return f"died of {name}{hint}"
    return f"exited with code {code}"


class _Worker:
    """One worker process and the parent's ends of its two pipes."""

    def __init__(self, function: str, shared_path: Path) -> None:
        job_read, job_write = os.pipe()
        result_read, result_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, function, str(shared_path), str(job_read), str(result_write)],
                pass_fds=(job_read, result_write),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            for fd in (job_read, job_write, result_read, result_write):
                os.close(fd)
            raise
        os.close(job_read)
        os.close(result_write)
        self.jobs = os.fdopen(job_write, "wb")
        self.results = os.fdopen(result_read, "rb")

    def run(self, job: Any, label: str) -> Any:
        try:
            _send(self.jobs, job)
            outcome = _receive(self.results)
        except (EOFError, BrokenPipeError, OSError) as exc:
            code = self.process.wait()
            raise TrainingError(f"the worker process training {label} {_describe_exit(code)}") from exc
        if outcome[0] == "ok":
            return outcome[1]
        _, error, remote_traceback = outcome
        if isinstance(error, BaseException):
            error.add_note(f"in the worker process training {label}:\n{remote_traceback}")
            raise error
        raise TrainingError(f"training {label} failed in its worker process: {error}\n{remote_traceback}")

    def stop(self, grace_seconds: float) -> None:
        """Close the job pipe (an idle worker exits on its own), kill what still runs after ``grace_seconds``, and
        only then close the result pipe: a thread may still be reading it, and closing a file another thread
        reads blocks on its lock until the read returns, which the dead worker's closed pipe makes it do."""
        try:
            self.jobs.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.results.close()


class WorkerPool(Generic[Job, Shared, Result]):
    """``function(job, shared)`` for each job in up to ``workers`` worker processes; results in job order."""

    def __init__(self, function: Callable[[Job, Shared], Result], workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.function = import_path(function)
        self.workers = workers

    def map(self, jobs: Sequence[Job], shared: Shared, labels: Sequence[str] | None = None) -> list[Result]:
        """Run every job; the first failure stops the others and is raised (a dead worker as TrainingError)."""
        names = list(labels) if labels is not None else [f"job {i}" for i in range(len(jobs))]
        count = min(self.workers, len(jobs))
        if count == 0:
            return []
        with tempfile.TemporaryDirectory(prefix="recsmith-workers-") as folder:
            shared_path = Path(folder) / "shared.pickle"
            with shared_path.open("wb") as handle:
                pickle.dump(shared, handle, protocol=pickle.HIGHEST_PROTOCOL)
            started: list[_Worker] = []
            idle: queue.Queue[_Worker] = queue.Queue()
            threads = ThreadPoolExecutor(max_workers=count, thread_name_prefix="recsmith-worker")
            try:
                for _ in range(count):
                    worker = _Worker(self.function, shared_path)
                    started.append(worker)
                    idle.put(worker)

                def run(job: Job, label: str) -> Result:
                    worker = idle.get()
                    try:
                        return worker.run(job, label)  # type: ignore[no-any-return]
                    finally:
                        idle.put(worker)

                futures = [threads.submit(run, job, label) for job, label in zip(jobs, names, strict=True)]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = next((future for future in futures if future in done and future.exception()), None)
                if failed is not None:
                    failed.result()  # raises the first failure; the others are stopped below
                results = [future.result() for future in futures]
            except BaseException:
                # a failure or an interrupt: kill at once, which also unblocks threads waiting on a pipe
                for worker in started:
                    worker.stop(grace_seconds=0)
                threads.shutdown(wait=True, cancel_futures=True)
                raise
            for worker in started:
                worker.stop(grace_seconds=10)
            threads.shutdown(wait=True)
            return results


def _exit_with_parent(parent: int) -> None:
    """Exit at once when the parent dies (this process is then adopted, and its parent id changes)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(70)
            threading.Event().wait(PARENT_CHECK_SECONDS)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str]) -> int:
    """The worker: load the shared input, then run each job received until the job pipe closes."""
    function_path, shared_path, job_fd, result_fd = argv
    _exit_with_parent(os.getppid())
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    function = _resolve(function_path)
    with open(shared_path, "rb") as handle:
        shared = pickle.load(handle)  # noqa: S301 (written by our parent a moment ago, in a private folder)
    with os.fdopen(int(job_fd), "rb") as jobs, os.fdopen(int(result_fd), "wb") as results:
        while True:
            try:
                job = _receive(jobs)
            except EOFError:
                return 0
            try:
                outcome: tuple[Any, ...] = ("ok", function(job, shared))
            except Exception as exc:  # every failure goes back to the parent, which raises it
                outcome = ("error", exc, traceback.format_exc())
            try:
                _send(results, outcome)
            except (pickle.PicklingError, TypeError, AttributeError):
                _send(results, ("error", f"{type(outcome[1]).__name__}: {outcome[1]}", traceback.format_exc()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
