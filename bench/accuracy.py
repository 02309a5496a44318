"""Accuracy benchmark: every registered recipe against reference baselines, on MovieLens, printed as a table.

Two protocols, both ranking the full catalogue with the user's seen items excluded:

- ``leave-last-out``: each user's last interaction (by time; ties keep the file's order) is the test item; the
  model trains on everything before it. Users with fewer than 3 interactions are skipped.
- ``personalize``: Personalize's split (a seeded 10% of users, their newest 10% held out), as solution
  versions use it (``recsmith.evaluation.split``).

Reference baselines, computed in the same run: popularity, the co-occurrence neighbours of the user's last
item (raw counts over whole histories, and within 3 positions), and EASE (λ=100, Steck 2019). Figures are
mean ± spread (half the min-max range) over the seeds; the seed changes the Personalize split and the recipes'
own randomness.

    .venv/bin/python bench/accuracy.py [--data ../shared/data/ml-latest-small] [--seeds 3] [--recipes a,b]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.base import InteractionData, Recipe, RecipeParams, RecipeType  # noqa: E402
from models.columns import ITEM_ID, TIMESTAMP, USER_ID  # noqa: E402
from models.registry import get_recipe_class, recipe_ids  # noqa: E402
from recsmith.evaluation.evaluate import evaluate_recipe  # noqa: E402
from recsmith.evaluation.split import Split, SplitMethod, split_interactions  # noqa: E402

METRICS = ("hit_at_10", "normalized_discounted_cumulative_gain_at_10", "mean_reciprocal_rank_at_25", "coverage")
SHORT = {
    "hit_at_10": "HR@10",
    "normalized_discounted_cumulative_gain_at_10": "NDCG@10",
    "mean_reciprocal_rank_at_25": "MRR@25",
    "coverage": "cov",
}


class LastItemCooccurrence(Recipe):
    """Baseline: items that co-occur with the user's last item: in the same user's history (raw count of users),
    or, with ``window``, within ``window`` positions of each other in a user's time-ordered history."""

    recipe_id = "baseline_last_item"
    recipe_type = RecipeType.USER_PERSONALIZATION
    Params = RecipeParams
    window: int | None = None

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        n_users, n_items = len(self.user_ids_), self.n_items
        if self.window is None:
            x = sp.csr_matrix(
                (np.ones(len(user_codes), dtype=np.float32), (user_codes, item_codes)), shape=(n_users, n_items)
            )
            x.sum_duplicates()
            x.data[:] = 1.0
            self.cooccurrence_ = (x.T @ x).tocsr()
        else:
            rows, cols = [], []
            for d in range(1, self.window + 1):
                same_user = user_codes[d:] == user_codes[:-d]
                rows += [item_codes[:-d][same_user], item_codes[d:][same_user]]
                cols += [item_codes[d:][same_user], item_codes[:-d][same_user]]
            r, c = np.concatenate(rows), np.concatenate(cols)
            self.cooccurrence_ = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(n_items, n_items))
        self.cooccurrence_.setdiag(0)
        self.cooccurrence_.eliminate_zeros()

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        scores = np.full((len(histories), self.n_items), -np.inf)
        for row, history in enumerate(histories):
            if len(history):
                co = self.cooccurrence_[int(history[-1])].toarray().ravel()
                scores[row, co > 0] = co[co > 0]
        return scores


class LastItemWindow3(LastItemCooccurrence):
    """Baseline: neighbours of the user's last item within 3 positions in users' histories."""

    recipe_id = "baseline_last_item_w3"
    window = 3


class Ease(Recipe):
    """Baseline: EASE, B = I - P / diag(P) with P = (XᵀX + λI)⁻¹ (Steck 2019), λ = 100."""

    recipe_id = "baseline_ease"
    recipe_type = RecipeType.USER_PERSONALIZATION
    Params = RecipeParams
    l2 = 100.0

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        x = sp.csr_matrix(
            (np.ones(len(user_codes), dtype=np.float64), (user_codes, item_codes)),
            shape=(len(self.user_ids_), self.n_items),
        )
        x.sum_duplicates()
        x.data[:] = 1.0
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += self.l2
        p = np.linalg.inv(gram)
        b = p / (-np.diag(p))
        b[np.diag_indices_from(b)] = 0.0
        self.weights_ = b.astype(np.float32)

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        scores = np.zeros((len(histories), self.n_items))
        for row, history in enumerate(histories):
            if len(history):
                scores[row] = self.weights_[np.unique(history)].sum(axis=0)
        return scores


