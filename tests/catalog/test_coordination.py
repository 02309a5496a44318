"""The controller's lease and the serving workers' rows, on SQLite and PostgreSQL: one leader at a time, take-over
only after expiry, fenced writes, guarded updates that never clobber, and workers alive by heartbeat alone."""

from __future__ import annotations

import threading
import time

import pytest

from recsmith.catalog import CampaignMove, Catalog, Resource, ResourceType
from recsmith.catalog.coordination import Coordination, LeaseLostError, WorkerReport

CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/live"


def _campaign(catalog: Catalog) -> Resource:
    return catalog.create(
        Resource(arn=CAMPAIGN, resource_type=ResourceType.CAMPAIGN, name="live", attributes={"modelVersion": "1"})
    )


def _move(to: str) -> CampaignMove:
    return CampaignMove(
        campaign_arn=CAMPAIGN, at=time.time(), actor="test", from_version="a", to_version=to, reason="r"
    )


def test_one_owner_holds_the_lease_until_it_expires(database_url: str) -> None:
    catalog = Catalog(database_url)
    coordination = Coordination(catalog)
    assert coordination.acquire_lease("controller", "a", ttl=0.6)
    assert not coordination.acquire_lease("controller", "b", ttl=0.6)
    assert coordination.acquire_lease("controller", "a", ttl=0.6)  # renewal
    first = coordination.lease("controller")
    assert first is not None and first.owner == "a"
    time.sleep(0.7)
    assert coordination.acquire_lease("controller", "b", ttl=10)  # expired: b takes over
    assert not coordination.acquire_lease("controller", "a", ttl=10)
    taken = coordination.lease("controller")
    assert taken is not None and taken.owner == "b" and taken.acquired_at > first.acquired_at
    coordination.release_lease("controller", "a")  # not a's to release: nothing happens
    assert not coordination.acquire_lease("controller", "a", ttl=10)
    coordination.release_lease("controller", "b")
    assert coordination.acquire_lease("controller", "a", ttl=10)  # released: free at once
    catalog.dispose()


def test_racing_processes_elect_exactly_one_leader(database_url: str) -> None:
    """Eight contenders with their own connections race for a fresh lease, then for an expired one."""
    contenders = [Catalog(database_url) for _ in range(8)]
    coordinations = [Coordination(c) for c in contenders]
    for round_ in range(2):
        start = threading.Barrier(len(coordinations))
        won: list[str] = []

        errors: list[BaseException] = []

        def race(
            k: int, start: threading.Barrier = start, won: list[str] = won, errors: list[BaseException] = errors
        ) -> None:
            start.wait()
            try:
                if coordinations[k].acquire_lease("race", f"owner-{k}", ttl=1.5):
                    won.append(f"owner-{k}")
            except BaseException as exc:  # surfaced by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(k,)) for k in range(len(coordinations))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and len(won) == 1, f"round {round_}: {won} {errors}"
        lease = coordinations[0].lease("race")
        assert lease is not None and lease.owner == won[0]
        time.sleep(1.6)  # let it expire: the next round races a take-over
    for catalog in contenders:
        catalog.dispose()


def test_a_leader_that_lost_its_lease_cannot_write(database_url: str) -> None:
    catalog = Catalog(database_url)
    coordination = Coordination(catalog)
    campaign = _campaign(catalog)
    assert coordination.acquire_lease("controller", "stale", ttl=0.3)
    time.sleep(0.4)
    assert coordination.acquire_lease("controller", "fresh", ttl=10)
    with pytest.raises(LeaseLostError, match="no longer held by stale"):
        coordination.compare_and_update(
            campaign, {"modelVersion": "2"}, lease=("controller", "stale"), move=_move("stale")
        )
    assert catalog.get(ResourceType.CAMPAIGN, CAMPAIGN).attributes["modelVersion"] == "1"
    assert catalog.campaign_moves(CAMPAIGN) == []
    written = coordination.compare_and_update(
        campaign, {"modelVersion": "3"}, lease=("controller", "fresh"), move=_move("fresh")
    )
    assert written is not None and written.attributes["modelVersion"] == "3"
    assert catalog.get(ResourceType.CAMPAIGN, CAMPAIGN).attributes["modelVersion"] == "3"
    assert [m.to_version for m in catalog.campaign_moves(CAMPAIGN)] == ["fresh"]
    catalog.dispose()


