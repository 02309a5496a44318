"""Splits: the Personalize split (a seeded 10% of users, their newest 10% held out), time and leave-last-out."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsmith.data.sample import SampleFiles
from recsmith.evaluation.split import SplitMethod, split_interactions


@pytest.fixture(scope="module")
def interactions(sample_files: SampleFiles) -> pd.DataFrame:
    return pd.read_csv(sample_files.interactions, dtype={USER_ID: str, ITEM_ID: str})


def test_personalize_split_holds_out_newest_interactions_of_ten_percent(interactions: pd.DataFrame) -> None:
    split = split_interactions(interactions, seed=1)
    test_users = set(split.test[USER_ID])
    assert len(test_users) == round(interactions[USER_ID].nunique() * 0.1)
    for user in test_users:
        kept = split.train[split.train[USER_ID] == user]
        held = split.test[split.test[USER_ID] == user]
        assert kept[TIMESTAMP].max() <= held[TIMESTAMP].min()
        total = len(kept) + len(held)
        assert len(kept) == max(1, min(total - 1, int(total * 0.9)))
    assert len(split.train) + len(split.test) == len(interactions)


def test_split_is_reproducible_and_seeded(interactions: pd.DataFrame) -> None:
    assert split_interactions(interactions, seed=1).split_id == split_interactions(interactions, seed=1).split_id
    assert split_interactions(interactions, seed=1).split_id != split_interactions(interactions, seed=2).split_id


def test_split_is_saved_for_outside_models(interactions: pd.DataFrame, tmp_path: Path) -> None:
    split = split_interactions(interactions, seed=1)
    folder = split.save(tmp_path / "split")
    meta = json.loads((folder / "split.json").read_text())
    assert meta["split_id"] == split.split_id
    assert len(pd.read_parquet(folder / "test.parquet")) == len(split.test)


def test_time_split_cuts_globally(interactions: pd.DataFrame) -> None:
    split = split_interactions(interactions, method=SplitMethod.TIME)
    assert split.train[TIMESTAMP].max() <= split.test[TIMESTAMP].min()
    assert set(split.test[USER_ID]) <= set(split.train[USER_ID])


def test_split_needs_repeat_users() -> None:
    one_each = pd.DataFrame({USER_ID: ["a", "b"], ITEM_ID: ["x", "y"], TIMESTAMP: [1, 2]})
    with pytest.raises(ValueError, match="two or more interactions"):
        split_interactions(one_each)


def test_leave_last_out_holds_out_each_users_newest_interaction(interactions: pd.DataFrame) -> None:
    split = split_interactions(interactions, method=SplitMethod.LEAVE_LAST_OUT)
    counts = interactions.groupby(USER_ID).size()
    assert set(split.test[USER_ID]) == set(counts[counts >= 3].index)
    assert split.test[USER_ID].is_unique
    newest = split.train.groupby(USER_ID)[TIMESTAMP].max()
    held = split.test.set_index(USER_ID)[TIMESTAMP]
    assert (newest.loc[held.index] <= held).all()
    assert len(split.train) + len(split.test) == len(interactions)


def test_leave_last_out_needs_three_interactions_somewhere() -> None:
    short = pd.DataFrame({USER_ID: ["a", "a", "b"], ITEM_ID: ["x", "y", "z"], TIMESTAMP: [1, 2, 3]})
    with pytest.raises(ValueError, match="three or more interactions"):
        split_interactions(short, method=SplitMethod.LEAVE_LAST_OUT)
    short.loc[3] = ["a", "w", 4]
    split = split_interactions(short, method=SplitMethod.LEAVE_LAST_OUT)
    assert split.test[ITEM_ID].tolist() == ["w"] and "a" in set(split.train[USER_ID])
