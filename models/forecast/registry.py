"""The forecasting algorithms: Forecast's algorithm name (the id everywhere) to class, and their ARNs.

``arn:aws:forecast:::algorithm/<name>`` is how Forecast names them in ``CreatePredictor`` and in
``GetAccuracyMetrics``; the names are Forecast's own (``Deep_AR_Plus``, ``CNN_QR``...).
"""

from __future__ import annotations

import importlib

from models.forecast.base import Forecaster

# algorithm name -> "module:Class"; imported lazily so that listing algorithms stays cheap (torch, prophet)
_ALGORITHMS: dict[str, str] = {
    "ETS": "models.forecast.ets:Ets",
    "ARIMA": "models.forecast.arima:Arima",
    "NPTS": "models.forecast.npts:Npts",
    "Prophet": "models.forecast.prophet:ProphetForecaster",
    "Deep_AR_Plus": "models.forecast.deepar:DeepArPlus",
    "CNN_QR": "models.forecast.cnn_qr:CnnQr",
}
_BASELINES: dict[str, str] = {"Seasonal_Naive": "models.forecast.seasonal_naive:SeasonalNaive"}
ALGORITHM_ARN_PREFIX = "arn:aws:forecast:::algorithm/"


def algorithm_names() -> list[str]:
    """Every algorithm AutoPredictor may choose among, in Forecast's order."""
    return list(_ALGORITHMS)


def algorithm_arn(name: str) -> str:
    return f"{ALGORITHM_ARN_PREFIX}{name}"


def algorithm_of_arn(arn: str) -> str:
    """The algorithm name of ``arn:aws:forecast:::algorithm/<name>``; an unknown one lists the known ARNs."""
    name = arn.removeprefix(ALGORITHM_ARN_PREFIX)
    if not arn.startswith(ALGORITHM_ARN_PREFIX) or name not in _ALGORITHMS:
        known = ", ".join(algorithm_arn(n) for n in _ALGORITHMS)
        raise KeyError(f"unknown algorithm {arn!r}; known: {known}")
    return name


def get_forecaster_class(name: str) -> type[Forecaster]:
    """The class of algorithm ``name`` (or of a baseline); a ``KeyError`` lists the known names."""
    target = _ALGORITHMS.get(name) or _BASELINES.get(name)
    if target is None:
        raise KeyError(f"unknown algorithm {name!r}; known: {', '.join([*_ALGORITHMS, *_BASELINES])}")
    module_name, class_name = target.split(":")
    forecaster_cls: type[Forecaster] = getattr(importlib.import_module(module_name), class_name)
    return forecaster_cls
