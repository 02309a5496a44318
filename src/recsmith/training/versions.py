"""Solution versions: one training run, tracked in MLflow and registered as a model version.

A training takes a snapshot (the INTERACTIONS data version plus the group's PutEvents), splits it
reproducibly, picks the recipe (AutoML compares candidates on a validation split carved from the training
part, never on the test users), optionally tunes it (Optuna, every trial a nested MLflow run), scores it on the
test split, then fits the final model on the whole snapshot, as Personalize does, and registers it as a version
of the registered model ``<group>.<solution>``. The solution version ends ACTIVE or CREATE FAILED.

:func:`start_solution_version` records it (CREATE PENDING); :func:`run_solution_version` trains it (a job
executor's worker, or :func:`create_solution_version`). A training whose process died is ended by
:mod:`recsmith.jobs.lifecycle`, which calls :func:`discard_solution_version` to remove what it left.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from models.base import Compute, InteractionData, Recipe
from models.columns import EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from models.registry import get_recipe_class
from recsmith.arns import make_arn
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.data.datasets import find_dataset
from recsmith.data.imports import read_current
from recsmith.data.schemas import DatasetType
from recsmith.errors import InvalidInputError, RecsmithError
from recsmith.evaluation.split import Split, split_interactions
from recsmith.jobs import JobKind
from recsmith.jobs.lifecycle import begin_job, record_job
from recsmith.platform import Platform
from recsmith.training.automl import CandidateJob, TrainingData, choose, log_candidates, run_candidates
from recsmith.training.pyfunc import RECIPE_ARTIFACT, model_requirements
from recsmith.training.registry import ensure_registered_model, registered_model_name
from recsmith.training.solutions import SolutionConfig, solution_config

logger = logging.getLogger(__name__)

_PYFUNC_ENTRY = Path(__file__).with_name("pyfunc_entry.py")


@dataclass(frozen=True)
class Snapshot:
    """The training data of one run, and where it came from."""

    interactions: pd.DataFrame
    data_version: dict[str, Any]
    events_rows: int
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    events_count: int = 0
    """The group's PutEvents count when the snapshot was taken (automatic training compares it)."""

    def training_data(self, interactions: pd.DataFrame | None = None) -> InteractionData:
        """What a recipe is fitted on: ``interactions`` (default: all of them) with the group's metadata."""
        frame = self.interactions if interactions is None else interactions
        return InteractionData(frame, items=self.items, users=self.users)


def training_metadata(platform: Platform, dataset_group_arn: str, kind: DatasetType) -> pd.DataFrame | None:
    """The group's ITEMS or USERS records as training sees them, or ``None`` when the group has none.

    Recipes that use metadata (deepfm, hrnn_metadata, hrnn_coldstart) read these frames; ids are strings. Records
    sent with PutItems/PutUsers replace the bulk rows of the same id.
    """
    from recsmith.events.metadata import current_metadata  # PutItems/PutUsers laid over the bulk data version

    frame = current_metadata(platform, dataset_group_arn, kind)
    if frame is None or frame.empty:
        return None
    id_column = ITEM_ID if kind is DatasetType.ITEMS else USER_ID
    return frame.astype({id_column: str}).reset_index(drop=True)


