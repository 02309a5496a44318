"""Training mode UPDATE: a count-based recipe folds a signed delta in and ends exactly where a full refit ends.

Every array the model holds (ids, histories, popularity, the neighbour tables, trend counts) is compared bit for
bit with a fit on the changed data, for deltas that add events for known and new users and items, take events
away, forget whole users, and make items vanish from the catalogue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import InteractionData, Recipe, get_recipe_class
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from models.incremental import IncrementalRecipe
from models.registry import UPDATE, list_recipes

UPDATABLE = [info.recipe_id for info in list_recipes() if UPDATE in info.training_modes]
# small tables and windows so that the table's top-k cut and the history cut both bite on this data
PARAMS = {
    "sims": {"num_neighbors": 4, "max_user_history_length": 6, "min_cointeraction_count": 1},
    "next_item_knn": {"num_neighbors": 5, "window": 3, "min_cointeraction_count": 1},
    "trending_now": {"trend_discovery_frequency": "1 hour"},
}


def random_log(seed: int, n_users: int = 40, n_items: int = 30, start: int = 1_000_000) -> pd.DataFrame:
    """Skewed items, repeats, and runs of equal timestamps (a batch of ratings saved at once)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        clock = start + int(rng.integers(0, 7_200))
        for _ in range(int(rng.integers(1, 14))):
            item = int(rng.zipf(1.5)) % n_items
            rows.append((f"u{u:03d}", f"i{item:03d}", clock))
            clock += int(rng.choice([0, 0, 60, 600, 1_800]))
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP])


def assert_same_state(updated: Recipe, refit: Recipe) -> None:
    names = {k for k in vars(refit) if k.endswith("_") and not k.startswith("_")}
    assert names == {k for k in vars(updated) if k.endswith("_") and not k.startswith("_")}
    for name in sorted(names):
        left, right = getattr(updated, name), getattr(refit, name)
        if isinstance(right, np.ndarray):
            assert left.dtype == right.dtype, name
            np.testing.assert_array_equal(left, right, err_msg=name, strict=True)
        elif isinstance(right, dict):
            assert left == right, name
        else:
            assert left == right, name


def fit(recipe_id: str, frame: pd.DataFrame) -> IncrementalRecipe:
    recipe = get_recipe_class(recipe_id)(PARAMS.get(recipe_id, {}), seed=0).fit(InteractionData(frame))
    assert isinstance(recipe, IncrementalRecipe)
    return recipe


def test_the_count_based_recipes_support_update() -> None:
    assert set(UPDATABLE) == {"popularity_count", "sims", "next_item_knn", "trending_now"}


@pytest.mark.parametrize("recipe_id", UPDATABLE)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_added_events_give_the_state_of_a_full_refit(recipe_id: str, seed: int) -> None:
    base = random_log(seed)
    newcomers = random_log(seed + 200, n_users=3, start=1_010_000)
    added = pd.concat(
        [
            random_log(seed + 100, n_users=8, n_items=34, start=1_010_000),  # known users, some new items
            newcomers.assign(**{USER_ID: "new-" + newcomers[USER_ID]}),  # users the model never saw
        ],
        ignore_index=True,
    )
    updated = fit(recipe_id, base).apply_delta(added=added)
    assert_same_state(updated, fit(recipe_id, pd.concat([base, added], ignore_index=True)))


