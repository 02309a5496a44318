"""hrnn learns sequences and session context that co-occurrence and popularity cannot; it is reproducible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import InteractionData, Recipe, get_recipe_class
from models.columns import ITEM_ID, TIMESTAMP, USER_ID

_GAP = 10_000  # seconds between sessions: more than the default session_gap_seconds


def _frame(sessions_by_user: dict[str, list[list[str]]]) -> pd.DataFrame:
    rows = []
    for user, sessions in sessions_by_user.items():
        clock = 0
        for session in sessions:
            for item in session:
                rows.append((user, item, clock))
                clock += 30
            clock += _GAP
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP])


def _hit_rate(recipe: Recipe, frame: pd.DataFrame, targets: dict[str, str], n: int = 10) -> float:
    users = sorted(targets)
    answers = recipe.recommend(users, n)
    return float(np.mean([targets[u] in a.item_ids for u, a in zip(users, answers, strict=True)]))


def _split_last(sessions_by_user: dict[str, list[list[str]]]) -> tuple[pd.DataFrame, dict[str, str]]:
    frame = _frame(sessions_by_user)
    last = frame.groupby(USER_ID).tail(1)
    return frame.drop(last.index), dict(zip(last[USER_ID], last[ITEM_ID], strict=True))


def chains(seed: int = 0, n_chains: int = 12, chain_length: int = 12, n_users: int = 150) -> dict:
    """Items form chains c0 -> c1 -> ...; each session walks a chain from a random point."""
    rng = np.random.default_rng(seed)
    data = {}
    for u in range(n_users):
        sessions = []
        for _ in range(3):
            chain = rng.integers(n_chains)
            start = rng.integers(chain_length - 5)
            sessions.append([f"c{chain}_{k}" for k in range(start, start + rng.integers(3, 6))])
        data[f"u{u}"] = sessions
    return data


def worlds(seed: int = 0, n_worlds: int = 4, world_size: int = 25, n_users: int = 150) -> dict:
    """Every user visits every world, one world per session: the next item is from the current session's world.

    Co-occurrence over whole user histories links every world to every other, so it cannot tell which world
    the user is in now; a session model can.
    """
    rng = np.random.default_rng(seed)
    data = {}
    for u in range(n_users):
        data[f"u{u}"] = [
            [f"w{w}_{i}" for i in rng.choice(world_size, size=6, replace=False)] for w in rng.permutation(n_worlds)
        ]
    return data


def test_hrnn_learns_next_item_of_a_chain() -> None:
    train, targets = _split_last(chains())
    hrnn = get_recipe_class("hrnn")(seed=0).fit(InteractionData(train))
    popular = get_recipe_class("popularity_count")().fit(InteractionData(train))
    hrnn_hits, popular_hits = _hit_rate(hrnn, train, targets), _hit_rate(popular, train, targets)
    assert hrnn_hits > 0.6
    assert hrnn_hits > popular_hits + 0.4


def test_hrnn_follows_the_current_session_where_sims_cannot() -> None:
    train, targets = _split_last(worlds())
    hrnn = get_recipe_class("hrnn")(seed=0).fit(InteractionData(train))
    sims = get_recipe_class("sims")().fit(InteractionData(train))
    hrnn_hits, sims_hits = _hit_rate(hrnn, train, targets), _hit_rate(sims, train, targets)
    # chance within the right world is about 10 / 20; over all unseen items about 10 / 77
    assert hrnn_hits > 0.3
    assert hrnn_hits > sims_hits + 0.15


@pytest.fixture(scope="module")
def fitted() -> tuple[Recipe, pd.DataFrame]:
    train, _ = _split_last(chains(n_users=40))
    return get_recipe_class("hrnn")({"epochs": 3}, seed=7).fit(InteractionData(train)), train


def test_same_seed_gives_identical_scores(fitted: tuple[Recipe, pd.DataFrame]) -> None:
    recipe, train = fitted
    again = type(recipe)(recipe.params, seed=7).fit(InteractionData(train))
    histories = [recipe.user_history(u) for u in ("u0", "u5", "u9")]
    np.testing.assert_array_equal(again._score(histories, None), recipe._score(histories, None))


def test_saved_model_scores_identically(fitted: tuple[Recipe, pd.DataFrame], tmp_path: Path) -> None:
    recipe, _ = fitted
    loaded = Recipe.load(recipe.save(tmp_path / "hrnn"))
    histories = [recipe.user_history(u, ["c1_3"]) for u in ("u0", "u5", "nobody")]
    np.testing.assert_array_equal(loaded._score(histories, None), recipe._score(histories, None))
    assert not list(tmp_path.rglob("*.pkl"))


def test_new_event_changes_the_answer(fitted: tuple[Recipe, pd.DataFrame]) -> None:
    recipe, _ = fitted
    before = recipe.recommend(["u0"], 5)[0]
    after = recipe.recommend(["u0"], 5, recent_events={"u0": ["c3_0", "c3_1"]})[0]
    assert before != after


def test_unknown_user_gets_popular_items(fitted: tuple[Recipe, pd.DataFrame]) -> None:
    recipe, _ = fitted
    assert recipe.recommend(["nobody"], 5)[0].item_ids == recipe.popular_items(5).item_ids


def test_explanations_name_one_of_the_latest_items(fitted: tuple[Recipe, pd.DataFrame]) -> None:
    recipe, _ = fitted
    history = recipe.user_history("u0", ["c3_0", "c3_1"])
    items = np.asarray([recipe.item_index_["c3_2"], recipe.item_index_["c5_4"]])
    because = recipe._explain(history, items)
    assert len(because) == 2
    assert all(index in set(history[-10:].tolist()) for index in because)
    assert recipe._explain(np.empty(0, dtype=np.int32), items) == [None, None]
