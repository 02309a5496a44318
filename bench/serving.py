"""Serving benchmark: a campaign over a generated 50k-item, 100k-user SIMS model, in process and over HTTP.

Prints, for GetRecommendations (numResults 25) with and without a filter and GetPersonalizedRanking (inputList
100): in-process latency (p50/p95/p99 of the same function the service calls), then over loopback HTTP against
a real ``bentoml serve`` with a load generator in a separate process: latency at a fixed request rate, and
closed-loop throughput next to a bare Starlette endpoint that returns a fixed list (measured in the same run).
Last, the event-to-new-recommendation latency (PutEvents, then GetRecommendations until the answer changed).

    python bench/serving.py --home /tmp/bench-serving --rate 200 --duration 60 --workers 2

The installation under ``--home`` is built once (import + training take minutes) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

GROUP, SOLUTION, CAMPAIGN, FILTER = "bench", "bench-sims", "bench-live", "bench-no-purchased"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float]) -> str:
    ms = np.asarray(values) * 1e3
    return (
        f"p50 {np.percentile(ms, 50):7.2f} ms  p95 {np.percentile(ms, 95):7.2f} ms  p99 {np.percentile(ms, 99):7.2f} ms"
    )


# --------------------------------------------------------------------------------------------- building
def build(home: Path, users: int, items: int, per_user: int) -> dict[str, str]:
    """Generate interactions, import, train SIMS, promote, create an AUTO campaign, a tracker and a filter."""
    from mlflow.tracking import MlflowClient

    from recsmith.campaigns.campaigns import create_campaign
    from recsmith.campaigns.filters import create_filter
    from recsmith.events.tracker import create_event_tracker
    from recsmith.platform import Platform
    from recsmith.settings import Settings
    from recsmith.training.registry import promote
    from recsmith.training.solutions import SolutionConfig
    from recsmith.workflow import ImportConfig, TrainConfig, import_dataset, train

    state = home / "bench.json"
    if state.exists():
        return dict(json.loads(state.read_text()))
    home.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    weights = 1 / np.arange(1, items + 1) ** 0.8
    item_codes = rng.choice(items, size=users * per_user, p=weights / weights.sum())
    csv = home / "interactions.csv"
    with csv.open("w") as out:
        out.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
        stamps = rng.integers(1_600_000_000, 1_700_000_000, size=len(item_codes))
        kinds = np.where(rng.random(len(item_codes)) < 0.1, "purchase", "click")
        for n, (item, stamp, kind) in enumerate(zip(item_codes, stamps, kinds, strict=True)):
            out.write(f"u{n // per_user},i{item},{stamp},{kind}\n")
    schema = home / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "type": "record",
                "name": "Interactions",
                "namespace": "com.amazonaws.personalize.schema",
                "fields": [
                    {"name": "USER_ID", "type": "string"},
                    {"name": "ITEM_ID", "type": "string"},
                    {"name": "TIMESTAMP", "type": "long"},
                    {"name": "EVENT_TYPE", "type": "string"},
                ],
                "version": "1.0",
            }
        )
    )
    platform = Platform(Settings(home=home / "home"))
    started = time.perf_counter()
    import_dataset(platform, ImportConfig(dataset_group=GROUP, data_location=str(csv), schema_file=str(schema)))
    print(f"import: {time.perf_counter() - started:.0f}s", flush=True)
    started = time.perf_counter()
    trained = train(
        platform, TrainConfig(dataset_group=GROUP, solution=SOLUTION, solution_config=SolutionConfig(recipe="sims"))
    )
    print(f"training: {time.perf_counter() - started:.0f}s", flush=True)
    platform.configure_mlflow()
    promote(MlflowClient(), trained.model_name, trained.model_version)
    campaign = create_campaign(platform, CAMPAIGN, solution_version=trained.solution_version_arn, update_mode="AUTO")
    tracker = create_event_tracker(platform, f"{GROUP}-tracker", GROUP)
    filt = create_filter(platform, FILTER, GROUP, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    built = {
        "campaignArn": campaign.arn,
        "trackingId": tracker.attributes["trackingId"],
        "filterArn": filt.arn,
        "users": str(users),
        "items": str(items),
    }
    state.write_text(json.dumps(built))
    return built


# ------------------------------------------------------------------------------------------- in process
def in_process(home: Path, built: dict[str, str], requests: int) -> None:
    from recsmith.campaigns import recommend
    from recsmith.campaigns.holder import ModelHolder
    from recsmith.platform import Platform
    from recsmith.settings import Settings

    platform = Platform(Settings(home=home / "home"))
    holder = ModelHolder(platform, built["campaignArn"])
    holder.refresh()
    recipe = holder.current.recipe
    rng = random.Random(1)
    users = [f"u{rng.randrange(int(built['users']))}" for _ in range(requests)]
    items = recipe.item_ids_.tolist()
    lists = [rng.sample(items, 100) for _ in range(requests)]
    cases: dict[str, Any] = {
        "recipe.recommend (scoring + top-25 only)": lambda k: recipe.recommend([users[k]], 25),
        "GetRecommendations n=25": lambda k: recommend.get_recommendations(
            platform, holder, built["campaignArn"], user_id=users[k], num_results=25
        ),
        "GetRecommendations n=25 + filter": lambda k: recommend.get_recommendations(
            platform, holder, built["campaignArn"], user_id=users[k], num_results=25, filter_arn=built["filterArn"]
        ),
        "GetPersonalizedRanking 100": lambda k: recommend.get_personalized_ranking(
            platform, holder, built["campaignArn"], user_id=users[k], input_list=lists[k]
        ),
    }
    print(f"\nin process ({requests} requests each, one at a time)")
    for name, call in cases.items():
        for k in range(20):
            call(k)
        timings = []
        for k in range(requests):
            started = time.perf_counter()
            call(k)
            timings.append(time.perf_counter() - started)
        print(f"  {name:42s} {_pct(timings)}", flush=True)
    platform.catalog.dispose()
    platform.events.dispose()


# ------------------------------------------------------------------------------------------ load driver
LOADGEN = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import httpx

    async def main(spec):
        url, path, bodies = spec["url"], spec["path"], spec["bodies"]
        latencies, errors, done = [], 0, 0
        limits = httpx.Limits(max_connections=spec["connections"], max_keepalive_connections=spec["connections"])
        auth = None
        if spec.get("key"):  # a campaign server: every request SigV4-signed, as boto3 signs it
            from recsmith.api.client import SignedAuth
            auth = SignedAuth(*spec["key"])
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits, auth=auth) as client:
            async def one(k):
                nonlocal errors, done
                started = time.perf_counter()
                try:
                    response = await client.post(path, json=bodies[k % len(bodies)])
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok
                done += 1
            start = time.perf_counter()
            end = start + spec["duration"]
            if spec["rate"]:  # open loop: one request every 1/rate s, whatever the answers do
                tasks, k = [], 0
                while time.perf_counter() < end:
                    due = start + k / spec["rate"]
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(one(k)))
                    k += 1
                await asyncio.gather(*tasks)
            else:  # closed loop: `connections` clients back to back
                async def worker(w):
                    k = w
                    while time.perf_counter() < end:
                        await one(k)
                        k += spec["connections"]
                await asyncio.gather(*(worker(w) for w in range(spec["connections"])))
            elapsed = time.perf_counter() - start
        print(json.dumps({"latencies": latencies, "errors": errors, "done": done, "elapsed": elapsed}))

    asyncio.run(main(json.loads(sys.stdin.read())))
    """
)


