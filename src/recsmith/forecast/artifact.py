"""A trained predictor as one folder: what forecasts need, and nothing that executes on load.

``predictor.json`` holds the horizon, frequency, quantiles, holiday country and, per series, the algorithms whose
forecasts are averaged (AutoPredictor's choice); ``series.parquet`` the filled series the predictor was trained
on (a forecast starts right after them, as Forecast's does); ``models/<algorithm>/`` each fitted algorithm
(:meth:`models.forecast.base.Forecaster.save`). The same folder is the MLflow model's artifact, so a registered
predictor version forecasts anywhere without the catalog.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.forecast.base import Forecaster, Prediction, Series, SeriesSet

_META = "predictor.json"
_SERIES = "series.parquet"
MODELS = "models"


def combine(predictions: Sequence[Prediction]) -> Prediction:
    """The equal-weight average of several algorithms' forecasts (means, and each quantile's forecasts)."""
    if len(predictions) == 1:
        return predictions[0]
    quantiles = predictions[0].quantiles.keys()
    return Prediction(
        mean=np.mean([p.mean for p in predictions], axis=0),
        quantiles={q: np.mean([p.quantiles[q] for p in predictions], axis=0) for q in quantiles},
    )


def save_series(data: SeriesSet, folder: Path) -> None:
    frames = [pd.DataFrame({"series": s.id, "timestamp": data.index(s), "value": s.values}) for s in data.series]
    pd.concat(frames, ignore_index=True).to_parquet(folder / _SERIES, index=False)


def load_series(folder: Path, frequency: str, holiday_country: str | None) -> SeriesSet:
    frame = pd.read_parquet(folder / _SERIES)
    series = [
        Series(str(sid), pd.Timestamp(group["timestamp"].iloc[0]), group["value"].to_numpy(dtype=np.float64))
        for sid, group in frame.groupby("series", sort=True)
    ]
    return SeriesSet(tuple(series), frequency, holiday_country)


def write_meta(folder: Path, meta: Mapping[str, Any]) -> None:
    (folder / _META).write_text(json.dumps(meta, indent=2, default=str))


@dataclass
class PredictorArtifact:
    """A loaded predictor folder: forecasts the horizon after its training data, per series."""

    meta: dict[str, Any]
    data: SeriesSet
    models: dict[str, Forecaster]

    @classmethod
    def load(cls, folder: str | Path) -> PredictorArtifact:
        root = Path(folder)
        meta = json.loads((root / _META).read_text())
        data = load_series(root, meta["frequency"], meta.get("holidayCountry"))
        models = {name: Forecaster.load(root / MODELS / name) for name in sorted(set(_used(meta)))}
        return cls(meta, data, models)

    @property
    def quantiles(self) -> tuple[float, ...]:
        return tuple(float(q) for q in self.meta["quantiles"])

    @property
    def key_fields(self) -> list[str]:
        return list(self.meta["keyFields"])

    def forecast(self) -> tuple[dict[str, Prediction], dict[str, pd.DatetimeIndex]]:
        """Every series' forecast (the ensemble of its chosen algorithms) and the timestamps it covers."""
        horizon = int(self.meta["horizon"])
        by_algorithm = {name: model.predict(self.data, horizon, self.quantiles) for name, model in self.models.items()}
        ensembles: dict[str, list[str]] = self.meta["ensembles"]
        out = {}
        index = {}
        for series in self.data.series:
            chosen = ensembles.get(series.id) or self.meta["defaultEnsemble"]
            out[series.id] = combine([by_algorithm[name][series.id] for name in chosen])
            index[series.id] = self.data.future_index(series, horizon)
        return out, index


def _used(meta: Mapping[str, Any]) -> list[str]:
    names = list(meta["defaultEnsemble"])
    for chosen in meta["ensembles"].values():
        names.extend(chosen)
    return names
