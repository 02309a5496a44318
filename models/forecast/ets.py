"""ETS: exponential smoothing state-space models (statsmodels' ``ETSModel``), one per series, the configuration
chosen by AICc as R's ``ets()`` (which Forecast's ETS runs) does.

The candidates are additive-error models: with and without a damped trend, with an additive season of the
frequency's period when the series holds at least two seasons. Additive errors give normal forecast
distributions, so quantiles come from the predicted mean and variance. Fitting uses the last ``max_history``
observations (ETS adapts to recent data; the older values cost time and barely move the fit). At prediction time
the fitted parameters are re-run over the context (from the start of the fitted window), so newer observations
update the level and season without a refit.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from models.forecast.base import (
    Forecaster,
    ForecasterParams,
    Prediction,
    Series,
    SeriesSet,
    gaussian_prediction,
    steps_between,
)

logger = logging.getLogger(__name__)


class EtsParams(ForecasterParams):
    max_history: int = Field(default=1000, ge=10, description="Most recent observations each series is fitted on.")
    damped_trend: bool = Field(default=True, description="Also try a damped additive trend.")


def _configurations(values: np.ndarray, season: int, damped: bool) -> list[dict[str, Any]]:
    seasonal = season > 1 and len(values) >= 2 * season + 10
    configs: list[dict[str, Any]] = []
    for trend in [None, "add"] if damped else [None]:
        config: dict[str, Any] = {"error": "add", "trend": trend, "damped_trend": trend is not None}
        if seasonal:
            configs.append({**config, "seasonal": "add", "seasonal_periods": season})
        else:
            configs.append({**config, "seasonal": None})
    return configs


class Ets(Forecaster):
    algorithm = "ETS"
    params_class = EtsParams
    params: EtsParams

    def __init__(self, params: Any = None, seed: int = 0) -> None:
        super().__init__(params, seed)
        self.fitted_: dict[str, dict[str, Any]] = {}

    def _fit(self, data: SeriesSet) -> None:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        self.fitted_ = {}
        for series in data.series:
            values = series.values[-self.params.max_history :]
            start = data.index(series)[len(series.values) - len(values)]
            best: tuple[float, dict[str, Any], np.ndarray] | None = None
            for config in _configurations(values, data.season, self.params.damped_trend):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        result = ETSModel(pd.Series(values), **config).fit(disp=False)
                    except (ValueError, np.linalg.LinAlgError) as exc:
                        logger.debug("ETS %s on %s failed: %s", config, series.id, exc)
                        continue
                score = float(result.aicc)
                if np.isfinite(score) and (best is None or score < best[0]):
                    best = (score, config, np.asarray(result.params, dtype=np.float64))
            if best is None:
                raise ValueError(f"ETS: no configuration could be fitted to series {series.id!r}")
            self.fitted_[series.id] = {"config": best[1], "params": best[2], "start": start.isoformat()}

    def _predict(self, context: SeriesSet, horizon: int, quantiles: tuple[float, ...]) -> dict[str, Prediction]:
        return {s.id: self._predict_one(context, s, horizon, quantiles) for s in context.series}

    def _predict_one(
        self, context: SeriesSet, series: Series, horizon: int, quantiles: tuple[float, ...]
    ) -> Prediction:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        fitted = self.fitted_.get(series.id)
        if fitted is None:
            raise ValueError(f"ETS: series {series.id!r} was not in the data it was fitted on")
        skip = steps_between(series.start, pd.Timestamp(fitted["start"]), context.frequency)
        if skip < 0:
            raise ValueError(f"ETS: the context of {series.id!r} starts after the window it was fitted on")
        values = series.values[skip:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = ETSModel(pd.Series(values), **fitted["config"]).smooth(fitted["params"])
            forecast = result.get_prediction(start=len(values), end=len(values) + horizon - 1)
        mean = np.asarray(forecast.predicted_mean, dtype=np.float64)
        std = np.sqrt(np.asarray(forecast.var_pred_mean, dtype=np.float64))
        return gaussian_prediction(mean, std, quantiles)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state = {sid: {"config": f["config"], "start": f["start"]} for sid, f in self.fitted_.items()}
        order = sorted(self.fitted_)
        return {"series": state, "order": order}, {
            f"params_{i}": self.fitted_[sid]["params"] for i, sid in enumerate(order)
        }

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.fitted_ = {
            sid: {**state["series"][sid], "params": arrays[f"params_{i}"]} for i, sid in enumerate(state["order"])
        }
