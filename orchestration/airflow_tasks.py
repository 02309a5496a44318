"""The Airflow glue of the DAGs in ``dags/``: typed Params, the platform a task opens, and the tasks they share.

One definition each, so a field reads the same in every trigger form of the Airflow UI and a stage runs the same
code in every DAG. Tasks pass the stages' typed results (:mod:`recsmith.stage_results`) to each other as XComs;
importing this module allows those classes to be deserialized (Airflow refuses classes it was not told about).

Parsing stays fast: at import this module reads the settings and the recipe ids; the workflow (MLflow, pandas)
is imported inside the task bodies.

A task retries transient faults (its ``retries``), but a bad config, a missing file or a row that breaks its
schema will fail the same way every time, so :func:`stage` turns those into ``AirflowFailException`` and the
task fails at once, with the message that says what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import Param, TriggerRule, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.serde import allow_class
from pydantic import ValidationError

from models.registry import recipe_ids
from recsmith.errors import InvalidInputError, ResourceNotFoundError
from recsmith.settings import load_settings
from recsmith.stage_results import STAGE_RESULTS, Evaluation, Promotion, TrainResult

if TYPE_CHECKING:
    from recsmith.platform import Platform

for _result in STAGE_RESULTS:
    allow_class(_result)

AUTOML = "automl"
"""The ``recipe`` param value that asks for AutoML (``recsmith.workflow.AUTOML``, not imported at parse time)."""

DEFAULT_ARGS: dict[str, Any] = {"retries": 2}
"""Every recsmith task retries transient faults twice (:func:`stage` fails config and data errors at once), after
the deployment's ``[core] default_task_retry_delay`` (``make airflow-ui`` sets 30 s; Airflow's default is 300)."""

_SAMPLE = load_settings().resolved_home / "sample"
"""Where ``make demo`` writes its sample: the data params' defaults, absolute so a run never depends on the
scheduler's working directory (the DAG processor's ``RECSMITH_HOME`` decides it)."""

_PARAMS: dict[str, dict[str, Any]] = {
    "dataset_group": {
        "default": "demo",
        "type": "string",
        "minLength": 1,
        "title": "Dataset group",
        "description": "Created when missing.",
    },
    "data_location": {
        "default": str(_SAMPLE / "interactions.csv"),
        "type": "string",
        "minLength": 1,
        "title": "Data location",
        "description": "CSV or Parquet file or folder to import: an absolute path or an s3:// URI "
        "(the default is the demo's sample).",
    },
    "schema_file": {
        "default": str(_SAMPLE / "interactions.schema.json"),
        "type": "string",
        "minLength": 1,
        "title": "Schema file",
        "description": "Avro schema JSON of the dataset: an absolute path.",
    },
    "solution": {
        "default": None,
        "type": ["null", "string"],
        "title": "Solution",
        "description": "Solution name; leave empty for <dataset_group>-<recipe>, e.g. demo-automl.",
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
        "maxTrainingSeconds), autoMLConfig (recipeList, recipeHyperParameters), algorithmHyperParameters, "
        "autoTrainingConfig.schedulingExpression, performAutoTraining. Applies when the solution is created.",
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


PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    InvalidInputError,
    ResourceNotFoundError,
    ValidationError,
    FileNotFoundError,
)
"""Errors a retry cannot fix: the task fails without retrying."""


@contextmanager
def stage() -> Iterator[Platform]:
    """The platform the ``RECSMITH_*`` environment describes, for one task; permanent errors fail fast."""
    from recsmith.platform import Platform

    platform = Platform.from_env()
    try:
        yield platform
    except PERMANENT_ERRORS as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    finally:
        if "catalog" in platform.__dict__:
            platform.catalog.dispose()


def task_key(ti: Any, task_id: str | None = None) -> str:
    """``dag/run/task`` of a task instance (or of ``task_id`` in the same run): the same in every try."""
    return f"{ti.dag_id}/{ti.run_id}/{task_id or ti.task_id}"


@task
def evaluate(trained: TrainResult) -> Evaluation:
    """recsmith.workflow.evaluate: the new version against production on the solution's objective."""
    from recsmith.workflow import evaluate as evaluate_stage

    with stage() as platform:
        return evaluate_stage(platform, trained)


@task
def promote(evaluation: Evaluation) -> Promotion:
    """recsmith.workflow.promote: move ``production`` to the version only when the evaluation says it is better."""
    from recsmith.workflow import promote as promote_stage

    with stage() as platform:
        return promote_stage(platform, evaluation)


@task(trigger_rule=TriggerRule.ONE_FAILED)
def mark_training_failed(training_task_id: str, ti: Any = None) -> list[str]:
    """After the training task failed for good: its unfinished versions become CREATE FAILED.

    A try that raised already recorded its reason; this is for a try killed with SIGKILL (out of memory, an
    operator), which runs no code of its own and would otherwise leave its version IN PROGRESS for good.
    Skipped when the training succeeded.
    """
    from recsmith.workflow import fail_unfinished_training

    key = task_key(ti, training_task_id)
    with stage() as platform:
        return fail_unfinished_training(platform, key)
