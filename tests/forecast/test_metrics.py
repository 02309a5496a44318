"""Forecast's accuracy metrics pinned to hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.forecast.base import Prediction
from recsmith.forecast.metrics import (
    average_metrics,
    forecast_type_name,
    quantile_loss,
    seasonal_scale,
    series_loss,
    window_metrics,
)

ACTUAL = {"a": np.array([10.0, 20.0]), "b": np.array([0.0, 10.0])}
FORECAST = {
    "a": Prediction(mean=np.array([12.0, 18.0]), quantiles={0.1: np.array([8.0, 15.0]), 0.9: np.array([14.0, 26.0])}),
    "b": Prediction(mean=np.array([1.0, 10.0]), quantiles={0.1: np.array([0.0, 5.0]), 0.9: np.array([2.0, 12.0])}),
}


def test_quantile_loss_worked_example() -> None:
    # tau 0.1: y - q = [2, 5, 0, 5] -> 0.1 * 12 = 1.2 ; tau 0.9: q - y = [4, 6, 2, 2] -> 0.1 * 14 = 1.4
    y = np.array([10.0, 20.0, 0.0, 10.0])
    assert quantile_loss(y, np.array([8.0, 15.0, 0.0, 5.0]), 0.1) == pytest.approx(2.4)
    assert quantile_loss(y, np.array([14.0, 26.0, 2.0, 12.0]), 0.9) == pytest.approx(2.8)


def test_window_metrics_worked_example() -> None:
    scales = {"a": 5.0, "b": 2.0}
    metrics = window_metrics(ACTUAL, FORECAST, (0.1, 0.9), scales)
    losses = {loss["Quantile"]: loss["LossValue"] for loss in metrics["WeightedQuantileLosses"]}
    assert losses == {0.1: pytest.approx(2.4 / 40), 0.9: pytest.approx(2.8 / 40)}  # sum |y| = 40
    assert metrics["AverageWeightedQuantileLoss"] == pytest.approx((2.4 + 2.8) / 80)
    mean = metrics["ErrorMetrics"][0]
    assert mean["ForecastType"] == "mean"
    assert mean["WAPE"] == pytest.approx(5.0 / 40)  # |errors| 2, 2, 1, 0
    assert mean["RMSE"] == pytest.approx(math.sqrt((4 + 4 + 1 + 0) / 4))
    assert mean["MAPE"] == pytest.approx((0.2 + 0.1 + 0.0) / 3)  # the zero actual is left out
    assert mean["MASE"] == pytest.approx(((2 + 2) / 2 / 5.0 + (1 + 0) / 2 / 2.0) / 2)
    assert [row["ForecastType"] for row in metrics["ErrorMetrics"]] == ["mean", "0.1", "0.9"]
    assert metrics["RMSE"] == mean["RMSE"]


def test_all_zero_actuals_have_no_wape_and_averages_skip_them() -> None:
    zero = {"a": np.zeros(2)}
    forecast = {"a": Prediction(np.ones(2), {0.5: np.ones(2)})}
    first = window_metrics(zero, forecast, (0.5,), {"a": 1.0})
    assert math.isnan(first["ErrorMetrics"][0]["WAPE"]) and math.isnan(first["AverageWeightedQuantileLoss"])
    second = window_metrics({"a": np.array([2.0, 2.0])}, forecast, (0.5,), {"a": 1.0})
    summary = average_metrics([first, second])
    assert summary["ErrorMetrics"][0]["WAPE"] == pytest.approx(0.5)
    assert summary["RMSE"] == pytest.approx(1.0)


def test_seasonal_scale_and_series_loss() -> None:
    history = np.array([1.0, 2.0, 1.0, 2.0, 5.0])
    assert seasonal_scale(history, 2) == pytest.approx((0 + 0 + 4) / 3)
    assert math.isnan(seasonal_scale(np.ones(5), 2))
    assert seasonal_scale(np.array([1.0, 3.0, 2.0]), 24) == pytest.approx(1.5)  # shorter than a season: lag 1
    loss = series_loss("AverageWeightedQuantileLoss", ACTUAL["a"], FORECAST["a"], (0.1, 0.9), 1.0)
    assert loss == pytest.approx(((2 * (0.1 * 7)) + (2 * (0.1 * 10))) / 2 / 30)
    assert series_loss("WAPE", ACTUAL["a"], FORECAST["a"], (0.1,), 1.0) == pytest.approx(4 / 30)


def test_forecast_type_names() -> None:
    assert [forecast_type_name(q) for q in (0.1, 0.5, 0.05, 0.99)] == ["0.1", "0.5", "0.05", "0.99"]
