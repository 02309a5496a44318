"""trending_now finds a planted burst within one window, where popularity does not, and folds new events in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import InteractionData
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from models.popularity_count.recipe import PopularityCount
from models.trending_now.recipe import TrendingNow, TrendingNowParams

HOUR = 3_600


def steady_traffic(hours: int = 10, seed: int = 0) -> pd.DataFrame:
    """Ten hours of events on 30 items with Zipf-like popularity, the same rate every hour."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 31)
    rows = []
    for k in range(hours * 200):
        item = int(rng.choice(30, p=weights / weights.sum()))
        rows.append((f"u{rng.integers(500)}", f"i{item:02d}", k * hours * HOUR // (hours * 200)))
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP])


def burst(start: int, count: int = 40, item: str = "burst") -> pd.DataFrame:
    """``count`` events on ``item`` spread over the half hour from ``start``."""
    times = start + np.linspace(0, 1_799, count).astype(int)
    return pd.DataFrame({USER_ID: [f"b{k}" for k in range(count)], ITEM_ID: item, TIMESTAMP: times})


def test_a_burst_in_the_last_window_tops_the_trend_but_not_popularity() -> None:
    frame = pd.concat([steady_traffic(), burst(9 * HOUR + 1_800)], ignore_index=True)
    data = InteractionData(frame)
    trending = TrendingNow(TrendingNowParams(trend_discovery_frequency="1 hour")).fit(data)
    assert trending.trending_items(1) == ["burst"]
    assert "burst" not in PopularityCount().fit(data).popular_items(3).item_ids
    # with windows of a day both windows hold all ten hours: no growth to see, and the trend is popularity
    daily = TrendingNow(TrendingNowParams(trend_discovery_frequency="1 day")).fit(data)
    assert daily.trending_items(3) == PopularityCount().fit(data).popular_items(3).item_ids


def test_events_since_training_move_the_trend_without_a_refit() -> None:
    model = TrendingNow(TrendingNowParams(trend_discovery_frequency="1 hour")).fit(InteractionData(steady_traffic()))
    assert "late" not in model.trending_items(5)
    model.apply_delta(added=burst(10 * HOUR, item="late"))  # the next half hour, as PutEvents deliver it
    assert model.trending_items(1) == ["late"]
    assert model.reference_time_ == 10 * HOUR + 1_799


def test_unknown_frequency_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="'30 minutes', '1 hour', '2 hours', '3 hours' or '1 day'"):
        TrendingNowParams(trend_discovery_frequency="5 minutes")  # type: ignore[arg-type]
