"""One lightweight KFP component per workflow stage; each calls the ``recsmith.workflow`` function of its name.

Configs travel as JSON strings of the same pydantic models the Airflow DAGs and the CLI build (``ImportConfig``,
``TrainConfig``, ``DeployConfig``); they are small, and the data itself stays where the platform keeps it.
Every component opens the platform the ``RECSMITH_*`` environment of its container describes, so the image
(``infra/Dockerfile``) and the pipeline's environment decide where the catalog and MLflow live.
"""

# No `from __future__ import annotations`: KFP reads the real annotation objects of the component functions.

from kfp import dsl
from kfp.dsl import Metrics, Model, Output

IMAGE = "recsmith-python:latest"
"""The image ``infra/Dockerfile`` builds: recsmith and its dependencies, installed once (no installs at run time)."""


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def import_dataset(config: str) -> dict:
    """Import a file into a dataset (``ImportConfig`` JSON); returns the job ARN and the data version."""
    from recsmith.platform import Platform
    from recsmith.workflow import ImportConfig, import_dataset

    return import_dataset(Platform.from_env(), ImportConfig.model_validate_json(config))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def automl_candidates(config: str) -> list:
    """The ``TrainConfig`` JSON of each candidate recipe of ``config``, as its own solution ``<solution>-<recipe>``."""
    from recsmith.training.solutions import SolutionConfig
    from recsmith.workflow import TrainConfig

    base = TrainConfig.model_validate_json(config)
    solution = base.solution_config.model_dump()
    return [
        TrainConfig(
            dataset_group=base.dataset_group,
            solution=f"{base.solution}-{recipe}",
            solution_config=SolutionConfig(**{**solution, "perform_automl": False, "recipe": recipe}),
        ).model_dump_json()
        for recipe in base.solution_config.candidates()
    ]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(config: str, metrics: Output[Metrics], model: Output[Model]) -> str:
    """Train a new solution version (``TrainConfig`` JSON); returns its ARN, logs its test metrics and model."""
    from recsmith.platform import Platform
    from recsmith.workflow import TrainConfig, train

    result = train(Platform.from_env(), TrainConfig.model_validate_json(config))
    for name, value in result["metrics"].items():
        metrics.log_metric(name, float(value))
    model_uri = f"models:/{result['modelName']}/{result['modelVersion']}"
    with open(model.path, "w") as handle:
        handle.write(model_uri + "\n")
    model.metadata.update(
        {
            "modelName": result["modelName"],
            "modelVersion": result["modelVersion"],
            "modelUri": model_uri,
            "solutionVersionArn": result["solutionVersionArn"],
            "recipe": result["recipe"],
        }
    )
    return result["solutionVersionArn"]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(solution_version_arn: str) -> dict:
    """Compare the version with the one in production on the solution's objective metric."""
    from recsmith.platform import Platform
    from recsmith.workflow import evaluate

    return evaluate(Platform.from_env(), solution_version_arn)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(solution_version_arn: str) -> dict:
    """Mark the version as its registered model's ``staging`` candidate."""
    from recsmith.platform import Platform
    from recsmith.workflow import register

    return register(Platform.from_env(), solution_version_arn)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def promote(solution_version_arn: str, comparison: Output[Metrics]) -> bool:
    """Move ``production`` to the version when it beats the one in production (``promote_if_better``).

    Returns whether it moved; ``comparison`` holds the objective values compared.
    """
    from recsmith.platform import Platform
    from recsmith.workflow import promote_if_better

    verdict = promote_if_better(Platform.from_env(), solution_version_arn)
    comparison.log_metric(verdict["objective"], float(verdict["value"]))
    if verdict["productionValue"] is not None:
        comparison.log_metric(f"production.{verdict['objective']}", float(verdict["productionValue"]))
    comparison.log_metric("promoted", float(verdict["promoted"]))
    return bool(verdict["promoted"])


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def deploy(config: str, solution_version_arn: str) -> dict:
    """Create (or move) the campaign of ``config`` (``DeployConfig`` JSON without the version) onto the version."""
    import json

    from recsmith.platform import Platform
    from recsmith.workflow import DeployConfig, deploy

    values = {**json.loads(config), "solution_version_arn": solution_version_arn}
    return deploy(Platform.from_env(), DeployConfig(**values))
