"""Generated series for the Forecast tests: hourly, a daily cycle, a weekly swing and noise, three items."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.forecast.base import Series, SeriesSet

START = pd.Timestamp("2024-01-01 00:00:00")


def demand(hours: int, level: float, seed: int) -> np.ndarray:
    """An hourly demand curve: a daily cycle, a weekday/weekend swing, noise; never negative."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    daily = np.sin(2 * np.pi * t / 24)
    weekly = np.where((t // 24) % 7 >= 5, -0.3, 0.1)
    return np.maximum(level * (1 + 0.4 * daily + weekly) + rng.normal(0, 0.05 * level, hours), 0.0)


def write_demand_csv(path: Path, hours: int = 24 * 21, items: tuple[str, ...] = ("a", "b", "c")) -> Path:
    """Forecast's getting-started layout: no header; timestamp, target_value, item_id."""
    rows = []
    for n, item in enumerate(items):
        values = demand(hours, 10.0 * (n + 1), seed=n)
        stamps = pd.date_range(START, periods=hours, freq="h").strftime("%Y-%m-%d %H:%M:%S")
        rows.append(pd.DataFrame({"timestamp": stamps, "target_value": values, "item_id": item}))
    pd.concat(rows).to_csv(path, header=False, index=False)
    return path


@pytest.fixture
def hourly_series() -> SeriesSet:
    """Two series of 14 days of hours."""
    return SeriesSet((Series("a", START, demand(24 * 14, 10.0, 0)), Series("b", START, demand(24 * 14, 50.0, 1))), "H")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """The neural forecasters train with one torch thread here, as a predictor's workers do (on two busy cores,
    two threads per process made an LSTM 7x slower); the previous setting is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
