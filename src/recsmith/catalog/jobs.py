"""The catalog's record of jobs in flight: who runs each one, the durable queue of the local executor, and the
in-progress locks that serialise jobs on one dataset.

A row exists from the moment a job resource is created (CREATE PENDING) until the resource reaches a final
status (ACTIVE, CREATE FAILED, CREATE STOPPED): :class:`~recsmith.catalog.store.Catalog` deletes it in the same
transaction as that status change, so a lock is never released without the job ending, nor held after it.

- ``state``: HELD (its creator runs it in-process, or has not submitted it yet), QUEUED (waiting for a local
  pool), RUNNING (begun by a process, a pool's worker or a synchronous caller).
- ``owner``: the process responsible for the job now (creator, claiming pool, worker, or a reaper finishing it
  off). Whoever finds a HELD or RUNNING job whose owner is dead takes it over with a compare-and-set on the owner
  and ends it; a QUEUED job has no owner and waits for a pool.
- ``exclusive_key``: unique among jobs in flight (an import holds its dataset's ARN), so "is another job running
  on this dataset?" and "this job runs" are one insert that the database refuses or accepts (issue 15).

Every change here is a single conditional ``UPDATE`` (compare-and-set) or ``INSERT``, so two processes, two
pools or two machines sharing the catalog never both win: SQLite serialises writers, PostgreSQL re-checks the
``WHERE`` of a row another transaction changed, and claims skip rows another pool has locked.
"""

from __future__ import annotations

import builtins
import time
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    JSON,
    Boolean,
    CursorResult,
    Engine,
    Float,
    Integer,
    Result,
    String,
    and_,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class JobState(StrEnum):
    """Where a job in flight is: held by its creator, queued for a pool, or running."""

    HELD = "held"
    QUEUED = "queued"
    RUNNING = "running"


class ProcessRef(BaseModel):
    """One process, told apart from a later one with the same pid by its start time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    pid: int
    started: float


class Job(BaseModel):
    """A job in flight, as the catalog records it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource_arn: str
    kind: str
    state: JobState
    owner: ProcessRef | None
    exclusive_key: str | None
    pool_id: str | None
    worker: ProcessRef | None
    stop_requested: bool
    created_at: float
    submitted_at: float | None


