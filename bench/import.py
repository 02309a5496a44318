"""Import at scale: FULL import rows/s end to end, peak RSS, INCREMENTAL of 1M rows, against pyarrow.csv.read_csv.

Generates (into --workdir, /tmp by default; never commit it) an interactions CSV of --rows rows over --users
users and --items items, an items CSV with metadata, and an INCREMENTAL file of --incremental-rows rows (a tenth
of them repeat existing events, which then replace them). Each measurement runs in a fresh child process, so
peak RSS is that import's own. Prints one table with medians over --repeat runs and the ratio of the import's
throughput to a plain ``pyarrow.csv.read_csv`` of the same file measured in the same run.

    python bench/import.py                      # 10M rows, the issue's targets
    python bench/import.py --rows 1000000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

START = 1_600_000_000
CHUNK = 1_000_000


def generate_interactions(path: Path, rows: int, users: int, items: int, seed: int, start: int = START) -> None:
    rng = np.random.default_rng(seed)
    with pa_csv.CSVWriter(path, _interactions_schema()) as writer:
        for offset in range(0, rows, CHUNK):
            n = min(CHUNK, rows - offset)
            user = rng.integers(0, users, n)
            item = np.minimum(rng.zipf(1.3, n), items) - 1
            stamp = start + np.sort(rng.integers(0, 30_000_000, n)) + offset
            kind = np.where(rng.random(n) < 0.1, "purchase", "click")
            value = rng.random(n).round(3)
            value_array = pa.array(value, mask=rng.random(n) < 0.3)
            writer.write_table(
                pa.table(
                    {
                        "USER_ID": pa.array(np.char.add("u", user.astype(str))),
                        "ITEM_ID": pa.array(np.char.add("i", item.astype(str))),
                        "TIMESTAMP": pa.array(stamp, pa.int64()),
                        "EVENT_TYPE": pa.array(kind),
                        "EVENT_VALUE": value_array,
                    },
                    schema=_interactions_schema(),
                )
            )


def _interactions_schema() -> pa.Schema:
    return pa.schema(
        [
            ("USER_ID", pa.string()),
            ("ITEM_ID", pa.string()),
            ("TIMESTAMP", pa.int64()),
            ("EVENT_TYPE", pa.string()),
            ("EVENT_VALUE", pa.float64()),
        ]
    )


def generate_items(path: Path, items: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    genres = np.array(["action", "comedy", "drama", "horror", "scifi", "romance"])
    first = genres[rng.integers(0, len(genres), items)]
    second = genres[rng.integers(0, len(genres), items)]
    table = pa.table(
        {
            "ITEM_ID": pa.array(np.char.add("i", np.arange(items).astype(str))),
            "GENRES": pa.array(np.char.add(np.char.add(first, "|"), second)),
            "PRICE": pa.array(rng.random(items).round(2) * 100),
            "CREATION_TIMESTAMP": pa.array(START + rng.integers(0, 10_000_000, items), pa.int64()),
            "DESCRIPTION": pa.array([f"item {i}, a {g} title" for i, g in enumerate(first)]),
        }
    )
    pa_csv.write_csv(table, path)


def generate_incremental(source: Path, path: Path, rows: int, users: int, items: int) -> None:
    """``rows`` rows: a tenth copied from the start of ``source`` (they replace those events), the rest new."""
    repeat = rows // 10
    head = pa_csv.read_csv(source, read_options=pa_csv.ReadOptions(block_size=16 << 20)).slice(0, repeat)
    generate_interactions(path, rows - repeat, users, items, seed=7, start=START + 40_000_000)
    fresh = pa_csv.read_csv(path)
    pa_csv.write_csv(pa.concat_tables([head.cast(fresh.schema), fresh]), path)


def child(args: argparse.Namespace) -> None:
    """One measurement in this process: print a JSON line with seconds and peak RSS."""
    if args.child == "read_csv":
        started, cpu = time.perf_counter(), time.process_time()
        table = pa_csv.read_csv(args.file)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": table.num_rows, "rss": _peak_rss()}))
        return
    os.environ["RECSMITH_HOME"] = str(args.home)
    os.environ["RECSMITH_DVC_TRACK"] = "1" if args.dvc else "0"
    from recsmith.catalog import ResourceType, Status
    from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
    from recsmith.data.imports import create_dataset_import_job
    from recsmith.data.sample import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
    from recsmith.platform import Platform

    platform = Platform.from_env()
    if args.child == "full":
        create_dataset_group(platform, "bench")
        create_schema(platform, "bench-interactions", json.dumps(INTERACTIONS_SCHEMA))
        create_dataset(platform, "bench-interactions", "bench", "INTERACTIONS", "bench-interactions")
        items_schema = dict(ITEMS_SCHEMA)
        items_schema["fields"] = [
            *ITEMS_SCHEMA["fields"],  # type: ignore[list-item]
            {"name": "PRICE", "type": ["null", "double"]},
            {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
        ]
        create_schema(platform, "bench-items", json.dumps(items_schema))
        create_dataset(platform, "bench-items", "bench", "ITEMS", "bench-items")
    dataset = "bench-items" if args.child == "items" else "bench-interactions"
    mode = "INCREMENTAL" if args.child == "incremental" else "FULL"
    started, cpu = time.perf_counter(), time.process_time()
    job = create_dataset_import_job(platform, f"{args.child}-{time.time_ns()}", dataset, str(args.file), mode)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if job.status is not Status.ACTIVE:
        raise SystemExit(f"import failed: {job.failure_reason}")
    version = platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": cpu,
                "rows": version["rowsRead"],
                "rowCount": version["rowCount"],
                "replaced": version["rowsReplaced"],
                "duplicates": version["duplicatesDropped"],
                "parts": len(version["partMd5s"]),
                "rss": _peak_rss(),
            }
        )
    )


def _peak_rss() -> int:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _run(kind: str, file: Path, home: Path, dvc: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, "--file", str(file), "--home", str(home)]
    if dvc:
        command.append("--dvc")
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--incremental-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/recsmith-bench-import"))
    parser.add_argument("--no-dvc", dest="dvc", action="store_false", help="RECSMITH_DVC_TRACK=0")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dvc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    interactions = work / f"interactions-{args.rows}.csv"
    items = work / f"items-{args.items}.csv"
    incremental = work / f"incremental-{args.incremental_rows}.csv"
    if not interactions.exists():
        generate_interactions(interactions, args.rows, args.users, args.items, seed=1)
    if not items.exists():
        generate_items(items, args.items, seed=2)
    if not incremental.exists():
        generate_incremental(interactions, incremental, args.incremental_rows, args.users, args.items)
    size = interactions.stat().st_size
    print(
        f"interactions: {args.rows:,} rows, {size / 2**20:.0f} MiB; DVC {'on' if args.dvc else 'off'}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start (other jobs share the machine)"
    )
    results: dict[str, list[dict[str, float]]] = {"read_csv": [], "full": [], "items": [], "incremental": []}
    for _ in range(args.repeat):
        home = work / "home"
        shutil.rmtree(home, ignore_errors=True)
        results["read_csv"].append(_run("read_csv", interactions, home, args.dvc))
        results["full"].append(_run("full", interactions, home, args.dvc))
        results["items"].append(_run("items", items, home, args.dvc))
        results["incremental"].append(_run("incremental", incremental, home, args.dvc))
    shutil.rmtree(work / "home", ignore_errors=True)

    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    base_rate = args.rows / median("read_csv", "seconds")
    print(
        f"{'measurement':<34}{'median s':>10}{'rows/s':>14}{'peak RSS MiB':>14}{'vs read_csv':>13}"
        f"{'CPU s':>8}{'rows/CPU-s':>12}"
    )
    for kind, label, rows in [
        ("read_csv", "pyarrow.csv.read_csv (baseline)", args.rows),
        ("full", "FULL import, interactions", args.rows),
        ("items", "FULL import, items + metadata", args.items),
        ("incremental", f"INCREMENTAL {args.incremental_rows:,} rows", args.incremental_rows),
    ]:
        seconds = median(kind, "seconds")
        rate = rows / seconds
        ratio = f"{rate / base_rate:.2f}" if kind in ("read_csv", "full") else ""
        cpu = median(kind, "cpu")
        print(
            f"{label:<34}{seconds:>10.2f}{rate:>14,.0f}{median(kind, 'rss') / 2**20:>14.0f}{ratio:>13}"
            f"{cpu:>8.2f}{rows / cpu:>12,.0f}"
        )
    last = results["incremental"][-1]
    print(
        f"INCREMENTAL: {last['replaced']:,.0f} rows replaced, {last['rowCount']:,.0f} rows after, "
        f"{last['parts']:.0f} parts; FULL dropped {results['full'][-1]['duplicates']:,.0f} duplicates"
    )
    print(f"runs per figure: {args.repeat}; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
