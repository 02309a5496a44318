"""From a target time series data version to the regular series the algorithms fit: Forecast's featurization.

Rows are grouped into series by the id field and the forecast dimensions, their timestamps floored to the
forecast frequency and their targets aggregated there (``aggregation``: sum by default, or avg, first, min,
max), so finer data (5-minute readings for an hourly forecast) is rolled up as Forecast does. A frequency finer
than the dataset's ``DataFrequency`` is refused. Each series runs from its first observation to the last
timestamp of the whole dataset; gaps are filled by ``middlefill`` and the tail after a series' last observation
by ``backfill`` (zero by default for both; also nan-free value, mean, median, min or max of the series), as
Forecast's ``AttributeConfigs`` transformations say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.forecast.base import FREQUENCIES, Series, SeriesSet, pandas_frequency
from recsmith.errors import InvalidInputError
from recsmith.forecast.schemas import FREQUENCIES as FREQUENCY_CODES
from recsmith.forecast.schemas import TIMESTAMP, ForecastSchema

KEY_SEPARATOR = "\x1f"
AGGREGATIONS = ("sum", "avg", "first", "min", "max")
FILLS = ("zero", "value", "median", "mean", "min", "max")
_ORDER = {code: position for position, code in enumerate(FREQUENCY_CODES)}


@dataclass(frozen=True)
class Featurization:
    """How the target is aggregated and filled (Forecast's AttributeConfigs for the target)."""

    aggregation: str = "sum"
    middlefill: str = "zero"
    backfill: str = "zero"
    middlefill_value: float = 0.0
    backfill_value: float = 0.0

    @classmethod
    def from_transformations(cls, transformations: Mapping[str, str]) -> Featurization:
        known = {"aggregation", "middlefill", "backfill", "middlefill_value", "backfill_value", "frontfill"}
        unknown = set(transformations) - known
        if unknown:
            raise InvalidInputError(f"unknown Transformations {sorted(unknown)}; allowed: {sorted(known)}")
        aggregation = transformations.get("aggregation", "sum")
        if aggregation not in AGGREGATIONS:
            raise InvalidInputError(f"aggregation {aggregation!r} is not allowed; allowed: {', '.join(AGGREGATIONS)}")
        if transformations.get("frontfill", "none") != "none":
            raise InvalidInputError("frontfill must be none: a series starts at its first observation")
        fills = {}
        for key in ("middlefill", "backfill"):
            value = transformations.get(key, "zero")
            if value not in FILLS:
                raise InvalidInputError(f"{key} {value!r} is not allowed; allowed: {', '.join(FILLS)}")
            fills[key] = value
        try:
            numbers = {k: float(transformations.get(k, 0.0)) for k in ("middlefill_value", "backfill_value")}
        except ValueError as exc:
            raise InvalidInputError(f"middlefill_value and backfill_value must be numbers: {exc}") from exc
        return cls(
            aggregation=aggregation,
            middlefill=fills["middlefill"],
            backfill=fills["backfill"],
            middlefill_value=numbers["middlefill_value"],
            backfill_value=numbers["backfill_value"],
        )


def series_key(values: Sequence[object]) -> str:
    """The id of a series: its id field and dimension values, joined."""
    return KEY_SEPARATOR.join(str(v) for v in values)


def key_fields(key: str) -> list[str]:
    return key.split(KEY_SEPARATOR)


def check_frequency_order(data_frequency: str, forecast_frequency: str) -> None:
    """A forecast can be coarser than its data (rolled up), never finer."""
    if _ORDER[forecast_frequency] > _ORDER[data_frequency]:
        raise InvalidInputError(
            f"ForecastFrequency {forecast_frequency} is finer than the dataset's DataFrequency {data_frequency}; "
            "use the data frequency or a coarser one"
        )


def build_series(
    frame: pd.DataFrame,
    schema: ForecastSchema,
    frequency: str,
    dimensions: Sequence[str] = (),
    featurization: Featurization | None = None,
    holiday_country: str | None = None,
) -> SeriesSet:
    """The regular, filled series of a target time series frame (one data version), at ``frequency``."""
    if frequency not in FREQUENCIES:
        raise InvalidInputError(f"unknown frequency {frequency!r}; allowed: {', '.join(FREQUENCIES)}")
    featurization = featurization or Featurization()
    keys = [schema.id_field, *dimensions]
    target = schema.target_field
    offset = pd.tseries.frequencies.to_offset(pandas_frequency(frequency))
    data = frame[[*keys, TIMESTAMP, target]].copy()
    data[TIMESTAMP] = pd.to_datetime(data[TIMESTAMP])
    data[TIMESTAMP] = _floor(data[TIMESTAMP], frequency)
    data[target] = data[target].astype("float64")
    agg = {"avg": "mean"}.get(featurization.aggregation, featurization.aggregation)
    grouped = data.groupby([*keys, TIMESTAMP], sort=True, dropna=False)[target]
    # missing targets stay missing: an aggregate of only-missing values is missing, not zero
    rolled = grouped.agg(agg, **({"min_count": 1} if agg == "sum" else {})).reset_index()
    last = rolled[TIMESTAMP].max()
    out = []
    for key_values, group in rolled.groupby(keys, sort=True):
        key_values = key_values if isinstance(key_values, tuple) else (key_values,)
        index = pd.date_range(group[TIMESTAMP].min(), last, freq=offset)
        values = group.set_index(TIMESTAMP)[target].reindex(index).to_numpy(dtype=np.float64)
        observed_end = int(np.flatnonzero(index <= group[TIMESTAMP].max())[-1]) + 1
        values = _fill(values, observed_end, featurization)
        out.append(Series(series_key(key_values), index[0], values))
    if not out:
        raise InvalidInputError("the target time series holds no rows")
    return SeriesSet(tuple(out), frequency, holiday_country)


def _floor(timestamps: pd.Series, frequency: str) -> pd.Series:
    if frequency == "Y":
        return timestamps.dt.to_period("Y").dt.start_time
    if frequency == "M":
        return timestamps.dt.to_period("M").dt.start_time
    if frequency == "W":
        return (timestamps - pd.to_timedelta(timestamps.dt.dayofweek, unit="D")).dt.normalize()
    return timestamps.dt.floor(pandas_frequency(frequency))


def _fill(values: np.ndarray, observed_end: int, featurization: Featurization) -> np.ndarray:
    observed = values[:observed_end]
    present = observed[~np.isnan(observed)]
    if not len(present):
        present = np.zeros(1)

    def fill_value(method: str, value: float) -> float:
        return {
            "zero": 0.0,
            "value": value,
            "median": float(np.median(present)),
            "mean": float(np.mean(present)),
            "min": float(np.min(present)),
            "max": float(np.max(present)),
        }[method]

    out = values.copy()
    middle = np.isnan(out[:observed_end])
    out[:observed_end][middle] = fill_value(featurization.middlefill, featurization.middlefill_value)
    out[observed_end:] = fill_value(featurization.backfill, featurization.backfill_value)
    return out


def truncate(data: SeriesSet, end: pd.Timestamp) -> SeriesSet:
    """The series up to (excluding) ``end``; series with nothing before it are left out."""
    out = []
    for series in data.series:
        index = data.index(series)
        keep = int((index < end).sum())
        if keep > 0:
            out.append(Series(series.id, series.start, series.values[:keep]))
    return SeriesSet(tuple(out), data.frequency, data.holiday_country)


def window_truth(data: SeriesSet, start: pd.Timestamp, horizon: int) -> dict[str, np.ndarray]:
    """Each series' actual values over ``horizon`` steps from ``start``, where the series covers them all."""
    out = {}
    for series in data.series:
        index = data.index(series)
        position = int(np.searchsorted(index, start))
        if position > 0 and position + horizon <= len(series.values) and index[position] == start:
            out[series.id] = series.values[position : position + horizon]
    return out
