"""What the job executor costs: how long a create call takes when it returns at once, versus doing the job in
the call, and how much later the job ends when a pool's worker process runs it.

    .venv/bin/python bench/jobs.py [--rows 200000] [--runs 5] [--claims 500]

Prints medians of ``--runs``: the synchronous ``create_dataset_export_job`` (BULK export of ``--rows`` rows),
``start_dataset_export_job`` + ``submit`` (what ``CreateDatasetExportJob`` on the server and the CLI without
``--wait`` do), and submit-to-ACTIVE through a started one-worker pool (the export plus a worker's start-up);
then how fast one pool claims ``--claims`` queued jobs from a SQLite catalog. Ratios are within one run, so
they survive a noisy machine better than the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from recsmith.catalog import ProcessRef, Resource, ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.export import create_dataset_export_job, start_dataset_export_job
from recsmith.data.imports import create_dataset_import_job
from recsmith.data.sample import INTERACTIONS_SCHEMA
from recsmith.jobs import JobKind
from recsmith.jobs.local import LocalExecutor
from recsmith.platform import Platform
from recsmith.settings import Settings


def _dataset(platform: Platform, folder: Path, rows: int) -> str:
    create_dataset_group(platform, "bench")
    create_schema(platform, "bench-i", json.dumps(INTERACTIONS_SCHEMA))
    dataset = create_dataset(platform, "bench-i", "bench", "INTERACTIONS", "bench-i").arn
    source = folder / "rows.csv"
    source.write_text(
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
        + "".join(f"u{n % 5003},i{n % 997},{1_700_000_000 + n},click,1\n" for n in range(rows))
    )
    assert create_dataset_import_job(platform, "rows", dataset, str(source)).status is Status.ACTIVE
    return dataset


def _wait_active(platform: Platform, arn: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while (status := platform.catalog.get(ResourceType.DATASET_EXPORT_JOB, arn).status) is not Status.ACTIVE:
        if status is Status.CREATE_FAILED or time.monotonic() > deadline:
            raise SystemExit(f"export {arn} ended {status}")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--claims", type=int, default=500)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        platform = Platform(Settings(home=folder / "home", dvc_track=False, job_poll_seconds=0.05))
        dataset = _dataset(platform, folder, args.rows)
        sync, returns, through_pool = [], [], []
        for run in range(args.runs):
            started = time.perf_counter()
            create_dataset_export_job(platform, f"sync-{run}", dataset, str(folder / "out"), "BULK")
            sync.append(time.perf_counter() - started)
            started = time.perf_counter()
            job = start_dataset_export_job(platform, f"queued-{run}", dataset, str(folder / "out"), "BULK")
            platform.jobs.submit(JobKind.DATASET_EXPORT, job.arn)
            returns.append(time.perf_counter() - started)
        with LocalExecutor(platform, workers=1) as pool:
            assert pool.wait_idle(timeout=600)
            for run in range(args.runs):
                started = time.perf_counter()
                job = start_dataset_export_job(platform, f"pooled-{run}", dataset, str(folder / "out"), "BULK")
                pool.submit(JobKind.DATASET_EXPORT, job.arn)
                _wait_active(platform, job.arn)
                through_pool.append(time.perf_counter() - started)
        median_sync, median_returns = statistics.median(sync), statistics.median(returns)
        median_pool = statistics.median(through_pool)
        print(f"export of {args.rows:,} rows, medians of {args.runs}:")
        print(f"  create in the call (sync, --wait):     {median_sync * 1000:8.1f} ms")
        print(
            f"  start + submit (returns at once):      {median_returns * 1000:8.1f} ms"
            f"  = {median_returns / median_sync:.3f}x the sync call"
        )
        print(
            f"  submit to ACTIVE through the pool:     {median_pool * 1000:8.1f} ms"
            f"  = sync + {(median_pool - median_sync) * 1000:.0f} ms (worker start-up and claim)"
        )
        catalog = platform.catalog
        creator = ProcessRef(host="bench", pid=1, started=0.0)
        for n in range(args.claims):
            arn = f"arn:aws:personalize:us-east-1:000000000000:dataset-export-job/claim-{n}"
            catalog.create_job(
                Resource(arn=arn, resource_type=ResourceType.DATASET_EXPORT_JOB, name=f"claim-{n}",
                         status=Status.CREATE_PENDING),
                owner=creator,
            )  # fmt: skip
            catalog.job_queue.submit(arn)
        started = time.perf_counter()
        claimed = 0
        while catalog.job_queue.claim("bench", creator) is not None:
            claimed += 1
        seconds = time.perf_counter() - started
        print(f"claims from a SQLite catalog: {claimed} in {seconds:.2f} s = {claimed / seconds:,.0f} claims/s")
        catalog.dispose()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