BASELINES: dict[str, type[Recipe]] = {
    "baseline_popularity": get_recipe_class("popularity_count"),
    "baseline_last_item": LastItemCooccurrence,
    "baseline_last_item_w3": LastItemWindow3,
    "baseline_ease": Ease,
}


def leave_last_out(interactions: pd.DataFrame) -> Split:
    """Each user's last interaction is the test item (users with at least 3 interactions)."""
    frame = interactions.sort_values([USER_ID, TIMESTAMP], kind="stable").reset_index(drop=True)
    size = frame.groupby(USER_ID)[ITEM_ID].transform("size").to_numpy()
    position = frame.groupby(USER_ID).cumcount().to_numpy()
    is_test = (position == size - 1) & (size >= 3)
    return Split(
        train=frame[~is_test].reset_index(drop=True),
        test=frame[is_test].reset_index(drop=True),
        method=SplitMethod.TIME,
        seed=0,
        test_fraction=0.0,
    )


def load_movielens(folder: Path) -> pd.DataFrame:
    ratings = pd.read_csv(folder / "ratings.csv", dtype={"userId": str, "movieId": str})
    return ratings.rename(columns={"userId": USER_ID, "movieId": ITEM_ID, "timestamp": TIMESTAMP})[
        [USER_ID, ITEM_ID, TIMESTAMP]
    ]


def run(name: str, recipe_cls: type[Recipe], split: Split, seed: int) -> tuple[dict[str, float], float]:
    started = time.perf_counter()
    fitted = recipe_cls(seed=seed).fit(InteractionData(split.train))
    seconds = time.perf_counter() - started
    return evaluate_recipe(fitted, split), seconds


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    half = (max(values) - min(values)) / 2
    return f"{mean:.4f}±{half:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-latest-small")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--recipes", default=",".join(recipe_ids()))
    args = parser.parse_args()
    interactions = load_movielens(args.data)
    methods: dict[str, type[Recipe]] = {**BASELINES, **{r: get_recipe_class(r) for r in args.recipes.split(",") if r}}
    print(f"data: {args.data} ({len(interactions):,} interactions, {interactions[USER_ID].nunique()} users, "
          f"{interactions[ITEM_ID].nunique()} items); seeds: {args.seeds}")
    fixed = leave_last_out(interactions)
    results: dict[tuple[str, str], list[tuple[dict[str, float], float]]] = {}
    for seed in range(args.seeds):
        splits = {"leave-last-out": fixed, "personalize": split_interactions(interactions, seed=seed)}
        for protocol, split in splits.items():
            for name, cls in methods.items():
                results.setdefault((protocol, name), []).append(run(name, cls, split, seed))
    for protocol in ("leave-last-out", "personalize"):
        print(f"\n### {protocol}")
        header = ["method", *[SHORT[m] for m in METRICS], "fit s (median)"]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        best_baseline = max(
            statistics.fmean(m["normalized_discounted_cumulative_gain_at_10"] for m, _ in results[(protocol, b)])
            for b in BASELINES
        )
        for name in methods:
            runs = results[(protocol, name)]
            cells = [spread([m[metric] for m, _ in runs]) for metric in METRICS]
            seconds = statistics.median(s for _, s in runs)
            print(f"| {name} | " + " | ".join(cells) + f" | {seconds:.2f} |")
        print(f"\nbest reference baseline NDCG@10: {best_baseline:.4f}")
        for name in methods:
            if name not in BASELINES:
                ndcg = statistics.fmean(
                    m["normalized_discounted_cumulative_gain_at_10"] for m, _ in results[(protocol, name)]
                )
                print(f"{name}: NDCG@10 {ndcg:.4f} = {ndcg / best_baseline:.2f}x the best baseline")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
