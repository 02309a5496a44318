"""The durable event store behind PutEvents, PutUsers and PutItems: SQL tables, SQLite (WAL, full fsync) or PostgreSQL.

An event is accepted only after its transaction has committed, so an accepted event is never lost. Events
are deduplicated on (dataset group, eventId). Campaigns read a user's newest events per request, which is
what makes a PutEvents visible at once; training reads all of a group's events as part of its snapshot.

Anonymous events (no userId) belong to their session: a session's anonymous events are the first user's seen
in that session (before or after them), so a visitor who signs in keeps what they did while anonymous; a
session that has seen no user yet is its own identity, and its ``sessionId`` serves as the user id. Serving
(:meth:`EventStore.identity_events`) and training (:meth:`EventStore.events_frame`) attribute the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    BigInteger,
    Float,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    exists,
    func,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from models.columns import EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from recsmith.db import make_engine

logger = logging.getLogger(__name__)


class _Base(DeclarativeBase):
    pass


class EventRow(_Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("dataset_group_arn", "event_id", name="uq_events_group_event_id"),
        Index("ix_events_group_user", "dataset_group_arn", "user_id", "id"),
        Index("ix_events_group_session", "dataset_group_arn", "session_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_group_arn: Mapped[str] = mapped_column(String(512))
    tracking_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(256))
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    session_id: Mapped[str] = mapped_column(String(256))
    item_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    event_type: Mapped[str] = mapped_column(String(256))
    event_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    sent_at: Mapped[float] = mapped_column(Float)
    properties: Mapped[str | None] = mapped_column(Text, nullable=True)
    recommendation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    impression: Mapped[str | None] = mapped_column(Text, nullable=True)


class _PutRecord:
    """Columns shared by the PutUsers and PutItems tables: append-only, the newest row of an id wins."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_group_arn: Mapped[str] = mapped_column(String(512))
    dataset_arn: Mapped[str] = mapped_column(String(512))
    entity_id: Mapped[str] = mapped_column(String(256))
    properties: Mapped[str] = mapped_column(Text)
    put_at: Mapped[float] = mapped_column(Float)


class PutUserRow(_PutRecord, _Base):
    __tablename__ = "put_users"
    __table_args__ = (Index("ix_put_users_group_id", "dataset_group_arn", "id"),)


class PutItemRow(_PutRecord, _Base):
    __tablename__ = "put_items"
    __table_args__ = (Index("ix_put_items_group_id", "dataset_group_arn", "id"),)


PUT_TABLES: dict[str, type[PutUserRow] | type[PutItemRow]] = {"USERS": PutUserRow, "ITEMS": PutItemRow}


class StoredEvent(BaseModel):
    """One event as the store keeps it."""

    model_config = ConfigDict(frozen=True)

    dataset_group_arn: str
    tracking_id: str
    event_id: str
    user_id: str | None
    session_id: str
    item_id: str | None
    event_type: str
    event_value: float | None = None
    sent_at: float
    properties: str | None = None
    recommendation_id: str | None = None
    impression: list[str] = Field(default_factory=list)


_NO_LIMIT = 2**62


def _identity_query() -> Select[Any]:
    """The events of one identity (see :meth:`EventStore.identity_events`), built once with bound parameters
    ``group``, ``user`` and ``limit``: building it per request cost more than running it.

    Three indexed branches rather than one OR, which would scan the whole group; ``user_id`` is tested through
    ``coalesce`` where the planner should look events up by session rather than among all anonymous events.
    """
    events = EventRow.__table__
    mine, other, anyone = events.alias("mine"), events.alias("other"), events.alias("anyone")
    group, user = bindparam("group", type_=String), bindparam("user", type_=String)
    # sessions whose first user is the user: the user is in them, and no other user came before
    owned = select(mine.c.session_id).where(
        mine.c.dataset_group_arn == group,
        mine.c.user_id == user,
        ~exists().where(
            other.c.dataset_group_arn == group,
            other.c.session_id == mine.c.session_id,
            other.c.user_id.is_not(None),
            other.c.user_id != user,
            other.c.id < mine.c.id,
        ),
    )
    # the identity is a session that has seen no user yet
    unclaimed = and_(
        events.c.session_id == user,
        ~exists().where(
            anyone.c.dataset_group_arn == group,
            anyone.c.session_id == user,
            func.coalesce(anyone.c.user_id, "") != "",
        ),
    )
    columns = (events.c.id, events.c.item_id, events.c.event_type)
    in_group = and_(events.c.dataset_group_arn == group, events.c.item_id.is_not(None))
    anonymous = func.coalesce(events.c.user_id, "") == ""
    branches = union_all(
        select(*columns).where(in_group, events.c.user_id == user),
        select(*columns).where(in_group, anonymous, events.c.session_id.in_(owned)),
        select(*columns).where(in_group, anonymous, unclaimed),
    ).subquery()
    return (
        select(branches.c.item_id, branches.c.event_type)
        .order_by(branches.c.id.desc())
        .limit(bindparam("limit", type_=BigInteger))  # type: ignore[arg-type]
    )


