"""NPTS, Amazon's non-parametric time series forecaster: each future value is a past value drawn at random, with
more weight on recent observations; the seasonal variant draws only from past steps of the same season (the same
hour of day for hourly data), which is what Forecast uses by default.

No library that installs beside pandas 3 ships it (gluonts, which has one, requires pandas<3), and the method is a
few lines of numpy. For step ``T + h`` the candidates are the last ``context_length`` observations of the same
season; a candidate ``k`` seasons back has weight ``exp(-kernel_decay * k)``. Paths are drawn step by step and
each drawn value joins the history, so a horizon longer than a season samples from earlier draws too, as NPTS
does. The forecast is the mean and quantiles of ``num_samples`` paths; a seed makes it reproducible.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from models.forecast.base import Forecaster, ForecasterParams, Prediction, SeriesSet, sample_prediction


class NptsParams(ForecasterParams):
    context_length: int = Field(default=500, ge=1, description="How many past observations may be drawn.")
    kernel_decay: float = Field(
        default=0.25, ge=0.0, description="Weight decay per season back (0: every candidate equally likely)."
    )
    seasonal: bool = Field(default=True, description="Draw only from past steps of the same season.")
    num_samples: int = Field(default=200, ge=10, description="Sample paths per series.")


class Npts(Forecaster):
    algorithm = "NPTS"
    params_class = NptsParams
    params: NptsParams

    def _fit(self, data: SeriesSet) -> None:
        """NPTS has no parameters to learn: every forecast is drawn from its context."""

    def _predict(self, context: SeriesSet, horizon: int, quantiles: tuple[float, ...]) -> dict[str, Prediction]:
        rng = np.random.default_rng(self.seed)
        out = {}
        for series in context.series:
            history = series.values[-self.params.context_length :]
            season = context.season if self.params.seasonal and len(history) > context.season else 1
            paths = np.empty((self.params.num_samples, horizon))
            extended = np.tile(history, (self.params.num_samples, 1))
            for step in range(horizon):
                n = extended.shape[1]
                # candidates: same season as the target step n, going back one season at a time
                candidates = np.arange(n - season, -1, -season)
                weights = np.exp(-self.params.kernel_decay * np.arange(len(candidates)))
                picks = rng.choice(candidates, size=self.params.num_samples, p=weights / weights.sum())
                drawn = extended[np.arange(self.params.num_samples), picks]
                paths[:, step] = drawn
                extended = np.concatenate([extended, drawn[:, None]], axis=1)
            out[series.id] = sample_prediction(paths, quantiles)
        return out
