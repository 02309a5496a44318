"""Fault scenarios against a real campaign server, shared by the fault suite (tests/faults) and bench/faults.py.

Honest clients are boto3's ``personalize-events`` client, as users run it; the poisoned client sends what the
issue's attack run sent (non-finite and far-future ``sentAt``, over-long ids, objects for strings, deep nesting,
huge bodies), raw, as a client that is not boto3 would. Every loop is bounded in time; everything is loopback.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from sqlalchemy import create_engine, select

from recsmith.api.client import SignedAuth
from recsmith.events.store import EventRow

EVENTS_PER_CALL = 5

Key = tuple[str, str, str]
"""(access key id, secret, region) the clients sign with: the server's admin key (its home's ``credentials``).
The poisoned client signs too: the rules, not the signature check, are what it tests."""


@dataclass
class Stream:
    """What honest clients sent and what the server acknowledged (a 200 means committed)."""

    acknowledged: set[str] = field(default_factory=set)  # event ids
    calls: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, event_ids: Sequence[str]) -> None:
        with self.lock:
            self.calls += 1
            self.acknowledged.update(event_ids)

    def failed(self, what: str) -> None:
        with self.lock:
            self.calls += 1
            self.failures.append(what)


def events_client(url: str, key: Key) -> Any:
    """boto3's personalize-events client for ``url``, signing with ``key``: no retries, so every failure is seen."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "personalize-events",
        endpoint_url=url,
        region_name=key[2],
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30),
    )


def honest_client(
    url: str,
    key: Key,
    tracking_id: str,
    name: str,
    stream: Stream,
    stop: threading.Event,
    *,
    seconds: float = math.inf,
    min_calls: int = 0,
) -> None:
    """Send 5-event PutEvents calls with fresh event ids until ``stop`` is set, or ``seconds`` have passed since
    the client was ready and it made ``min_calls`` (creating a boto3 client takes seconds on a loaded machine)."""
    client = events_client(url, key)
    limit = time.monotonic() + seconds
    n = 0
    while not stop.is_set() and (n < min_calls or time.monotonic() < limit):
        n += 1
        ids = [f"{name}-{n}-{k}-{uuid.uuid4().hex[:6]}" for k in range(EVENTS_PER_CALL)]
        events = [
            {"eventId": i, "eventType": "click", "itemId": f"i{(n + k) % 240:04d}", "sentAt": time.time()}
            for k, i in enumerate(ids)
        ]
        try:
            client.put_events(trackingId=tracking_id, userId=f"u-{name}", sessionId=f"s-{name}", eventList=events)
        except Exception as exc:  # a failure of an honest call: recorded for the caller to judge
            stream.failed(f"{name}: {exc!r}"[:300])
            if stop.is_set():
                return
        else:
            stream.ok(ids)


def hostile_bodies(tracking_id: str) -> list[tuple[str, bytes]]:
    """The attack run's PutEvents bodies, raw: (what, body). Each must be refused with a 400 (413 for size)."""

    def call(event: dict[str, Any], **top: Any) -> bytes:
        body = {"trackingId": tracking_id, "sessionId": "s-bad", "userId": "u-bad", "eventList": [event], **top}
        return json.dumps(body).encode()

    good = {"eventType": "click", "itemId": "i0001", "sentAt": time.time()}
    return [
        ("sentAt NaN", call({**good, "sentAt": math.nan})),  # json.dumps writes NaN
        ("sentAt -inf", call({**good, "sentAt": -math.inf})),
        ("sentAt '-inf'", call({**good, "sentAt": "-inf"})),
        ("sentAt [1]", call({**good, "sentAt": [1]})),
        ("sentAt {}", call({**good, "sentAt": {}})),
        ("sentAt -1", call({**good, "sentAt": -1})),
        ("sentAt year 4821", call({**good, "sentAt": 90_000_000_000})),
        ("eventId 301 characters", call({**good, "eventId": "e" * 301})),
        ("eventType object", call({**good, "eventType": {"a": 1}})),
        ("itemId object", call({**good, "itemId": {"a": 1}})),
        ("eventValue 'abc'", call({**good, "eventValue": "abc"})),
        ("eventValue {}", call({**good, "eventValue": {}})),
        ("recommendationId {}", call({**good, "recommendationId": {}})),
        ("properties not an object", call({**good, "properties": "[1]"})),
        ("userId of 1 MB", call(good, userId="u" * 1_000_000)),
        ("itemId with NUL", call({**good, "itemId": "i\x000"})),
        ("100k-deep nesting", b"[" * 100_000 + b"]" * 100_000),
        ("not JSON", b"{'trackingId': "),
        ("5 MB body", b"{" + b" " * 5_000_000 + b"}"),
    ]


def poisoned_client(url: str, key: Key, tracking_id: str, stop: threading.Event) -> list[tuple[str, int, str]]:
    """Send :func:`hostile_bodies` round and round until ``stop`` is set (one round at least); returns (what,
    status, error code) of each."""
    answers: list[tuple[str, int, str]] = []
    bodies = hostile_bodies(tracking_id)
    with httpx.Client(base_url=url, timeout=30, auth=SignedAuth(*key)) as client:
        while True:
            for what, body in bodies:
                try:
                    answer = client.post("/events", content=body, headers={"content-type": "application/json"})
                    code = answer.headers.get("x-amzn-ErrorType", "")
                    if answer.status_code >= 400 and _error_type(answer.content) != code:
                        code = f"not AWS-shaped: {answer.text[:100]}"
                    answers.append((what, answer.status_code, code))
                except httpx.HTTPError as exc:
                    answers.append((what, 0, repr(exc)))
            if stop.is_set():
                return answers


