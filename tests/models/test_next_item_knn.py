"""next_item_knn on generated histories with a planted order: it knows what comes *next*, SIMS does not.

The plant: 20 users take A and right after it B; 30 users take Z, then ten other items, then A (Z and A are
far apart in time, but in the same history). SIMS, blind to order and distance, finds Z the closest item to
A (30 co-users against 20); next_item_knn finds B, the item that follows A. A second pair, C then D, lets a
new event move the answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.base import REASON_MODEL, InteractionData, because_of
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from models.next_item_knn.recipe import NextItemKnn, NextItemKnnParams
from models.next_item_knn.transitions import transition_counts
from models.popularity_count.recipe import PopularityCount
from models.sims.recipe import Sims


def planted(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def some(pool: str, k: int) -> list[str]:
        return [f"{pool}{x:03d}" for x in rng.choice(150, size=k, replace=False)]

    histories: dict[str, list[str]] = {}
    for u in range(20):
        histories[f"ab{u}"] = [*some("f", 3), "A", "B", *some("f", 2)]
    for u in range(30):
        histories[f"za{u}"] = ["Z", *some("f", 10), "A"]
    for u in range(15):
        histories[f"cd{u}"] = [*some("f", 3), "C", "D"]
    for u in range(60):  # "pop" is the most popular item, taken by users of other items ("g")
        histories[f"p{u}"] = [*some("g", 4), "pop"]
    histories["target"] = [*some("f", 2), "A"]  # has taken A; neither B nor Z
    rows = [(user, item, 1_000 + 60 * t) for user, items in histories.items() for t, item in enumerate(items)]
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP])


@pytest.fixture(scope="module")
def data() -> InteractionData:
    return InteractionData(planted())


@pytest.fixture(scope="module")
def knn(data: InteractionData) -> NextItemKnn:
    return NextItemKnn(seed=1).fit(data)


def test_recommends_what_follows_where_popularity_and_sims_cannot(data: InteractionData, knn: NextItemKnn) -> None:
    assert knn.recommend(["target"], 1)[0].item_ids == ["B"]
    assert Sims().fit(data).recommend(["target"], 1)[0].item_ids == ["Z"]
    assert PopularityCount().fit(data).recommend(["target"], 1)[0].item_ids == ["pop"]


def test_order_matters_not_only_co_occurrence(data: InteractionData) -> None:
    # without the co-occurrence blend the table is transitions alone: B follows A, A precedes B
    knn = NextItemKnn(NextItemKnnParams(cooccurrence_weight=0.0, backward_weight=0.5)).fit(data)
    a, b = knn.item_index_["A"], knn.item_index_["B"]
    forward = knn.similarity_[a][(knn.neighbors_[a] == b) & np.isfinite(knn.similarity_[a])]  # empty slots: -inf
    backward = knn.similarity_[b][(knn.neighbors_[b] == a) & np.isfinite(knn.similarity_[b])]
    assert forward == pytest.approx(2 * backward)


def test_events_since_training_change_the_answer_and_the_reason(knn: NextItemKnn) -> None:
    before = knn.recommend(["target"], 3)[0]
    assert before.item_ids[0] == "B"
    assert before.reasons_of(0) == [REASON_MODEL, because_of("A")]
    after = knn.recommend(["target"], 3, recent_events={"target": ["C"]})[0]
    assert after.item_ids[0] == "D"
    assert after.reasons_of(0) == [REASON_MODEL, because_of("C")]
    assert "C" not in after.item_ids  # the new event counts as seen
    # a user unknown at training time is personal from their first event on
    newcomer = knn.recommend(["newcomer"], 1, recent_events={"newcomer": ["A"]})[0]
    assert newcomer.item_ids == ["B"] and newcomer.reasons_of(0) == [REASON_MODEL, because_of("A")]


def test_every_reason_names_one_of_the_users_own_latest_items(knn: NextItemKnn) -> None:
    params: NextItemKnnParams = knn.params  # type: ignore[assignment]
    for user in ["ab3", "za7", "cd2", "target"]:
        history = knn.item_ids_[knn.user_history(user)].tolist()
        answer = knn.recommend([user], 10)[0]
        for k in range(len(answer)):
            reasons = answer.reasons_of(k)
            if reasons[0] == REASON_MODEL:
                assert len(reasons) == 2
                assert reasons[1].removeprefix("Because of item ") in history[-params.recent_items :]


def test_same_data_and_seed_give_the_same_model(data: InteractionData, knn: NextItemKnn) -> None:
    again = NextItemKnn(seed=1).fit(InteractionData(planted()))
    np.testing.assert_array_equal(again.neighbors_, knn.neighbors_)
    np.testing.assert_array_equal(again.similarity_, knn.similarity_)
    users = ["ab1", "za2", "target"]
    assert again.recommend(users, 5) == knn.recommend(users, 5)


def test_transitions_weigh_distance_direction_and_ties() -> None:
    # one user: x at t=0, y at t=10, z at t=10 (tied with y)
    users = np.zeros(3, dtype=np.int64)
    items = np.array([0, 1, 2])
    times = np.array([0, 10, 10])
    t = transition_counts(users, items, times, 3, window=2, distance_exponent=1.0, backward_weight=0.5).toarray()
    assert t[0, 1] == 1.0 and t[1, 0] == 0.5  # x then y, one apart: forward 1, backward 0.5
    assert t[0, 2] == 0.5 and t[2, 0] == 0.25  # x then z, two apart: halved
    assert t[1, 2] == t[2, 1] == 0.75  # tied: no direction, the mean of both ways
    assert np.all(np.diag(t) == 0)
    short = transition_counts(users, items, times, 3, window=1, distance_exponent=1.0, backward_weight=0.5)
    assert short.toarray()[0, 2] == 0.0  # beyond the window