def training_snapshot(platform: Platform, dataset_group_arn: str, config: SolutionConfig) -> Snapshot:
    """Bulk interactions plus PutEvents, filtered by the solution's event type and value threshold."""
    dataset = find_dataset(platform, dataset_group_arn, DatasetType.INTERACTIONS)
    bulk = read_current(platform, dataset) if dataset else None
    if bulk is None or dataset is None:
        raise InvalidInputError(f"dataset group {dataset_group_arn} has no imported INTERACTIONS data to train on")
    events_count = platform.events.count(dataset_group_arn)  # before the read: a later event counts as new
    events = platform.events.events_frame(dataset_group_arn)
    frame = pd.concat([bulk, events], ignore_index=True) if len(events) else bulk
    frame = frame.astype({USER_ID: str, ITEM_ID: str})
    frame[TIMESTAMP] = frame[TIMESTAMP].astype("int64")
    if config.event_type is not None:
        if EVENT_TYPE not in frame.columns:
            raise InvalidInputError(f"eventType {config.event_type!r} given but the interactions have no EVENT_TYPE")
        frame = frame[frame[EVENT_TYPE] == config.event_type]
    if config.event_value_threshold is not None:
        if EVENT_VALUE not in frame.columns:
            raise InvalidInputError("eventValueThreshold given but the interactions have no EVENT_VALUE")
        frame = frame[frame[EVENT_VALUE].astype("float64") >= config.event_value_threshold]
    if frame.empty:
        raise InvalidInputError("no interactions are left after the solution's event type and value filters")
    return Snapshot(
        frame.reset_index(drop=True),
        dataset.attributes["dataVersion"],
        len(events),
        items=training_metadata(platform, dataset_group_arn, DatasetType.ITEMS),
        users=training_metadata(platform, dataset_group_arn, DatasetType.USERS),
        events_count=events_count,
    )


def start_solution_version(platform: Platform, solution: str, training_mode: str = "FULL") -> Resource:
    """Record a new solution version, CREATE PENDING; :func:`run_solution_version` trains it."""
    if training_mode not in ("FULL", "UPDATE"):
        raise InvalidInputError(f"training mode {training_mode!r} is not supported; use FULL or UPDATE")
    solution_resource = platform.catalog.get(ResourceType.SOLUTION, solution)
    if training_mode == "UPDATE":
        from recsmith.training.updates import check_update

        check_update(platform, solution_resource)
    version_id = uuid.uuid4().hex[:8]
    return record_job(
        platform,
        JobKind.SOLUTION_VERSION,
        f"{solution_resource.name}/{version_id}",
        arn=make_arn(platform.settings, ResourceType.SOLUTION, f"{solution_resource.name}/{version_id}"),
        dataset_group_arn=solution_resource.dataset_group_arn,
        attributes={"solutionArn": solution_resource.arn, "trainingMode": training_mode},
    )


def run_solution_version(platform: Platform, solution_version: str) -> Resource:
    """Train a CREATE PENDING solution version; returns it ACTIVE, or CREATE FAILED with the reason."""
    arn = platform.catalog.get(ResourceType.SOLUTION_VERSION, solution_version).arn
    version = begin_job(platform, JobKind.SOLUTION_VERSION, arn)
    solution_resource = platform.catalog.get(ResourceType.SOLUTION, version.attributes["solutionArn"])
    try:
        if version.attributes.get("trainingMode") == "UPDATE":
            from recsmith.training.updates import update_solution_version

            outcome = update_solution_version(platform, solution_resource, version)
        else:
            outcome = _train(platform, solution_resource, version)
    except (RecsmithError, ValueError) as exc:
        logger.exception("training %s failed", version.arn)
        return platform.catalog.update(version, status=Status.CREATE_FAILED, failure_reason=str(exc))
    except BaseException as exc:
        # anything else (a bug, MemoryError, the SIGINT with which Airflow stops a task) still raises, but never
        # leaves the version IN PROGRESS; only a kill -9 skips this, which fail_unfinished_version covers
        fail_unfinished_version(platform, version.arn, f"training stopped by {type(exc).__name__}: {exc}".rstrip(": "))
        raise
    return platform.catalog.update(version, status=Status.ACTIVE, attributes=outcome)


def fail_unfinished_version(platform: Platform, solution_version: str, reason: str) -> Resource:
    """Mark a version this process was training CREATE FAILED with ``reason`` after an interrupt, removing what
    the training wrote (:func:`discard_solution_version`). A version that already ended is returned unchanged.

    A version whose process died (kill -9, out of memory) is ended by the job lifecycle instead
    (:func:`recsmith.jobs.lifecycle.refresh_job`), which knows its process is gone.
    """
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, solution_version)
    if version.status not in (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS):
        return version
    try:
        discard_solution_version(platform, version)
    except Exception as exc:  # noqa: BLE001 - a failed clean-up must not leave the version IN PROGRESS
        logger.exception("could not remove what %s left", version.arn)
        reason = f"{reason}; removing what it wrote failed: {exc}"
    logger.warning("solution version %s CREATE FAILED: %s", version.arn, reason)
    return platform.catalog.update(version, status=Status.CREATE_FAILED, failure_reason=reason)


