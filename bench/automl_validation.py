"""How well does AutoML's validation split predict the test winner? sims against next_item_knn on MovieLens.

For each seed: the Personalize test split (as training makes it), then two ways to carve validation from its
training part, the Personalize split again (a tenth of the users) and leave-last-out (every user's newest
interaction). Prints each candidate's validation and test NDCG@10, so one can see which validation picks the
recipe that wins on test, and by how much.

    python bench/automl_validation.py --seeds 42,7,11
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.accuracy import load_movielens  # noqa: E402
from recsmith.evaluation.evaluate import evaluate_recipe  # noqa: E402
from recsmith.evaluation.split import Split, SplitMethod, split_interactions  # noqa: E402
from recsmith.training.automl import TrainingData, fit_recipe  # noqa: E402

NDCG = "normalized_discounted_cumulative_gain_at_10"


def score(recipe_id: str, split: Split, data: TrainingData) -> tuple[float, int]:
    """NDCG@10 of ``recipe_id`` (default hyperparameters) fitted on ``split.train``, and the users scored."""
    metrics = evaluate_recipe(fit_recipe(recipe_id, {}, 0, data.data(split.train)), split)
    return metrics[NDCG], int(metrics["test_users"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ml-latest-small")
    parser.add_argument("--seeds", default="42,7,11")
    parser.add_argument("--recipes", default="sims,next_item_knn")
    args = parser.parse_args()
    interactions, _ = load_movielens(args.data, None)
    recipes = args.recipes.split(",")
    print(f"| seed | split | users | {' | '.join(recipes)} | picks |")
    print(f"|---|---|---|{'---|' * len(recipes)}---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        test = split_interactions(interactions, seed=seed)
        splits = {
            "validation: personalize": split_interactions(test.train, seed=seed + 1),
            "validation: leave-last-out": split_interactions(test.train, method=SplitMethod.LEAVE_LAST_OUT),
            "test (personalize)": test,
        }
        for name, split in splits.items():
            data = TrainingData(test, None)
            scores = {r: score(r, split, data) for r in recipes}
            users = next(iter(scores.values()))[1]
            best = max(scores, key=lambda r: scores[r][0])
            cells = " | ".join(f"{scores[r][0]:.4f}" for r in recipes)
            print(f"| {seed} | {name} | {users} | {cells} | {best} |", flush=True)


if __name__ == "__main__":
    main()
