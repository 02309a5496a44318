"""Every forecasting algorithm honours one contract: shapes, ordered finite quantiles, identical answers after
save/load and for the same seed, and errors that name what is wrong. The known answers (seasonal naive, NPTS
without decay) and a seasonal curve every real algorithm must follow better than a flat line pin behaviour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.forecast.base import Forecaster, Series, SeriesSet, steps_between
from models.forecast.registry import algorithm_arn, algorithm_names, algorithm_of_arn, get_forecaster_class
from tests.forecast.conftest import START, demand

HORIZON = 12
DAYS = 15
QUANTILES = (0.1, 0.5, 0.9)
# small budgets: the contract, not the accuracy (bench/forecast.py measures that)
FAST = {
    "Deep_AR_Plus": {"batches": 25, "num_samples": 50},
    "CNN_QR": {"batches": 40},
    "NPTS": {"num_samples": 50},
    "Prophet": {"uncertainty_samples": 50},
}


def _fit(name: str, data: SeriesSet, seed: int = 0) -> Forecaster:
    return get_forecaster_class(name)(FAST.get(name, {}), seed=seed).fit(data, HORIZON)


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[Forecaster, SeriesSet]]:
    # 15 days end on a Monday: the forecast day is a weekday after a weekday (ETS has no weekly season)
    data = SeriesSet(
        (Series("a", START, demand(DAYS * 24, 10.0, 0)), Series("b", START, demand(DAYS * 24, 50.0, 1))), "H"
    )
    return {name: (_fit(name, data), data) for name in algorithm_names()}


@pytest.mark.parametrize("name", algorithm_names())
def test_shapes_and_ordered_finite_quantiles(name: str, fitted) -> None:
    model, data = fitted[name]
    answer = model.predict(data, HORIZON, QUANTILES)
    assert set(answer) == {"a", "b"}
    for prediction in answer.values():
        assert prediction.mean.shape == (HORIZON,)
        assert set(prediction.quantiles) == set(QUANTILES)
        stacked = np.stack([prediction.quantiles[q] for q in QUANTILES])
        assert np.isfinite(stacked).all() and np.isfinite(prediction.mean).all()
        assert (np.diff(stacked, axis=0) >= -1e-9).all(), "quantiles must not cross"


@pytest.mark.parametrize("name", algorithm_names())
def test_follows_the_daily_cycle_better_than_a_flat_line(name: str, fitted) -> None:
    model, data = fitted[name]
    truth = demand(DAYS * 24 + HORIZON, 50.0, 1)[-HORIZON:]
    answer = model.predict(data, HORIZON, QUANTILES)["b"]
    flat = np.full(HORIZON, data.by_id()["b"].values.mean())
    assert np.abs(answer.quantiles[0.5] - truth).mean() < np.abs(flat - truth).mean()


@pytest.mark.parametrize("name", algorithm_names())
def test_save_load_and_same_seed_give_identical_forecasts(name: str, fitted, tmp_path: Path) -> None:
    model, data = fitted[name]
    before = model.predict(data, HORIZON, QUANTILES)
    loaded = Forecaster.load(model.save(tmp_path / name))
    after = loaded.predict(data, HORIZON, QUANTILES)
    again = _fit(name, data).predict(data, HORIZON, QUANTILES)
    for sid in before:
        np.testing.assert_allclose(after[sid].mean, before[sid].mean, rtol=1e-6)
        np.testing.assert_allclose(again[sid].mean, before[sid].mean, rtol=1e-6)
        for q in QUANTILES:
            np.testing.assert_allclose(after[sid].quantiles[q], before[sid].quantiles[q], rtol=1e-6)
    assert not any(p.suffix == ".pkl" for p in (tmp_path / name).iterdir())


@pytest.mark.parametrize("name", algorithm_names())
def test_the_forecast_starts_after_the_context_given(name: str, fitted) -> None:
    """Backtests' rolling origin: a fitted model asked from an older context forecasts from there, no refit."""
    model, data = fitted[name]
    # the last 12 hours are the low half of the daily cycle; the 12 after the data are the high half
    shorter = SeriesSet(tuple(Series(s.id, s.start, s.values[:-HORIZON]) for s in data.series), "H")
    older = model.predict(shorter, HORIZON, QUANTILES)["b"].quantiles[0.5]
    newer = model.predict(data, HORIZON, QUANTILES)["b"].quantiles[0.5]
    last_half_day = data.by_id()["b"].values[-HORIZON:]
    assert np.abs(older - last_half_day).mean() < np.abs(newer - last_half_day).mean()