@dataclass
class _Batch:
    rows: list[dict[str, Any]]
    notify: Callable[[], None]
    new: int = 0
    error: BaseException | None = None


class _GroupCommit:
    """Group commit through one writer thread: it takes every batch queued so far, commits them in one
    transaction (one fsync), then tells each caller. Callers wait on their own event (threads) or future
    (asyncio), so a commit wakes them all at once and no request holds a thread while it waits.

    A failed commit fails nobody yet: the writer commits each of its batches again in a transaction of its own,
    so a batch the store refuses fails alone and the others commit (one client's bad call once failed a fifth of
    eight honest clients' calls, across dataset groups). A fault of the store itself (disk full, database gone)
    fails each batch in turn, so every caller still hears of it.
    """

    def __init__(self, commit: Callable[[list[dict[str, Any]]], set[tuple[str, str]]]) -> None:
        self._commit = commit
        self._cond = threading.Condition()
        self._queue: list[_Batch] = []
        self._thread: threading.Thread | None = None
        self._stopped = False

    def _enqueue(self, rows: list[dict[str, Any]], notify: Callable[[], None]) -> _Batch:
        batch = _Batch(rows, notify)
        with self._cond:
            if self._stopped:
                raise RuntimeError("the event store is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="recsmith-event-writer", daemon=True)
                self._thread.start()
            self._queue.append(batch)
            self._cond.notify()
        return batch

    def submit(self, rows: list[dict[str, Any]]) -> int:
        done = threading.Event()
        batch = self._enqueue(rows, done.set)
        done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.new

    async def submit_async(self, rows: list[dict[str, Any]]) -> int:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, future)

        batch = self._enqueue(rows, wake)
        await future
        if batch.error is not None:
            raise batch.error
        return batch.new

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._cond.wait()
                if not self._queue:
                    return
                batches, self._queue = self._queue, []
            self._write(batches)

    def _write(self, batches: list[_Batch]) -> None:
        try:
            inserted = self._commit([row for b in batches for row in b.rows])
        except Exception as exc:  # retried batch by batch below
            if len(batches) == 1:
                batches[0].error = exc
            else:
                logger.warning("group commit of %d calls failed (%s); committing each alone", len(batches), exc)
                self._write_each(batches)
        else:
            for b in batches:  # an eventId repeated across batches counts for the first one
                keys = {(row["dataset_group_arn"], row["event_id"]) for row in b.rows}
                b.new = len(keys & inserted)
                inserted -= keys
        for b in batches:
            b.notify()

    def _write_each(self, batches: list[_Batch]) -> None:
        """Commit each batch in its own transaction, in queue order: the failing ones fail alone."""
        for b in batches:
            try:
                b.new = len(self._commit(b.rows))
            except Exception as exc:  # the caller of this batch sees it
                b.error = exc


