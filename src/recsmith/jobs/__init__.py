"""The job executor: long operations (imports, exports, trainings, batch jobs) run apart from the call that
creates them, as in Personalize.

A create call is split in two: *start* validates and records the resource CREATE PENDING (and returns it at
once); *run* does the work by ARN, CREATE IN_PROGRESS -> ACTIVE / CREATE FAILED. An :class:`Executor` takes a
started job and runs it somewhere: the local pool of worker processes (:class:`~recsmith.jobs.local.LocalExecutor`,
the default) or, later, Airflow. Which one is a setting (``RECSMITH_EXECUTOR``); :attr:`Platform.jobs
<recsmith.platform.Platform.jobs>` is the one the settings choose.

::

    resource = start_dataset_import_job(platform, ...)        # CREATE PENDING, returns at once
    platform.jobs.submit(JobKind.DATASET_IMPORT, resource.arn)  # a worker runs run_dataset_import_job later

Adding a kind of job is one member here and one line in :mod:`recsmith.jobs.kinds` (its run function and what
to remove when it dies midway).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from recsmith.catalog import ResourceType

if TYPE_CHECKING:
    from recsmith.platform import Platform


class JobKind(StrEnum):
    """Kinds of job, spelled as their resources' ARNs (``ResourceType(kind)`` is the resource type)."""

    DATASET_IMPORT = "dataset-import-job"
    DATASET_EXPORT = "dataset-export-job"
    SOLUTION_VERSION = "solution-version"
    BATCH_INFERENCE = "batch-inference-job"

    @property
    def resource_type(self) -> ResourceType:
        return ResourceType(self.value)


class Executor(Protocol):
    """Runs started jobs. Both calls return at once; the resource's status tells what happened."""

    def submit(self, kind: JobKind, resource_arn: str) -> None:
        """Run a CREATE PENDING job (started by its ``start_*`` function)."""
        ...

    def stop(self, kind: JobKind, resource_arn: str) -> None:
        """Stop a job in progress (StopSolutionVersionCreation): CREATE STOPPING, then CREATE STOPPED."""
        ...


def make_executor(platform: Platform) -> Executor:
    """The executor ``platform.settings.executor`` names."""
    from recsmith.errors import InvalidInputError

    if platform.settings.executor == "local":
        from recsmith.jobs.local import LocalExecutor

        return LocalExecutor(platform)
    raise InvalidInputError(
        f"RECSMITH_EXECUTOR={platform.settings.executor!r}: the Airflow executor is not available yet; use 'local'"
    )


__all__ = ["Executor", "JobKind", "make_executor"]