def test_unknown_series_and_bad_inputs_are_refused(fitted) -> None:
    model, data = fitted["ETS"]
    stranger = SeriesSet((Series("zz", START, demand(24 * 3, 5.0, 9)),), "H")
    with pytest.raises(ValueError, match="series 'zz' was not in the data"):
        model.predict(stranger, HORIZON, QUANTILES)
    with pytest.raises(ValueError, match="quantile 1.0 is not strictly between 0 and 1"):
        model.predict(data, HORIZON, (1.0,))
    with pytest.raises(ValueError, match="fitted at frequency H, asked at D"):
        model.predict(SeriesSet(data.series, "D"), HORIZON, QUANTILES)
    with pytest.raises(ValueError, match="values hold NaN or infinity"):
        Series("x", START, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="fitted for 12 steps ahead, asked for 13"):
        fitted["CNN_QR"][0].predict(data, HORIZON + 1, QUANTILES)
    with pytest.raises(ValueError, match="unknown frequency 'X'"):
        SeriesSet(data.series, "X")


def test_seasonal_naive_repeats_the_last_season() -> None:
    values = np.arange(48, dtype=float)
    data = SeriesSet((Series("s", START, values),), "H")
    model = get_forecaster_class("Seasonal_Naive")().fit(data, 30)
    answer = model.predict(data, 30, (0.5,))["s"]
    np.testing.assert_array_equal(answer.mean, np.concatenate([values[24:48], values[24:30]]))
    np.testing.assert_array_equal(answer.quantiles[0.5], answer.mean)


def test_npts_draws_only_past_values_of_the_same_hour() -> None:
    """Each hour's value is its day number * 100 + hour: every draw for hour h ends in h."""
    days = 10
    values = np.array([d * 100.0 + h for d in range(days) for h in range(24)])
    data = SeriesSet((Series("s", START, values),), "H")
    model = get_forecaster_class("NPTS")({"kernel_decay": 0.0, "num_samples": 400}, seed=3).fit(data, 24)
    answer = model.predict(data, 24, (0.05, 0.95))["s"]
    for hour in range(24):
        low, high = answer.quantiles[0.05][hour], answer.quantiles[0.95][hour]
        assert low % 100 == pytest.approx(hour) and high % 100 == pytest.approx(hour)
        assert low < high  # uniform over ten days, not only the last
    assert answer.mean[5] == pytest.approx(np.mean([d * 100 + 5 for d in range(days)]), rel=0.1)


def test_algorithm_arns_round_trip() -> None:
    assert algorithm_names() == ["ETS", "ARIMA", "NPTS", "Prophet", "Deep_AR_Plus", "CNN_QR"]
    for name in algorithm_names():
        assert algorithm_of_arn(algorithm_arn(name)) == name
    with pytest.raises(KeyError, match="unknown algorithm 'arn:aws:forecast:::algorithm/MQRNN'"):
        algorithm_of_arn("arn:aws:forecast:::algorithm/MQRNN")


def test_steps_between_counts_calendar_steps() -> None:
    assert steps_between(START, START + np.timedelta64(5, "h"), "H") == 5
    assert steps_between(START, START.replace(month=4), "M") == 3
    assert steps_between(START.replace(month=4), START, "M") == -3