def create_solution_version(platform: Platform, solution: str, training_mode: str = "FULL") -> Resource:
    """Train one version of ``solution`` now; returns it ACTIVE, or CREATE FAILED with the reason."""
    return run_solution_version(platform, start_solution_version(platform, solution, training_mode).arn)


def discard_solution_version(platform: Platform, version: Resource) -> None:
    """Remove what a training whose process died left: model versions registered from its MLflow run are
    deleted (the registry never holds a version whose solution version did not turn ACTIVE), and its run and
    nested runs (candidates, trials) still marked RUNNING end FAILED."""
    platform.configure_mlflow()
    client = MlflowClient()
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`recsmith.solution_version_arn` = '{version.arn}'",
    )
    for run in runs:
        for model_version in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
            client.delete_model_version(model_version.name, model_version.version)
            logger.warning("deleted model version %s/%s of unfinished %s", model_version.name,
                           model_version.version, version.arn)
        nested = client.search_runs(
            [run.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{run.info.run_id}'"
        )
        for each in [run, *nested]:
            if each.info.status == "RUNNING":
                client.set_terminated(each.info.run_id, status="FAILED")


def _experiment_id(platform: Platform, group_name: str) -> str:
    name = f"recsmith/{group_name}"
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    location = f"{platform.settings.resolved_mlflow_artifact_root().rstrip('/')}/{group_name}"
    return str(mlflow.create_experiment(name, artifact_location=location))


def _fit(recipe_id: str, params: dict[str, Any], seed: int, data: InteractionData, compute: Compute) -> Recipe:
    return get_recipe_class(recipe_id)(params, seed=seed, compute=compute).fit(data)


def _train(platform: Platform, solution: Resource, version: Resource) -> dict[str, Any]:
    platform.configure_mlflow()
    config = solution_config(solution)
    group = platform.catalog.get(ResourceType.DATASET_GROUP, str(solution.dataset_group_arn))
    snapshot = training_snapshot(platform, group.arn, config)
    split = split_interactions(snapshot.interactions, seed=config.seed)
    model_name = registered_model_name(group.name, solution.name)
    started = time.time()
    # nested runs (candidates, trials) land in the active experiment, so make it the group's
    mlflow.set_experiment(experiment_id=_experiment_id(platform, group.name))
    with mlflow.start_run(run_name=version.name.replace("/", "-")) as run:
        mlflow.set_tags(
            {
                "recsmith.dataset_group": group.name,
                "recsmith.solution": solution.name,
                "recsmith.solution_version_arn": version.arn,
                "recsmith.data_version": snapshot.data_version["id"],
                "recsmith.data_md5": snapshot.data_version["md5"],
                "recsmith.split_id": split.split_id,
            }
        )
        # known at once (after the tags discard_solution_version finds it by), for whoever looks at a version
        # that is still training or whose process was killed
        platform.catalog.update(version, attributes={"mlflowRunId": run.info.run_id})
        mlflow.log_params(
            {
                "perform_automl": config.perform_automl,
                "perform_hpo": config.perform_hpo,
                "objective_metric": config.objective_metric,
                "seed": config.seed,
                "event_type": config.event_type,
                "event_value_threshold": config.event_value_threshold,
                "training_rows": len(snapshot.interactions),
                "events_rows": snapshot.events_rows,
            }
        )
        recipe_id, params, candidates = _choose(config, split, snapshot, platform.settings.compute())
        test_metrics = candidates[recipe_id]["test_metrics"]
        mlflow.log_params({"recipe": recipe_id, **{f"hp.{k}": v for k, v in params.items()}})
        mlflow.log_metrics(test_metrics)
        mlflow.set_tag("recsmith.recipe", recipe_id)
        with tempfile.TemporaryDirectory() as tmp:
            split_dir = split.save(Path(tmp) / "split")
            mlflow.log_artifacts(str(split_dir), artifact_path="split")
            (Path(tmp) / "candidates.json").write_text(json.dumps(candidates, indent=2, default=str))
            mlflow.log_artifact(str(Path(tmp) / "candidates.json"))
            final = _fit(recipe_id, params, config.seed, snapshot.training_data(), platform.settings.compute())
            recipe_dir = final.save(Path(tmp) / "recipe")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(_PYFUNC_ENTRY),
                artifacts={RECIPE_ARTIFACT: str(recipe_dir)},
                pip_requirements=model_requirements(),
                input_example=pd.DataFrame(
                    {"userId": [str(snapshot.interactions[USER_ID].iloc[0])], "numResults": [5]}
                ),
            )
        client = MlflowClient()
        ensure_registered_model(client, model_name, f"Solution {solution.arn}")
        model_version = mlflow.register_model(
            info.model_uri,
            model_name,
            await_registration_for=120,
            tags={
                "recsmith.dataset_group": group.name,
                "recsmith.solution": solution.name,
                "recsmith.solution_version_arn": version.arn,
                "recsmith.recipe": recipe_id,
                "recsmith.data_version": snapshot.data_version["id"],
                "recsmith.data_md5": snapshot.data_version["md5"],
                **{f"metric.{k}": f"{v:.6f}" for k, v in test_metrics.items()},
            },
        )
    return {
        "recipeArn": f"arn:aws:personalize:::recipe/{recipe_id}",
        "recipe": recipe_id,
        "tunedHPOParams": {"algorithmHyperParameters": {k: str(v) for k, v in params.items()}}
        if config.perform_hpo
        else None,
        "metrics": test_metrics,
        "candidates": {k: v["test_metrics"] for k, v in candidates.items()},
        "mlflowRunId": run.info.run_id,
        "mlflowExperimentId": run.info.experiment_id,
        "modelName": model_name,
        "modelVersion": str(model_version.version),
        "modelUri": f"models:/{model_name}/{model_version.version}",
        "dataVersion": snapshot.data_version["id"],
        "dataMd5": snapshot.data_version["md5"],
        "eventsCount": snapshot.events_count,
        "splitId": split.split_id,
        "trainingHours": (time.time() - started) / 3600.0,
    }