def poison_round(
    url: str, key: Key, tracking_ids: Sequence[str], seconds: float, *, honest_clients: int = 8
) -> tuple[Stream, list[tuple[str, int, str]]]:
    """``honest_clients`` boto3 clients, spread over ``tracking_ids`` (dataset groups), stream PutEvents for
    ``seconds`` (3 calls each at least) while one client sends :func:`hostile_bodies` to the first group."""
    stream, stop = Stream(), threading.Event()
    answers: list[tuple[str, int, str]] = []
    poison = threading.Thread(
        target=lambda: answers.extend(poisoned_client(url, key, tracking_ids[0], stop)), daemon=True
    )
    poison.start()
    honest = [
        threading.Thread(
            target=honest_client,
            args=(url, key, tracking_ids[n % len(tracking_ids)], f"h{n}", stream, stop),
            kwargs={"seconds": seconds, "min_calls": 3},
            daemon=True,
        )
        for n in range(honest_clients)
    ]
    for thread in honest:
        thread.start()
    for thread in honest:
        thread.join(timeout=300)
    stop.set()
    poison.join(timeout=300)
    return stream, answers


def _error_type(body: bytes) -> str | None:
    """The ``__type`` of an AWS-shaped error body; None for anything else (plain text, a list)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed.get("__type") if isinstance(parsed, dict) else None


def stored_event_ids(event_store_url: str) -> set[str]:
    """Every event id the event store holds, read straight from its table by a new connection."""
    engine = create_engine(event_store_url)
    try:
        with engine.connect() as connection:
            return {str(row[0]) for row in connection.execute(select(EventRow.event_id))}
    finally:
        engine.dispose()


def server_tree(pid: int) -> list[psutil.Process]:
    """The server's arbiter and every process under it (BentoML's workers sit in sessions of their own)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def survivors(tree: Sequence[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes of ``tree`` still running after up to ``timeout`` seconds (zombies count as ended); returns as
    soon as none is left."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in tree if _running(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _shown(process: psutil.Process) -> str:
    try:
        return f"{process.pid} {' '.join(process.cmdline())[:120]}"
    except psutil.Error:
        return str(process.pid)


def kill_group(pid: int) -> None:
    """``kill -9`` of the server's whole process group."""
    os.killpg(pid, signal.SIGKILL)


@dataclass(frozen=True)
class KillResult:
    acknowledged: int
    lost: int
    calls: int
    honest_failures_before_kill: int
    cut_by_the_kill: int  # calls that failed once the worker was killed (boto3 re-sends a call whose connection
    # broke before it was answered, so these are rare: the new worker answers it, and eventId dedupes it)
    respawned: bool  # the arbiter started a new worker, which served until the group was killed
    orphans: list[str]
    orphan_pids: list[int]  # for the caller to end: they hold the port


def kill_mid_stream(
    url: str,
    key: Key,
    pid: int,
    tracking_ids: Sequence[str],
    event_store_url: str,
    *,
    clients: int,
    kill_after: float,
    respawn_timeout: float = 240.0,
) -> KillResult:
    """The two kills of the fault suite, on one server, while ``clients`` boto3 clients stream PutEvents.

    First ``kill -9`` of the worker, the process that commits, mid-call (``kill_after`` seconds in); the arbiter
    starts a new one, and the clients go on with it. Then ``kill -9`` of the server's whole process group, which
    reaches the arbiter but not the new worker (BentoML starts each in a session of its own). Then: acknowledged
    events missing from the store (lost), and processes of the server still alive (orphans).
    """
    stream = Stream()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=honest_client,
            args=(url, key, tracking_ids[n % len(tracking_ids)], f"k{n}", stream, stop),
            daemon=True,
        )
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    ready = time.monotonic() + 120
    while stream.calls < clients and time.monotonic() < ready:  # the clients are streaming
        time.sleep(0.1)
    time.sleep(kill_after)
    with stream.lock:
        failures_before = len(stream.failures)
    first = server_tree(pid)
    for worker in first[1:]:
        worker.kill()
    respawned = _ready_again(url, first, pid, respawn_timeout)
    time.sleep(2.0)  # the clients stream to the new worker
    tree = server_tree(pid)
    kill_group(pid)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    left = survivors(tree, timeout=60)  # returns as soon as all are gone
    orphans = [_shown(p) for p in left]
    lost = stream.acknowledged - stored_event_ids(event_store_url)
    cut = len(stream.failures) - failures_before
    return KillResult(
        len(stream.acknowledged),
        len(lost),
        stream.calls,
        failures_before,
        cut,
        respawned,
        orphans,
        [p.pid for p in left],
    )


def _ready_again(url: str, killed: Sequence[psutil.Process], pid: int, timeout: float) -> bool:
    """Wait until a worker other than the killed ones answers /readyz; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [p for p in server_tree(pid)[1:] if p not in killed]
        if workers:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    return False
