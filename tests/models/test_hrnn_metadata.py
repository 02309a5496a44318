"""hrnn_metadata learns from item, user and context features what popularity (and ids alone) cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import InteractionData, Recipe, get_recipe_class
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from models.hrnn.features import fit_encoder

N_GROUPS, WARM, COLD = 4, 10, 5
PARAMS = {"hidden_dimension": 16, "epochs": 4, "bptt": 8, "num_negatives": 32, "dropout": 0.0}


def planted(seed: int = 0, n_users: int = 80) -> InteractionData:
    """Users of group g only take items of genre g; each genre also has COLD items nobody has taken yet.

    The users' GROUP is in USERS, the items' GENRES in ITEMS (multi-valued: the genre and a shared tag), and
    ITEMS lists USERS-only people and the cold items, so only features can place them.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        g = u % N_GROUPS
        for t, k in enumerate(rng.choice(WARM, size=8, replace=False)):
            rows.append((f"u{u}", f"g{g}_w{k}", 1_000 * u + 30 * t, "mobile" if g % 2 else "desktop"))
    interactions = pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP, "DEVICE"])
    items = pd.DataFrame(
        [
            (f"g{g}_{kind}{k}", f"genre{g}|film", float(k))
            for g in range(N_GROUPS)
            for kind, n in (("w", WARM), ("c", COLD))
            for k in range(n)
        ],
        columns=[ITEM_ID, "GENRES", "LENGTH"],
    )
    users = pd.DataFrame(
        [(f"u{u}", f"group{u % N_GROUPS}") for u in range(n_users)]
        + [(f"new{g}", f"group{g}") for g in range(N_GROUPS)],
        columns=[USER_ID, "GROUP"],
    )
    return InteractionData(interactions, items=items, users=users)


@pytest.fixture(scope="module")
def fitted() -> Recipe:
    return get_recipe_class("hrnn_metadata")(PARAMS, seed=1).fit(planted())


def _share_of_own_genre(answers: list, groups: list[int]) -> float:
    hits = [item.startswith(f"g{g}_") for answer, g in zip(answers, groups, strict=True) for item in answer.item_ids]
    return float(np.mean(hits))


def test_cold_items_are_ranked_by_their_features(fitted: Recipe) -> None:
    cold = [f"g{g}_c{k}" for g in range(N_GROUPS) for k in range(COLD)]
    users = [f"u{u}" for u in range(20)]
    answers = fitted.recommend(users, COLD, items=cold)
    popular = get_recipe_class("popularity_count")().fit(planted())
    by_popularity = popular.recommend(users, COLD, items=cold)
    groups = [u % N_GROUPS for u in range(20)]
    # chance is 1 / N_GROUPS; popularity does not even know items without interactions
    assert _share_of_own_genre(answers, groups) > 0.8
    assert all(len(answer) == 0 for answer in by_popularity)


def test_new_user_is_placed_by_user_features(fitted: Recipe) -> None:
    answers = fitted.recommend([f"new{g}" for g in range(N_GROUPS)], 5)
    assert _share_of_own_genre(answers, list(range(N_GROUPS))) > 0.8


def test_put_items_item_is_scored_from_features(fitted: Recipe, tmp_path: Path) -> None:
    recipe = Recipe.load(fitted.save(tmp_path / "model"))
    assert recipe.add_items(pd.DataFrame({ITEM_ID: ["late1", "g0_w1"], "GENRES": ["genre1|film", "genre0|film"]})) == [  # type: ignore[attr-defined]
        "late1"
    ]
    ranked = recipe.rank("u1", ["late1", "g0_c0", "g2_c0", "g3_c0"])  # u1 is in group 1
    assert ranked.item_ids[0] == "late1"


def test_saved_model_scores_identically_with_features(fitted: Recipe, tmp_path: Path) -> None:
    loaded = Recipe.load(fitted.save(tmp_path / "model"))
    users = ["u0", "u3", "new2", "nobody"]
    histories = [fitted.user_history(u) for u in users]
    context = {"DEVICE": "mobile"}
    np.testing.assert_array_equal(
        loaded._score_users(users, histories, context), fitted._score_users(users, histories, context)
    )
    assert not list(tmp_path.rglob("*.pkl"))


def test_context_changes_the_scores(fitted: Recipe) -> None:
    history = [fitted.user_history("u0")]
    mobile = fitted._score_users(["u0"], history, {"DEVICE": "mobile"})
    desktop = fitted._score_users(["u0"], history, {"DEVICE": "desktop"})
    assert not np.array_equal(mobile, desktop)


def test_duplicate_item_record_is_refused() -> None:
    data = planted(n_users=8)
    items = pd.concat([data.items, data.items.iloc[[3]]], ignore_index=True)  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"ITEMS: row 60, field ITEM_ID: duplicate id 'g0_w3'"):
        get_recipe_class("hrnn_metadata")(PARAMS).fit(InteractionData(data.interactions, items=items))


def test_encoder_names_the_bad_field() -> None:
    encoder = fit_encoder(pd.DataFrame({"LENGTH": [1.0, 2.0]}), ["LENGTH"])
    with pytest.raises(ValueError, match=r"context: row 0, field LENGTH: 'long' is not a finite number"):
        encoder.encode_mapping({"LENGTH": "long"})
    multi = fit_encoder(pd.DataFrame({"GENRES": ["a|b", "a", "b|c|c"]}), ["GENRES"])
    encoded = multi.encode(pd.DataFrame({"GENRES": ["a|b"]}))[0]
    # vocabulary GENRES=a, =b, =c (each seen twice); a row's parts weigh 1/sqrt(parts)
    np.testing.assert_allclose(encoded[:2], [1 / np.sqrt(2), 1 / np.sqrt(2)], rtol=1e-6)
