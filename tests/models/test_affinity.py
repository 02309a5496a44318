"""User segments: item_affinity and item_attribute_affinity find the planted fans of an item or of a genre."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import InteractionData, Recipe
from models.affinity.recipe import ItemAffinity, ItemAttributeAffinity, match_attributes
from models.base import SegmentQuery, UnsupportedOperation
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from models.sims.recipe import Sims


def fans(seed: int = 0) -> InteractionData:
    """50 SciFi fans take 5 of 20 SciFi films each, 50 drama fans 5 of 20 dramas; s19 is never taken."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(100):
        genre = "s" if u < 50 else "d"
        for t, k in enumerate(rng.choice(19, 5, replace=False)):
            rows.append((f"{genre}fan{u:03d}", f"{genre}{k:02d}", 1_000 + t))
    items = pd.DataFrame(
        {
            ITEM_ID: [f"s{k:02d}" for k in range(20)] + [f"d{k:02d}" for k in range(20)],
            "GENRE": ["SciFi|Action"] * 20 + ["Drama"] * 20,
            "PRICE": [5.0] * 10 + [15.0] * 10 + [5.0] * 20,
        }
    )
    return InteractionData(pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP]), items=items)


def test_the_segment_of_an_item_is_the_fans_of_its_kind_who_have_not_taken_it() -> None:
    data = fans()
    model = ItemAffinity().fit(data)
    segment = model.users_for_items([SegmentQuery(item_id="s03")], n=20)[0]
    holders = set(data.interactions.loc[data.interactions[ITEM_ID] == "s03", USER_ID])
    assert len(segment.user_ids) == 20
    assert all(u.startswith("sfan") for u in segment.user_ids)
    assert not holders & set(segment.user_ids)
    assert segment.scores == sorted(segment.scores, reverse=True)


def test_the_segment_of_an_attribute_is_its_fans_and_conditions_combine(tmp_path: Path) -> None:
    model = ItemAttributeAffinity().fit(fans())
    loaded = Recipe.load(model.save(tmp_path / "model"))
    queries = [
        SegmentQuery(item_attributes='ITEMS.GENRE = "SciFi"'),
        SegmentQuery(item_attributes='ITEMS.genre IN ("Drama") AND ITEMS.PRICE < 10'),
    ]
    scifi, drama = loaded.users_for_items(queries, n=50)
    assert {u[:4] for u in scifi.user_ids} == {"sfan"} and len(scifi.user_ids) == 50
    assert {u[:4] for u in drama.user_ids} == {"dfan"}
    assert scifi == model.users_for_items(queries[:1], n=50)[0]


def test_attribute_expressions_follow_the_documented_rules() -> None:
    columns = ["GENRE", "PRICE"]
    values = np.asarray([["SciFi|Action", "Drama", "Action", ""], ["5", "15", "20", "x"]])
    assert match_attributes('ITEMS.GENRE = "Action"', columns, values).tolist() == [True, False, True, False]
    assert match_attributes('ITEMS.GENRE != "Action"', columns, values).tolist() == [False, True, False, True]
    query = 'ITEMS.PRICE >= 15 AND ITEMS.GENRE = "Action" OR ITEMS.GENRE = "Drama"'
    assert match_attributes(query, columns, values).tolist() == [False, True, True, False]
    assert match_attributes('ITEMS.GENRE NOT IN ("Drama", "SciFi")', columns, values).tolist() == [
        False,
        False,
        True,
        True,
    ]
    with pytest.raises(ValueError, match="unknown field 'COLOR'; fields: GENRE, PRICE"):
        match_attributes('ITEMS.COLOR = "red"', columns, values)
    with pytest.raises(ValueError, match="cannot read 'GENRE = Action'"):
        match_attributes("GENRE = Action", columns, values)


def test_queries_of_the_wrong_kind_and_recipes_without_segments_are_refused() -> None:
    data = fans()
    with pytest.raises(ValueError, match="item_affinity answers itemId queries"):
        ItemAffinity().fit(data).users_for_items([SegmentQuery(item_attributes='ITEMS.GENRE = "Drama"')])
    with pytest.raises(ValueError, match="answers itemAttributes queries"):
        ItemAttributeAffinity().fit(data).users_for_items([SegmentQuery(item_id="s01")])
    with pytest.raises(UnsupportedOperation, match="cannot answer user-segment queries"):
        Sims().fit(data).users_for_items([SegmentQuery(item_id="s01")])
    with pytest.raises(ValueError, match="needs an ITEMS dataset"):
        ItemAttributeAffinity().fit(InteractionData(data.interactions))
