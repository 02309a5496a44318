"""Fault figures of a real campaign server: kill -9 mid-PutEvents, a poisoned client, hostile requests, orphans.

For each event store (SQLite; PostgreSQL with --postgres-url or RECSMITH_TEST_POSTGRES_URL):

- poisoned client: eight honest boto3 clients (two dataset groups) stream PutEvents for --poison-seconds while
  one client sends the attack run's bodies round and round; prints honest calls, honest failures, and the statuses
  the hostile bodies got (each must be a 400, a 413 for the 5 MB body; never a 500 or a reset).
- hostile requests: the issue's runtime and events attacks, once each; prints the 500s (and resets).
- fuzz (--fuzz-seconds): the property-based fuzz of tests/faults/http_fuzz.py over both documents; prints the
  findings by rule.
- kill -9: --rounds times, --clients boto3 clients stream PutEvents; after --kill-after seconds the worker gets
  SIGKILL mid-call, the arbiter starts a new one, the clients go on with it, then the server's whole process
  group gets SIGKILL; prints events acknowledged (200, committed), acknowledged but missing from the store (lost),
  and server processes still alive afterwards (orphans; the bench kills them before the next round).

--checkout PATH runs the server from another checkout (for instance ``git archive`` of main, unpacked), with this
checkout's harness: the same run then measures before and after. Bounded in time; loopback only.

    python bench/faults.py [--rounds 2] [--clients 6] [--kill-after 4] [--poison-seconds 8] [--fuzz-seconds 60]
        [--checkout PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

import httpx  # noqa: E402
import psutil  # noqa: E402

from recsmith.api.client import SignedAuth, read_credentials  # noqa: E402
from recsmith.campaigns.campaigns import create_campaign  # noqa: E402
from recsmith.campaigns.server import serve_campaign, stop_server, wait_ready  # noqa: E402
from recsmith.data.datasets import create_dataset_group  # noqa: E402
from recsmith.events.tracker import create_event_tracker  # noqa: E402
from recsmith.settings import Settings  # noqa: E402
from tests.faults.http_fuzz import fuzz, openapi_from_botocore, sigv4_signer  # noqa: E402
from tests.faults.scenarios import Key, kill_mid_stream, poison_round  # noqa: E402
from tests.serving.servers import free_port, trained_group  # noqa: E402


def start(settings: Settings, campaign: str, log: Path, checkout: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    saved = os.environ.get("PYTHONPATH")
    if checkout is not None:  # the server (and its workers) import the other checkout's recsmith and serving
        os.environ["PYTHONPATH"] = os.pathsep.join([str(checkout / "src"), str(checkout)])
    try:
        process = serve_campaign(settings, campaign, port, log_file=log, working_dir=checkout)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=300, process=process)
    except BaseException:
        stop_server(process)
        raise
    return process, url


def poison_figures(url: str, key: Key, tracking_ids: tuple[str, str], seconds: float) -> dict[str, Any]:
    stream, answers = poison_round(url, key, tracking_ids, seconds)
    statuses = Counter(status for _, status, _ in answers)
    return {"honest_calls": stream.calls, "honest_failures": len(stream.failures), "hostile_statuses": dict(statuses)}


def hostile_requests(url: str, key: Key, campaign: str, tracking_id: str) -> dict[str, int]:
    """The issue's runtime and events attacks, once each: how many answered 500, or reset the connection."""
    deep = b"[" * 100_000 + b"]" * 100_000
    cases: list[tuple[str, bytes]] = [
        ("/recommendations", json.dumps({"campaignArn": campaign, "userId": "u0001", "numResults": True}).encode()),
        ("/recommendations", json.dumps({"campaignArn": campaign, "userId": "u\x00"}).encode()),
        ("/recommendations", deep),
        ("/personalize-ranking", deep),
        ("/events", deep),
        ("/users", deep),
        ("/items", deep),
    ]
    good = {"eventType": "click", "itemId": "i0001", "sentAt": time.time()}
    for field, value in (("sentAt", float("nan")), ("sentAt", [1]), ("sentAt", {}), ("eventValue", "abc"),
                         ("eventValue", {}), ("recommendationId", {}), ("eventId", "e" * 301)):  # fmt: skip
        body = {"trackingId": tracking_id, "sessionId": "s", "eventList": [{**good, field: value}]}
        cases.append(("/events", json.dumps(body).encode()))
    counts = Counter[str]()
    with httpx.Client(base_url=url, timeout=60, auth=SignedAuth(*key)) as client:
        for path, body in cases:
            try:
                status = client.post(path, content=body, headers={"content-type": "application/json"}).status_code
                counts["500" if status >= 500 else "refused" if status >= 400 else "accepted"] += 1
            except httpx.HTTPError:
                counts["reset"] += 1
        for path in ("/nope", "/events"):
            try:
                answer = client.get(path)
            except httpx.HTTPError:
                counts["reset"] += 1
                continue
            counts["plain-text unknown path" if "x-amzn-ErrorType" not in answer.headers else "aws-shaped"] += 1
    return {"requests": len(cases), **counts}


