"""ARIMA with Fourier terms (dynamic harmonic regression), one model per series, from statsmodels' ``SARIMAX``.

A seasonal ARIMA of period 24 (or 168) is slow to fit and unstable, so the seasons enter as regressors instead:
``harmonics`` sine/cosine pairs per seasonal period of the frequency (a day and a week for hourly data), plus a
public-holiday flag when the data config names a country. The regression is fitted first (least squares), then
an ARIMA on its residuals, its order chosen by AIC among a few small ones as an automatic ARIMA would: fitting the
two jointly in the state space took about 20 s a series on the hourly benchmark data, two steps take well under
one. Forecasts are the regression plus the ARIMA forecast of the residual, normal with the ARIMA's variance, so
quantiles come from the mean and variance. Fitting uses the last ``max_history`` observations; at prediction
time the fitted parameters are re-run over the context, so newer observations update the state without a refit.
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
    holiday_flags,
    steps_between,
)

logger = logging.getLogger(__name__)

# seasonal periods (in steps) worth modelling at each frequency
PERIODS: dict[str, tuple[float, ...]] = {
    "Y": (),
    "M": (12.0,),
    "W": (365.25 / 7,),
    "D": (7.0, 365.25),
    "H": (24.0, 168.0),
    "30min": (48.0, 336.0),
    "15min": (96.0, 672.0),
    "10min": (144.0, 1008.0),
    "5min": (288.0, 2016.0),
    "1min": (1440.0,),
}
ORDERS: tuple[tuple[int, int, int], ...] = ((1, 0, 1), (2, 0, 1), (1, 1, 1))


class ArimaParams(ForecasterParams):
    max_history: int = Field(default=1000, ge=20, description="Most recent observations each series is fitted on.")
    harmonics: int = Field(default=4, ge=1, le=10, description="Sine/cosine pairs per seasonal period.")


def _design(
    steps: np.ndarray, periods: tuple[float, ...], harmonics: int, index: pd.DatetimeIndex, country: str | None
) -> np.ndarray:
    """The regression's columns: an intercept, Fourier pairs of each period, the holiday flag."""
    columns = [np.ones(len(steps))]
    for period in periods:
        for k in range(1, min(harmonics, int(period // 2)) + 1):
            columns += [np.sin(2 * np.pi * k * steps / period), np.cos(2 * np.pi * k * steps / period)]
    if country is not None:
        columns.append(holiday_flags(index, country).astype(np.float64))
    return np.stack(columns, axis=1)


class Arima(Forecaster):
    algorithm = "ARIMA"
    params_class = ArimaParams
    params: ArimaParams

    def __init__(self, params: Any = None, seed: int = 0) -> None:
        super().__init__(params, seed)
        self.fitted_: dict[str, dict[str, Any]] = {}

    def _periods(self, length: int) -> tuple[float, ...]:
        return tuple(p for p in PERIODS[str(self.frequency_)] if length >= 2 * p)

    def _fit(self, data: SeriesSet) -> None:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        self.fitted_ = {}
        for series in data.series:
            values = series.values[-self.params.max_history :]
            index = data.index(series)[len(series.values) - len(values) :]
            periods = self._periods(len(values))
            country = data.holiday_country
            if country is not None and not holiday_flags(index, country).any():
                country = None  # no holiday in the window: nothing to learn about them
            design = _design(np.arange(len(values)), periods, self.params.harmonics, index, country)
            coefficients = np.linalg.lstsq(design, values, rcond=None)[0]
            residual = values - design @ coefficients
            best: tuple[float, tuple[int, int, int], np.ndarray] | None = None
            for order in ORDERS:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        result = SARIMAX(residual, order=order, trend="n").fit(disp=False, maxiter=100)
                    except (ValueError, np.linalg.LinAlgError) as exc:
                        logger.debug("ARIMA%s on %s failed: %s", order, series.id, exc)
                        continue
                if np.isfinite(result.aic) and (best is None or result.aic < best[0]):
                    best = (float(result.aic), order, np.asarray(result.params, dtype=np.float64))
            if best is None:
                raise ValueError(f"ARIMA: no order could be fitted to series {series.id!r}")
            self.fitted_[series.id] = {
                "order": list(best[1]),
                "params": best[2],
                "coefficients": coefficients,
                "start": index[0].isoformat(),
                "periods": list(periods),
                "holidays": country,
            }

    def _predict(self, context: SeriesSet, horizon: int, quantiles: tuple[float, ...]) -> dict[str, Prediction]:
        return {s.id: self._predict_one(context, s, horizon, quantiles) for s in context.series}

    def _predict_one(
        self, context: SeriesSet, series: Series, horizon: int, quantiles: tuple[float, ...]
    ) -> Prediction:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        fitted = self.fitted_.get(series.id)
        if fitted is None:
            raise ValueError(f"ARIMA: series {series.id!r} was not in the data it was fitted on")
        skip = steps_between(series.start, pd.Timestamp(fitted["start"]), context.frequency)
        if skip < 0:
            raise ValueError(f"ARIMA: the context of {series.id!r} starts after the window it was fitted on")
        values = series.values[skip:]
        index = context.index(series)[skip:].append(context.future_index(series, horizon))
        design = _design(
            np.arange(len(values) + horizon), tuple(fitted["periods"]), self.params.harmonics, index, fitted["holidays"]
        )
        regression = design @ fitted["coefficients"]
        residual = values - regression[: len(values)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = SARIMAX(residual, order=tuple(fitted["order"]), trend="n").filter(fitted["params"])
            forecast = result.get_forecast(horizon)
        mean = regression[len(values) :] + np.asarray(forecast.predicted_mean, dtype=np.float64)
        std = np.sqrt(np.asarray(forecast.var_pred_mean, dtype=np.float64))
        return gaussian_prediction(mean, std, quantiles)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        order = sorted(self.fitted_)
        state = {
            sid: {k: v for k, v in f.items() if k not in ("params", "coefficients")} for sid, f in self.fitted_.items()
        }
        arrays = {f"params_{i}": self.fitted_[sid]["params"] for i, sid in enumerate(order)}
        arrays |= {f"coefficients_{i}": self.fitted_[sid]["coefficients"] for i, sid in enumerate(order)}
        return {"series": state, "order": order}, arrays

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.fitted_ = {
            sid: {**state["series"][sid], "params": arrays[f"params_{i}"], "coefficients": arrays[f"coefficients_{i}"]}
            for i, sid in enumerate(state["order"])
        }
