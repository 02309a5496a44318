"""deepfm learns from metadata and from the latest item what popularity cannot; it is reproducible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import InteractionData, Recipe, get_recipe_class
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from tests.models.test_hrnn import _hit_rate, _split_last, chains

_SEGMENTS = 4
_GENRE_SIZE = 20


def segments(seed: int = 0, n_users: int = 120) -> InteractionData:
    """Users of segment s take items of genre s only (several genres per item, one of them s); items of every
    genre are equally popular, so popularity cannot tell which genre a user wants."""
    rng = np.random.default_rng(seed)
    rows, users = [], []
    for u in range(n_users):
        segment = u % _SEGMENTS
        users.append((f"u{u}", f"s{segment}", float(rng.normal(30 + 5 * segment, 2))))
        for t, i in enumerate(rng.choice(_GENRE_SIZE, size=8, replace=False)):
            rows.append((f"u{u}", f"g{segment}_{i}", 1_000 + t))
    items = [
        (f"g{g}_{i}", f"G{g}|G{(g + 1) % _SEGMENTS}" if i % 2 else f"G{g}", float(i))
        for g in range(_SEGMENTS)
        for i in range(_GENRE_SIZE)
    ]
    return InteractionData(
        pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP]),
        items=pd.DataFrame(items, columns=[ITEM_ID, "GENRES", "PRICE"]),
        users=pd.DataFrame(users, columns=[USER_ID, "SEGMENT", "AGE"]),
    )


def _new_users(data: InteractionData, n: int) -> InteractionData:
    """The same data with ``n`` users more who are in USERS only (no interactions)."""
    assert data.users is not None
    extra = pd.DataFrame(
        [(f"new{k}", f"s{k % _SEGMENTS}", 30.0 + 5 * (k % _SEGMENTS)) for k in range(n)], columns=data.users.columns
    )
    return InteractionData(data.interactions, items=data.items, users=pd.concat([data.users, extra]))


def test_deepfm_recommends_new_users_their_segment_from_metadata() -> None:
    data = _new_users(segments(), 20)
    deepfm = get_recipe_class("deepfm")({"epochs": 20}, seed=0).fit(data)
    popular = get_recipe_class("popularity_count")().fit(data)
    new_users = [f"new{k}" for k in range(20)]

    def in_segment(recipe: Recipe) -> float:
        answers = recipe.recommend(new_users, 10)
        return float(np.mean([[i.startswith(f"g{k % _SEGMENTS}_") for i in a.item_ids] for k, a in enumerate(answers)]))

    # popularity is the same list for everyone: about a quarter of it is in any one segment
    assert in_segment(deepfm) > 0.8
    assert in_segment(deepfm) > in_segment(popular) + 0.4


def test_deepfm_learns_the_next_item_from_the_latest_one() -> None:
    train, targets = _split_last(chains(n_users=100))
    deepfm = get_recipe_class("deepfm")({"epochs": 20}, seed=0).fit(InteractionData(train))
    popular = get_recipe_class("popularity_count")().fit(InteractionData(train))
    deepfm_hits, popular_hits = _hit_rate(deepfm, train, targets), _hit_rate(popular, train, targets)
    assert deepfm_hits > 0.4
    assert deepfm_hits > popular_hits + 0.25


@pytest.fixture(scope="module")
def fitted() -> tuple[Recipe, InteractionData]:
    data = segments(n_users=40)
    contexted = data.interactions.assign(DEVICE=np.where(np.arange(len(data.interactions)) % 2, "phone", "web"))
    data = InteractionData(contexted, items=data.items, users=data.users)
    return get_recipe_class("deepfm")({"epochs": 2}, seed=7).fit(data), data


def test_same_seed_gives_identical_scores(fitted: tuple[Recipe, InteractionData]) -> None:
    recipe, data = fitted
    again = type(recipe)(recipe.params, seed=7).fit(data)
    histories = [recipe.user_history(u) for u in ("u0", "u5", "u9")]
    users = ["u0", "u5", "u9"]
    np.testing.assert_array_equal(
        again._score_users(users, histories, {"DEVICE": "web"}),
        recipe._score_users(users, histories, {"DEVICE": "web"}),
    )


def test_saved_model_scores_identically_with_metadata_and_context(
    fitted: tuple[Recipe, InteractionData], tmp_path: Path
) -> None:
    recipe, _ = fitted
    loaded = Recipe.load(recipe.save(tmp_path / "deepfm"))
    users = ["u0", "u5", "nobody"]
    histories = [recipe.user_history(u, ["g1_3"]) for u in users]
    for context in (None, {"DEVICE": "phone"}, {"DEVICE": "never-seen"}):
        np.testing.assert_array_equal(
            loaded._score_users(users, histories, context), recipe._score_users(users, histories, context)
        )
    assert not list(tmp_path.rglob("*.pkl"))


def test_context_and_latest_item_change_the_answer(fitted: tuple[Recipe, InteractionData]) -> None:
    recipe, _ = fitted
    history = [recipe.user_history("u0")]
    web = recipe._score_users(["u0"], history, {"DEVICE": "web"})
    phone = recipe._score_users(["u0"], history, {"DEVICE": "phone"})
    assert not np.array_equal(web, phone)
    before = recipe.recommend(["u0"], 5)[0]
    after = recipe.recommend(["u0"], 5, recent_events={"u0": ["g3_0", "g3_1"]})[0]
    assert before != after
