"""The MLflow pyfunc flavour of a predictor, so a registered version forecasts with ``mlflow.pyfunc.load_model``.

The predictor travels as its own folder (:mod:`recsmith.forecast.artifact`: JSON, Parquet, ``.npz`` and Prophet's
JSON; no pickle); the wrapper class is logged as code (``pyfunc_entry.py``), not pickled.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from recsmith.forecast.artifact import PredictorArtifact

PREDICTOR_ARTIFACT = "predictor"


class PredictorModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """``predict`` takes rows of series keys (the id field and dimensions, e.g. ``item_id``) and returns one row
    per forecast step: the keys, ``date``, ``mean`` and a ``pNN`` column per quantile."""

    artifact: PredictorArtifact

    def load_context(self, context: Any) -> None:
        self.artifact = PredictorArtifact.load(context.artifacts[PREDICTOR_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from recsmith.forecast.forecasts import forecast_frame

        frame = forecast_frame(self.artifact)
        keys = self.artifact.key_fields
        wanted = model_input[[k for k in keys if k in model_input.columns]].astype(str).drop_duplicates()
        return frame.merge(wanted, on=list(wanted.columns), how="inner").reset_index(drop=True)