class Pool(BaseModel):
    """A running local pool: the process that owns it, and when it last said it was alive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool_id: str
    owner: ProcessRef
    workers: int
    heartbeat_at: float


class _JobBase(DeclarativeBase):
    pass


class JobRow(_JobBase):
    __tablename__ = "jobs"

    resource_arn: Mapped[str] = mapped_column(String(512), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    exclusive_key: Mapped[str | None] = mapped_column(String(512), unique=True, nullable=True)
    owner_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    owner_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    owner_started: Mapped[float | None] = mapped_column(Float, nullable=True)
    pool_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    submitted_at: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)


class PoolRow(_JobBase):
    __tablename__ = "job_pools"

    pool_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_host: Mapped[str] = mapped_column(String(255))
    owner_pid: Mapped[int] = mapped_column(Integer)
    owner_started: Mapped[float] = mapped_column(Float)
    workers: Mapped[int] = mapped_column(Integer)
    heartbeat_at: Mapped[float] = mapped_column(Float)


def create_job_tables(engine: Engine) -> None:
    _JobBase.metadata.create_all(engine)


def new_job_row(
    resource_arn: str, kind: str, owner: ProcessRef | None, exclusive_key: str | None, state: JobState
) -> JobRow:
    return JobRow(
        resource_arn=resource_arn,
        kind=kind,
        state=state.value,
        exclusive_key=exclusive_key,
        stop_requested=False,
        created_at=time.time(),
        submitted_at=time.time() if state is JobState.QUEUED else None,
        **_owner_columns(owner),
    )


def delete_job_row(session: Session, resource_arn: str) -> None:
    """Forget a job: called in the transaction that gives its resource a final status, or deletes it."""
    session.execute(delete(JobRow).where(JobRow.resource_arn == resource_arn))


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (``session.execute`` returns a cursor result for those)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _owner_columns(owner: ProcessRef | None) -> dict[str, object]:
    if owner is None:
        return {"owner_host": None, "owner_pid": None, "owner_started": None}
    return {"owner_host": owner.host, "owner_pid": owner.pid, "owner_started": owner.started}


def _owned_by(owner: ProcessRef):  # type: ignore[no-untyped-def]
    return and_(JobRow.owner_host == owner.host, JobRow.owner_pid == owner.pid, JobRow.owner_started == owner.started)


def _to_job(row: JobRow) -> Job:
    owner = (
        ProcessRef(host=row.owner_host, pid=row.owner_pid, started=row.owner_started)
        if row.owner_host is not None and row.owner_pid is not None and row.owner_started is not None
        else None
    )
    return Job(
        resource_arn=row.resource_arn,
        kind=row.kind,
        state=JobState(row.state),
        owner=owner,
        exclusive_key=row.exclusive_key,
        pool_id=row.pool_id,
        worker=ProcessRef.model_validate(row.worker) if row.worker else None,
        stop_requested=bool(row.stop_requested),
        created_at=row.created_at,
        submitted_at=row.submitted_at,
    )


class JobQueue:
    """Jobs in flight and local pools, in the catalog's database."""

    def __init__(self, sessions: sessionmaker[Session], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect

    def get(self, resource_arn: str) -> Job | None:
        with self._sessions.begin() as session:
            row = session.get(JobRow, resource_arn)
            return _to_job(row) if row is not None else None

    def list(self, states: tuple[JobState, ...] | None = None) -> list[Job]:
        """Jobs in flight (in some states), in the order they were created."""
        with self._sessions.begin() as session:
            query = select(JobRow)
            if states:
                query = query.where(JobRow.state.in_([s.value for s in states]))
            return [_to_job(r) for r in session.scalars(query.order_by(JobRow.created_at, JobRow.resource_arn))]

    def holder(self, exclusive_key: str) -> Job | None:
        """The job in flight that holds ``exclusive_key``, if any."""
        with self._sessions.begin() as session:
            row = session.scalars(select(JobRow).where(JobRow.exclusive_key == exclusive_key)).first()
            return _to_job(row) if row is not None else None

    def submit(self, resource_arn: str) -> bool:
        """Queue a HELD job for a pool (its creator lets go of it); ``False`` when it is not HELD (already queued,
        running, or ended)."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.resource_arn == resource_arn, JobRow.state == JobState.HELD.value)
                .values(state=JobState.QUEUED.value, submitted_at=time.time(), **_owner_columns(None))
            )
            return bool(rowcount(result))

    def claim(self, pool_id: str, owner: ProcessRef) -> Job | None:
        """Take the oldest QUEUED job for this pool (RUNNING, owned by ``owner``); ``None`` when none is queued.

        One statement: ``UPDATE ... WHERE arn = (oldest queued, skipping rows another claim has locked) AND state
        = queued``, so a job goes to exactly one pool.
        """
        for _ in range(5):  # a lost race on PostgreSQL re-reads the queue
            with self._sessions.begin() as session:
                oldest = (
                    select(JobRow.resource_arn)
                    .where(JobRow.state == JobState.QUEUED.value)
                    .order_by(JobRow.submitted_at, JobRow.resource_arn)
                    .limit(1)
                )
                if self._dialect == "postgresql":
                    oldest = oldest.with_for_update(skip_locked=True)
                arn = session.scalars(oldest).first()
                if arn is None:
                    return None
                result = session.execute(
                    update(JobRow)
                    .where(JobRow.resource_arn == arn, JobRow.state == JobState.QUEUED.value)
                    .values(state=JobState.RUNNING.value, pool_id=pool_id, **_owner_columns(owner))
                )
                if rowcount(result):
                    row = session.get(JobRow, arn, populate_existing=True)
                    assert row is not None
                    return _to_job(row)
        return None

    def take_over(self, resource_arn: str, expected: ProcessRef, owner: ProcessRef) -> bool:
        """Make ``owner`` the job's owner if ``expected`` still is; ``False`` when someone else changed it first
        (the job ended, or another reaper got there)."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.resource_arn == resource_arn, _owned_by(expected))
                .values(state=JobState.RUNNING.value, **_owner_columns(owner))
            )
            return bool(rowcount(result))

    def hand_to_worker(self, resource_arn: str, pool_owner: ProcessRef, worker: ProcessRef) -> bool:
        """The pool that claimed a job names the worker process it started for it (owner, and the process group
        whose leftovers are killed if it dies)."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.resource_arn == resource_arn, _owned_by(pool_owner))
                .values(worker=worker.model_dump(), **_owner_columns(worker))
            )
            return bool(rowcount(result))

    def request_stop(self, resource_arn: str) -> bool:
        """Flag a job in flight for stopping (its pool kills its worker); ``False`` when it is not in flight."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow).where(JobRow.resource_arn == resource_arn).values(stop_requested=True)
            )
            return bool(rowcount(result))

    def dequeue(self, resource_arn: str) -> bool:
        """Remove a QUEUED job before any pool claims it (stopped while pending); ``False`` if it was claimed."""
        with self._sessions.begin() as session:
            result = session.execute(
                delete(JobRow).where(JobRow.resource_arn == resource_arn, JobRow.state == JobState.QUEUED.value)
            )
            return bool(rowcount(result))

    # ----------------------------------------------------------------- pools
    def register_pool(self, pool_id: str, owner: ProcessRef, workers: int) -> None:
        with self._sessions.begin() as session:
            session.add(
                PoolRow(
                    pool_id=pool_id,
                    owner_host=owner.host,
                    owner_pid=owner.pid,
                    owner_started=owner.started,
                    workers=workers,
                    heartbeat_at=time.time(),
                )
            )

    def heartbeat(self, pool_id: str) -> None:
        with self._sessions.begin() as session:
            session.execute(update(PoolRow).where(PoolRow.pool_id == pool_id).values(heartbeat_at=time.time()))

    def remove_pool(self, pool_id: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(PoolRow).where(PoolRow.pool_id == pool_id))

    def pools(self) -> builtins.list[Pool]:
        with self._sessions.begin() as session:
            return [
                Pool(
                    pool_id=r.pool_id,
                    owner=ProcessRef(host=r.owner_host, pid=r.owner_pid, started=r.owner_started),
                    workers=r.workers,
                    heartbeat_at=r.heartbeat_at,
                )
                for r in session.scalars(select(PoolRow).order_by(PoolRow.heartbeat_at))
            ]


def begin_condition(owner: ProcessRef):  # type: ignore[no-untyped-def]
    """Who may begin a job: a HELD or RUNNING job owned by ``owner`` (its creator, or the worker its pool named),
    or a QUEUED job (someone runs it by hand before any pool claims it)."""
    return or_(
        JobRow.state == JobState.QUEUED.value,
        and_(JobRow.state.in_([JobState.HELD.value, JobState.RUNNING.value]), _owned_by(owner)),
    )


def owner_columns(owner: ProcessRef | None) -> dict[str, object]:
    return _owner_columns(owner)
