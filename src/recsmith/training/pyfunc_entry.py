"""MLflow "model from code" entry: logging this file instead of a pickled object means no pickle at all."""

from mlflow.models import set_model

from recsmith.training.pyfunc import RecipeModel

set_model(RecipeModel())
