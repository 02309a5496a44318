"""MLflow "model from code" entry of a predictor: logging this file instead of a pickled object means no pickle."""

from mlflow.models import set_model

from recsmith.forecast.pyfunc import PredictorModel

set_model(PredictorModel())
