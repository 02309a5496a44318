"""hrnn_coldstart puts new items, which nobody has taken yet, into answers, and says which ones they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import InteractionData, Recipe, get_recipe_class
from models.columns import CREATION_TIMESTAMP, ITEM_ID, TIMESTAMP
from tests.models.test_hrnn_metadata import PARAMS, planted

DAY = 86_400


def with_creation_times() -> InteractionData:
    """planted()'s data; the cold items were created a day before the newest event, the others a year before."""
    data = planted(n_users=40)
    newest = int(data.interactions[TIMESTAMP].max())
    items = data.items.copy()  # type: ignore[union-attr]
    cold = items[ITEM_ID].str.contains("_c")
    items[CREATION_TIMESTAMP] = np.where(cold, newest - DAY, newest - 365 * DAY)
    return InteractionData(data.interactions, items=items, users=data.users)


@pytest.fixture(scope="module")
def fitted() -> Recipe:
    return get_recipe_class("hrnn_coldstart")(PARAMS, seed=2).fit(with_creation_times())


def test_new_items_appear_in_recommendations(fitted: Recipe) -> None:
    new = set(fitted.exploration_items())  # type: ignore[attr-defined]
    assert new == {f"g{g}_c{k}" for g in range(4) for k in range(5)}
    answers = fitted.recommend(["u0", "u1", "new2"], 10)
    for answer in answers:
        assert len(answer) == 10 and len(set(answer.item_ids)) == 10
        # round(0.3 * 10) places are kept for new items; relevance may rank more of them in its own places
        assert sum(item in new for item in answer.item_ids) >= 3
    # the explored places are spread through the list, not all at the end
    assert answers[0].item_ids[2] in new


def test_only_exploration_places_say_exploration(fitted: Recipe) -> None:
    indices = np.asarray([fitted.item_index_["g0_c1"], fitted.item_index_["g0_w1"]])
    assert fitted.is_new(indices).tolist() == [True, False]  # type: ignore[attr-defined]
    weight = fitted.params.exploration_weight  # type: ignore[attr-defined]
    for answer in fitted.recommend(["u0", "u1", "new2"], 10):
        flagged = [r[0] == "Exploration" for r in answer.reasons]
        assert sum(flagged) == int(round(weight * 10))  # the places handed to exploration, no more
        new = set(fitted.exploration_items())  # type: ignore[attr-defined]
        assert all(item in new for item, f in zip(answer.item_ids, flagged, strict=True) if f)


def test_weight_zero_answers_as_hrnn_metadata() -> None:
    data = with_creation_times()
    params = {**PARAMS, "exploration_weight": 0.0}
    coldstart = get_recipe_class("hrnn_coldstart")(params, seed=2).fit(data)
    metadata_params = {k: v for k, v in params.items() if k != "exploration_weight"}
    metadata = get_recipe_class("hrnn_metadata")(metadata_params, seed=2).fit(data)
    users = ["u0", "u1", "new2"]
    assert coldstart.recommend(users, 10) == metadata.recommend(users, 10)


def test_exploration_survives_save_load_and_put_items(fitted: Recipe, tmp_path: Path) -> None:
    loaded = Recipe.load(fitted.save(tmp_path / "model"))
    assert loaded.recommend(["u0", "u5"], 10) == fitted.recommend(["u0", "u5"], 10)
    newest = int(with_creation_times().interactions[TIMESTAMP].max())
    late = pd.DataFrame(
        {ITEM_ID: ["fresh", "stale"], "GENRES": ["genre0|film"] * 2, CREATION_TIMESTAMP: [newest, newest - 365 * DAY]}
    )
    added = loaded.add_items(late)  # type: ignore[attr-defined]
    assert added == ["fresh", "stale"]
    assert "fresh" in loaded.exploration_items()  # type: ignore[attr-defined]
    assert "stale" not in loaded.exploration_items()  # type: ignore[attr-defined]