@pytest.mark.parametrize("recipe_id", UPDATABLE)
@pytest.mark.parametrize("seed", [3, 4])
def test_removed_events_give_the_state_of_a_full_refit(recipe_id: str, seed: int) -> None:
    base = random_log(seed)
    rng = np.random.default_rng(seed)
    # identical rows (same user, item and time) are interchangeable, but not where they stand among other rows
    # of that time, so remove rows whose key is unique: then "which one" has one answer
    unique = np.flatnonzero(~base.duplicated([USER_ID, ITEM_ID, TIMESTAMP], keep=False).to_numpy())
    removed = base.iloc[np.sort(rng.choice(unique, size=len(base) // 5, replace=False))]
    added = random_log(seed + 50, n_users=5, start=1_020_000)
    updated = fit(recipe_id, base).apply_delta(added=added, removed=removed)
    expected = pd.concat([base.drop(index=removed.index), added], ignore_index=True)
    assert_same_state(updated, fit(recipe_id, expected))


@pytest.mark.parametrize("recipe_id", UPDATABLE)
def test_forgetting_users_subtracts_them_exactly(recipe_id: str, tmp_path: Path) -> None:
    base = random_log(5)
    # "q" and "r" were only ever taken together by the user who is forgotten: they must vanish with that user
    secret = pd.DataFrame({USER_ID: ["gone", "gone", "gone"], ITEM_ID: ["q", "r", "i001"], TIMESTAMP: [1_000_010] * 3})
    model = fit(recipe_id, pd.concat([base, secret], ignore_index=True))
    loaded = Recipe.load(model.save(tmp_path / "model"))  # the saved model version is what an UPDATE starts from
    assert isinstance(loaded, IncrementalRecipe)
    forgotten = loaded.forget_users(["gone", "u001"])
    expected = base[base[USER_ID] != "u001"]
    assert_same_state(forgotten, fit(recipe_id, expected.reset_index(drop=True)))
    assert "q" not in forgotten.item_index_ and "gone" not in forgotten.user_index_


@pytest.mark.parametrize("recipe_id", ["sims", "next_item_knn"])
def test_a_pair_only_the_forgotten_user_had_in_common_is_no_longer_related(recipe_id: str) -> None:
    base = random_log(6)
    histories = base.groupby(USER_ID)[ITEM_ID].agg(set).tolist()
    items = sorted(base[ITEM_ID].unique())
    first, second = next(
        (x, y) for x in items for y in items if x < y and not any({x, y} <= taken for taken in histories)
    )  # two items of the catalogue that no user took together
    together = pd.DataFrame({USER_ID: ["gone"] * 2, ITEM_ID: [first, second], TIMESTAMP: [2_000_000, 2_000_060]})
    model = fit(recipe_id, pd.concat([base, together], ignore_index=True))
    a, b = model.item_index_[first], model.item_index_[second]
    related = model.neighbors_[a][np.isfinite(model.similarity_[a])]
    assert b in related
    model.forget_users(["gone"])
    a, b = model.item_index_[first], model.item_index_[second]
    assert b not in model.neighbors_[a][np.isfinite(model.similarity_[a])]


def test_removing_an_interaction_the_model_does_not_hold_fails_and_changes_nothing() -> None:
    base = random_log(7)
    model = fit("sims", base)
    before = model.similarity_.copy()
    stranger = pd.DataFrame({USER_ID: ["u001"], ITEM_ID: ["i001"], TIMESTAMP: [42]})
    with pytest.raises(ValueError, match="item 'i001', timestamp 42\\) is not in the model"):
        model.apply_delta(removed=stranger)
    np.testing.assert_array_equal(model.similarity_, before)
    with pytest.raises(ValueError, match="zero interactions"):
        model.apply_delta(removed=base)


def test_a_model_saved_before_update_existed_loads_serves_and_refuses_an_update(tmp_path: Path) -> None:
    base = random_log(8)
    model = fit("next_item_knn", base)
    folder = model.save(tmp_path / "model")
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "state_history_times"}
    np.savez(folder / "arrays.npz", **arrays)  # the file as versions before UPDATE wrote it
    old = Recipe.load(folder)
    assert isinstance(old, IncrementalRecipe)
    assert old.recommend(["u001"], 5) == model.recommend(["u001"], 5)
    with pytest.raises(ValueError, match="saved without its interaction times .* train a FULL version first"):
        old.apply_delta(added=random_log(9, n_users=2))