def _choose(
    config: SolutionConfig, split: Split, snapshot: Snapshot, compute: Compute
) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]]:
    """The recipe and hyperparameters to ship, and every candidate's validation and test metrics.

    Choices (AutoML, HPO) are made on a validation split of the training part (each user's newest training
    interaction, by default); the test users only score.
    Candidates train in parallel processes (:mod:`recsmith.training.automl`) and are logged as nested runs.
    """
    needs_validation = config.perform_automl or config.perform_hpo
    validation = (
        split_interactions(split.train, method=config.validation_method, seed=config.seed + 1)
        if needs_validation
        else None
    )
    data = TrainingData(split, validation, items=snapshot.items, users=snapshot.users)
    jobs = [
        CandidateJob(
            recipe_id,
            config.params_for(recipe_id),
            config.seed,
            config.objective_metric,
            tune=config.perform_hpo,
            hpo_trials=config.hpo_trials,
            hpo_seconds=config.hpo_seconds,
            ranges={name: r.dimension() for name, r in config.hpo_ranges.items()},
            torch_threads=compute.torch_threads or 1,
            device=compute.device,
        )
        for recipe_id in config.candidates()
    ]
    results = run_candidates(jobs, data, config.max_parallel_jobs)
    chosen = choose(results, config.objective_metric)
    log_candidates(results, chosen)
    candidates = {
        r.recipe_id: {
            "params": r.params,
            "validation_metrics": r.validation_metrics,
            "test_metrics": r.test_metrics,
            "fit_seconds": r.fit_seconds,
            "seconds": r.seconds,
            "trials": r.trials,
        }
        for r in results
    }
    return chosen.recipe_id, chosen.params, candidates
