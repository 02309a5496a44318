"""`recsmith serve` against today's dedicated campaign server and a bare Starlette endpoint, in one run.

    python bench/api.py --home /tmp/bench-api --duration 15 --rounds 3 --workers 2 --connections 16

What it measures, each case ``--rounds`` times (medians printed, with same-run ratios):

- runtime throughput: signed GetRecommendations (numResults 25) through the single endpoint (``recsmith serve``),
  through the dedicated BentoML campaign server (``serve-campaign``) and through a bare Starlette app under
  uvicorn that returns a fixed list (the ceiling of Python HTTP on this machine), each with ``--workers``
  processes, driven by ``wrk`` (a C load generator that costs little CPU) with ``--connections`` connections;
- control-plane latency: signed DescribeCampaign and ListCampaigns through the single endpoint (p50, p99).

Requests are signed once with the admin key by botocore's signer and replayed by wrk (a SigV4 signature holds for
15 minutes; each round re-signs), so the load generator spends nothing on signing while the servers verify every
request. ``--profile N`` also runs N GetRecommendations through the app in this process under cProfile and prints
where the time goes. Needs ``wrk`` (Debian: ``apt-get install -y wrk``). The installation under ``--home`` (the
demo's sample, a sims solution version, a campaign) is built once and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

BARE_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    ITEMS = [{"itemId": f"i{k:04d}", "score": 0.5} for k in range(25)]

    async def recommendations(request):
        await request.body()
        return JSONResponse({"itemList": ITEMS, "recommendationId": "RID-bare"})

    app = Starlette(routes=[Route("/recommendations", recommendations, methods=["POST"])])
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(home: Path) -> dict[str, str]:
    """The sample imported, a sims solution version trained, a MANUAL campaign, a tracker (once per home)."""
    state = home / "bench-api.json"
    if state.exists():
        return dict(json.loads(state.read_text()))
    from recsmith.campaigns.campaigns import create_campaign
    from recsmith.data.sample import generate_sample
    from recsmith.platform import Platform
    from recsmith.settings import Settings
    from recsmith.training.solutions import SolutionConfig
    from recsmith.workflow import ImportConfig, TrainConfig, import_dataset, train

    platform = Platform(Settings(home=home / "home", dvc_track=False))
    sample = generate_sample(home / "sample")
    import_dataset(
        platform,
        ImportConfig(
            dataset_group="bench", data_location=str(sample.interactions), schema_file=str(sample.interactions_schema)
        ),
    )
    trained = train(
        platform,
        TrainConfig(dataset_group="bench", solution="bench-sims", solution_config=SolutionConfig(recipe="sims")),
    )
    campaign = create_campaign(platform, "bench-live", solution_version=trained.solution_version_arn)
    built = {"campaignArn": campaign.arn, "users": "300"}
    state.write_text(json.dumps(built))
    return built


# ------------------------------------------------------------------ servers
def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSMITH_")}
    env.update(RECSMITH_HOME=str(home / "home"), RECSMITH_DVC_TRACK="0")
    return env


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    ready = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:  # ready answers from several connections in a row: every worker has loaded the campaign
            with httpx.Client(timeout=2) as client:
                ok = client.get(f"{url}/readyz").status_code in (200, 404)  # the bare app has no /readyz
        except httpx.HTTPError:
            ok = False
        ready = ready + 1 if ok else 0
        if ready >= 10:
            return
        time.sleep(0.1 if ok else 0.25)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start(kind: str, home: Path, built: dict[str, str], workers: int, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    if kind == "single":
        command = [sys.executable, "-m", "recsmith.cli", "serve", "--port", str(port), "--workers", str(workers)]
        cwd = None
    elif kind == "dedicated":
        command = [
            sys.executable, "-m", "recsmith.cli", "serve-campaign", "--campaign", built["campaignArn"],
            "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
        cwd = None
    else:
        folder = Path(tempfile.mkdtemp(prefix="bare-"))
        (folder / "bare_app.py").write_text(BARE_APP)
        command = [
            sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        cwd = str(folder)
    env = _env(home)
    if kind == "dedicated":
        env["RECSMITH_SERVING_ACCESS_LOG"] = "0"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    _wait(url, process)
    return url, process


# --------------------------------------------------------------------- load
def _signed_requests(home: Path, url: str, bodies: list[tuple[str, dict[str, str], bytes]]) -> list[dict[str, Any]]:
    from recsmith.api.client import admin_auth

    auth = admin_auth(home / "home")
    out = []
    for path, extra, body in bodies:
        content_type = "application/x-amz-json-1.1" if extra else "application/json"
        headers = {**extra, **auth.sign("POST", url + path, body, content_type)}
        headers["Host"] = urlsplit(url).netloc  # wrk.format adds no Host to a request built at load time
        out.append({"path": path, "headers": headers, "body": body.decode()})
    return out


def _lua(requests: list[dict[str, Any]], script: Path) -> None:
    """A wrk script that cycles through pre-built requests (each thread starts at its own offset)."""
    lines = ["local reqs = {}"]
    for r in requests:
        headers = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in r["headers"].items())
        lines.append(
            f'reqs[#reqs + 1] = wrk.format("POST", {json.dumps(r["path"])}, {{{headers}}}, {json.dumps(r["body"])})'
        )
    lines += [
        "local i = 0",
        "function setup(thread) thread:set('start', math.random(1, #reqs)) end",
        "function init(args) i = tonumber(start) or 1 end",
        "function request() i = i % #reqs + 1 return reqs[i] end",
    ]
    script.write_text("\n".join(lines) + "\n")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url: str, script: Path, connections: int, duration: float, threads: int = 2) -> dict[str, float]:
    """Run wrk; requests/s, p50 and p99 in ms, and non-2xx answers."""
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration:.0f}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", out)
    }
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rate, "p50": latency.get("50", float("nan")), "p99": latency.get("99", float("nan")),
            "errors": float(non2xx.group(1)) if non2xx else 0.0}  # fmt: skip


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def _show(name: str, results: list[dict[str, float]]) -> dict[str, float]:
    med = _median(results)
    rounds = ", ".join(f"{r['rps']:,.0f}" for r in results)
    print(
        f"  {name:<44} {med['rps']:>9,.0f} req/s  p50 {med['p50']:6.2f} ms  p99 {med['p99']:7.2f} ms"
        f"  errors {med['errors']:.0f}  (rounds: {rounds})",
        flush=True,
    )
    return med


# ------------------------------------------------------------------ profile
def profile(home: Path, built: dict[str, str], n: int) -> None:
    """N signed GetRecommendations through the app in this process under cProfile: where a request's time goes."""
    import asyncio
    import cProfile
    import pstats

    from recsmith.api.app import build_app
    from recsmith.api.client import admin_auth
    from recsmith.platform import Platform
    from recsmith.settings import Settings

    platform = Platform(Settings(home=home / "home", dvc_track=False))
    from recsmith.api.auth import ensure_admin_credentials

    ensure_admin_credentials(platform.settings)
    app, inner = build_app(platform, preload=False)
    inner.state.campaigns.load(built["campaignArn"]).result()
    auth = admin_auth(home / "home")
    rng = random.Random(1)
    prepared = []
    for _ in range(200):
        body = json.dumps(
            {"campaignArn": built["campaignArn"], "userId": f"u{rng.randrange(300):04d}", "numResults": 25}
        ).encode()
        headers = auth.sign("POST", "http://127.0.0.1:8000/recommendations", body)
        prepared.append(
            (body, [(k.lower().encode(), v.encode()) for k, v in headers.items()] + [(b"host", b"127.0.0.1:8000")])
        )

    async def run() -> None:
        for k in range(n):
            body, headers = prepared[k % len(prepared)]
            scope = {"type": "http", "method": "POST", "path": "/recommendations", "raw_path": b"/recommendations",
                     "query_string": b"", "headers": headers}  # fmt: skip
            sent: list[dict[str, Any]] = []

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
                sent.append(message)

            await app(scope, receive, send)
            assert sent[0]["status"] == 200, sent

    asyncio.run(run())  # warm
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    asyncio.run(run())
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"\nprofile: {n} GetRecommendations in one process, {1000 * elapsed / n:.2f} ms each (under cProfile)")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(25)
    inner.close()


