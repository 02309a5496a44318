"""user_personalization_v2 learns sequences, weighs event types as eventsConfig says, explores new items, and
runs on the device and threads its compute settings name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import InteractionData
from models.base import REASON_EXPLORATION, Compute
from models.columns import CREATION_TIMESTAMP, EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from models.popularity_count.recipe import PopularityCount
from models.user_personalization_v2.recipe import UserPersonalizationV2
from tests.models.test_hrnn import _hit_rate, _split_last, chains

SMALL = {"hidden_dimension": 32, "epochs": 30, "max_length": 16, "learning_rate": 3e-3, "dropout": 0.1}


def test_learns_the_next_item_of_a_chain_where_popularity_cannot() -> None:
    train, targets = _split_last(chains())
    model = UserPersonalizationV2(SMALL, seed=0, compute=Compute(device="cpu", torch_threads=1))
    model.fit(InteractionData(train))
    popular = PopularityCount().fit(InteractionData(train))
    assert _hit_rate(model, train, targets) > 0.6 > 3 * _hit_rate(popular, train, targets)


def branching(view_weight: float | None) -> tuple[UserPersonalizationV2, InteractionData]:
    """After 'A', users view 'C' (three times as often) and purchase 'B'."""
    rows = []
    for u in range(120):
        after = "B" if u % 4 == 0 else "C"
        kind = "purchase" if after == "B" else "view"
        filler = [f"f{(u * 7 + k) % 30}" for k in range(3)]
        for t, (item, event) in enumerate([(f, "view") for f in filler] + [("A", "view"), (after, kind)]):
            rows.append((f"u{u}", item, 1_000 + 60 * t, event, 1.0))
    frame = pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE])
    config = {"events_config": ({"event_type": "view", "weight": view_weight},)} if view_weight is not None else {}
    params = {**SMALL, "target_window": 1, "num_negatives": 0, **config}  # the full softmax path
    return UserPersonalizationV2(params, seed=0).fit(InteractionData(frame)), InteractionData(frame)


def test_event_type_weights_decide_what_is_learned() -> None:
    plain, _ = branching(None)
    weighted, _ = branching(0.05)
    ask = {"newcomer": ["f1", "f2", "A"]}
    assert plain.recommend(["newcomer"], 1, recent_events=ask)[0].item_ids == ["C"]
    assert weighted.recommend(["newcomer"], 1, recent_events=ask)[0].item_ids == ["B"]


def test_events_below_their_types_threshold_are_not_trained_on() -> None:
    frame = pd.DataFrame(
        {
            USER_ID: ["u1", "u1", "u2", "u2"],
            ITEM_ID: ["a", "cheap", "a", "b"],
            TIMESTAMP: [1, 2, 1, 2],
            EVENT_TYPE: ["buy", "buy", "buy", "view"],
            EVENT_VALUE: [20.0, 1.0, 20.0, 0.0],
        }
    )
    params = {"epochs": 1, "events_config": ({"event_type": "buy", "event_value_threshold": 10.0},)}
    model = UserPersonalizationV2(params).fit(InteractionData(frame))
    assert set(model.item_ids_) == {"a", "b"}  # the view has no threshold of its own; the cheap buy is dropped


def test_exploration_gives_places_to_new_items() -> None:
    train, _ = _split_last(chains(n_users=40))
    items = pd.DataFrame({ITEM_ID: sorted(train[ITEM_ID].unique()) + ["fresh1", "fresh2"]})
    fresh = items[ITEM_ID].str.startswith("fresh")  # ITEMS only: created now, never taken
    items[CREATION_TIMESTAMP] = np.where(fresh, int(train[TIMESTAMP].max()), -(10**9))
    params = {**SMALL, "epochs": 2, "exploration_weight": 0.2}
    model = UserPersonalizationV2(params).fit(InteractionData(train, items=items))
    assert set(model.exploration_items()) == {"fresh1", "fresh2"}
    answer = model.recommend(["u1"], 10)[0]
    explored = [item for item, why in zip(answer.item_ids, answer.reasons, strict=True) if why[0] == REASON_EXPLORATION]
    assert sorted(explored) == ["fresh1", "fresh2"]
    assert len(answer) == 10


def test_heads_must_divide_the_hidden_size() -> None:
    with pytest.raises(ValueError, match="hidden_dimension 30 is not a multiple of num_heads"):
        UserPersonalizationV2({"hidden_dimension": 30, "num_heads": 4}).fit(InteractionData(_split_last(chains())[0]))
