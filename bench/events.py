"""PutEvents throughput against a real campaign server, with a bare Starlette endpoint as the baseline.

Prints durable events/s (each call carries 10 events; accepted means committed before the 200) for the BentoML
campaign service, the same figure for a bare Starlette endpoint that only parses the body (no database),
measured in the same run, and their ratio. The load generator runs in separate processes on loopback, each
with a few threads on keep-alive connections. After the run the store is counted: every accepted event must be
there.

    python bench/events.py [--seconds 10] [--clients 4] [--threads 8] [--workers 1]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]
# the campaign server and the load generators are subprocesses: they import this checkout too
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])

BARE_APP = textwrap.dedent(
    """
    import json
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def events(request: Request) -> Response:
        json.loads(await request.body())
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route("/events", events, methods=["POST"])])
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(args: tuple[int, str, int, float, int, tuple[str, str] | None]) -> tuple[int, int]:
    """One load-generator process: ``threads`` keep-alive connections posting 10-event batches; (ok, failed).

    With ``key`` each call is SigV4-signed as boto3 signs it (the campaign server refuses unsigned calls).
    """
    port, tracking_id, threads, seconds, seed, key = args
    signer = None
    if key is not None:
        from recsmith.api.client import SignedAuth

        signer = SignedAuth(*key)
    run = uuid.uuid4().hex[:8]  # event ids unique across runs, so dedupe never hides a stored event
    counts = [0, 0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop(worker: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ok = failed = 0
        n = 0
        while time.perf_counter() < deadline:
            now = time.time()
            prefix = f"{run}-{seed}-{worker}-{n}"
            body = json.dumps(
                {
                    "trackingId": tracking_id,
                    "sessionId": f"s{seed}-{worker}",
                    "userId": f"u{seed}-{worker}",
                    "eventList": [
                        {"eventId": f"{prefix}-{k}", "eventType": "click", "itemId": f"i{k:04d}", "sentAt": now}
                        for k in range(10)
                    ],
                }
            )
            n += 1
            try:
                headers = {"Content-Type": "application/json"}
                if signer is not None:
                    headers = signer.sign("POST", f"http://127.0.0.1:{port}/events", body.encode())
                connection.request("POST", "/events", body, headers)
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    ok += 1
                else:
                    failed += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        with lock:
            counts[0] += ok
            counts[1] += failed

    pool = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return counts[0], counts[1]


def drive(
    port: int, tracking_id: str, clients: int, threads: int, seconds: float, key: tuple[str, str] | None = None
) -> tuple[float, int, int]:
    """Run the load generator; returns (events/s accepted, calls ok, calls failed)."""
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        results = pool.map(_client, [(port, tracking_id, threads, seconds, k, key) for k in range(clients)])
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    return 10 * ok / seconds, ok, failed  # each client sends for exactly ``seconds``


def _wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4, help="load-generator processes")
    parser.add_argument("--threads", type=int, default=8, help="connections per load-generator process")
    parser.add_argument("--workers", type=int, default=1, help="campaign server worker processes")
    parser.add_argument("--event-store-url", default=None, help="e.g. postgresql+psycopg://postgres@127.0.0.1/test")
    args = parser.parse_args()

    from recsmith.campaigns.campaigns import create_campaign
    from recsmith.campaigns.server import serve_campaign, stop_server, wait_ready
    from recsmith.catalog import ResourceType
    from recsmith.data.sample import generate_sample
    from recsmith.events.tracker import create_event_tracker
    from recsmith.platform import Platform
    from recsmith.settings import Settings
    from recsmith.training.solutions import SolutionConfig
    from recsmith.workflow import ImportConfig, TrainConfig, import_dataset, train

    root = Path(tempfile.mkdtemp(prefix="bench-events-"))
    settings = Settings(home=root / "home", event_store_url=args.event_store_url)
    platform = Platform(settings)
    sample = generate_sample(root / "sample")
    import_dataset(
        platform,
        ImportConfig(
            dataset_group="bench", data_location=str(sample.interactions), schema_file=str(sample.interactions_schema)
        ),
    )
    trained = train(
        platform,
        TrainConfig(
            dataset_group="bench", solution="bench-pop", solution_config=SolutionConfig(recipe="popularity_count")
        ),
    )
    tracking_id = create_event_tracker(platform, f"bench-{uuid.uuid4().hex[:6]}", "bench").attributes["trackingId"]
    campaign = create_campaign(
        platform, "bench-live", solution_version=trained.solution_version_arn, update_mode="MANUAL"
    )
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "bench").arn

    bare_port = _free_port()
    (root / "bare_app.py").write_text(BARE_APP)
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port), "--log-level", "warning",
         "--workers", str(args.workers)],
        cwd=root,
    )  # fmt: skip
    port = _free_port()
    server = serve_campaign(settings, campaign.arn, port, log_file=root / "server.log", workers=args.workers)
    try:
        _wait_port(bare_port)
        wait_ready(f"http://127.0.0.1:{port}", timeout=120, process=server)
        from recsmith.api.client import read_credentials

        key = read_credentials(settings.resolved_home / "credentials")[:2]  # the admin key the server wrote
        drive(port, tracking_id, 1, 2, 1.0, key)  # warm-up
        before = platform.events.count(group)
        served_rate, served_ok, served_failed = drive(port, tracking_id, args.clients, args.threads, args.seconds, key)
        stored = platform.events.count(group) - before
        bare_rate, bare_ok, bare_failed = drive(bare_port, tracking_id, args.clients, args.threads, args.seconds)
    finally:
        stop_server(server)
        bare.terminate()
        bare.wait(10)

    print(f"cpus={os.cpu_count()} clients={args.clients}x{args.threads} workers={args.workers} "
          f"seconds={args.seconds} store={platform.events.url.split(':')[0]}")  # fmt: skip
    print(f"campaign service PutEvents: {served_rate:,.0f} events/s ({served_ok} calls ok, {served_failed} failed)")
    print(f"bare Starlette endpoint:    {bare_rate:,.0f} events/s ({bare_ok} calls ok, {bare_failed} failed)")
    print(f"ratio service / bare:       {served_rate / bare_rate:.2f}")
    print(f"durability: {stored} events stored for {10 * served_ok} accepted "
          f"({'OK' if stored == 10 * served_ok else 'MISMATCH'})")  # fmt: skip


if __name__ == "__main__":
    main()
