"""How the API starts long operations (imports, exports, batch inference, training) without waiting for them.

Personalize's create calls return at once and ``Describe*`` shows the job move from CREATE PENDING to ACTIVE or
CREATE FAILED; so do ours. :class:`JobLauncher` is the one seam between the API handlers and whatever runs the
jobs, so that moving to the platform's executor (:mod:`recsmith.jobs`: ``platform.jobs.submit(kind, arn)`` after
the core's ``start_*``) changes this module only.

Until that executor is merged, the launcher runs the core's own synchronous create functions on a thread of
this process (imports, exports, batch jobs), and training as ``recsmith run-solution-version`` in a child
process, as the CLI does. A launch returns once the job's catalog record exists, so the caller gets its ARN and
input errors (unknown dataset, a bad name, an import already running) still come back as errors of the call.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from recsmith.arns import make_arn
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import RecsmithError, ResourceAlreadyExistsError, ResourceNotFoundError
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

RECORD_WAIT_SECONDS = 30.0


class JobLauncher:
    """Starts jobs in the background and answers with their ARN as soon as they are recorded."""

    def __init__(self, platform: Platform, max_threads: int = 4) -> None:
        self.platform = platform
        self._threads = ThreadPoolExecutor(max_threads, thread_name_prefix="recsmith-job")
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def _launch(self, resource_type: ResourceType, job_name: str, run: Callable[[], Resource]) -> str:
        arn = make_arn(self.platform.settings, resource_type, job_name)
        if self.platform.catalog.find(resource_type, arn) is not None:
            raise ResourceAlreadyExistsError(f"{resource_type} {job_name!r} already exists ({arn})")
        future: Future[Resource] = self._threads.submit(run)
        deadline = time.monotonic() + RECORD_WAIT_SECONDS
        while time.monotonic() < deadline:
            if future.done():
                return future.result().arn  # raises the core's error (bad input) for the caller
            if self.platform.catalog.find(resource_type, arn) is not None:
                future.add_done_callback(_log_failure)
                return arn
            time.sleep(0.02)
        future.add_done_callback(_log_failure)
        return arn

    def import_dataset(self, job_name: str, dataset_arn: str, data_location: str, import_mode: str) -> str:
        from recsmith.data.imports import create_dataset_import_job

        return self._launch(
            ResourceType.DATASET_IMPORT_JOB,
            job_name,
            lambda: create_dataset_import_job(self.platform, job_name, dataset_arn, data_location, import_mode),
        )

    def export_dataset(self, job_name: str, dataset_arn: str, job_output: str, ingestion_mode: str) -> str:
        from recsmith.data.export import create_dataset_export_job

        return self._launch(
            ResourceType.DATASET_EXPORT_JOB,
            job_name,
            lambda: create_dataset_export_job(self.platform, job_name, dataset_arn, job_output, ingestion_mode),
        )

    def batch_inference(self, job_name: str, solution_version_arn: str, **kwargs: Any) -> str:
        from recsmith.campaigns.batch import create_batch_inference_job

        return self._launch(
            ResourceType.BATCH_INFERENCE_JOB,
            job_name,
            lambda: create_batch_inference_job(self.platform, job_name, solution_version_arn, **kwargs),
        )

    def train(self, solution_version_arn: str) -> None:
        """Train a CREATE PENDING solution version in a child process of this server (it dies with it)."""
        home = self.platform.settings.resolved_home
        log = home / "logs" / f"{solution_version_arn.rsplit('/', 1)[-1]}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "recsmith.cli",
                    "run-solution-version",
                    "--solution-version",
                    solution_version_arn,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "RECSMITH_HOME": str(home)},
            )
        with self._lock:
            self._children[solution_version_arn] = child

    def stop_training(self, solution_version: Resource) -> Resource:
        """Stop a training this process started; the version ends CREATE FAILED with the reason."""
        with self._lock:
            child = self._children.pop(solution_version.arn, None)
        if child is None or child.poll() is not None:
            if solution_version.status in (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS):
                raise ResourceNotFoundError(
                    f"solution version {solution_version.arn} is not being trained by this server"
                )
            raise RecsmithError(
                f"solution version {solution_version.arn} is {solution_version.status}; nothing to stop"
            )
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return self.platform.catalog.update(
            self.platform.catalog.get(ResourceType.SOLUTION_VERSION, solution_version.arn),
            status=Status.CREATE_FAILED,
            failure_reason="stopped by StopSolutionVersionCreation",
        )

    def close(self) -> None:
        """Stop taking jobs; running children are ended with the server."""
        self._threads.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            children = list(self._children.values())
            self._children.clear()
        for child in children:
            if child.poll() is None:
                child.terminate()


def _log_failure(future: Future[Resource]) -> None:
    exc = future.exception()
    if exc is not None:
        logger.error("background job failed: %s", exc)
