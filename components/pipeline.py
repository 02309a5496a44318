"""``recsmith_pipeline``: the retraining workflow as a Kubeflow pipeline, the same stages as ``recsmith_retrain``.

import_dataset → train → evaluate → promote → deploy (only when ``promote`` moved production); each step hands
its typed result to the next. AutoML trains its candidates inside ``train`` (in worker processes; HPO trials too),
once. An exit handler runs ``mark_training_failed`` after every run, so a training whose pod was killed leaves its
solution version CREATE FAILED rather than IN PROGRESS.

Parameters are the fields of the Airflow trigger form, typed. Where the stores are comes from Kubernetes, never
from the pipeline: every step reads the ``RECSMITH_*`` environment from the secret ``recsmith-stores`` (catalog and
event-store URLs, MLflow tracking URI: required, so no step ever opens an empty SQLite of its own), the optional
secret ``recsmith-s3`` (S3 keys) and the optional config map ``recsmith-config`` (artifact root, S3 endpoint,
region, account). ``infra/kubeflow/recsmith-stores.yaml`` is an example of both; ``make pipeline-local`` runs the
pipeline on this machine (``kfp.local``), where no Kubernetes is involved and the environment is this process's.
"""

# No `from __future__ import annotations`: KFP reads the real annotation objects of the pipeline function.

from kfp import dsl, kubernetes

from components.stages import deploy, evaluate, import_dataset, mark_training_failed, promote, train

PIPELINE_NAME = "recsmith-pipeline"

STORES_SECRET = "recsmith-stores"
S3_SECRET = "recsmith-s3"
CONFIG_MAP = "recsmith-config"
STORES_ENV = {
    "catalog-url": "RECSMITH_CATALOG_URL",
    "event-store-url": "RECSMITH_EVENT_STORE_URL",
    "mlflow-tracking-uri": "RECSMITH_MLFLOW_TRACKING_URI",
}
S3_ENV = {"aws-access-key-id": "RECSMITH_AWS_ACCESS_KEY_ID", "aws-secret-access-key": "RECSMITH_AWS_SECRET_ACCESS_KEY"}
CONFIG_ENV = {
    "mlflow-artifact-root": "RECSMITH_MLFLOW_ARTIFACT_ROOT",
    "s3-endpoint-url": "RECSMITH_S3_ENDPOINT_URL",
    "region": "RECSMITH_REGION",
    "account-id": "RECSMITH_ACCOUNT_ID",
}


def _with_stores(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Give a step the platform's stores from the cluster (see the module docstring)."""
    kubernetes.use_secret_as_env(task, STORES_SECRET, STORES_ENV)
    kubernetes.use_secret_as_env(task, S3_SECRET, S3_ENV, optional=True)
    kubernetes.use_config_map_as_env(task, CONFIG_MAP, CONFIG_ENV, optional=True)
    return task


@dsl.pipeline(name=PIPELINE_NAME, description="Import, train (AutoML, HPO), evaluate, promote, deploy.")
def recsmith_pipeline(
    data_location: str,
    schema_file: str,
    dataset_group: str = "demo",
    solution: str = "",
    recipe: str = "automl",
    perform_hpo: bool = False,
    solution_config: dict = {},  # noqa: B006 (a KFP default, compiled into the spec, never mutated)
    campaign: str = "demo-campaign",
    update_mode: str = "AUTO",
) -> None:
    cleanup = _with_stores(mark_training_failed(run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER))
    with dsl.ExitHandler(cleanup, name="retrain"):
        imported = _with_stores(
            import_dataset(dataset_group=dataset_group, data_location=data_location, schema_file=schema_file)
        )
        trained = _with_stores(
            train(
                imported=imported.output,
                solution=solution,
                recipe=recipe,
                perform_hpo=perform_hpo,
                solution_config=solution_config,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            )
        )
        trained.set_retry(num_retries=2)
        evaluated = _with_stores(evaluate(trained=trained.outputs["Output"]))
        promoted = _with_stores(promote(evaluation=evaluated.outputs["Output"]))
        with dsl.If(promoted.outputs["Output"] == True):  # noqa: E712 (a KFP condition, compiled to CEL)
            _with_stores(deploy(trained=trained.outputs["Output"], campaign=campaign, update_mode=update_mode))
