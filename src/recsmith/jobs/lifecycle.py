"""A job's life in the catalog, whoever runs it: recorded (CREATE PENDING), begun (CREATE IN_PROGRESS by one
process), ended by its run function (ACTIVE / CREATE FAILED), and, when the process running it died, ended by
whoever notices first (the executor at start, a pool whose worker exited, a describe or list).

The ``start_*`` functions call :func:`record_job`, the ``run_*`` functions :func:`begin_job`; describe and list
call :func:`refresh_job` / :func:`refresh_jobs` so that a job whose process is gone reads CREATE FAILED (or
CREATE STOPPED, if a stop was asked for), never IN_PROGRESS for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from recsmith.arns import make_arn
from recsmith.catalog import FINAL_STATUSES, Job, JobState, Resource, Status
from recsmith.errors import ResourceInUseError
from recsmith.jobs import JobKind
from recsmith.jobs.kinds import KINDS, discard_function, kind_of
from recsmith.jobs.processes import is_alive, kill_process_group, process_ref
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

_IN_FLIGHT = {Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS}


def record_job(
    platform: Platform,
    kind: JobKind,
    name: str,
    *,
    dataset_group_arn: str | None,
    attributes: dict[str, object],
    arn: str | None = None,
    exclusive_key: str | None = None,
) -> Resource:
    """Record a job CREATE PENDING, held by this process until it runs it or submits it to an executor.

    ``arn`` defaults to ``arn:...:{kind}/{name}`` (a solution version's is ``solution/{solution}/{id}``).

    With ``exclusive_key`` (an import's dataset ARN) the record is refused with :class:`ResourceInUseError`
    while another job in flight holds the key; a holder whose process died is ended first, then the record is
    tried once more.
    """
    resource = Resource(
        arn=arn or make_arn(platform.settings, kind.value, name),
        resource_type=kind.resource_type,
        name=name,
        dataset_group_arn=dataset_group_arn,
        status=Status.CREATE_PENDING,
        attributes=dict(attributes),
    )
    try:
        return platform.catalog.create_job(resource, owner=process_ref(), exclusive_key=exclusive_key)
    except ResourceInUseError:
        holder = platform.catalog.job_queue.holder(exclusive_key) if exclusive_key else None
        if holder is None or not _abandoned(holder) or end_abandoned_job(platform, holder) is None:
            raise
    return platform.catalog.create_job(resource, owner=process_ref(), exclusive_key=exclusive_key)


def begin_job(platform: Platform, kind: JobKind, arn: str) -> Resource:
    """CREATE PENDING -> CREATE IN_PROGRESS, run by this process; :class:`ResourceInUseError` if another process
    runs it or it is not pending."""
    return platform.catalog.begin_job(kind.resource_type, arn, process_ref())


def _abandoned(job: Job) -> bool:
    """A job whose owner died: nobody will end it unless we do. QUEUED jobs have no owner: they wait for a pool."""
    return job.state is not JobState.QUEUED and job.owner is not None and not is_alive(job.owner)


def interrupted_reason(job: Job) -> str:
    """Why a job whose process is gone failed."""
    noun = KINDS[JobKind(job.kind)].noun
    where = f"pid {job.owner.pid} on {job.owner.host}" if job.owner else "unknown"
    return (
        f"{noun} was interrupted: its process ({where}) ended before it finished (killed, out of memory, or the "
        "machine restarted); nothing it wrote was kept"
    )


def end_abandoned_job(platform: Platform, job: Job, reason: str | None = None) -> Resource | None:
    """End a job whose process died: take it over (one process wins), kill what its worker left running, remove
    what it wrote, and record CREATE FAILED with ``reason`` (CREATE STOPPED if a stop was asked for). ``None``
    when someone else ended or took it first."""
    if job.owner is None or not platform.catalog.job_queue.take_over(job.resource_arn, job.owner, process_ref()):
        return None
    kind = JobKind(job.kind)
    if job.worker is not None:
        kill_process_group(job.worker)
    resource = platform.catalog.find(kind.resource_type, job.resource_arn)
    if resource is None:
        return None
    reason = reason or interrupted_reason(job)
    try:
        discard_function(kind)(platform, resource)
    except Exception as exc:  # noqa: BLE001 - a cleanup that fails must not leave the job IN PROGRESS for ever
        logger.exception("could not remove what %s %s left", kind, job.resource_arn)
        reason = f"{reason}; removing what it wrote failed: {exc}"
    stopped = job.stop_requested or resource.status is Status.CREATE_STOPPING
    ended = platform.catalog.update(
        resource,
        status=Status.CREATE_STOPPED if stopped else Status.CREATE_FAILED,
        failure_reason=None if stopped else reason,
    )
    logger.warning("%s %s ended %s: %s", kind, job.resource_arn, ended.status, reason)
    return ended


def reap_dead_jobs(platform: Platform, kind: JobKind | None = None) -> list[Resource]:
    """End every job (of ``kind``) whose process died; returns them as they ended."""
    ended = []
    for job in platform.catalog.job_queue.list((JobState.HELD, JobState.RUNNING)):
        if (kind is None or job.kind == kind.value) and _abandoned(job):
            resource = end_abandoned_job(platform, job)
            if resource is not None:
                ended.append(resource)
    return ended


def refresh_job(platform: Platform, resource: Resource) -> Resource:
    """``resource`` as it truly stands: a job whose process died is ended first. Other resources as they are."""
    if resource.status in FINAL_STATUSES or kind_of(resource.resource_type.value) is None:
        return resource
    job = platform.catalog.job_queue.get(resource.arn)
    if job is None or not _abandoned(job):
        return resource
    end_abandoned_job(platform, job)
    return platform.catalog.get(resource.resource_type, resource.arn)


def refresh_jobs(platform: Platform, resources: Iterable[Resource]) -> list[Resource]:
    """:func:`refresh_job` over a listing."""
    return [refresh_job(platform, r) for r in resources]


def request_stop(platform: Platform, kind: JobKind, arn: str) -> Resource:
    """Ask for a job to stop: a queued one is CREATE STOPPED at once; one a pool's worker runs is CREATE
    STOPPING until its pool has killed the worker and removed what it wrote (then CREATE STOPPED).

    A job that has ended, or one run in the foreground of some process (``--wait``, a DAG task) rather than by
    the executor, cannot be stopped here: :class:`ResourceInUseError`.
    """
    resource = refresh_job(platform, platform.catalog.get(kind.resource_type, arn))
    if resource.status is Status.CREATE_STOPPING:
        return resource
    if resource.status not in _IN_FLIGHT:
        raise ResourceInUseError(f"{kind} {resource.arn} is {resource.status}; only a job in progress can be stopped")
    queue = platform.catalog.job_queue
    job = queue.get(resource.arn)
    if job is not None and job.state is JobState.QUEUED and queue.dequeue(resource.arn):
        return platform.catalog.update(resource, status=Status.CREATE_STOPPED)
    job = queue.get(resource.arn)
    if job is None or job.pool_id is None:
        who = f"process {job.owner.pid} on {job.owner.host}" if job and job.owner else "another process"
        raise ResourceInUseError(
            f"{kind} {resource.arn} runs in the foreground of {who}, not in the job executor; stop that process"
        )
    queue.request_stop(resource.arn)
    stopping = platform.catalog.set_status_if(
        kind.resource_type, resource.arn, Status.CREATE_STOPPING, only_from=_IN_FLIGHT
    )
    return stopping or platform.catalog.get(kind.resource_type, resource.arn)
