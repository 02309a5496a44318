"""The local executor: a bounded pool of worker processes fed from the durable queue in the catalog.

``submit`` queues a started job in the catalog and returns; any running pool (this process's, another
process's, another machine's sharing the catalog) claims it, atomically, when it has a free worker, and starts
``python -m recsmith.jobs.worker KIND ARN`` for it in a new session. A job submitted while every worker is busy,
or while no pool runs at all, waits CREATE PENDING; it runs once a pool is free or started (``recsmith serve``,
``recsmith run-jobs``), also after the process that owned the previous pool was killed.

- A worker that exits without ending its job (killed, out of memory, crashed) is noticed at once: what it wrote
  is removed and the job ends CREATE FAILED with a reason that says how the worker ended.
- ``stop(kind, arn)`` kills a job's worker group and records CREATE STOPPING, then CREATE STOPPED (a queued job
  is CREATE STOPPED at once).
- ``start()`` first ends every job whose process died (a previous pool killed with its workers, a machine
  restart) CREATE FAILED; ``stop()`` kills the pool's workers, ends their jobs CREATE FAILED ("the executor was
  stopped") and returns; queued jobs stay queued for the next pool. Workers kill themselves when the pool's
  process is gone (kill -9 of a server), so nothing is orphaned.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from recsmith.catalog import JobState, Pool, ProcessRef, Status
from recsmith.errors import InvalidInputError, ResourceInUseError
from recsmith.jobs import JobKind
from recsmith.jobs.kinds import KINDS
from recsmith.jobs.lifecycle import end_abandoned_job, reap_dead_jobs, request_stop
from recsmith.jobs.processes import is_alive, is_local, process_ref
from recsmith.jobs.worker import NOT_MINE, settings_payload
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

_HEARTBEAT_SECONDS = 10.0
_REMOTE_POOL_STALE_SECONDS = 60.0


@dataclass
class _Worker:
    kind: JobKind
    arn: str
    process: subprocess.Popen[bytes]
    ref: ProcessRef
    log: Path


class LocalExecutor:
    """Runs jobs in at most ``workers`` worker processes at a time (default ``settings.job_workers``).

    ``submit`` and ``stop(kind, arn)`` work whether or not this object's pool is started; ``start()`` starts
    the pool in a background thread of this process (``recsmith serve`` does that), ``stop()`` with no
    arguments stops it. Also a context manager.
    """

    def __init__(self, platform: Platform, *, workers: int | None = None, poll_seconds: float | None = None) -> None:
        self.platform = platform
        self.workers = workers or platform.settings.job_workers
        self.poll_seconds = poll_seconds or platform.settings.job_poll_seconds
        self.pool_id = uuid.uuid4().hex[:16]
        self._running: dict[str, _Worker] = {}
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner: ProcessRef | None = None
        self._state_lock = threading.Lock()

    # ------------------------------------------------------------- Executor
    def submit(self, kind: JobKind, resource_arn: str) -> None:
        """Queue a CREATE PENDING job; it runs when a pool has a free worker. Submitting twice is harmless."""
        kind = JobKind(kind)
        resource = self.platform.catalog.get(kind.resource_type, resource_arn)
        if resource.status is not Status.CREATE_PENDING:
            raise ResourceInUseError(f"{kind} {resource.arn} is {resource.status}, not {Status.CREATE_PENDING}")
        queue = self.platform.catalog.job_queue
        if not queue.submit(resource.arn):
            if queue.get(resource.arn) is None:
                raise ResourceInUseError(f"{kind} {resource.arn} has no record in the job queue; start it again")
            logger.info("%s %s is already queued or running", kind, resource.arn)
        self._wake.set()

    def stop(self, kind: JobKind | None = None, resource_arn: str | None = None) -> None:
        """``stop(kind, arn)``: stop one job (CREATE STOPPING, then CREATE STOPPED once its worker is killed).
        ``stop()``: stop this pool (see the module's docstring)."""
        if kind is None and resource_arn is None:
            self._shutdown()
            return
        if kind is None or resource_arn is None:
            raise InvalidInputError("stop takes both a job kind and a resource ARN, or neither (stop the pool)")
        request_stop(self.platform, JobKind(kind), resource_arn)
        self._wake.set()

    # ----------------------------------------------------------------- pool
    def start(self) -> LocalExecutor:
        """Start the pool in a background thread: end jobs whose process died, then run queued jobs."""
        with self._state_lock:
            if self._thread is not None:
                return self
            self._owner = process_ref()
            self._closing.clear()
            queue = self.platform.catalog.job_queue
            for pool in queue.pools():
                if not pool_alive(pool):
                    queue.remove_pool(pool.pool_id)
            queue.register_pool(self.pool_id, self._owner, self.workers)
            for ended in reap_dead_jobs(self.platform):
                logger.warning("%s ended %s at start: %s", ended.arn, ended.status, ended.failure_reason)
            self._thread = threading.Thread(target=self._dispatch, name=f"recsmith-jobs-{self.pool_id}", daemon=True)
            self._thread.start()
            atexit.register(self._shutdown)
        logger.info("job pool %s started: %d worker(s)", self.pool_id, self.workers)
        return self

    def __enter__(self) -> LocalExecutor:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self._shutdown()

    @property
    def running(self) -> dict[str, int]:
        """ARN -> worker pid of the jobs this pool runs now."""
        return {arn: worker.ref.pid for arn, worker in list(self._running.items())}

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued in the catalog and this pool runs nothing; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            in_flight = self.platform.catalog.job_queue.list((JobState.QUEUED, JobState.RUNNING))
            mine = [j for j in in_flight if j.state is JobState.QUEUED or j.pool_id == self.pool_id]
            if not self._running and not mine:
                return True
            time.sleep(min(0.2, self.poll_seconds))
        return False

    def _shutdown(self) -> None:
        with self._state_lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._closing.set()
            self._wake.set()
            thread.join()
            atexit.unregister(self._shutdown)
            for worker in list(self._running.values()):
                _kill_group(worker)
            for worker in list(self._running.values()):
                worker.process.wait()
                self._end_if_unfinished(
                    worker, f"{KINDS[worker.kind].noun} failed: the job executor was stopped before it finished"
                )
            self._running.clear()
            self.platform.catalog.job_queue.remove_pool(self.pool_id)
        logger.info("job pool %s stopped", self.pool_id)

    def _dispatch(self) -> None:
        last_beat = time.monotonic()
        while not self._closing.is_set():
            try:
                self._collect_exited()
                self._kill_stopped()
                self._launch_queued()
                if time.monotonic() - last_beat > _HEARTBEAT_SECONDS:
                    self.platform.catalog.job_queue.heartbeat(self.pool_id)
                    last_beat = time.monotonic()
            except Exception:  # noqa: BLE001 - the pool's loop must outlive a catalog outage; it retries next tick
                logger.exception("job pool %s: dispatch failed; retrying", self.pool_id)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _launch_queued(self) -> None:
        assert self._owner is not None
        while len(self._running) < self.workers and not self._closing.is_set():
            job = self.platform.catalog.job_queue.claim(self.pool_id, self._owner)
            if job is None:
                return
            self._launch(JobKind(job.kind), job.resource_arn)

    def _launch(self, kind: JobKind, arn: str) -> None:
        assert self._owner is not None
        logs = self.platform.settings.resolved_home / "logs" / "jobs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{_safe(arn.rsplit(':', 1)[-1])}.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "recsmith.jobs.worker", kind.value, arn],
                stdin=subprocess.PIPE,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        try:
            ref = process_ref(process.pid)
        except psutil.NoSuchProcess:  # died at once: its exit is collected below with the job still the pool's
            ref = ProcessRef(host=self._owner.host, pid=process.pid, started=0.0)
        worker = _Worker(kind, arn, process, ref, log)
        if not self.platform.catalog.job_queue.hand_to_worker(arn, self._owner, ref):
            logger.warning("%s %s was taken from pool %s before its worker started", kind, arn, self.pool_id)
            _kill_group(worker)
            process.wait()
            return
        self._running[arn] = worker
        assert process.stdin is not None
        with contextlib.suppress(OSError):  # a worker that died at once is collected as exited
            process.stdin.write(settings_payload(self.platform.settings).encode())
            process.stdin.close()
        threading.Thread(target=self._await_exit, args=(process,), daemon=True).start()
        logger.info("job pool %s: %s %s runs in worker %d (log %s)", self.pool_id, kind, arn, ref.pid, log)

    def _await_exit(self, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        self._wake.set()

    def _collect_exited(self) -> None:
        for arn, worker in list(self._running.items()):
            code = worker.process.poll()
            if code is None:
                continue
            del self._running[arn]
            self._end_if_unfinished(worker, _exit_reason(worker, code))

    def _end_if_unfinished(self, worker: _Worker, reason: str) -> None:
        """A worker ended: if its job is still in flight and still its own, end the job with ``reason``."""
        job = self.platform.catalog.job_queue.get(worker.arn)
        if job is None or job.owner != worker.ref:
            return  # the job ended (ACTIVE / CREATE FAILED) or someone else took it over
        ended = end_abandoned_job(self.platform, job, reason)
        if ended is not None:
            logger.warning("%s %s ended %s: %s", worker.kind, worker.arn, ended.status, ended.failure_reason)

    def _kill_stopped(self) -> None:
        if not self._running:
            return
        for job in self.platform.catalog.job_queue.list((JobState.RUNNING,)):
            worker = self._running.get(job.resource_arn)
            if worker is not None and job.stop_requested and worker.process.poll() is None:
                logger.info("stopping %s %s: killing worker group %d", worker.kind, worker.arn, worker.ref.pid)
                _kill_group(worker)


def pool_alive(pool: Pool) -> bool:
    """A pool of this machine is alive while its process is; another machine's while it keeps a heartbeat."""
    if is_local(pool.owner):
        return is_alive(pool.owner)
    return time.time() - pool.heartbeat_at < _REMOTE_POOL_STALE_SECONDS


def live_pools(platform: Platform) -> list[Pool]:
    """The pools that will run a queued job: none means it waits until ``recsmith run-jobs`` or ``serve`` runs."""
    return [pool for pool in platform.catalog.job_queue.pools() if pool_alive(pool)]


def _kill_group(worker: _Worker) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(worker.process.pid, signal.SIGKILL)


def _exit_reason(worker: _Worker, code: int) -> str:
    noun = KINDS[worker.kind].noun
    if code < 0:
        name = signal.Signals(-code).name
        why = " (killed by hand, or by the out-of-memory killer)" if -code == signal.SIGKILL else ""
        return f"{noun} failed: its worker process (pid {worker.ref.pid}) was killed by {name}{why}"
    if code == NOT_MINE:
        return f"{noun} failed: its worker process (pid {worker.ref.pid}) found the job was not pending"
    return (
        f"{noun} failed: its worker process (pid {worker.ref.pid}) exited with status {code}: {_last_line(worker.log)}"
    )


def _last_line(log: Path) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, log.stat().st_size - 4096))
            lines = [line for line in handle.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip() if lines else "no output"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)
