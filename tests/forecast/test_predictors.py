"""AutoPredictor's choice per series and the backtest windows' layout, on known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.forecast.base import Prediction, Series, SeriesSet
from recsmith.errors import InvalidInputError
from recsmith.forecast.predictors import PredictorConfig, _choose_per_series, _Scored, backtest_windows

CONFIG = PredictorConfig(dataset_group_arn="g", forecast_horizon=2, forecast_frequency="H", forecast_types=("0.5",))


def _point(values: list[float]) -> Prediction:
    array = np.array(values)
    return Prediction(array, {0.5: array})


def test_each_series_gets_the_ensemble_that_was_best_on_validation() -> None:
    truth = {"x": np.array([10.0, 10.0]), "y": np.array([10.0, 10.0])}
    window = _Scored(
        {
            "A": {"x": _point([10.0, 10.0]), "y": _point([14.0, 14.0])},  # perfect on x
            "B": {"x": _point([13.0, 13.0]), "y": _point([6.0, 6.0])},  # on y, A and B err on either side
            "C": {"x": _point([20.0, 20.0]), "y": _point([30.0, 30.0])},
        },
        truth,
        {"x": 1.0, "y": 1.0},
    )
    chosen = _choose_per_series([window], CONFIG)
    assert chosen == {"x": ["A"], "y": ["A", "B"]}  # y: the average 10 beats either alone


def test_the_choice_averages_over_every_validation_window() -> None:
    good_then_bad = [
        _Scored({"A": {"x": _point([p, p])}, "B": {"x": _point([b, b])}}, {"x": np.array([10.0, 10.0])}, {"x": 1.0})
        for p, b in ((10.0, 11.0), (10.0, 11.0), (40.0, 11.0))
    ]
    assert _choose_per_series(good_then_bad[:2], CONFIG)["x"] == ["A"]
    assert _choose_per_series(good_then_bad, CONFIG)["x"] == ["B"]


def test_backtest_windows_lie_back_to_back_before_the_offset() -> None:
    data = SeriesSet((Series("x", pd.Timestamp("2024-01-01"), np.ones(100)),), "H")
    config = CONFIG.model_copy(update={"backtest_windows": 2, "backtest_offset": 4})
    first, second = backtest_windows(data, config, choose=True)
    end = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=99)
    assert first.test_start == end - pd.Timedelta(hours=3)  # the offset counts back from the last value
    assert second.test_start == first.test_start - pd.Timedelta(hours=2)
    assert len(first.validation_starts) == 7  # a week of hours is more than 7 horizons: capped at 7
    assert first.validation_starts[-1] == first.test_start - pd.Timedelta(hours=2)
    assert backtest_windows(data, config, choose=False)[0].validation_starts == ()


def test_windows_that_do_not_fit_are_refused() -> None:
    data = SeriesSet((Series("x", pd.Timestamp("2024-01-01"), np.ones(10)),), "H")
    with pytest.raises(InvalidInputError, match="BackTestWindowOffset 1 is shorter than the ForecastHorizon 2"):
        backtest_windows(data, CONFIG.model_copy(update={"backtest_offset": 1}), choose=False)
    with pytest.raises(InvalidInputError, match="must be under half the longest series"):
        backtest_windows(data, CONFIG.model_copy(update={"backtest_offset": 5}), choose=False)
    backtest_windows(data, CONFIG.model_copy(update={"backtest_windows": 3}), choose=False)  # exactly fits
    with pytest.raises(InvalidInputError, match="4 backtest windows of 2 steps need 12 points"):
        backtest_windows(data, CONFIG.model_copy(update={"backtest_windows": 4}), choose=False)
    with pytest.raises(InvalidInputError, match="AutoPredictor needs one more horizon of history"):
        backtest_windows(data, CONFIG.model_copy(update={"backtest_windows": 3}), choose=True)


def test_config_refuses_what_forecast_refuses() -> None:
    with pytest.raises(ValueError, match="ForecastTypes quantile '0.005' must be 0.01-0.99"):
        PredictorConfig(dataset_group_arn="g", forecast_horizon=2, forecast_frequency="H", forecast_types=("0.005",))
    with pytest.raises(ValueError, match="OptimizationMetric 'MSE' is not one of"):
        PredictorConfig(dataset_group_arn="g", forecast_horizon=2, forecast_frequency="H", optimization_metric="MSE")
    with pytest.raises(ValueError, match="unknown algorithm 'LSTM'"):
        PredictorConfig(dataset_group_arn="g", forecast_horizon=2, forecast_frequency="H", algorithms=("LSTM",))
