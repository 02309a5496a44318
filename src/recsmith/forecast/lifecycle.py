"""The lifecycle every Forecast job shares (import, predictor, forecast, export): ``start_*`` records the job
CREATE_PENDING, ``run_*`` takes it by ARN, marks it CREATE_IN_PROGRESS with its owner (host, pid, process start
time) and ends it ACTIVE or CREATE_FAILED with a ``Message``.

A process killed midway leaves a job CREATE_IN_PROGRESS whose owner is dead: :func:`reap_interrupted_jobs`, run
by every start, describe and list, marks it CREATE_FAILED and removes what it had staged (never what is already
current). Jobs still CREATE_PENDING have no owner yet and wait for their executor.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import psutil

from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import InvalidInputError
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

JOB_TYPES = (
    ResourceType.FORECAST_DATASET_IMPORT_JOB,
    ResourceType.PREDICTOR,
    ResourceType.FORECAST,
    ResourceType.FORECAST_EXPORT_JOB,
)


def owner() -> dict[str, Any]:
    """This process, as a job records its owner: enough to tell later whether it is still alive."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "startTime": psutil.Process().create_time()}


def owner_alive(recorded: dict[str, Any]) -> bool:
    if recorded.get("host") != socket.gethostname():
        return True  # another machine's process: not ours to judge
    try:
        process = psutil.Process(int(recorded["pid"]))
        return abs(process.create_time() - float(recorded["startTime"])) < 1.0 and process.status() != "zombie"
    except (psutil.NoSuchProcess, KeyError, ValueError):
        return False


def begin(platform: Platform, resource_type: ResourceType, arn: str) -> Resource:
    """Take a CREATE_PENDING job: CREATE_IN_PROGRESS, owned by this process."""
    job = platform.catalog.get(resource_type, arn)
    if job.status is not Status.CREATE_PENDING:
        raise InvalidInputError(f"{job.arn} is {job.status.value.replace(' ', '_')}, not CREATE_PENDING")
    return platform.catalog.update(job, status=Status.CREATE_IN_PROGRESS, attributes={"owner": owner()})


def fail(platform: Platform, job: Resource, reason: str, attributes: dict[str, Any] | None = None) -> Resource:
    logger.warning("%s failed: %s", job.arn, reason)
    return platform.catalog.update(job, status=Status.CREATE_FAILED, failure_reason=reason, attributes=attributes)


def discard_staged(platform: Platform, job: Resource) -> None:
    """Remove what an unfinished job wrote (its staging folder, a partial export file); what is already current
    (a dataset's data version, an ACTIVE predictor's folder) is never staged, so it is never touched. The
    ``discard`` of every Forecast job kind for :mod:`recsmith.jobs.kinds`."""
    for key in ("stagingPath", "outputStaging"):
        if job.attributes.get(key):
            shutil.rmtree(Path(job.attributes[key]), ignore_errors=True)
    if job.attributes.get("outputPartial"):
        Path(job.attributes["outputPartial"]).unlink(missing_ok=True)


def reap_interrupted_jobs(platform: Platform) -> list[Resource]:
    """Mark CREATE_FAILED every running Forecast job whose owning process is dead; remove its staged files."""
    reaped = []
    for resource_type in JOB_TYPES:
        for job in platform.catalog.list(resource_type):
            recorded = job.attributes.get("owner")
            if job.status is not Status.CREATE_IN_PROGRESS or not recorded or owner_alive(recorded):
                continue
            discard_staged(platform, job)
            reason = (
                f"interrupted: its process (pid {recorded.get('pid')} on {recorded.get('host')}) ended before it "
                "finished; nothing was changed"
            )
            reaped.append(platform.catalog.update(job, status=Status.CREATE_FAILED, failure_reason=reason))
            logger.warning("reaped interrupted job %s", job.arn)
    return reaped
