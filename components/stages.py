"""One lightweight KFP component per workflow stage; each calls the ``recsmith.workflow`` function of its name.

Inputs are typed parameters (strings, booleans, the solutionConfig object), the same fields as the Airflow
trigger form. Between components travel the stages' typed results (:mod:`recsmith.stage_results`) as JSON
objects (without their empty fields: KFP's parameter values cannot hold a null), validated back into their
pydantic class by the next component; the data itself stays where the platform keeps it.

Every component opens the platform the ``RECSMITH_*`` environment of its container describes: the pipeline
(:mod:`components.pipeline`) sets it from a Kubernetes secret and config map, so that every step's pod reaches the
same catalog, event store and MLflow.
"""

# No `from __future__ import annotations`: KFP reads the real annotation objects of the component functions.

from kfp import dsl
from kfp.dsl import Metrics, Model, Output

IMAGE = "recsmith-python:latest"
"""The image ``infra/Dockerfile`` builds: recsmith and its dependencies, installed once (no installs at run time)."""


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def import_dataset(dataset_group: str, data_location: str, schema_file: str) -> dict:
    """Import a file into the group's INTERACTIONS dataset; returns the ``ImportResult``."""
    from recsmith.platform import Platform
    from recsmith.workflow import ImportConfig, import_dataset

    config = ImportConfig(dataset_group=dataset_group, data_location=data_location, schema_file=schema_file)
    return import_dataset(Platform.from_env(), config).model_dump(mode="json", exclude_none=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(
    imported: dict,
    solution: str,
    recipe: str,
    perform_hpo: bool,
    solution_config: dict,
    run_id: str,
    metrics: Output[Metrics],
    model: Output[Model],
) -> dict:
    """Train a new solution version (AutoML trains its candidates here, in worker processes); returns the
    ``TrainResult``, logs its test metrics and the registered model. ``run_id`` keys the version to this pipeline
    run, so a retry of the step reuses what an earlier try finished and fails what it left unfinished."""
    from recsmith.platform import Platform
    from recsmith.stage_results import ImportResult
    from recsmith.workflow import train, train_config

    group = ImportResult.model_validate(imported).dataset_group
    config = train_config(group, solution or None, recipe, perform_hpo, solution_config)
    result = train(Platform.from_env(), config, task_key=f"kfp/{run_id}/train")
    for name, value in result.metrics.items():
        metrics.log_metric(name, float(value))
    model_uri = f"models:/{result.model_name}/{result.model_version}"
    with open(model.path, "w") as handle:
        handle.write(model_uri + "\n")
    model.metadata.update(
        {
            "modelName": result.model_name,
            "modelVersion": result.model_version,
            "modelUri": model_uri,
            "solutionVersionArn": result.solution_version_arn,
            "recipe": result.recipe,
        }
    )
    return result.model_dump(mode="json", exclude_none=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(trained: dict, comparison: Output[Metrics]) -> dict:
    """Compare the version with the one in production on the solution's objective metric (``Evaluation``)."""
    from recsmith.platform import Platform
    from recsmith.stage_results import TrainResult
    from recsmith.workflow import evaluate

    evaluation = evaluate(Platform.from_env(), TrainResult.model_validate(trained))
    comparison.log_metric(evaluation.objective, evaluation.value)
    if evaluation.production_value is not None:
        comparison.log_metric(f"production.{evaluation.objective}", evaluation.production_value)
    return evaluation.model_dump(mode="json", exclude_none=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def promote(evaluation: dict, decision: Output[Metrics]) -> bool:
    """Move ``production`` to the version when the evaluation says it beat production; returns whether it moved
    (a plain boolean, which the pipeline's condition reads), with the ``Promotion`` in ``decision``'s metadata."""
    from recsmith.platform import Platform
    from recsmith.stage_results import Evaluation
    from recsmith.workflow import promote

    promotion = promote(Platform.from_env(), Evaluation.model_validate(evaluation))
    decision.log_metric("promoted", float(promotion.promoted))
    decision.metadata.update(promotion.model_dump(mode="json", exclude_none=True))
    return promotion.promoted


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def deploy(trained: dict, campaign: str, update_mode: str) -> dict:
    """Create (or move) the campaign onto the trained version, once promoted (``Deployment``)."""
    from recsmith.platform import Platform
    from recsmith.stage_results import TrainResult
    from recsmith.workflow import DeployConfig, deploy

    version = TrainResult.model_validate(trained).solution_version_arn
    config = DeployConfig(campaign=campaign, solution_version_arn=version, update_mode=update_mode)
    return deploy(Platform.from_env(), config).model_dump(mode="json", exclude_none=True)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mark_training_failed(run_id: str) -> list:
    """At the end of every run: versions this run's training left unfinished with its process gone become
    CREATE FAILED; a run whose training ended leaves nothing to do. (Across pods, a process of another host
    counts as alive: the version is then ended when its process is found gone, by the job lifecycle.)"""
    from recsmith.platform import Platform
    from recsmith.workflow import fail_unfinished_training

    return fail_unfinished_training(Platform.from_env(), f"kfp/{run_id}/train")
