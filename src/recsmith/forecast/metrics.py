"""Forecast's accuracy metrics, with their formulas, over the series of one backtest window.

For actual values ``y``, a quantile forecast ``q_tau`` and a point forecast ``f`` (the mean, or a quantile's
forecast for its own ``ErrorMetrics`` row), summed over every series and step of the window:

- weighted quantile loss ``wQL[tau] = 2 * sum(tau * max(y - q_tau, 0) + (1 - tau) * max(q_tau - y, 0)) / sum(|y|)``;
  ``AverageWeightedQuantileLoss`` is its mean over the forecast's quantiles;
- ``WAPE = sum(|y - f|) / sum(|y|)``;
- ``RMSE = sqrt(mean((y - f)^2))``;
- ``MAPE = mean(|y - f| / |y|)`` over the points where ``y != 0``;
- ``MASE``: for each series ``mean(|y - f|) / mean(|x[t] - x[t - m]|)`` with ``x`` the series before the window
  and ``m`` the frequency's season (1 when the history is shorter), then the mean over series.

A window whose actual values are all zero has no WAPE or wQL (division by zero): they are reported as NaN, and
left out of averages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.forecast.base import Prediction


def quantile_loss(actual: np.ndarray, forecast: np.ndarray, tau: float) -> float:
    """``2 * sum(tau * max(y - q, 0) + (1 - tau) * max(q - y, 0))`` (not yet divided by ``sum(|y|)``)."""
    error = actual - forecast
    return float(2.0 * np.sum(np.maximum(tau * error, (tau - 1.0) * error)))


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def seasonal_scale(history: np.ndarray, season: int) -> float:
    """The in-sample mean absolute seasonal difference MASE divides by (NaN when it is zero or undefined)."""
    m = season if len(history) > season else 1
    if len(history) <= m:
        return float("nan")
    scale = float(np.mean(np.abs(history[m:] - history[:-m])))
    return scale if scale > 0 else float("nan")


def point_errors(
    actual: Mapping[str, np.ndarray], point: Mapping[str, np.ndarray], scales: Mapping[str, float]
) -> dict[str, float]:
    """WAPE, RMSE, MAPE and MASE of point forecasts over the series of a window."""
    ids = sorted(actual)
    y = np.concatenate([actual[i] for i in ids])
    f = np.concatenate([point[i] for i in ids])
    nonzero = y != 0
    mase = [float(np.mean(np.abs(actual[i] - point[i]))) / scales[i] for i in ids if np.isfinite(scales.get(i, np.nan))]
    return {
        "WAPE": _ratio(float(np.sum(np.abs(y - f))), float(np.sum(np.abs(y)))),
        "RMSE": float(np.sqrt(np.mean((y - f) ** 2))),
        "MAPE": float(np.mean(np.abs(y[nonzero] - f[nonzero]) / np.abs(y[nonzero]))) if nonzero.any() else float("nan"),
        "MASE": float(np.mean(mase)) if mase else float("nan"),
    }


def window_metrics(
    actual: Mapping[str, np.ndarray],
    predictions: Mapping[str, Prediction],
    quantiles: Sequence[float],
    scales: Mapping[str, float],
) -> dict[str, Any]:
    """Every metric of one window, shaped as Forecast's ``Metrics``: ``WeightedQuantileLosses``,
    ``ErrorMetrics`` (for ``mean`` and each quantile's forecast), ``AverageWeightedQuantileLoss`` and ``RMSE``
    (of the mean)."""
    ids = sorted(actual)
    total = float(sum(np.sum(np.abs(actual[i])) for i in ids))
    losses = [
        {
            "Quantile": float(q),
            "LossValue": _ratio(sum(quantile_loss(actual[i], predictions[i].quantiles[q], q) for i in ids), total),
        }
        for q in quantiles
    ]
    errors = [{"ForecastType": "mean", **point_errors(actual, {i: predictions[i].mean for i in ids}, scales)}]
    for q in quantiles:
        point = {i: predictions[i].quantiles[q] for i in ids}
        errors.append({"ForecastType": forecast_type_name(q), **point_errors(actual, point, scales)})
    values = [loss["LossValue"] for loss in losses if np.isfinite(loss["LossValue"])]
    return {
        "RMSE": errors[0]["RMSE"],
        "WeightedQuantileLosses": losses,
        "ErrorMetrics": errors,
        "AverageWeightedQuantileLoss": float(np.mean(values)) if values else float("nan"),
    }


def forecast_type_name(quantile: float) -> str:
    """``0.1`` -> ``"0.1"``, ``0.05`` -> ``"0.05"``: how Forecast spells a quantile forecast type."""
    return f"{quantile:.2f}".rstrip("0").rstrip(".")


def average_metrics(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The SUMMARY of several windows: each figure's mean over the windows where it is defined."""

    def mean(values: list[float]) -> float:
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    first = windows[0]
    return {
        "RMSE": mean([w["RMSE"] for w in windows]),
        "WeightedQuantileLosses": [
            {
                "Quantile": loss["Quantile"],
                "LossValue": mean([w["WeightedQuantileLosses"][i]["LossValue"] for w in windows]),
            }
            for i, loss in enumerate(first["WeightedQuantileLosses"])
        ],
        "ErrorMetrics": [
            {
                "ForecastType": row["ForecastType"],
                **{k: mean([w["ErrorMetrics"][i][k] for w in windows]) for k in ("WAPE", "RMSE", "MASE", "MAPE")},
            }
            for i, row in enumerate(first["ErrorMetrics"])
        ],
        "AverageWeightedQuantileLoss": mean([w["AverageWeightedQuantileLoss"] for w in windows]),
    }


def series_loss(
    metric: str,
    actual: np.ndarray,
    prediction: Prediction,
    quantiles: Sequence[float],
    scale: float,
) -> float:
    """One series' value of an ``OptimizationMetric`` (lower is better): what AutoPredictor's choice per series
    minimises."""
    if metric == "AverageWeightedQuantileLoss":
        total = float(np.sum(np.abs(actual))) or 1.0
        return float(np.mean([quantile_loss(actual, prediction.quantiles[q], q) for q in quantiles])) / total
    errors = point_errors({"s": actual}, {"s": prediction.mean}, {"s": scale})
    value = errors[metric]
    if not np.isfinite(value):  # all-zero actuals: fall back to absolute error
        return float(np.mean(np.abs(actual - prediction.mean)))
    return value
