"""``recsmith_pipeline``: the retraining workflow as a Kubeflow pipeline, the same stages as ``recsmith_retrain``.

import_dataset → train → evaluate → register → promote → deploy (only when ``promote`` moved production), and,
beside the main path, each AutoML candidate recipe trained as its own solution ``<solution>-<recipe>`` in a
``ParallelFor``, so the candidates' metrics are visible side by side. The main path trains the configured
solution (AutoML picks among the same candidates inside ``train``) and is the one promoted and deployed.

Parameters are the JSON of the typed configs: ``ImportConfig``, ``TrainConfig``, and ``DeployConfig`` without
``solution_version_arn`` (the pipeline fills it in).
"""

# No `from __future__ import annotations`: KFP reads the real annotation objects of the pipeline function.

from kfp import dsl

from components.stages import automl_candidates, deploy, evaluate, import_dataset, promote, register, train

PIPELINE_NAME = "recsmith-pipeline"


@dsl.pipeline(name=PIPELINE_NAME, description="Import, train (AutoML candidates in parallel), promote, deploy.")
def recsmith_pipeline(
    import_config: str,
    train_config: str,
    deploy_config: str = '{"campaign": "demo-campaign", "update_mode": "AUTO"}',
) -> None:
    imported = import_dataset(config=import_config)
    trained = train(config=train_config).after(imported)
    version = trained.outputs["Output"]

    # after the main training: a first use of an embedded (SQLite) MLflow store creates its tables, and two
    # first uses at once race; with a tracking server this ordering costs nothing
    candidates = automl_candidates(config=train_config)
    with dsl.ParallelFor(candidates.output, parallelism=2) as candidate_config:
        train(config=candidate_config).after(trained).set_display_name("train-candidate")

    evaluated = evaluate(solution_version_arn=version)
    registered = register(solution_version_arn=version).after(evaluated)
    promoted = promote(solution_version_arn=version).after(registered)
    with dsl.If(promoted.outputs["Output"] == True):  # noqa: E712 (a KFP condition, compiled to CEL, not a Python test)
        deploy(config=deploy_config, solution_version_arn=version)
