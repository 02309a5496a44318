"""The event writer's group commit: a call the store refuses fails alone (issue 15, finding 3).

The writer commits every queued call in one transaction; a failed commit used to fail every caller in it, so one
client's bad calls failed 16-20% of eight honest clients' calls, in other dataset groups too. The rules of
:mod:`recsmith.data.rules` now keep such values out before the store; this test hands the store rows it refuses
(what a future rule might miss) straight through :meth:`EventStore.append`, beside honest callers of two groups.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.exc import SQLAlchemyError

from recsmith.events.store import EventStore, StoredEvent

GROUPS = tuple(f"arn:aws:personalize:us-east-1:000000000000:dataset-group/{name}" for name in "ab")
HONEST_CLIENTS = 8
CALLS = 25


def _event(group: str, event_id: str, **changes: object) -> StoredEvent:
    fields: dict[str, object] = {
        "dataset_group_arn": group,
        "tracking_id": "t",
        "event_id": event_id,
        "user_id": "u",
        "session_id": "s",
        "item_id": "i",
        "event_type": "click",
        "sent_at": time.time(),
        **changes,
    }
    return StoredEvent.model_validate(fields)


def _poison(dialect: str, n: int) -> StoredEvent:
    """A row this store refuses: SQLite stores NaN as NULL (NOT NULL fails); PostgreSQL refuses a 300-character
    varchar(256)."""
    if dialect == "sqlite":
        return _event(GROUPS[0], f"bad-{n}", sent_at=math.nan)
    return _event(GROUPS[0], "x" * 300 + str(n))


def test_a_refused_call_fails_alone_and_honest_calls_of_both_groups_commit(database_url: str) -> None:
    store = EventStore(database_url)
    dialect = store._engine.dialect.name
    failures: list[BaseException] = []
    refused = 0
    stop = threading.Event()

    def honest(client: int) -> int:
        group = GROUPS[client % 2]
        stored = 0
        for call in range(CALLS):
            batch = [_event(group, f"c{client}-{call}-{k}") for k in range(5)]
            try:
                stored += store.append(batch)
            except Exception as exc:  # recorded: the assertion below names it
                failures.append(exc)
        return stored

    def poisoner() -> None:
        nonlocal refused
        n = 0
        while not stop.is_set():  # as fast as the writer takes calls, while the honest clients run
            n += 1
            with pytest.raises(SQLAlchemyError):
                store.append([_poison(dialect, n)])
            refused += 1

    try:
        with ThreadPoolExecutor(HONEST_CLIENTS + 1) as pool:
            poisoned = pool.submit(poisoner)
            counts = list(pool.map(honest, range(HONEST_CLIENTS)))
            stop.set()
            poisoned.result()
        assert failures == [], f"{len(failures)} honest calls failed, the first: {failures[0]!r}"
        assert counts == [CALLS * 5] * HONEST_CLIENTS
        assert refused > 0
        assert [store.count(group) for group in GROUPS] == [HONEST_CLIENTS // 2 * CALLS * 5] * 2
    finally:
        store.dispose()
