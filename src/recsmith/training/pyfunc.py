"""The MLflow pyfunc flavour of a recipe, so a registered version loads with ``mlflow.pyfunc.load_model``.

The recipe itself travels as its own saved folder (JSON + ``.npz``, no pickle) in the model's artifacts; the
wrapper class is pickled by reference only (its import path).
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from models.base import Recipe

RECIPE_ARTIFACT = "recipe"


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
