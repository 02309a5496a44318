"""Training time and peak memory of the hrnn family on MovieLens, against plain hrnn measured in the same run.

Each fit runs in a fresh process (so its peak RSS is its own) on the leave-last-out training rows of
``ml-latest-small``, with ITEMS from ``movies.csv`` (genres and year) for the metadata recipes. Issue 3's target:
``hrnn`` with default hyperparameters trains in at most 120 s on 2 CPU cores; this script holds hrnn_metadata to
the same bound.

    .venv/bin/python bench/hrnn_metadata.py [--data ../shared/data/ml-latest-small] [--repeats 3]
        [--recipes hrnn,hrnn_metadata,hrnn_coldstart]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from accuracy import leave_last_out, load_movielens  # noqa: E402

from models.base import InteractionData  # noqa: E402
from models.registry import get_recipe_class  # noqa: E402

TARGET_SECONDS = 120.0


def _fit(recipe_id: str, train: pd.DataFrame, items: pd.DataFrame, seed: int) -> tuple[float, float]:
    """In a child process: fit once; the fit's wall seconds and the process's peak RSS in MB."""
    started = time.perf_counter()
    get_recipe_class(recipe_id)(seed=seed).fit(InteractionData(train, items=items))
    seconds = time.perf_counter() - started
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-latest-small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--recipes", default="hrnn,hrnn_metadata,hrnn_coldstart")
    args = parser.parse_args()
    interactions, items = load_movielens(args.data, None)
    train = leave_last_out(interactions).train
    recipes = [r for r in args.recipes.split(",") if r]
    print(f"{len(train):,} training rows, {len(items):,} ITEMS records; cores: {len(os.sched_getaffinity(0))}")
    context = multiprocessing.get_context("spawn")
    timings: dict[str, list[tuple[float, float]]] = {r: [] for r in recipes}
    for repeat in range(args.repeats):
        for recipe_id in recipes:  # interleaved, so that load changes on the machine hit every recipe alike
            with context.Pool(1, maxtasksperchild=1) as pool:
                outcome = pool.apply(_fit, (recipe_id, train, items, repeat))
            timings[recipe_id].append(outcome)
            print(f"  repeat {repeat} {recipe_id}: {outcome[0]:.1f} s, peak RSS {outcome[1]:.0f} MB", flush=True)
    baseline = statistics.median(s for s, _ in timings[recipes[0]])
    target = f"≤ {TARGET_SECONDS:.0f} s"
    print(f"\n| recipe | fit s (median of {args.repeats}) | x {recipes[0]} | peak RSS MB (max) | {target} |")
    print("|---|---|---|---|---|")
    for recipe_id in recipes:
        median = statistics.median(s for s, _ in timings[recipe_id])
        peak = max(p for _, p in timings[recipe_id])
        verdict = "met" if median <= TARGET_SECONDS else "NOT met"
        print(f"| {recipe_id} | {median:.1f} | {median / baseline:.2f} | {peak:.0f} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