def overhead(home: Path, built: dict[str, str], n: int, rounds: int = 3) -> None:
    """The API layer's share of a request: N signed GetRecommendations through the ASGI app in this process vs
    the same core calls made directly (and the event store's read alone), no network, no profiler."""
    import asyncio

    from recsmith.api.app import build_app
    from recsmith.api.auth import ensure_admin_credentials
    from recsmith.api.client import admin_auth
    from recsmith.campaigns import recommend
    from recsmith.platform import Platform
    from recsmith.settings import Settings

    platform = Platform(Settings(home=home / "home", dvc_track=False))
    ensure_admin_credentials(platform.settings)
    app, inner = build_app(platform, preload=False)
    holder = inner.state.campaigns.load(built["campaignArn"]).result()
    auth = admin_auth(home / "home")
    rng = random.Random(1)
    prepared = []
    for _ in range(200):
        user = f"u{rng.randrange(300):04d}"
        body = json.dumps({"campaignArn": built["campaignArn"], "userId": user, "numResults": 25}).encode()
        signed = auth.sign("POST", "http://127.0.0.1:8000/recommendations", body)
        headers = [(k.lower().encode(), v.encode()) for k, v in signed.items()] + [(b"host", b"127.0.0.1:8000")]
        prepared.append((user, body, headers))

    async def through_app() -> None:
        for k in range(n):
            _, body, headers = prepared[k % len(prepared)]
            scope = {"type": "http", "method": "POST", "path": "/recommendations", "raw_path": b"/recommendations",
                     "query_string": b"", "headers": headers}  # fmt: skip

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                return None

            await app(scope, receive, send)

    print(f"\nthe API layer's share, {n} signed GetRecommendations in one process")
    for number in range(rounds):
        started = time.perf_counter()
        asyncio.run(through_app())
        via_app = (time.perf_counter() - started) / n * 1e3
        started = time.perf_counter()
        for k in range(n):
            recommend.get_recommendations(platform, holder, holder.campaign_arn, user_id=prepared[k % 200][0])
        core = (time.perf_counter() - started) / n * 1e3
        started = time.perf_counter()
        for k in range(n):
            platform.events.recent_items(holder.dataset_group_arn, prepared[k % 200][0])
        recent = (time.perf_counter() - started) / n * 1e3
        print(
            f"  round {number}: through the app {via_app:.3f} ms, core get_recommendations {core:.3f} ms "
            f"(its event-store read {recent:.3f} ms), API layer {via_app - core:.3f} ms",
            flush=True,
        )
    inner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "recsmith-bench-api")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--control-connections", type=int, default=4)
    parser.add_argument("--profile", type=int, default=0, help="also profile N requests in-process")
    parser.add_argument("--overhead", type=int, default=0, help="also time N requests through the app vs the core")
    parser.add_argument("--cases", default="single,dedicated,bare,control")
    args = parser.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    built = build(args.home)
    if args.profile:
        profile(args.home, built, args.profile)
    if args.overhead:
        overhead(args.home, built, args.overhead)
    cases = args.cases.split(",")
    rng = random.Random(7)
    arn = built["campaignArn"]
    bodies = [
        (
            "/recommendations",
            {},
            json.dumps({"campaignArn": arn, "userId": f"u{rng.randrange(300):04d}", "numResults": 25}).encode(),
        )
        for _ in range(300)
    ]
    control = [
        ("/", {"X-Amz-Target": "AmazonPersonalize.DescribeCampaign"}, json.dumps({"campaignArn": arn}).encode()),
        ("/", {"X-Amz-Target": "AmazonPersonalize.ListCampaigns"}, b"{}"),
    ]
    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} workers={args.workers} connections={args.connections} "
        f"duration={args.duration:.0f}s rounds={args.rounds} (medians; the machine is shared, so compare the ratios)"
    )
    log = args.home / "servers.log"
    results: dict[str, list[dict[str, float]]] = {}
    control_results: dict[str, list[dict[str, float]]] = {}
    for kind in ("single", "dedicated", "bare"):
        if kind not in cases:
            continue
        url, process = start(kind, args.home, built, args.workers, log)
        try:
            for _ in range(args.rounds):
                script = args.home / f"{kind}.lua"
                plain = [
                    {
                        "path": p,
                        "headers": {"Content-Type": "application/json", "Host": urlsplit(url).netloc},
                        "body": b.decode(),
                    }
                    for p, _, b in bodies
                ]
                _lua(_signed_requests(args.home, url, bodies) if kind != "bare" else plain, script)
                wrk(url, script, 4, 3)  # warm every worker
                results.setdefault(kind, []).append(wrk(url, script, args.connections, args.duration))
            if kind == "single" and "control" in cases:
                for target in control:
                    name = target[1]["X-Amz-Target"].split(".")[1]
                    for _ in range(args.rounds):
                        script = args.home / f"control-{name}.lua"
                        _lua(_signed_requests(args.home, url, [target]), script)
                        control_results.setdefault(name, []).append(
                            wrk(url, script, args.control_connections, args.duration)
                        )
        finally:
            _stop(process)
    print("\nruntime: signed GetRecommendations n=25 (bare: unsigned fixed list)")
    med = {kind: _show(kind, rows) for kind, rows in results.items()}
    if "single" in med and "bare" in med:
        ratio = med["single"]["rps"] / med["bare"]["rps"]
        print(f"  ratio single endpoint / bare Starlette: {ratio:.2f}x  (target >= 0.3x)")
    if "single" in med and "dedicated" in med:
        ratio = med["single"]["rps"] / med["dedicated"]["rps"]
        print(f"  ratio single endpoint / dedicated server: {ratio:.2f}x  (target >= 0.9x)")
    if control_results:
        print(f"\ncontrol plane through the single endpoint, {args.control_connections} connections")
        for name, rows in control_results.items():
            _show(name, rows)


if __name__ == "__main__":
    main()
