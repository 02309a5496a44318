"""Jobs for the worker-pool tests: module-level functions of a package, as workers import them by name."""

from __future__ import annotations

import os
import time
from pathlib import Path


def scaled_with_pid(job: int, shared: int) -> tuple[int, int]:
    """A job run in a worker: the scaled value and the process that computed it."""
    return job * shared, os.getpid()


def fail_on_three(job: int, shared: int) -> int:
    if job == 3:
        raise ValueError(f"bad job {job}")
    return job


def record_pid_then_sleep(job: str, shared: str) -> None:
    """Write this worker's pid to ``shared/job`` and sleep: a job to kill."""
    Path(shared, job).write_text(str(os.getpid()))
    time.sleep(60)