class EventStore:
    """Append events durably; read a user's latest items; export a group's events for training."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = make_engine(url)
        _Base.metadata.create_all(self._engine)
        self._dialect = self._engine.dialect.name

    def dispose(self) -> None:
        if "_group_commit" in self.__dict__:
            self._group_commit.stop()
        self._engine.dispose()

    def append(self, events: Sequence[StoredEvent]) -> int:
        """Commit ``events`` durably; returns how many were new (a repeated eventId is skipped).

        Concurrent calls share one transaction (group commit): a writer thread commits every batch queued so
        far, so one fsync covers them all; each caller returns only after the commit that holds its events. A
        call the store refuses fails alone: the others of its group commit are committed without it.
        """
        return self._group_commit.submit(_rows(events)) if events else 0

    async def append_async(self, events: Sequence[StoredEvent]) -> int:
        """:meth:`append` for an asyncio caller: the event loop is free while the commit runs."""
        return await self._group_commit.submit_async(_rows(events)) if events else 0

    @cached_property
    def _group_commit(self) -> _GroupCommit:
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        statement = (
            insert(EventRow)
            .on_conflict_do_nothing(index_elements=["dataset_group_arn", "event_id"])
            .returning(EventRow.dataset_group_arn, EventRow.event_id)
        )

        def commit(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
            with self._engine.begin() as connection:
                return {(str(g), str(e)) for g, e in connection.execute(statement, rows)}

        return _GroupCommit(commit)

    def recent_items(self, dataset_group_arn: str, user_id: str, limit: int = 200) -> list[str]:
        """The user's latest item ids from PutEvents (anonymous session events included), oldest first."""
        return [item for item, _ in self.identity_events(dataset_group_arn, user_id, limit)]

    def user_events(self, dataset_group_arn: str, user_id: str) -> list[tuple[str, str]]:
        """Every PutEvents ``(item id, event type)`` of a user with an item, oldest first (no cap; filters)."""
        return self.identity_events(dataset_group_arn, user_id)

    def identity_events(self, dataset_group_arn: str, user_id: str, limit: int | None = None) -> list[tuple[str, str]]:
        """``(item id, event type)`` of the events that belong to ``user_id``, oldest first (the latest ``limit``).

        They are the user's own events, the anonymous events of sessions whose first user is ``user_id``, and,
        when ``user_id`` is a session id of a session that has seen no user, that session's events.
        """
        params = {"group": dataset_group_arn, "user": user_id, "limit": _NO_LIMIT if limit is None else limit}
        with self._engine.connect() as connection:
            rows = [(str(item), str(kind)) for item, kind in connection.execute(_IDENTITY_QUERY, params)]
        return rows[::-1]

    def events_frame(self, dataset_group_arn: str) -> pd.DataFrame:
        """A group's events with an item, as interactions rows (USER_ID, ITEM_ID, TIMESTAMP, ...).

        An anonymous event's USER_ID is its session's first user, or the session id while it has none.
        """
        query = (
            select(
                EventRow.user_id,
                EventRow.session_id,
                EventRow.item_id,
                EventRow.sent_at,
                EventRow.event_type,
                EventRow.event_value,
            )
            .where(EventRow.dataset_group_arn == dataset_group_arn)
            .order_by(EventRow.id)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).all()
        events = pd.DataFrame(rows, columns=[USER_ID, "SESSION_ID", ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE])
        first_user = events.dropna(subset=[USER_ID]).groupby("SESSION_ID", sort=False)[USER_ID].first()
        owner = events["SESSION_ID"].map(first_user).fillna(events["SESSION_ID"])
        events[USER_ID] = events[USER_ID].fillna(owner)
        frame = events.dropna(subset=[ITEM_ID]).drop(columns="SESSION_ID").reset_index(drop=True)
        frame[TIMESTAMP] = frame[TIMESTAMP].astype("float64").astype("int64")
        return frame

    def put_records(self, kind: str, rows: Sequence[dict[str, Any]]) -> None:
        """Commit PutUsers (``kind`` USERS) or PutItems (ITEMS) rows in one transaction.

        Each row holds dataset_group_arn, dataset_arn, entity_id, properties (JSON text) and put_at.
        """
        if rows:
            with self._engine.begin() as connection:
                connection.execute(PUT_TABLES[kind].__table__.insert(), list(rows))  # type: ignore[attr-defined]

    def put_version(self, kind: str, dataset_group_arn: str) -> int:
        """The id of the group's newest put record of ``kind`` (0 when none): changes with every PutUsers/PutItems."""
        table = PUT_TABLES[kind]
        query = select(func.max(table.id)).where(table.dataset_group_arn == dataset_group_arn)
        with self._engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    def put_rows(self, kind: str, dataset_group_arn: str, after_id: int = 0) -> list[tuple[int, str, str, float]]:
        """The group's put records with an id above ``after_id``, oldest first: ``(id, entity id, properties
        JSON, put_at)``."""
        table = PUT_TABLES[kind]
        query = (
            select(table.id, table.entity_id, table.properties, table.put_at)
            .where(table.dataset_group_arn == dataset_group_arn, table.id > after_id)
            .order_by(table.id)
        )
        with self._engine.connect() as connection:
            return [(int(a), str(b), str(c), float(d)) for a, b, c, d in connection.execute(query)]

    def count(self, dataset_group_arn: str) -> int:
        with self._engine.connect() as connection:
            rows = connection.execute(select(EventRow.id).where(EventRow.dataset_group_arn == dataset_group_arn)).all()
        return len(rows)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # a caller that went away leaves a cancelled future
        future.set_result(None)


def _rows(events: Sequence[StoredEvent]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for event in events:
        row = event.model_dump()
        row["impression"] = "|".join(event.impression) if event.impression else None
        rows.append(row)
    return rows


_IDENTITY_QUERY = _identity_query()

