"""Quick leave-last-out check of hrnn against sims on MovieLens (ml-latest-small).

Each user's last event (by time) is the target; the rest is training data and the user's history. Ranking is
over the full catalogue, seen items excluded. HR@10 = share of users whose target is in the top 10;
NDCG@10 = mean of 1 / log2(rank + 1) over hits (rank from 1). Run: .venv/bin/python bench/hrnn_quick.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import InteractionData, get_recipe_class  # noqa: E402
from models.columns import ITEM_ID, TIMESTAMP, USER_ID  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratings", default="/work/shared/data/ml-latest-small/ratings.csv")
    parser.add_argument("--recipes", default="hrnn,sims")
    args = parser.parse_args()
    frame = pd.read_csv(args.ratings).rename(columns={"userId": USER_ID, "movieId": ITEM_ID, "timestamp": TIMESTAMP})
    frame = frame[[USER_ID, ITEM_ID, TIMESTAMP]].astype({USER_ID: str, ITEM_ID: str})
    frame = frame.sort_values([USER_ID, TIMESTAMP], kind="stable")
    last = frame.groupby(USER_ID).tail(1)
    train = frame.drop(last.index)
    targets = dict(zip(last[USER_ID], last[ITEM_ID], strict=True))
    users = sorted(targets)
    for recipe_id in args.recipes.split(","):
        start = time.perf_counter()
        recipe = get_recipe_class(recipe_id)(seed=0).fit(InteractionData(train))
        fit_s = time.perf_counter() - start
        answers = recipe.recommend(users, 10)
        hits, gains = 0, 0.0
        for user, answer in zip(users, answers, strict=True):
            if targets[user] in answer.item_ids:
                hits += 1
                gains += 1.0 / np.log2(answer.item_ids.index(targets[user]) + 2)
        print(f"{recipe_id}: fit {fit_s:.1f}s  HR@10 {hits / len(users):.4f}  NDCG@10 {gains / len(users):.4f}")


if __name__ == "__main__":
    main()
