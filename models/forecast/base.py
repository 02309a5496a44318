"""The contract every forecasting algorithm in :mod:`models.forecast` implements.

A forecaster is fitted on a :class:`SeriesSet` (regular series of one frequency, gaps already filled), then asked
for ``horizon`` steps after the end of a *context*: the same series, possibly longer than what it was fitted on.
That split is what honest backtests need: a model fitted before a validation cut forecasts the validation window
and, given the newer observations as context but no refit, the test window after it. Each algorithm uses the
context its own way (ETS and ARIMA re-filter their fitted parameters over it, NPTS samples from it, the neural
models read it through their encoders, Prophet only needs its end, since its curve is a function of time).

Answers are :class:`Prediction` objects: the mean and any quantiles, per series. ``save``/``load`` write JSON and
``.npz`` arrays (``allow_pickle=False``), as the recipes do, so a saved predictor never executes code on load.
The package knows nothing of the platform: ``recsmith.forecast`` reaches the algorithms through
:func:`models.forecast.registry.get_forecaster_class`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

FORMAT_VERSION = 1
_META_FILE = "forecaster.json"
_ARRAYS_FILE = "arrays.npz"

# Forecast's DataFrequency / ForecastFrequency codes -> pandas offsets
FREQUENCIES: dict[str, str] = {
    "Y": "YS",
    "M": "MS",
    "W": "W-MON",
    "D": "D",
    "H": "h",
    "30min": "30min",
    "15min": "15min",
    "10min": "10min",
    "5min": "5min",
    "1min": "min",
}
# The main seasonal period of each frequency, in steps (Forecast's own choice for MASE and seasonal models)
SEASONALITY: dict[str, int] = {
    "Y": 1,
    "M": 12,
    "W": 52,
    "D": 7,
    "H": 24,
    "30min": 48,
    "15min": 96,
    "10min": 144,
    "5min": 288,
    "1min": 1440,
}


def pandas_frequency(frequency: str) -> str:
    """The pandas offset alias of a Forecast frequency code; an unknown code lists the allowed ones."""
    try:
        return FREQUENCIES[frequency]
    except KeyError:
        raise ValueError(f"unknown frequency {frequency!r}; allowed: {', '.join(FREQUENCIES)}") from None


class ForecasterParams(BaseModel):
    """Base of every algorithm's hyperparameters: frozen, no unknown keys, defaults in code."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Series:
    """One regular series: ``values[i]`` is the target at ``start + i`` steps; no NaN (gaps are filled before)."""

    id: str
    start: pd.Timestamp
    values: np.ndarray

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 1 or not len(values):
            raise ValueError(f"series {self.id!r}: values must be a non-empty 1-d array")
        if not np.isfinite(values).all():
            raise ValueError(f"series {self.id!r}: values hold NaN or infinity; fill gaps before fitting")
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class SeriesSet:
    """Series of one frequency, and the country whose holidays are a feature (``None``: no holiday feature)."""

    series: tuple[Series, ...]
    frequency: str
    holiday_country: str | None = None

    def __post_init__(self) -> None:
        pandas_frequency(self.frequency)
        ids = [s.id for s in self.series]
        if len(set(ids)) != len(ids):
            raise ValueError("series ids must be distinct")

    @property
    def offset(self) -> pd.DateOffset:
        return pd.tseries.frequencies.to_offset(pandas_frequency(self.frequency))

    @property
    def season(self) -> int:
        return SEASONALITY[self.frequency]

    def by_id(self) -> dict[str, Series]:
        return {s.id: s for s in self.series}

    def end(self, series: Series) -> pd.Timestamp:
        """The timestamp of the series' last value."""
        return series.start + (len(series.values) - 1) * self.offset

    def future_index(self, series: Series, horizon: int) -> pd.DatetimeIndex:
        """The ``horizon`` timestamps after the series' last value."""
        return pd.date_range(self.end(series) + self.offset, periods=horizon, freq=self.offset)

    def index(self, series: Series) -> pd.DatetimeIndex:
        return pd.date_range(series.start, periods=len(series.values), freq=self.offset)


