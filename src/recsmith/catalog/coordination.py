"""Coordination rows in the catalog database: the controller's lease and the serving workers' reports.

Campaign replicas run on several hosts, so nothing here relies on a shared folder or on process ids: every
process that coordinates writes rows in the catalog (SQLite or PostgreSQL), and liveness is a heartbeat with an
expiry, never "is that pid alive" (a pid is reused, and a worker that BentoML restarted is a new worker).

- **Lease.** One row per lease name. Taking it is one ``UPDATE ... WHERE owner = me OR expires_at < now``
  (atomic on both databases; an ``INSERT`` creates the row the first time, and a concurrent insert loses on the
  primary key), so exactly one owner holds an unexpired lease. A leader's writes are fenced: they run in one
  transaction that first locks the lease row and checks it still holds it, so a leader that stalled past its
  expiry and woke up after a take-over cannot act on stale beliefs.
- **Workers.** One row per serving worker (a :class:`~recsmith.campaigns.holder.ModelHolder` whose poller
  runs): the model version it serves, and what it did about the campaign's pending update (``ready``: loaded
  and smoke-tested; ``failed``: with the reason). A row whose heartbeat is older than the time-to-live is a
  dead worker and counts for nothing.
- **Guarded campaign writes.** :meth:`Coordination.compare_and_update` changes a resource's attributes only if
  nobody changed the row since it was read (its ``last_updated_time`` is the version), optionally under the
  lease and together with a campaign move, all in one transaction: a move is recorded exactly once.

Clocks: expiries compare ``time.time()`` of different processes, so hosts need synchronised clocks (NTP keeps
them within milliseconds; lease and heartbeat lifetimes are seconds).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Float, Integer, String, Text, case, delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from recsmith.catalog.store import CampaignMove, CampaignMoveRow, Catalog, Resource, ResourceRow
from recsmith.errors import RecsmithError

_CREATE_ATTEMPTS = 5


class LeaseLostError(RecsmithError):
    """This process no longer holds the lease it acted under (it expired and another process took it)."""


class _Base(DeclarativeBase):
    pass


class LeaseRow(_Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(256))
    acquired_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class CampaignWorkerRow(_Base):
    __tablename__ = "campaign_workers"

    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_arn: Mapped[str] = mapped_column(String(512), index=True)
    host: Mapped[str] = mapped_column(String(256))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    serving_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    update_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    update_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Lease(BaseModel):
    """Who holds a lease, since when, until when."""

    model_config = ConfigDict(frozen=True)

    name: str
    owner: str
    acquired_at: float
    expires_at: float


class WorkerReport(BaseModel):
    """What a serving worker says about itself at each heartbeat."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    worker_id: str
    campaign_arn: str
    host: str
    pid: int
    started_at: float
    serving_version: str | None = None
    update_id: str | None = None
    update_state: str | None = None  # "ready" or "failed", about update_id
    failure_reason: str | None = None


class WorkerState(WorkerReport):
    """A worker's last report and when it was made."""

    heartbeat_at: float


