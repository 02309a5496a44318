"""Scale benchmark: fit time and peak memory of the recipes on synthetic data (``bench/synthetic.py``), batch
inference for every user, and accuracy against the planted structure, printed as a table.

Each step runs in a spawned child process of its own, so its peak RSS (``ru_maxrss``: data, imports and model
included) is its own, and one heavy step runs at a time. The test item of each user with at least three
interactions is their last one; recipes are fitted on the rest, and HR@10 / NDCG@10 are measured on up to
``--eval-users`` of those users (ties by a hash of (user, item), as ``bench/accuracy.py``), with popularity as
the baseline of the same run. Batch inference asks ``recommend`` for 25 items for every user of the data, in
chunks of 512, and reports users per second and the time for all of them. user_personalization_v2 is timed for
``--v2-epochs`` epochs on the whole training data (sampled softmax, 1,024 negatives) and reports seconds per
epoch; its accuracy is not measured here (too slow on two CPU cores at this scale).

    .venv/bin/python bench/scale.py --interactions 20000000 --users 1000000 --items 100000 \\
        [--recipes next_item_knn,sims] [--v2-epochs 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src"), str(REPO / "bench")]

from accuracy import NDCG, evaluate, leave_last_out  # noqa: E402
from synthetic import generate  # noqa: E402

from models.base import Compute, InteractionData  # noqa: E402
from models.columns import USER_ID  # noqa: E402
from models.registry import get_recipe_class  # noqa: E402
from recsmith.evaluation.split import Split  # noqa: E402


def _data(args: argparse.Namespace) -> pd.DataFrame:
    return generate(args.interactions, args.users, args.items, seed=args.seed).frame()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fit_and_score(args: argparse.Namespace, recipe_id: str) -> dict[str, Any]:
    """Child: generate, split, fit, score a sample of test users, then batch inference for every user."""
    frame = _data(args)
    split = leave_last_out(frame)
    del frame
    params: dict[str, Any] = {}
    if recipe_id == "user_personalization_v2":
        params = {"epochs": args.v2_epochs, "num_negatives": 1024, "batch_size": 256}
    recipe_cls = get_recipe_class(recipe_id)
    started = time.perf_counter()
    model = recipe_cls(params, seed=0, compute=Compute(torch_threads=args.threads)).fit(InteractionData(split.train))
    fit_seconds = time.perf_counter() - started
    out: dict[str, Any] = {"recipe": recipe_id, "fit_s": fit_seconds, "rows": len(split.train)}
    if recipe_id == "user_personalization_v2":
        out["s_per_epoch"] = float(getattr(model, "training_seconds_", fit_seconds)) / args.v2_epochs
        out["peak_mb"] = _peak_mb()
        return out
    users = sorted(split.test[USER_ID].unique())
    rng = np.random.default_rng(0)
    sample = set(rng.choice(users, size=min(args.eval_users, len(users)), replace=False).tolist())
    scored = Split(
        train=split.train[split.train[USER_ID].isin(sample)],
        test=split.test[split.test[USER_ID].isin(sample)],
        method=split.method,
        seed=0,
        test_fraction=0.0,
    )
    metrics = evaluate(model, scored, "hash")
    out.update(ndcg=metrics[NDCG], hr=metrics["hit_at_10"])
    everyone = model.user_ids_.tolist()[: args.batch_users or None]
    started = time.perf_counter()
    for begin in range(0, len(everyone), 512):
        model.recommend(everyone[begin : begin + 512], 25)
    batch_seconds = time.perf_counter() - started
    out.update(batch_users=len(everyone), batch_s=batch_seconds, peak_mb=_peak_mb())
    return out


def run(args: argparse.Namespace, recipe_id: str) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(_fit_and_score, (args, recipe_id))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interactions", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipes", default="popularity_count,sims,next_item_knn")
    parser.add_argument("--eval-users", type=int, default=5_000)
    parser.add_argument("--batch-users", type=int, default=0, help="batch inference for this many users (0: all)")
    parser.add_argument("--v2-epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    sizes = generate(args.interactions, args.users, args.items, seed=args.seed)
    print(
        f"synthetic: {len(sizes.items):,} interactions, {args.users:,} users, {args.items:,} items "
        f"(generated in {time.perf_counter() - started:.1f} s); torch threads {args.threads}",
        flush=True,
    )
    del sizes
    rows = []
    for recipe_id in [r for r in args.recipes.split(",") if r]:
        result = run(args, recipe_id)
        rows.append(result)
        print(f"  {result}", flush=True)
    print("\n| recipe | fit s | peak RSS MB | NDCG@10 | HR@10 | batch users | batch s | users/s | s per epoch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = r["batch_users"] / r["batch_s"] if r.get("batch_s") else float("nan")
        print(
            f"| {r['recipe']} | {r['fit_s']:.1f} | {r['peak_mb']:.0f} | {r.get('ndcg', float('nan')):.4f} | "
            f"{r.get('hr', float('nan')):.4f} | {r.get('batch_users', '-')} | {r.get('batch_s', float('nan')):.1f} | "
            f"{rate:.0f} | {r.get('s_per_epoch', float('nan')):.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
