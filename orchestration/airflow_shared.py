"""What several DAGs in ``dags/`` share: their typed Params and the evaluate/register/promote tasks.

One definition each, so a field reads the same in every trigger form of the Airflow UI and a stage runs the
same code in every DAG. Parsing stays fast: the recsmith imports happen inside the task bodies.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, task

from models.registry import recipe_ids

AUTOML = "automl"
"""The ``recipe`` param value that asks for AutoML over the default candidate recipes."""

_PARAMS: dict[str, dict[str, Any]] = {
    "dataset_group": {
        "default": "demo",
        "type": "string",
        "minLength": 1,
        "title": "Dataset group",
        "description": "Created when missing.",
    },
    "data_location": {
        "default": ".recsmith/sample/interactions.csv",
        "type": "string",
        "minLength": 1,
        "title": "Data location",
        "description": "CSV or Parquet file or folder to import.",
    },
    "schema_file": {
        "default": ".recsmith/sample/interactions.schema.json",
        "type": "string",
        "minLength": 1,
        "title": "Schema file",
        "description": "Avro schema JSON of the dataset.",
    },
    "solution": {
        "default": "",
        "type": "string",
        "title": "Solution",
        "description": "Solution name; empty means <dataset_group>-<recipe>.",
    },
    "recipe": {
        "default": AUTOML,
        "type": "string",
        "enum": [*recipe_ids(), AUTOML],
        "title": "Recipe",
        "description": "A recipe id, or automl to train every candidate and keep the best.",
    },
    "perform_hpo": {
        "default": False,
        "type": "boolean",
        "title": "Tune hyperparameters",
        "description": "Tune each recipe's hyperparameters with Optuna on validation.",
    },
    "solution_config": {
        "default": {},
        "type": "object",
        "title": "Solution config",
        "description": "Personalize's solutionConfig JSON: hpoConfig (hpoResourceConfig.maxNumberOfTrainingJobs, "
        "maxTrainingSeconds), autoMLConfig (recipeList, recipeHyperParameters), algorithmHyperParameters.",
    },
    "campaign": {
        "default": "demo-campaign",
        "type": "string",
        "minLength": 1,
        "title": "Campaign",
        "description": "Campaign that serves the solution; created on the first deploy.",
    },
    "update_mode": {
        "default": "AUTO",
        "type": "string",
        "enum": ["AUTO", "MANUAL"],
        "title": "Update mode",
        "description": "AUTO follows the registry's production alias; MANUAL stays pinned.",
    },
}


def params(*names: str, **descriptions: str) -> dict[str, Param]:
    """Fresh Params for ``names``; a keyword overrides that Param's description for one DAG."""
    built: dict[str, Param] = {}
    for name in names:
        spec = dict(_PARAMS[name])
        if name in descriptions:
            spec["description"] = descriptions[name]
        built[name] = Param(spec.pop("default"), **spec)
    return built


@task
def evaluate(solution_version_arn: str) -> dict[str, Any]:
    """recsmith.workflow.evaluate: the new version against production on the objective."""
    from orchestration.airflow_tasks import stage
    from recsmith.workflow import evaluate as evaluate_stage

    with stage() as platform:
        return evaluate_stage(platform, solution_version_arn)


@task
def register(solution_version_arn: str) -> dict[str, Any]:
    """recsmith.workflow.register: mark the version the registered model's ``staging`` candidate."""
    from orchestration.airflow_tasks import stage
    from recsmith.workflow import register as register_stage

    with stage() as platform:
        return register_stage(platform, solution_version_arn)


@task
def promote(solution_version_arn: str) -> dict[str, Any]:
    """recsmith.workflow.promote_if_better: move ``production`` only to a better version."""
    from orchestration.airflow_tasks import stage
    from recsmith.workflow import promote_if_better

    with stage() as platform:
        return promote_if_better(platform, solution_version_arn)
