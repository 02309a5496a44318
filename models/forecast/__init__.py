"""The forecasting algorithms of the Forecast side, behind their own small contract (:mod:`models.forecast.base`):
ETS, ARIMA, NPTS, Prophet, DeepAR+ and CNN-QR, and the seasonal-naive baseline.

Like the recipes beside them, they know nothing of the platform; ``recsmith.forecast`` reaches them through
:func:`models.forecast.registry.get_forecaster_class`.
"""

from models.forecast.base import Forecaster, Prediction, Series, SeriesSet
from models.forecast.registry import algorithm_arn, algorithm_names, get_forecaster_class

__all__ = [
    "Forecaster",
    "Prediction",
    "Series",
    "SeriesSet",
    "algorithm_arn",
    "algorithm_names",
    "get_forecaster_class",
]
