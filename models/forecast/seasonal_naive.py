"""Seasonal naive: each future step repeats the value one season earlier (the same hour of the previous day for
hourly data). The baseline the benchmarks measure every algorithm against; it is not an AutoPredictor candidate.

Its quantiles are the point forecast itself (a point forecast has no spread), so its weighted quantile loss is
what a forecaster that ignores uncertainty scores.
"""

from __future__ import annotations

import numpy as np

from models.forecast.base import Forecaster, Prediction, SeriesSet


class SeasonalNaive(Forecaster):
    """``y[T + h] = y[T + h - m * ceil(h / m)]`` with ``m`` the frequency's season (the last value if shorter)."""

    algorithm = "Seasonal_Naive"

    def _fit(self, data: SeriesSet) -> None:
        """Nothing to learn: the forecast is read off the context."""

    def _predict(self, context: SeriesSet, horizon: int, quantiles: tuple[float, ...]) -> dict[str, Prediction]:
        out = {}
        for series in context.series:
            season = context.season if len(series.values) >= context.season else 1
            last = series.values[-season:]
            point = np.resize(last, horizon)  # repeats the last season as often as the horizon needs
            out[series.id] = Prediction(mean=point, quantiles={q: point.copy() for q in quantiles})
        return out