_KEYS: dict[str, tuple[str, str]] = {}  # campaign server URL -> the admin key it wrote (access key id, secret)


def drive(
    url: str, path: str, bodies: list[dict[str, Any]], duration: float, rate: float, connections: int
) -> dict[str, Any]:
    """Run the load generator in its own process; returns its latencies, errors and elapsed time."""
    spec = {"url": url, "path": path, "bodies": bodies, "duration": duration, "rate": rate, "connections": connections}
    if url in _KEYS:
        spec["key"] = list(_KEYS[url])
    done = subprocess.run(
        [sys.executable, "-c", LOADGEN], input=json.dumps(spec), capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


def report(name: str, result: dict[str, Any]) -> float:
    throughput = result["done"] / result["elapsed"]
    print(f"  {name:42s} {_pct(result['latencies'])}  {throughput:6.0f} req/s  errors {result['errors']}", flush=True)
    return throughput


BARE_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    ITEMS = [{"itemId": f"i{k}", "score": 1.0 / (k + 1)} for k in range(25)]

    async def recommendations(request):
        await request.json()
        return JSONResponse({"itemList": ITEMS, "recommendationId": "RID-fixed"})

    app = Starlette(routes=[Route("/recommendations", recommendations, methods=["POST"])])
    """
)


def over_http(home: Path, built: dict[str, str], args: argparse.Namespace) -> None:
    from recsmith.campaigns.server import serve_campaign, stop_server, wait_ready
    from recsmith.settings import Settings

    settings = Settings(home=home / "home")
    port = _free_port()
    log = home / "server.log"
    server = serve_campaign(
        settings, built["campaignArn"], port, workers=args.workers, access_log=args.access_log, log_file=log
    )
    url = f"http://127.0.0.1:{port}"
    bare_dir = Path(tempfile.mkdtemp(prefix="bare-"))
    (bare_dir / "bare_app.py").write_text(BARE_APP)
    bare_port = _free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port), "--log-level", "warning",
         "--workers", str(args.workers)],
        cwd=bare_dir,
    )  # fmt: skip
    try:
        wait_ready(url, timeout=300, process=server)
        from recsmith.api.client import read_credentials

        _KEYS[url] = read_credentials(settings.resolved_home / "credentials")[:2]
        rng = random.Random(2)
        users = [f"u{rng.randrange(int(built['users']))}" for _ in range(2000)]
        items = [f"i{k}" for k in range(int(built["items"]))]
        arn = built["campaignArn"]
        recs = [{"campaignArn": arn, "userId": u, "numResults": 25} for u in users]
        filtered = [{**body, "filterArn": built["filterArn"]} for body in recs]
        ranking = [{"campaignArn": arn, "userId": u, "inputList": rng.sample(items, 100)} for u in users[:500]]
        drive(url, "/recommendations", recs, 3, 0, 4)  # warm-up
        print(
            f"\nover HTTP, {args.workers} worker(s), open loop at {args.rate:.0f} req/s for {args.duration:.0f}s each"
        )
        open_loop = {
            "recs": ("GetRecommendations n=25", "/recommendations", recs),
            "filter": ("GetRecommendations n=25 + filter", "/recommendations", filtered),
            "ranking": ("GetPersonalizedRanking 100", "/personalize-ranking", ranking),
        }
        for case, (name, path, bodies) in open_loop.items():
            if case in args.cases:
                report(name, drive(url, path, bodies, args.duration, args.rate, 64))
        if "throughput" in args.cases:
            throughput(url, f"http://127.0.0.1:{bare_port}", recs, args)
        if "events" in args.cases:
            event_latency(url, built, args)
    finally:
        stop_server(server)
        bare.terminate()
        bare.wait()


def throughput(url: str, bare_url: str, recs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Closed-loop throughput of GetRecommendations, and of a bare Starlette endpoint in the same run."""
    print(f"\nthroughput, closed loop, {args.connections} connections for {args.throughput_seconds:.0f}s")
    ours = report(
        "recsmith GetRecommendations n=25",
        drive(url, "/recommendations", recs, args.throughput_seconds, 0, args.connections),
    )
    drive(bare_url, "/recommendations", recs, 2, 0, 4)
    theirs = report(
        "bare Starlette fixed list",
        drive(bare_url, "/recommendations", recs, args.throughput_seconds, 0, args.connections),
    )
    print(f"  ratio recsmith / bare Starlette: {ours / theirs:.2f}x")


def event_latency(url: str, built: dict[str, str], args: argparse.Namespace) -> None:
    """PutEvents for a user, then GetRecommendations until that user's answer changes; median and max delay."""
    import httpx

    arn = built["campaignArn"]
    print("\nevent to new recommendation (PutEvents, then GetRecommendations until the answer changes)")
    delays = []
    from recsmith.api.client import SignedAuth

    with httpx.Client(base_url=url, timeout=10, auth=SignedAuth(*_KEYS[url])) as client:
        for k in range(args.event_trials):
            user = f"u{k * 7 + 3}"
            before = client.post("/recommendations", json={"campaignArn": arn, "userId": user}).json()["itemList"]
            clicked = before[0]["itemId"]
            started = time.perf_counter()
            answer = client.post(
                "/events",
                json={"trackingId": built["trackingId"], "sessionId": f"s{k}", "userId": user,
                      "eventList": [{"eventType": "click", "itemId": clicked, "sentAt": time.time()}]},
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            while True:
                after = client.post("/recommendations", json={"campaignArn": arn, "userId": user}).json()["itemList"]
                if [e["itemId"] for e in after] != [e["itemId"] for e in before]:
                    break
                if time.perf_counter() - started > 5:
                    raise SystemExit(f"event for {user} did not change the answer within 5 s")
            delays.append(time.perf_counter() - started)
    median, worst = statistics.median(delays) * 1e3, max(delays) * 1e3
    print(f"  {args.event_trials} trials: median {median:.1f} ms, max {worst:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "recsmith-bench-serving")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--per-user", type=int, default=12)
    parser.add_argument("--requests", type=int, default=2000, help="in-process requests per case")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of open-loop load per case")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop concurrent clients")
    parser.add_argument("--throughput-seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (and bare Starlette's)")
    parser.add_argument("--event-trials", type=int, default=20)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--access-log", action="store_true", help="keep BentoML's per-request access log on")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument(
        "--cases",
        default="recs,filter,ranking,throughput,events",
        help="HTTP cases to run, comma-separated (recs, filter, ranking, throughput, events)",
    )
    args = parser.parse_args()
    args.cases = set(args.cases.split(","))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other jobs share it)")
    built = build(args.home, args.users, args.items, args.per_user)
    if not args.skip_in_process:
        in_process(args.home, built, args.requests)
    if not args.skip_http:
        over_http(args.home, built, args)


if __name__ == "__main__":
    main()
