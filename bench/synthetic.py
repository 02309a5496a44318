"""Synthetic interactions at any scale, with planted structure so that accuracy can be checked.

- Items have Zipf-like popularity (exponent ``--zipf``): item k is drawn with probability proportional to
  ``(k + 1) ** -zipf``, so a few items take most interactions, as in real catalogues.
- Each item has ``successors`` planted next items (drawn with the same popularity bias). Users browse in
  sessions: the first item of a session is a popular draw, and each next item is, with probability
  ``--follow``, one of the previous item's planted successors, otherwise a fresh popular draw. So "what comes
  next" is learnable (a sequential recipe should find the successors), and a popularity model is not enough.
- History lengths are log-normal around ``interactions / users``; sessions are 1-15 items, 20 s to 5 min
  apart within a session and 2 h to 3 days apart between sessions, starting over a year.

Generation is vectorised over users, position by position, so 20M interactions take about a minute and a few
GB; ids are strings (``u<k>``, ``i<k>``) as recipes take them. The planted successors are returned, so a
benchmark can score "is the next item one of the planted successors".

    .venv/bin/python bench/synthetic.py --interactions 20000000 --users 1000000 --items 100000 --out /tmp/syn.parquet
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

from models.columns import ITEM_ID, TIMESTAMP, USER_ID  # noqa: E402

START = 1_700_000_000


@dataclass(frozen=True)
class Synthetic:
    """The interactions (codes and timestamps) and the planted successors of each item."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    successors: np.ndarray

    def frame(self) -> pd.DataFrame:
        """As recipes take it: string ids, integer timestamps."""
        return pd.DataFrame(
            {
                USER_ID: np.char.add("u", self.users.astype(str)).astype(object),
                ITEM_ID: np.char.add("i", self.items.astype(str)).astype(object),
                TIMESTAMP: self.timestamps,
            }
        )


def generate(
    interactions: int,
    users: int,
    items: int,
    *,
    zipf: float = 0.9,
    successors: int = 3,
    follow: float = 0.6,
    seed: int = 0,
) -> Synthetic:
    """About ``interactions`` events of ``users`` users over ``items`` items (see the module docstring)."""
    rng = np.random.default_rng(seed)
    weights = (np.arange(items) + 1.0) ** -zipf
    cdf = np.cumsum(weights / weights.sum())

    def popular(n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random(n)), items - 1).astype(np.int32)

    planted = popular(items * successors).reshape(items, successors)
    mean = max(interactions / users, 1.0)
    lengths = np.maximum(1, np.round(rng.lognormal(np.log(mean) - 0.32, 0.8, users))).astype(np.int64)
    lengths = np.maximum(1, np.round(lengths * interactions / lengths.sum())).astype(np.int64)
    total = int(lengths.sum())
    user_codes = np.repeat(np.arange(users, dtype=np.int32), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    position = np.arange(total) - np.repeat(starts, lengths)
    item_codes = np.empty(total, dtype=np.int32)
    # session boundaries: each event starts a new session with probability 1/6 (the first always does)
    new_session = (rng.random(total) < 1 / 6) | (position == 0)
    gaps = np.where(new_session, rng.integers(7_200, 259_200, total), rng.integers(20, 300, total))
    gaps[position == 0] = 0
    first = START + rng.integers(0, 365 * 86_400, users)
    timestamps = np.repeat(first, lengths) + _cumsum_by_user(gaps, starts, lengths)
    longest = int(lengths.max())
    follow_draw = rng.random(total) < follow
    by_length = np.argsort(-lengths, kind="stable")  # users still active at step t are a prefix of this order
    sorted_starts = starts[by_length]
    still = len(lengths) - np.cumsum(np.bincount(lengths, minlength=longest + 1))  # users longer than t
    for t in range(longest):
        at = sorted_starts[: still[t]] + t
        if t == 0:
            item_codes[at] = popular(len(at))
            continue
        prev = item_codes[at - 1]
        chained = follow_draw[at] & ~new_session[at]
        pick = rng.integers(0, successors, len(at))
        item_codes[at] = np.where(chained, planted[prev, pick], popular(len(at)))
    return Synthetic(user_codes, item_codes, timestamps.astype(np.int64), planted)


def _cumsum_by_user(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    offset = np.repeat(total[starts] - values[starts], lengths)
    return total - offset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="Parquet file to write")
    args = parser.parse_args()
    started = time.perf_counter()
    data = generate(args.interactions, args.users, args.items, seed=args.seed)
    frame = data.frame()
    frame.to_parquet(args.out, index=False)
    seconds = time.perf_counter() - started
    print(f"{len(frame):,} interactions, {args.users:,} users, {args.items:,} items in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
