"""AutoML with HPO on MovieLens (ml-latest-small): wall-clock time and the winner's leave-last-out NDCG@10.

The same code path as ``create-solution --perform-automl --perform-hpo`` (:mod:`recsmith.training.automl`):
every candidate tuned with Optuna (TPE, median pruner) within a trial AND a time budget on a validation split
(leave-last-out of the training part), the candidates in parallel processes, the winner chosen on validation
NDCG@10. The test split is leave-last-out (each user's last interaction), as in ``bench/accuracy.py``, whose
loader and split it reuses. The time budget per candidate comes from ``--max-minutes``: the candidates run in
waves of one per core, and each wave gets its share of the budget, 60% of it for HPO.

    PYTHONPATH=src:. python bench/automl.py [--max-minutes 15] [--trials 8] [--candidates hrnn,sims,deepfm,...]
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from bench.accuracy import leave_last_out, load_movielens  # noqa: E402
from models.columns import ITEM_ID, USER_ID  # noqa: E402
from recsmith.training.automl import CandidateJob, TrainingData, choose, run_candidates, worker_count  # noqa: E402
from recsmith.training.solutions import DEFAULT_AUTOML_RECIPES  # noqa: E402

NDCG = "normalized_discounted_cumulative_gain_at_10"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-latest-small")
    parser.add_argument("--max-minutes", type=float, default=15.0, help="Wall-clock budget of the whole AutoML.")
    parser.add_argument("--trials", type=int, default=8, help="HPO trials per candidate.")
    parser.add_argument("--candidates", default=",".join(DEFAULT_AUTOML_RECIPES))
    parser.add_argument("--no-hpo", action="store_true", help="Default hyperparameters only.")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    interactions, _items = load_movielens(args.data, None)  # interactions only: the AutoML candidates train on them
    candidates = [c for c in args.candidates.split(",") if c]
    split = leave_last_out(interactions)
    data = TrainingData(split, leave_last_out(split.train))
    workers = worker_count(len(candidates))
    waves = math.ceil(len(candidates) / workers)
    hpo_seconds = args.max_minutes * 60 / waves * 0.6
    print(
        f"data: {args.data} ({len(interactions):,} interactions, {interactions[USER_ID].nunique()} users, "
        f"{interactions[ITEM_ID].nunique()} items); candidates {candidates}; {workers} processes; "
        f"HPO {'off' if args.no_hpo else f'{args.trials} trials / {hpo_seconds:.0f} s per candidate'}"
    )
    jobs = [
        CandidateJob(c, {}, args.seed, NDCG, tune=not args.no_hpo, hpo_trials=args.trials, hpo_seconds=hpo_seconds)
        for c in candidates
    ]
    started = time.perf_counter()
    results = run_candidates(jobs, data)
    wall = time.perf_counter() - started
    chosen = choose(results, NDCG)
    print("\n| candidate | validation NDCG@10 | test NDCG@10 | test HR@10 | trials done / pruned | fit s | total s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        done = sum(t["state"] == "COMPLETE" for t in r.trials)
        mark = " (chosen)" if r is chosen else ""
        print(
            f"| {r.recipe_id}{mark} | {(r.validation_metrics or {}).get(NDCG, float('nan')):.4f} | "
            f"{r.test_metrics[NDCG]:.4f} | {r.test_metrics.get('hit_at_10', float('nan')):.4f} | "
            f"{done} / {len(r.trials) - done} | {r.fit_seconds:.1f} | {r.seconds:.1f} |"
        )
    peak_gb = (
        max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        / 1024**2
    )
    print(f"\nwinner: {chosen.recipe_id} with {chosen.params}")
    print(f"winner leave-last-out NDCG@10: {chosen.test_metrics[NDCG]:.4f}")
    print(f"AutoML wall clock: {wall:.0f} s ({wall / 60:.1f} min; target <= 15 min)")
    print(f"peak RSS of the largest process: {peak_gb:.2f} GB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