def fuzz_round(url: str, key: Key, campaign: str, tracking_id: str, seconds: float) -> dict[str, Any]:
    """The fuzz of tests/serving/test_fuzz_http.py (runtime routes from /docs.json, events routes from botocore's
    model), ``seconds`` per document: requests sent, and findings by rule (server error, reset, not AWS-shaped)."""
    documents = {
        "runtime": (
            httpx.get(f"{url}/docs.json", timeout=30, auth=SignedAuth(*key)).json(),
            {"campaignArn": campaign, "userId": "u0003"},
        ),
        "events": (openapi_from_botocore("personalize-events", ["PutEvents", "PutUsers", "PutItems"]), {}),
    }
    figures: dict[str, Any] = {}
    for name, (document, known) in documents.items():
        report = fuzz(
            url,
            document,
            examples=60,
            seconds=seconds,
            known_values={"trackingId": tracking_id, **known},
            signer=sigv4_signer(*key[:2], key[2], "personalize"),
        )
        figures[name] = {"sent": sum(report.sent.values()), **Counter(f.rule for f in report.findings)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--kill-after", type=float, default=4.0)
    parser.add_argument("--poison-seconds", type=float, default=8.0)
    parser.add_argument("--checkout", type=Path, default=None)
    parser.add_argument("--fuzz-seconds", type=float, default=0.0, help="fuzz each document this long (0: no fuzz)")
    parser.add_argument("--postgres-url", default=os.environ.get("RECSMITH_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="recsmith-faults-"))
    setup = trained_group(root, "shop", poll_seconds=1.0)
    create_dataset_group(setup.platform, "other")
    other = create_event_tracker(setup.platform, "other-tracker", "other").attributes["trackingId"]
    campaign = create_campaign(setup.platform, "shop-live", solution_version=setup.trained.solution_version_arn).arn
    stores = {"sqlite": setup.platform.settings}
    if args.postgres_url:
        from tests.conftest import _postgres_database

        database = _postgres_database(args.postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
        stores["postgresql"] = setup.platform.settings.model_copy(update={"event_store_url": next(database)})
    ids = (setup.tracking_id, other)
    print(f"server code: {args.checkout or REPO}", flush=True)
    for store, settings in stores.items():
        log = root / f"server-{store}.log"
        process, url = start(settings, campaign, log, args.checkout)
        key = read_credentials(settings.resolved_home / "credentials")  # the server's admin key
        try:
            print(f"[{store}] poisoned client: {poison_figures(url, key, ids, args.poison_seconds)}", flush=True)
            print(f"[{store}] hostile requests: {hostile_requests(url, key, campaign, ids[0])}", flush=True)
            if args.fuzz_seconds:
                print(f"[{store}] fuzz: {fuzz_round(url, key, campaign, ids[0], args.fuzz_seconds)}", flush=True)
        except BaseException:
            stop_server(process)
            raise
        for round_ in range(args.rounds):
            if round_:
                process, url = start(settings, campaign, log, args.checkout)
            result = kill_mid_stream(
                url, key, process.pid, ids, settings.resolved_event_store_url(),
                clients=args.clients, kill_after=args.kill_after,
            )  # fmt: skip
            print(
                f"[{store}] kill -9 round {round_ + 1}: acknowledged {result.acknowledged} events "
                f"({result.calls} calls, {result.cut_by_the_kill} failed after the worker's kill), "
                f"lost {result.lost}, worker respawned {result.respawned}, orphans after the group's kill "
                f"{len(result.orphans)}",
                flush=True,
            )
            for orphan in result.orphan_pids:  # an orphan holds the port: end it (ours) before the next round
                psutil.Process(orphan).kill()
            stop_server(process)


if __name__ == "__main__":
    main()
