"""Reproducible train/test splits, saved beside the metrics so any outside model can be scored on them.

``personalize`` (the default) is Personalize's documented procedure: a seeded random 10% of the users with at
least two interactions are test users; for each, the oldest 90% of their interactions (at least one) are input
and the newest 10% (at least one) are ground truth. Everything else is training data. ``time`` is a global time
cut: interactions after the ``test_fraction`` quantile of timestamps are ground truth for users seen before it.
``leave-last-out`` holds out each user's newest interaction (users with at least three interactions, so two stay
as input): AutoML and HPO choose on it, because it scores every user instead of a tenth of them, and on
MovieLens a tenth (61 users) was too few to tell two recipes apart (bench/results/automl-validation.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from models.columns import ITEM_ID, TIMESTAMP, USER_ID


class SplitMethod(StrEnum):
    PERSONALIZE = "personalize"
    TIME = "time"
    LEAVE_LAST_OUT = "leave-last-out"


@dataclass(frozen=True)
class Split:
    """Training rows (including the test users' input rows) and each test user's ground-truth items."""

    train: pd.DataFrame
    test: pd.DataFrame
    method: SplitMethod
    seed: int
    test_fraction: float

    @property
    def split_id(self) -> str:
        """A content hash: the same data, method and seed give the same id."""
        digest = hashlib.sha256()
        digest.update(f"{self.method}:{self.seed}:{self.test_fraction}".encode())
        for frame in (self.train, self.test):
            cols = frame[[USER_ID, ITEM_ID, TIMESTAMP]]
            digest.update(pd.util.hash_pandas_object(cols, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]

    def ground_truth(self) -> dict[str, set[str]]:
        return {str(u): set(map(str, g)) for u, g in self.test.groupby(USER_ID, sort=True)[ITEM_ID]}

    def save(self, folder: Path) -> Path:
        """Write ``train.parquet``, ``test.parquet`` and ``split.json`` to ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.train.to_parquet(folder / "train.parquet", index=False)
        self.test.to_parquet(folder / "test.parquet", index=False)
        meta = {
            "split_id": self.split_id,
            "method": self.method.value,
            "seed": self.seed,
            "test_fraction": self.test_fraction,
            "train_rows": len(self.train),
            "test_rows": len(self.test),
            "test_users": int(self.test[USER_ID].nunique()),
        }
        (folder / "split.json").write_text(json.dumps(meta, indent=2))
        return folder


def split_interactions(
    interactions: pd.DataFrame,
    method: SplitMethod = SplitMethod.PERSONALIZE,
    seed: int = 42,
    test_fraction: float = 0.1,
) -> Split:
    """Split interactions for offline evaluation; deterministic for the same data and seed."""
    frame = interactions.astype({USER_ID: str, ITEM_ID: str})
    frame = frame.sort_values([USER_ID, TIMESTAMP, ITEM_ID], kind="stable").reset_index(drop=True)
    if method is SplitMethod.TIME:
        return _time_split(frame, seed, test_fraction)
    if method is SplitMethod.LEAVE_LAST_OUT:
        return _leave_last_out(frame, seed)
    counts = frame.groupby(USER_ID, sort=True).size()
    eligible = counts[counts >= 2].index.to_numpy()
    if len(eligible) == 0:
        raise ValueError("no user has two or more interactions; cannot hold out a test set")
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(len(eligible) * test_fraction)))
    test_users = set(rng.choice(eligible, size=n_test, replace=False).tolist())
    position = frame.groupby(USER_ID, sort=False).cumcount().to_numpy()
    size = frame[USER_ID].map(counts).to_numpy()
    n_input = np.clip(np.floor(size * (1 - test_fraction)), 1, size - 1)
    is_test_user = frame[USER_ID].isin(test_users).to_numpy()
    held_out = is_test_user & (position >= n_input)
    return Split(
        train=frame[~held_out].reset_index(drop=True),
        test=frame[held_out].reset_index(drop=True),
        method=method,
        seed=seed,
        test_fraction=test_fraction,
    )


def _time_split(frame: pd.DataFrame, seed: int, test_fraction: float) -> Split:
    cut = frame[TIMESTAMP].quantile(1 - test_fraction)
    after = frame[TIMESTAMP] > cut
    known_users = set(frame.loc[~after, USER_ID])
    test = frame[after & frame[USER_ID].isin(known_users)]
    return Split(
        train=frame[~after].reset_index(drop=True),
        test=test.reset_index(drop=True),
        method=SplitMethod.TIME,
        seed=seed,
        test_fraction=test_fraction,
    )


def _leave_last_out(frame: pd.DataFrame, seed: int) -> Split:
    """Each user's newest interaction (ties: the larger ITEM_ID, by the sort above) is ground truth."""
    size = frame.groupby(USER_ID, sort=False)[ITEM_ID].transform("size").to_numpy()
    position = frame.groupby(USER_ID, sort=False).cumcount().to_numpy()
    held_out = (position == size - 1) & (size >= 3)
    if not held_out.any():
        raise ValueError("no user has three or more interactions; cannot hold out each user's last one")
    return Split(
        train=frame[~held_out].reset_index(drop=True),
        test=frame[held_out].reset_index(drop=True),
        method=SplitMethod.LEAVE_LAST_OUT,
        seed=seed,
        test_fraction=0.0,
    )