@dataclass(frozen=True)
class Prediction:
    """One series' forecast: ``mean`` (horizon,), and ``quantiles[q]`` (horizon,) for each quantile asked."""

    mean: np.ndarray
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)


def sample_prediction(samples: np.ndarray, quantiles: Sequence[float]) -> Prediction:
    """A prediction from sample paths (samples, horizon): their mean and empirical quantiles."""
    return Prediction(
        mean=samples.mean(axis=0),
        quantiles={q: np.quantile(samples, q, axis=0) for q in quantiles},
    )


def gaussian_prediction(mean: np.ndarray, std: np.ndarray, quantiles: Sequence[float]) -> Prediction:
    """A prediction whose forecast distribution is normal at each step (ETS and ARIMA with additive errors)."""
    from scipy.stats import norm

    std = np.maximum(np.asarray(std, dtype=np.float64), 0.0)
    return Prediction(mean=mean, quantiles={q: mean + norm.ppf(q) * std for q in quantiles})


class Forecaster(ABC):
    """Base class of every forecasting algorithm; see the module docstring for the contract.

    Subclasses set :attr:`algorithm` (Forecast's algorithm name, the id everywhere) and :attr:`params_class`,
    and implement ``_fit``, ``_predict`` and, for persistence, ``_state``/``_restore``.
    """

    algorithm: ClassVar[str]
    params_class: ClassVar[type[ForecasterParams]] = ForecasterParams
    any_horizon: ClassVar[bool] = True
    """False for algorithms that forecast only the horizon they were fitted for."""

    def __init__(self, params: ForecasterParams | Mapping[str, Any] | None = None, seed: int = 0) -> None:
        if isinstance(params, ForecasterParams):
            self.params = params
        else:
            self.params = self.params_class(**dict(params or {}))
        self.seed = seed
        self.frequency_: str | None = None
        self.holiday_country_: str | None = None
        self.horizon_: int | None = None

    def fit(self, data: SeriesSet, horizon: int) -> Self:
        """Learn from ``data`` to forecast up to ``horizon`` steps ahead; returns ``self``.

        Most algorithms forecast any horizon; the direct multi-horizon ones (CNN-QR) learn exactly this one.
        """
        if not data.series:
            raise ValueError(f"{self.algorithm}: nothing to fit: no series")
        if horizon < 1:
            raise ValueError("horizon must be at least 1")
        self.frequency_ = data.frequency
        self.holiday_country_ = data.holiday_country
        self.horizon_ = horizon
        self._fit(data)
        return self

    def predict(self, context: SeriesSet, horizon: int, quantiles: Sequence[float]) -> dict[str, Prediction]:
        """The next ``horizon`` steps after the end of each series of ``context``."""
        if self.frequency_ is None:
            raise ValueError(f"{self.algorithm}: predict before fit")
        if context.frequency != self.frequency_:
            raise ValueError(f"{self.algorithm}: fitted at frequency {self.frequency_}, asked at {context.frequency}")
        if horizon < 1:
            raise ValueError("horizon must be at least 1")
        if self.horizon_ is not None and horizon > self.horizon_ and not self.any_horizon:
            raise ValueError(f"{self.algorithm}: fitted for {self.horizon_} steps ahead, asked for {horizon}")
        for q in quantiles:
            if not 0.0 < q < 1.0:
                raise ValueError(f"quantile {q} is not strictly between 0 and 1")
        return self._predict(context, horizon, tuple(quantiles))

    @abstractmethod
    def _fit(self, data: SeriesSet) -> None: ...

    @abstractmethod
    def _predict(self, context: SeriesSet, horizon: int, quantiles: tuple[float, ...]) -> dict[str, Prediction]: ...

    # ---------------------------------------------------------------- persistence
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able state and named arrays that :meth:`_restore` rebuilds the fitted model from."""
        return {}, {}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:  # noqa: B027 (optional hook)
        """Rebuild the fitted model from what :meth:`_state` returned."""

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path`` (JSON and ``.npz``, no pickle); returns the folder."""
        if self.frequency_ is None:
            raise ValueError(f"{self.algorithm}: save before fit")
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state, arrays = self._state()
        meta = {
            "format_version": FORMAT_VERSION,
            "algorithm": self.algorithm,
            "params": self.params.model_dump(mode="json"),
            "seed": self.seed,
            "frequency": self.frequency_,
            "holiday_country": self.holiday_country_,
            "horizon": self.horizon_,
            "state": state,
        }
        (folder / _META_FILE).write_text(json.dumps(meta, indent=2))
        np.savez(folder / _ARRAYS_FILE, **arrays)  # type: ignore[arg-type]
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """A fitted forecaster from a folder :meth:`save` wrote (the class comes from the saved algorithm)."""
        from models.forecast.registry import get_forecaster_class

        folder = Path(path)
        meta = json.loads((folder / _META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder}: saved with format {meta.get('format_version')}, expected {FORMAT_VERSION}")
        target = get_forecaster_class(meta["algorithm"])
        if cls is not Forecaster and not issubclass(target, cls):
            raise ValueError(f"{folder} holds {meta['algorithm']}, not {cls.algorithm}")
        model = target(meta["params"], seed=int(meta["seed"]))
        model.frequency_ = meta["frequency"]
        model.holiday_country_ = meta["holiday_country"]
        model.horizon_ = meta["horizon"]
        with np.load(folder / _ARRAYS_FILE, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        model._restore(meta["state"], arrays)
        return model


def steps_between(start: pd.Timestamp, end: pd.Timestamp, frequency: str) -> int:
    """How many steps of ``frequency`` lead from ``start`` to ``end`` (both on the frequency's grid)."""
    offset = pd.tseries.frequencies.to_offset(pandas_frequency(frequency))
    if end < start:
        return -steps_between(end, start, frequency)
    try:
        step = pd.Timedelta(offset)
    except ValueError:  # months, years, weeks anchored on a day: count the grid
        return len(pd.date_range(start, end, freq=offset)) - 1
    return int((end - start) // step)


def time_features(index: pd.DatetimeIndex, frequency: str, holiday_country: str | None) -> np.ndarray:
    """Calendar features of each timestamp, shape (len(index), 7): hour of day, day of week and day of year as
    sine/cosine pairs (a cycle shorter than the frequency is constant), and 1.0 on the country's public holidays.

    The neural forecasters read these at every step, so a holiday or a weekend is known ahead of time.
    """
    hour = (index.hour + index.minute / 60.0) / 24.0
    day = index.dayofweek / 7.0
    year = (index.dayofyear - 1) / 365.25
    columns = [np.sin(2 * np.pi * hour), np.cos(2 * np.pi * hour)]
    columns += [np.sin(2 * np.pi * day), np.cos(2 * np.pi * day)]
    columns += [np.sin(2 * np.pi * year), np.cos(2 * np.pi * year)]
    columns.append(holiday_flags(index, holiday_country))
    return np.stack([np.asarray(c, dtype=np.float32) for c in columns], axis=1)


def holiday_flags(index: pd.DatetimeIndex, country: str | None) -> np.ndarray:
    """1.0 where the timestamp's date is a public holiday of ``country`` (ISO 3166 code), else 0.0."""
    if country is None or not len(index):
        return np.zeros(len(index), dtype=np.float32)
    calendar = holiday_calendar(country, range(int(index.year.min()), int(index.year.max()) + 1))
    dates = set(calendar)
    return np.fromiter((d in dates for d in index.date), dtype=np.float32, count=len(index))


def holiday_calendar(country: str, years: range) -> dict[Any, str]:
    """The public holidays of ``country`` in ``years``, from the ``holidays`` package's built-in calendars (no
    download); an unknown country code is a ``ValueError`` naming it."""
    import holidays

    try:
        return dict(holidays.country_holidays(country, years=list(years)))
    except NotImplementedError as exc:
        raise ValueError(f"no holiday calendar for country code {country!r}") from exc
