"""The MLflow pyfunc flavour of a recipe, so a registered version loads with ``mlflow.pyfunc.load_model``.

The recipe itself travels as its own saved folder (JSON + ``.npz``, no pickle) in the model's artifacts; the
wrapper class is pickled by reference only (its import path).
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from typing import Any

import mlflow.pyfunc
import pandas as pd

from models.base import Recipe

RECIPE_ARTIFACT = "recipe"

_MODEL_PACKAGES = ("recsmith", "mlflow", "numpy", "pandas", "scipy", "scikit-learn", "pydantic", "torch")
"""What loading a recsmith pyfunc model imports: the recipes come with recsmith, the rest are what they use."""


@cache
def model_requirements() -> list[str]:
    """The pip requirements logged with every recsmith model: the installed versions of what loading one imports.

    Given explicitly because MLflow's inference of them loads the model in a fresh interpreter and scans its
    imports, which cost about 22 s of every training (profiled under ``recsmith_retrain``), for the same answer
    each time.
    """
    requirements = []
    for name in _MODEL_PACKAGES:
        try:
            requirements.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return requirements


class RecipeModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """``predict`` takes rows with ``userId`` or ``itemId`` (and optional ``numResults``) and returns lists."""

    recipe: Recipe

    def load_context(self, context: Any) -> None:
        self.recipe = Recipe.load(context.artifacts[RECIPE_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        rows = []
        for record in model_input.to_dict(orient="records"):
            n = int(record.get("numResults") or 25)
            user = record.get("userId")
            if user is not None and not pd.isna(user):
                answer = self.recipe.recommend([str(user)], n)[0]
            else:
                answer = self.recipe.similar_items([str(record["itemId"])], n)[0]
            rows.append({"itemIds": answer.item_ids, "scores": answer.scores})
        return pd.DataFrame(rows)