class Coordination:
    """Leases and worker rows, in the catalog's database."""

    def __init__(self, catalog: Catalog) -> None:
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                _Base.metadata.create_all(catalog.engine)
                break
            except DBAPIError:
                # processes that start together (a server's workers) race to create the tables; a loser looks
                # again, and create_all skips what now exists
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        self._sessions = sessionmaker(catalog.engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # ------------------------------------------------------------- leases
    def acquire_lease(self, name: str, owner: str, ttl: float, now: float | None = None) -> bool:
        """Take or renew ``name`` for ``ttl`` seconds; True when ``owner`` holds it afterwards."""
        now = time.time() if now is None else now
        with self._session() as session:
            renewed = session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, (LeaseRow.owner == owner) | (LeaseRow.expires_at < now))
                .values(
                    # acquired_at moves only on a take-over, so it says since when this owner leads
                    acquired_at=case((LeaseRow.owner == owner, LeaseRow.acquired_at), else_=now),
                    owner=owner,
                    expires_at=now + ttl,
                )
                .execution_options(synchronize_session=False)
            )
            if renewed.rowcount == 1:  # type: ignore[attr-defined]
                return True
        try:
            with self._session() as session:
                if session.get(LeaseRow, name) is not None:
                    return False
                session.add(LeaseRow(name=name, owner=owner, acquired_at=now, expires_at=now + ttl))
        except IntegrityError:
            return False  # another process created it first
        return True

    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease up at once (a clean stop), so another process need not wait for it to expire."""
        with self._session() as session:
            session.execute(delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.owner == owner))

    def lease(self, name: str) -> Lease | None:
        """The lease's row, expired or not (None: nobody ever took it, or it was released)."""
        with self._session() as session:
            row = session.get(LeaseRow, name)
            if row is None:
                return None
            return Lease(name=row.name, owner=row.owner, acquired_at=row.acquired_at, expires_at=row.expires_at)

    # ------------------------------------------------------------ workers
    def heartbeat(self, report: WorkerReport, now: float | None = None) -> None:
        """Write a worker's report and the time of it (its row is created at its first heartbeat)."""
        now = time.time() if now is None else now
        fields = report.model_dump()
        with self._session() as session:
            changed = session.execute(
                update(CampaignWorkerRow)
                .where(CampaignWorkerRow.worker_id == report.worker_id)
                .values(**fields, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount == 0:  # type: ignore[attr-defined]
                session.add(CampaignWorkerRow(**fields, heartbeat_at=now))

    def remove_worker(self, worker_id: str) -> None:
        """A worker that stops cleanly takes its row away; one killed leaves it to expire."""
        with self._session() as session:
            session.execute(delete(CampaignWorkerRow).where(CampaignWorkerRow.worker_id == worker_id))

    def workers(
        self, campaign_arn: str, *, alive_within: float | None = None, now: float | None = None
    ) -> list[WorkerState]:
        """The campaign's workers, oldest first; with ``alive_within``, only those that reported within it."""
        now = time.time() if now is None else now
        with self._session() as session:
            query = select(CampaignWorkerRow).where(CampaignWorkerRow.campaign_arn == campaign_arn)
            if alive_within is not None:
                query = query.where(CampaignWorkerRow.heartbeat_at >= now - alive_within)
            rows = session.scalars(query.order_by(CampaignWorkerRow.started_at)).all()
            return [WorkerState(**{c: getattr(r, c) for c in WorkerState.model_fields}) for r in rows]

    def forget_dead_workers(self, older_than: float, now: float | None = None) -> int:
        """Delete worker rows whose last heartbeat is older than ``older_than`` seconds; returns how many."""
        now = time.time() if now is None else now
        with self._session() as session:
            result = session.execute(delete(CampaignWorkerRow).where(CampaignWorkerRow.heartbeat_at < now - older_than))
            return int(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------ guarded writes
    def compare_and_update(
        self,
        resource: Resource,
        attributes: Mapping[str, Any],
        *,
        lease: tuple[str, str] | None = None,
        move: CampaignMove | None = None,
        now: float | None = None,
    ) -> Resource | None:
        """Merge ``attributes`` into ``resource`` if its row is unchanged since ``resource`` was read.

        Returns the new state, or None when someone else changed the row first (read it again and decide
        again). With ``lease`` (name, owner) the write happens only while that owner holds the unexpired lease,
        else :class:`LeaseLostError`; ``move`` is recorded in the same transaction.
        """
        now = time.time() if now is None else now
        merged = {**resource.attributes, **attributes}
        # strictly later than the version read, so the next compare sees a change even within one clock tick
        stamp = max(now, resource.last_updated_time + 1e-6)
        try:
            with self._session() as session:
                self._guarded_write(session, resource, merged, stamp, lease, move, now)
        except _Conflict:
            return None
        return resource.model_copy(update={"attributes": merged, "last_updated_time": stamp})

    @staticmethod
    def _guarded_write(
        session: Session,
        resource: Resource,
        merged: dict[str, Any],
        stamp: float,
        lease: tuple[str, str] | None,
        move: CampaignMove | None,
        now: float,
    ) -> None:
        if lease is not None:
            name, owner = lease
            held = session.execute(
                update(LeaseRow)  # a write, so the row stays locked until this transaction ends
                .where(LeaseRow.name == name, LeaseRow.owner == owner, LeaseRow.expires_at > now)
                .values(expires_at=LeaseRow.expires_at)
                .execution_options(synchronize_session=False)
            )
            if held.rowcount != 1:  # type: ignore[attr-defined]
                raise LeaseLostError(f"lease {name!r} is no longer held by {owner}")
        changed = session.execute(
            update(ResourceRow)
            .where(ResourceRow.arn == resource.arn, ResourceRow.last_updated_time == resource.last_updated_time)
            .values(attributes=merged, last_updated_time=stamp)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise _Conflict
        if move is not None:
            session.add(CampaignMoveRow(**move.model_dump()))


class _Conflict(Exception):
    """The row changed since it was read; rolls the guarded write back."""
