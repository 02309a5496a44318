"""Training mode UPDATE: a new solution version made by folding the data's changes into the last ACTIVE one.

For the count-based recipes (the registry lists UPDATE among their training modes: popularity_count, sims,
next_item_knn, trending_now) folding new interactions in is exact and cheap: the new version is the last ACTIVE
version's model with :meth:`~models.incremental.IncrementalRecipe.apply_delta` applied, and equals a FULL
training on the same snapshot without its AutoML and HPO (the recipe and hyperparameters are the last version's).
The delta is the difference between the interactions the model holds and the training snapshot now (imports,
PutEvents and deletions alike), so rows removed from the data leave the model too.

No new split is scored: an UPDATE version carries the offline metrics of the version it updated
(``metricsFromSolutionVersionArn`` says which), as a FULL training is what measures a recipe.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from models.columns import USER_ID
from models.incremental import IncrementalRecipe, interaction_delta
from models.registry import UPDATE, describe_recipe, list_recipes
from recsmith.campaigns.holder import load_recipe
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import InvalidInputError
from recsmith.platform import Platform
from recsmith.training.pyfunc import RECIPE_ARTIFACT, model_requirements
from recsmith.training.registry import ensure_registered_model, registered_model_name
from recsmith.training.solutions import solution_config

_PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_entry.py")


def updatable_recipes() -> list[str]:
    """The recipes whose solutions accept training mode UPDATE."""
    return [info.recipe_id for info in list_recipes() if UPDATE in info.training_modes]


def check_update(platform: Platform, solution: Resource) -> Resource:
    """The ACTIVE version an UPDATE of ``solution`` starts from; refuses solutions that cannot be updated."""
    config = solution_config(solution)
    recipe = config.recipe
    if recipe is None or config.perform_automl or UPDATE not in describe_recipe(recipe).training_modes:
        raise InvalidInputError(
            f"training mode UPDATE needs a solution of one recipe that supports it ({', '.join(updatable_recipes())});"
            f" solution {solution.name} trains {recipe or 'AutoML'}: use FULL"
        )
    versions = platform.catalog.list(ResourceType.SOLUTION_VERSION, where={"solutionArn": solution.arn})
    active = [v for v in versions if v.status is Status.ACTIVE]
    if not active:
        raise InvalidInputError(f"solution {solution.name} has no ACTIVE version to update; train one with FULL")
    return active[-1]


def update_solution_version(platform: Platform, solution: Resource, version: Resource) -> dict[str, Any]:
    """Fold the snapshot's changes into the last ACTIVE version's model and register the result."""
    from recsmith.training.versions import _experiment_id, training_snapshot

    started = time.time()
    base = check_update(platform, solution)
    platform.configure_mlflow()
    recipe = load_recipe(platform, base.attributes["modelUri"])
    if not isinstance(recipe, IncrementalRecipe):
        raise InvalidInputError(f"the model of {base.arn} ({recipe.recipe_id}) cannot take an UPDATE; use FULL")
    config = solution_config(solution)
    group = platform.catalog.get(ResourceType.DATASET_GROUP, str(solution.dataset_group_arn))
    snapshot = training_snapshot(platform, group.arn, config)
    added, removed = interaction_delta(recipe.interaction_log(), snapshot.interactions)
    recipe.apply_delta(added=added, removed=removed)
    model_name = registered_model_name(group.name, solution.name)
    mlflow.set_experiment(experiment_id=_experiment_id(platform, group.name))
    with mlflow.start_run(run_name=version.name.replace("/", "-")) as run:
        tags = {
            "recsmith.dataset_group": group.name,
            "recsmith.solution": solution.name,
            "recsmith.solution_version_arn": version.arn,
            "recsmith.training_mode": UPDATE,
            "recsmith.updated_from": base.arn,
            "recsmith.recipe": recipe.recipe_id,
            "recsmith.data_version": snapshot.data_version["id"],
            "recsmith.data_md5": snapshot.data_version["md5"],
        }
        mlflow.set_tags(tags)
        mlflow.log_params({"recipe": recipe.recipe_id, "training_rows": len(snapshot.interactions)})
        mlflow.log_metrics({"interactions_added": len(added), "interactions_removed": len(removed)})
        first_user = str(snapshot.interactions[USER_ID].iloc[0])
        with tempfile.TemporaryDirectory() as tmp:
            recipe_dir = recipe.save(Path(tmp) / "recipe")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(_PYFUNC_ENTRY),
                artifacts={RECIPE_ARTIFACT: str(recipe_dir)},
                pip_requirements=model_requirements(),
                input_example=pd.DataFrame({"userId": [first_user], "numResults": [5]}),
            )
        ensure_registered_model(MlflowClient(), model_name, f"Solution {solution.arn}")
        model_version = mlflow.register_model(info.model_uri, model_name, await_registration_for=120, tags=tags)
    return {
        "recipeArn": base.attributes["recipeArn"],
        "recipe": recipe.recipe_id,
        "tunedHPOParams": None,
        "metrics": base.attributes["metrics"],
        "metricsFromSolutionVersionArn": base.arn,
        "candidates": {},
        "mlflowRunId": run.info.run_id,
        "mlflowExperimentId": run.info.experiment_id,
        "modelName": model_name,
        "modelVersion": str(model_version.version),
        "modelUri": f"models:/{model_name}/{model_version.version}",
        "dataVersion": snapshot.data_version["id"],
        "dataMd5": snapshot.data_version["md5"],
        "splitId": base.attributes.get("splitId"),
        "updatedFrom": base.arn,
        "interactionsAdded": len(added),
        "interactionsRemoved": len(removed),
        "trainingHours": (time.time() - started) / 3600.0,
    }
