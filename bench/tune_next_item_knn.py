"""Tune next_item_knn on a validation split of MovieLens, never on the test split, and print what each try gave.

The protocol is ``bench/accuracy.py``'s leave-last-out: each user's last interaction is the test item. This
script drops those test rows first, then holds out each user's last *remaining* interaction (the one before
the test item) as the validation item, and fits on the rest. Every hyperparameter choice is made on that
validation split. The search is a coordinate ascent: starting from the recipe's defaults, each hyperparameter
in turn takes the value of its grid that scores best on validation NDCG@10 (the others fixed), for
``--passes`` passes.

With ``--report-test`` the defaults and the chosen values are then each fitted once on the full training split
and scored on the test split, for the record; the test figures choose nothing.

    .venv/bin/python bench/tune_next_item_knn.py [--data ../shared/data/ml-latest-small] [--passes 2]
        [--params window,backward_weight] [--report-test]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from accuracy import NDCG, evaluate, leave_last_out, load_movielens  # noqa: E402

from models.base import InteractionData  # noqa: E402
from models.next_item_knn.recipe import NextItemKnn, NextItemKnnParams  # noqa: E402
from recsmith.evaluation.split import Split  # noqa: E402

GRID: dict[str, Sequence[Any]] = {
    "window": (1, 2, 3, 5, 8, 12, 20),
    "distance_exponent": (0.0, 0.5, 1.0, 1.5, 2.0),
    "backward_weight": (0.0, 0.3, 0.5, 0.7, 1.0),
    "user_length_exponent": (0.0, 0.25, 0.5, 0.75),
    "popularity_discount_factor": (0.0, 0.25, 0.5, 0.75, 1.0),
    "cooccurrence_weight": (0.0, 0.1, 0.25, 0.5, 0.75, 1.5),
    "cooccurrence_discount_factor": (0.25, 0.5, 0.75),
    "normalise_sources": (False, True),
    "num_neighbors": (50, 100, 200, 400, 800, 1600),
    "recent_items": (1, 3, 5, 10, 20, 40),
    "recency_decay": (0.3, 0.5, 0.7, 0.85, 1.0),
}
SCORE_ONLY = {"recent_items", "recency_decay"}
"""Hyperparameters that only change scoring: the fitted neighbour table is reused for them."""


class Tuner:
    """Scores hyperparameter sets on one split, fitting each distinct set of fit-time values once."""

    def __init__(self, split: Split) -> None:
        self.split = split
        self.fitted: dict[tuple[tuple[str, Any], ...], NextItemKnn] = {}
        self.seen: dict[tuple[tuple[str, Any], ...], float] = {}
        self.fit_seconds: list[float] = []

    def score(self, values: Mapping[str, Any]) -> float:
        key = tuple(sorted(values.items()))
        if key not in self.seen:
            params = NextItemKnnParams(**values)
            fit_key = tuple((k, v) for k, v in key if k not in SCORE_ONLY)
            if fit_key not in self.fitted:
                started = time.perf_counter()
                self.fitted[fit_key] = NextItemKnn(params).fit(InteractionData(self.split.train))
                self.fit_seconds.append(time.perf_counter() - started)
                if len(self.fitted) > 4:  # neighbour tables are 8 MB each; keep the latest few
                    self.fitted.pop(next(iter(self.fitted)))
            recipe = copy.copy(self.fitted[fit_key])  # same learned arrays, other scoring params
            recipe.params = params
            self.seen[key] = evaluate(recipe, self.split, "hash")[NDCG]
        return self.seen[key]


def coordinate_ascent(tuner: Tuner, names: Sequence[str], passes: int) -> dict[str, Any]:
    values: dict[str, Any] = NextItemKnnParams().model_dump()
    best = tuner.score(values)
    print(f"defaults: validation NDCG@10 {best:.4f}  {values}", flush=True)
    for number in range(1, passes + 1):
        changed = False
        for name in names:
            row = []
            for candidate in GRID[name]:
                trial = {**values, name: candidate}
                ndcg = tuner.score(trial)
                row.append(f"{candidate}: {ndcg:.4f}")
                if ndcg > best + 1e-9:
                    best, values, changed = ndcg, trial, True
            print(f"| pass {number} | {name} | {' · '.join(row)} | keeps {values[name]} ({best:.4f}) |", flush=True)
        if not changed:
            break
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-latest-small")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--params", default=",".join(GRID), help="hyperparameters to tune, in this order")
    parser.add_argument("--report-test", action="store_true", help="then score defaults and choice on test once")
    args = parser.parse_args()
    names = [n for n in args.params.split(",") if n]
    unknown = set(names) - set(GRID)
    if unknown:
        parser.error(f"--params: unknown {sorted(unknown)}; choose from {', '.join(GRID)}")
    interactions, _ = load_movielens(args.data, None)
    test_split = leave_last_out(interactions)
    validation_split = leave_last_out(test_split.train)
    print(
        f"validation: {len(validation_split.train):,} training rows, {len(validation_split.test)} validation items "
        f"(each user's last row before the test item)"
    )
    print("| pass | hyperparameter | validation NDCG@10 per value | kept |")
    print("|---|---|---|---|")
    tuner = Tuner(validation_split)
    chosen = coordinate_ascent(tuner, names, args.passes)
    defaults = NextItemKnnParams().model_dump()
    changed = {k: v for k, v in chosen.items() if v != defaults[k]}
    print(f"\nchosen on validation: NDCG@10 {tuner.score(chosen):.4f} (defaults {tuner.score(defaults):.4f})")
    print(f"changed from the defaults: {changed or 'nothing'}")
    fits = tuner.fit_seconds
    print(f"{len(tuner.seen)} settings scored, {len(fits)} fits, median fit {_median(fits):.2f} s")
    if args.report_test:
        test = Tuner(test_split)
        record = f"defaults {test.score(defaults):.4f}, chosen {test.score(chosen):.4f}"
        print(f"test NDCG@10 (for the record; it chooses nothing): {record}")
    return 0


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


if __name__ == "__main__":
    sys.exit(main())
