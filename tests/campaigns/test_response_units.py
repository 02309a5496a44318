"""Unit tests of the response pieces: promotion spreading and validation, and the reasons recipes give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import InteractionData, get_recipe_class
from models.base import REASON_MODEL, REASON_NOT_SCORED, REASON_POPULAR, Recipe
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsmith.campaigns.item_metadata import requested_columns
from recsmith.campaigns.promotions import interleave, parse_promotions, promoted_count, promotion_slots
from recsmith.errors import InvalidInputError


@pytest.mark.parametrize(
    ("n", "percent", "count"), [(10, 10, 1), (10, 11, 2), (25, 20, 5), (1, 1, 1), (100, 7, 7), (7, 100, 7)]
)
def test_promoted_count_is_the_ceiling(n: int, percent: int, count: int) -> None:
    assert promoted_count(n, percent) == count


@pytest.mark.parametrize(
    ("length", "promoted", "slots"),
    [(10, 1, [5]), (10, 2, [2, 7]), (10, 3, [1, 5, 8]), (4, 4, [0, 1, 2, 3]), (25, 5, [2, 7, 12, 17, 22]), (3, 0, [])],
)
def test_promoted_items_are_spread_evenly(length: int, promoted: int, slots: list[int]) -> None:
    assert promotion_slots(length, promoted) == slots


def test_interleave_keeps_both_orders_and_fills_when_one_side_runs_short() -> None:
    merged = interleave(["P1", "P2"], ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"], 10)
    assert [item for item, _ in merged] == ["r1", "r2", "P1", "r3", "r4", "r5", "r6", "P2", "r7", "r8"]
    assert [flag for _, flag in merged].count(True) == 2
    # only one promoted item exists although two were asked for: it sits in the middle of 6
    assert [i for i, _ in interleave(["P1"], ["r1", "r2", "r3", "r4", "r5"], 6)] == ["r1", "r2", "r3", "P1", "r4", "r5"]
    # too few regular items: promoted ones fill the rest
    assert [i for i, _ in interleave(["P1", "P2", "P3"], ["r1"], 4)] == ["P1", "r1", "P2", "P3"]


@pytest.mark.parametrize(
    ("promotions", "message"),
    [
        ([{"name": "a", "percentPromotedItems": 9, "filterArn": "f"}] * 2, "'promotions' .*less than or equal to 1"),
        ([{"name": "a", "percentPromotedItems": 0, "filterArn": "f"}], "Value '0' at 'promotions.1.member.percent"),
        ([{"name": "a", "percentPromotedItems": 101, "filterArn": "f"}], "less than or equal to 100"),
        ([{"name": "-a", "percentPromotedItems": 5, "filterArn": "f"}], "regular expression pattern"),
        ([{"name": "a" * 64, "percentPromotedItems": 5, "filterArn": "f"}], "length less than or equal to 63"),
        ([{"name": "a", "percentPromotedItems": 5}], "filterArn is required"),
        ([{"percentPromotedItems": 5, "filterArn": "f"}], "name is required"),
        ([{"name": "a", "percentPromotedItems": "5", "filterArn": "f"}], "must be an integer"),
        ([{"name": "a", "percentPromotedItems": 5, "filterArn": "f", "extra": 1}], "unknown field 'extra'"),
    ],
)
def test_bad_promotions_are_refused_as_personalize_refuses_them(promotions: list[dict], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_promotions(promotions)


def test_metadata_columns_accept_items_only() -> None:
    assert requested_columns({"ITEMS": ["GENRES", "GENRES", "PRICE"]}) == ["GENRES", "PRICE"]
    assert requested_columns(None) == []
    with pytest.raises(InvalidInputError, match="dataset type 'USERS' is not supported"):
        requested_columns({"USERS": ["AGE"]})
    with pytest.raises(InvalidInputError, match="less than or equal to 99"):
        requested_columns({"ITEMS": [f"C{k}" for k in range(100)]})


def _interactions() -> pd.DataFrame:
    """'x' and 'y' are taken together by four users; 'a' by everyone else; 'solo' once; 'b' with 'a'."""
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
    rows.append(("u9", "solo", clock + 5))
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP])


@pytest.fixture(scope="module")
def sims() -> Recipe:
    return get_recipe_class("sims")(seed=1).fit(InteractionData(_interactions()))


def test_sims_reasons_name_the_history_item_and_mark_backfill(sims: Recipe) -> None:
    answer = sims.recommend(["newcomer"], 4, recent_events={"newcomer": ["x"]})[0]
    assert answer.item_ids[0] == "y"
    assert answer.reasons[0] == [REASON_MODEL, "Because of item x"]
    # nothing else co-occurs with x often enough: the rest is popularity backfill, and says so
    assert all(reasons == [REASON_POPULAR] for reasons in answer.reasons[1:])
    assert sims.popular_items(3).reasons == [[REASON_POPULAR]] * 3
    assert sims.recommend(["nobody"], 2)[0].reasons == [[REASON_POPULAR]] * 2


def test_sims_names_the_item_that_contributed_most(sims: Recipe) -> None:
    # the user took 'b' long ago and 'x' last; 'y' is explained by 'x', 'a' by 'b'
    answer = sims.recommend(["newcomer"], 2, recent_events={"newcomer": ["b", "x"]})[0]
    because = dict(zip(answer.item_ids, answer.reasons, strict=True))
    assert because["y"] == [REASON_MODEL, "Because of item x"]
    assert because["a"] == [REASON_MODEL, "Because of item b"]
    assert sims._explain(np.asarray([sims.item_index_["solo"]]), np.asarray([0])) == [None]


def test_ranking_reasons_cover_every_item(sims: Recipe) -> None:
    ranked = sims.rank("u6", ["a", "unknown", "solo"])
    assert ranked.item_ids[-1] == "unknown" and ranked.reasons[-1] == [REASON_NOT_SCORED]
    assert all(r for r in ranked.reasons)


def test_a_popularity_recipe_scores_everything_itself() -> None:
    recipe = get_recipe_class("popularity_count")().fit(InteractionData(_interactions()))
    assert recipe.recommend(["u0"], 2)[0].reasons == [[REASON_MODEL], [REASON_MODEL]]
