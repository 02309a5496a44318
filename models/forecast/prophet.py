"""Prophet (the ``prophet`` package): a curve of time per series, trend plus Fourier seasonalities plus the
public holidays of the data config's country, fitted by Stan (the compiled model ships in the wheel; nothing is
downloaded). Daily seasonality is on for sub-daily data, weekly for data at most daily, yearly from two years.

Quantiles are empirical quantiles of Prophet's posterior predictive samples (trend changes and noise), the mean
is its ``yhat``. The saved form is Prophet's own JSON serialisation, no pickle.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from models.forecast.base import Forecaster, ForecasterParams, Prediction, Series, SeriesSet

logger = logging.getLogger(__name__)
_SUB_DAILY = {"H", "30min", "15min", "10min", "5min", "1min"}


class ProphetParams(ForecasterParams):
    max_history: int = Field(default=5000, ge=10, description="Most recent observations each series is fitted on.")
    uncertainty_samples: int = Field(default=200, ge=10, description="Predictive samples behind the quantiles.")
    changepoint_prior_scale: float = Field(default=0.05, gt=0.0, description="Trend flexibility.")
    seasonality_mode: Literal["additive", "multiplicative"] = "additive"


class ProphetForecaster(Forecaster):
    algorithm = "Prophet"
    params_class = ProphetParams
    params: ProphetParams

    def __init__(self, params: Any = None, seed: int = 0) -> None:
        super().__init__(params, seed)
        self.models_: dict[str, Any] = {}

    def _fit(self, data: SeriesSet) -> None:
        from prophet import Prophet

        logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
        self.models_ = {}
        for series in data.series:
            values = series.values[-self.params.max_history :]
            index = data.index(series)[len(series.values) - len(values) :]
            span_days = (index[-1] - index[0]).days
            model = Prophet(
                daily_seasonality=data.frequency in _SUB_DAILY,
                weekly_seasonality=data.frequency in _SUB_DAILY | {"D"},
                yearly_seasonality=span_days >= 730,
                changepoint_prior_scale=self.params.changepoint_prior_scale,
                seasonality_mode=self.params.seasonality_mode,
                uncertainty_samples=self.params.uncertainty_samples,
            )
            if data.holiday_country is not None:
                model.add_country_holidays(country_name=data.holiday_country)
            model.fit(pd.DataFrame({"ds": index, "y": values}))
            self.models_[series.id] = model

    def _predict(self, context: SeriesSet, horizon: int, quantiles: tuple[float, ...]) -> dict[str, Prediction]:
        return {s.id: self._predict_one(context, s, horizon, quantiles) for s in context.series}

    def _predict_one(
        self, context: SeriesSet, series: Series, horizon: int, quantiles: tuple[float, ...]
    ) -> Prediction:
        model = self.models_.get(series.id)
        if model is None:
            raise ValueError(f"Prophet: series {series.id!r} was not in the data it was fitted on")
        future = pd.DataFrame({"ds": context.future_index(series, horizon)})
        np.random.seed(self.seed)  # Prophet samples from numpy's global generator
        samples = np.asarray(model.predictive_samples(future)["yhat"], dtype=np.float64)  # (horizon, samples)
        mean = np.asarray(model.predict(future)["yhat"], dtype=np.float64)
        return Prediction(mean=mean, quantiles={q: np.quantile(samples, q, axis=1) for q in quantiles})

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        from prophet.serialize import model_to_json

        return {"models": {sid: model_to_json(m) for sid, m in self.models_.items()}}, {}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        from prophet.serialize import model_from_json

        self.models_ = {sid: model_from_json(text) for sid, text in state["models"].items()}
