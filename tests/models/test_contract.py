"""The recipe contract, run against every registered recipe on a tiny fixture whose answers are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import InteractionData, Recipe, RecipeType, UnsupportedOperation, get_recipe_class, recipe_ids
from models.columns import ITEM_ID, TIMESTAMP, USER_ID


def tiny_interactions() -> pd.DataFrame:
    """Item 'a' is the most popular, then 'b'; 'x' and 'y' are always taken together; 'solo' once."""
    rows = []
    clock = 1_000
    for user in range(6):
        for item in ["a", "b"] if user < 3 else ["a"]:
            rows.append((f"u{user}", item, clock))
            clock += 10
    for user in range(6, 10):
        for item in ("x", "y"):
            rows.append((f"u{user}", item, clock))
            clock += 10
    rows.append(("u0", "a", clock))
    rows.append(("u9", "solo", clock + 5))
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP])


def tiny_items() -> pd.DataFrame:
    """ITEMS with a genre and a description: 'x' and 'y' are told alike, as they are taken alike."""
    return pd.DataFrame(
        {
            ITEM_ID: ["a", "b", "x", "y", "solo"],
            "GENRES": ["Drama", "Drama|Family", "SciFi", "SciFi|Action", "Cooking"],
            "DESCRIPTION": [
                "a quiet family drama in a small town",
                "a family drama on a farm in winter",
                "robots and lasers in a space opera",
                "space opera with robots lasers and starships",
                "a cooking show about bread",
            ],
        }
    )


def tiny_data() -> InteractionData:
    return InteractionData(tiny_interactions(), items=tiny_items())


@pytest.fixture(scope="module", params=recipe_ids())
def recipe(request: pytest.FixtureRequest) -> Recipe:
    # one fit per recipe for the whole module: no test changes a fitted recipe, and neural fits are not free
    return get_recipe_class(request.param)(seed=3).fit(tiny_data())


def test_models_resolves_to_this_repository() -> None:
    import models

    assert Path(models.__file__).resolve().parent == Path(__file__).resolve().parents[2] / "models"


def test_unknown_user_gets_popular_items_in_order(recipe: Recipe) -> None:
    # counts: a 7, x 4, y 4 (a tie, broken by id), b 3, solo 1
    assert recipe.recommend(["nobody"], 3)[0].item_ids == ["a", "x", "y"]
    assert recipe.popular_items(5).item_ids == ["a", "x", "y", "b", "solo"]


def test_lists_are_full_and_unique(recipe: Recipe) -> None:
    answer = recipe.recommend(["u6"], 3, exclude_seen=False)[0]
    assert len(answer.item_ids) == 3
    assert len(set(answer.item_ids)) == 3


def test_seen_items_are_excluded(recipe: Recipe) -> None:
    answer = recipe.recommend(["u0"], 10)[0]
    assert not {"a", "b"} & set(answer.item_ids)
    assert len(answer) == recipe.n_items - 2


def test_batch_equals_single(recipe: Recipe) -> None:
    users = ["u0", "u4", "u7", "nobody"]
    batch = recipe.recommend(users, 4)
    for user, answer in zip(users, batch, strict=True):
        assert recipe.recommend([user], 4)[0] == answer


def test_filter_items_never_returned(recipe: Recipe) -> None:
    answer = recipe.recommend(["u7", "nobody"], 10, filter_items={"a", "solo"})
    for one in answer:
        assert not {"a", "solo"} & set(one.item_ids)


def test_items_restricts_candidates(recipe: Recipe) -> None:
    answer = recipe.recommend(["u7"], 10, items=["b", "solo"], exclude_seen=False)[0]
    assert set(answer.item_ids) == {"b", "solo"}


def test_rank_orders_given_items_with_unknown_last(recipe: Recipe) -> None:
    ranked = recipe.rank("u1", ["solo", "never-seen", "a", "y"])
    assert sorted(ranked.item_ids) == sorted(["solo", "never-seen", "a", "y"])
    assert ranked.item_ids[-1] == "never-seen"
    assert ranked.scores[:3] == sorted(ranked.scores[:3], reverse=True)


def test_recent_events_extend_history(recipe: Recipe) -> None:
    answer = recipe.recommend(["nobody"], 10, recent_events={"nobody": ["x"]})[0]
    assert "x" not in answer.item_ids


def test_save_load_gives_identical_answers(recipe: Recipe, tmp_path: Path) -> None:
    loaded = Recipe.load(recipe.save(tmp_path / "model"))
    users = ["u0", "u7", "nobody"]
    assert loaded.recommend(users, 5) == recipe.recommend(users, 5)
    assert loaded.rank("u7", ["a", "b", "y"]) == recipe.rank("u7", ["a", "b", "y"])
    assert not list(tmp_path.rglob("*.pkl"))


def test_fixed_seed_gives_identical_output(recipe: Recipe) -> None:
    again = type(recipe)(recipe.params, seed=3).fit(tiny_data())
    assert again.recommend(["u0", "u7"], 5) == recipe.recommend(["u0", "u7"], 5)


def test_related_items_follow_recipe_type(recipe: Recipe) -> None:
    if recipe.recipe_type is RecipeType.RELATED_ITEMS:
        assert recipe.similar_items(["x"], 1)[0].item_ids == ["y"]
    else:
        with pytest.raises(UnsupportedOperation, match="cannot answer related-items"):
            recipe.similar_items(["x"], 1)


@pytest.mark.parametrize("recipe_id", recipe_ids())
def test_fit_on_nothing_fails_loudly(recipe_id: str) -> None:
    empty = pd.DataFrame({USER_ID: [], ITEM_ID: [], TIMESTAMP: []})
    with pytest.raises(ValueError, match="zero interactions"):
        get_recipe_class(recipe_id)().fit(InteractionData(empty, items=tiny_items()))


def test_unknown_recipe_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="known recipes: .*popularity_count"):
        get_recipe_class("nope")


def test_sims_recommends_neighbours_of_latest_item() -> None:
    sims = get_recipe_class("sims")().fit(InteractionData(tiny_interactions()))
    assert sims.recommend(["newcomer"], 1, recent_events={"newcomer": ["x"]})[0].item_ids == ["y"]
    scores = np.asarray(sims.recommend(["u6"], 3, exclude_seen=False)[0].scores)
    assert np.all(np.diff(scores) <= 0)