def test_a_write_from_a_stale_read_is_refused_not_merged(database_url: str) -> None:
    catalog = Catalog(database_url)
    coordination = Coordination(catalog)
    read_by_a = read_by_b = _campaign(catalog)
    first = coordination.compare_and_update(read_by_a, {"updateMode": "AUTO"}, move=_move("a"))
    assert first is not None
    # b decided on what it read before a's write: its write must not land (nor its move)
    assert coordination.compare_and_update(read_by_b, {"modelVersion": "9"}, move=_move("b")) is None
    now = catalog.get(ResourceType.CAMPAIGN, CAMPAIGN)
    assert now.attributes == {"modelVersion": "1", "updateMode": "AUTO"}
    assert now.last_updated_time == first.last_updated_time
    again = coordination.compare_and_update(now, {"modelVersion": "9"})
    assert again is not None and again.attributes == {"modelVersion": "9", "updateMode": "AUTO"}
    assert [m.to_version for m in catalog.campaign_moves(CAMPAIGN)] == ["a"]
    catalog.dispose()


def test_concurrent_guarded_writes_all_land_once(database_url: str) -> None:
    """Writers that retry on conflict, each adding its own key, lose nothing (a plain read-modify-write would)."""
    catalogs = [Catalog(database_url) for _ in range(4)]
    _campaign(catalogs[0])
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            add_keys(k)
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    def add_keys(k: int) -> None:
        coordination = Coordination(catalogs[k])  # at once in four threads: they race to create the tables
        for n in range(5):
            while True:
                current = catalogs[k].get(ResourceType.CAMPAIGN, CAMPAIGN)
                if coordination.compare_and_update(current, {f"w{k}-{n}": True}) is not None:
                    break

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    keys = set(catalogs[0].get(ResourceType.CAMPAIGN, CAMPAIGN).attributes)
    assert keys == {"modelVersion"} | {f"w{k}-{n}" for k in range(4) for n in range(5)}
    for catalog in catalogs:
        catalog.dispose()


def test_workers_are_alive_by_heartbeat_not_by_pid(database_url: str) -> None:
    catalog = Catalog(database_url)
    coordination = Coordination(catalog)
    now = time.time()

    def report(worker: str, pid: int) -> WorkerReport:
        return WorkerReport(worker_id=worker, campaign_arn=CAMPAIGN, host="h", pid=pid, started_at=now)

    # two workers with the same pid (a pid reused after a restart) are two workers
    coordination.heartbeat(report("old", 4242), now=now - 30)
    coordination.heartbeat(report("new", 4242), now=now)
    coordination.heartbeat(report("other-campaign", 7).model_copy(update={"campaign_arn": "x"}), now=now)
    assert [w.worker_id for w in coordination.workers(CAMPAIGN)] == ["old", "new"]
    assert [w.worker_id for w in coordination.workers(CAMPAIGN, alive_within=10, now=now)] == ["new"]
    ready = report("new", 4242).model_copy(update={"serving_version": "3", "update_id": "u1", "update_state": "ready"})
    coordination.heartbeat(ready, now=now + 1)
    (state,) = coordination.workers(CAMPAIGN, alive_within=10, now=now + 1)
    assert (state.serving_version, state.update_id, state.update_state, state.heartbeat_at) == (
        "3",
        "u1",
        "ready",
        now + 1,
    )
    assert coordination.forget_dead_workers(older_than=20, now=now) == 1
    coordination.remove_worker("new")
    assert coordination.workers(CAMPAIGN) == []
    catalog.dispose()
