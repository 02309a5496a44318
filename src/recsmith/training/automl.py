"""AutoML and HPO: train candidate recipes (in parallel processes), tune each with Optuna, pick on validation.

Each candidate is one job: optionally an Optuna study (TPE sampler seeded with the solution's seed, a median
pruner) over the recipe's declared ``search_space`` within ``hpo_trials`` trials AND ``hpo_seconds`` seconds,
whose first trial is the candidate's own hyperparameters (so tuning never chooses worse than not tuning, on
validation), then a fit on the validation split's training part (its metrics choose the winner) and a fit on
the test split's training part (its metrics are reported for every candidate). Jobs run in worker processes
(:mod:`recsmith.training.workers`: fresh interpreters with their own entry point, so they run the same under
Airflow's task runner, in a KFP container or from the CLI) sized to the CPU cores, with torch's threads pinned
so the workers share the cores rather than fight for them; with one job or one core they run in this process.

Workers do not talk to MLflow: they return their trials and metrics, and :func:`log_candidates` records every
candidate and every trial as nested runs of the solution version's run. Pruning: a recipe with an ``epochs``
hyperparameter is first fitted with a quarter of its epochs and scored on validation; the median pruner stops a
trial that is then below the median of earlier trials at that step, so a poor setting costs a quarter of a fit.

Reproducibility: the same data, seed and budgets give the same metrics, as long as the trial budget (not the
time budget) ends each study; on a slow machine a time budget may cut a study short, which the trial records
show (``hpo.trials_completed``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.base import Compute, InteractionData, Recipe, SearchDimension
from models.registry import get_recipe_class
from recsmith.evaluation.evaluate import evaluate_recipe
from recsmith.evaluation.split import Split
from recsmith.training.workers import WorkerPool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateJob:
    """One candidate's work: which recipe, from which hyperparameters, with what tuning budget."""

    recipe_id: str
    params: Mapping[str, Any]
    seed: int
    objective_metric: str
    tune: bool = False
    hpo_trials: int = 8
    hpo_seconds: float = 180.0
    torch_threads: int = 1
    device: str | None = None
    ranges: Mapping[str, SearchDimension] = field(default_factory=dict)

    def compute(self) -> Compute:
        """This job's share of the machine, passed to every recipe it fits."""
        return Compute(device=self.device, torch_threads=self.torch_threads)


@dataclass(frozen=True)
class TrainingData:
    """The splits a job needs, with the group's metadata (picklable: it travels to worker processes)."""

    split: Split
    validation: Split | None
    items: Any = None
    users: Any = None

    def data(self, interactions: Any) -> InteractionData:
        return InteractionData(interactions, items=self.items, users=self.users)


@dataclass
class CandidateResult:
    """What a job returns: the chosen hyperparameters, every HPO trial, validation and test metrics."""

    recipe_id: str
    params: dict[str, Any]
    test_metrics: dict[str, float]
    fit_seconds: float
    validation_metrics: dict[str, float] | None = None
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def fit_recipe(
    recipe_id: str, params: Mapping[str, Any], seed: int, data: InteractionData, compute: Compute | None = None
) -> Recipe:
    """A fitted recipe ``recipe_id`` with ``params``, trained where ``compute`` says."""
    return get_recipe_class(recipe_id)(dict(params), seed=seed, compute=compute).fit(data)


def starting_point(
    recipe_cls: type[Recipe], params: Mapping[str, Any], space: Mapping[str, SearchDimension]
) -> dict[str, Any]:
    """The hyperparameters the candidate would train with untuned, for the dimensions of ``space`` whose range
    holds them: HPO's first trial, so that a budget of two or three trials (a slow neural recipe on a time
    budget) cannot leave the candidate worse on validation than its defaults, which TPE's random start
    trials often are (next_item_knn on MovieLens: 0.079 tuned against 0.096 untuned, before this)."""
    current = recipe_cls.Params(**dict(params)).model_dump()
    start: dict[str, Any] = {}
    for name, dim in space.items():
        value = current.get(name)
        if dim.kind == "categorical":
            inside = value in dim.choices
        elif isinstance(value, int | float) and not isinstance(value, bool):
            whole = dim.kind != "int" or float(value).is_integer()
            inside = whole and float(dim.low or 0) <= value <= float(dim.high or 0)
        else:
            inside = False
        if inside:
            start[name] = value
    return start


def tune(job: CandidateJob, data: TrainingData) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Optuna TPE with a median pruner over the recipe's search space, starting from the candidate's own
    hyperparameters; the best params and every trial."""
    import optuna

    recipe_cls = get_recipe_class(job.recipe_id)
    # ranges given with the solution replace or extend the declared ones, for the hyperparameters this recipe has
    fields = recipe_cls.Params.model_fields
    space = {**recipe_cls.search_space, **{k: v for k, v in job.ranges.items() if k in fields}}
    validation = data.validation
    if not space or validation is None:
        return dict(job.params), []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    has_epochs = "epochs" in recipe_cls.Params.model_fields
    trials: list[dict[str, Any]] = []
    start = starting_point(recipe_cls, job.params, space)

    def objective(trial: optuna.Trial) -> float:
        started = time.time()
        params = dict(job.params)
        for name, dim in space.items():
            if dim.kind == "int":
                params[name] = trial.suggest_int(name, int(dim.low or 0), int(dim.high or 0), log=dim.log)
            elif dim.kind == "float":
                params[name] = trial.suggest_float(name, float(dim.low or 0), float(dim.high or 0), log=dim.log)
            else:
                params[name] = trial.suggest_categorical(name, list(dim.choices))
        record: dict[str, Any] = {"number": trial.number, "params": dict(params), "state": "COMPLETE"}
        record["starting_point"] = bool(start) and trial.number == 0
        trials.append(record)
        train = data.data(validation.train)
        if has_epochs and int(params.get("epochs", 1)) >= 4:
            short = {**params, "epochs": max(1, int(params["epochs"]) // 4)}
            early = evaluate_recipe(fit_recipe(job.recipe_id, short, job.seed, train, job.compute()), validation)
            record["early_value"] = early[job.objective_metric]
            trial.report(early[job.objective_metric], step=0)
            if trial.should_prune():
                record.update(state="PRUNED", seconds=time.time() - started)
                raise optuna.TrialPruned()
        metrics = evaluate_recipe(fit_recipe(job.recipe_id, params, job.seed, train, job.compute()), validation)
        trial.report(metrics[job.objective_metric], step=1)
        record.update(value=metrics[job.objective_metric], metrics=metrics, seconds=time.time() - started)
        return metrics[job.objective_metric]

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=job.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    if start:
        study.enqueue_trial(start)
    study.optimize(objective, n_trials=job.hpo_trials, timeout=job.hpo_seconds)
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        return dict(job.params), trials
    return {**job.params, **study.best_params}, trials


def run_candidate(job: CandidateJob, data: TrainingData) -> CandidateResult:
    """Tune (if asked), score on validation (if there is one) and on test; runs in a worker process."""
    try:
        import torch

        torch.set_num_threads(job.torch_threads)
    except ImportError:  # pragma: no cover - torch is a dependency; recipes without it still run
        pass
    started = time.time()
    params, trials = tune(job, data) if job.tune else (dict(job.params), [])
    validation_metrics = None
    if data.validation is not None:
        fitted = fit_recipe(job.recipe_id, params, job.seed, data.data(data.validation.train), job.compute())
        validation_metrics = evaluate_recipe(fitted, data.validation)
    fit_started = time.time()
    fitted = fit_recipe(job.recipe_id, params, job.seed, data.data(data.split.train), job.compute())
    fit_seconds = time.time() - fit_started
    test_metrics = evaluate_recipe(fitted, data.split)
    return CandidateResult(
        job.recipe_id, params, test_metrics, fit_seconds, validation_metrics, trials, time.time() - started
    )


def worker_count(n_jobs: int, max_parallel: int | None = None) -> int:
    """Processes to use: one per job, at most one per core (and at most ``max_parallel``)."""
    cores = len(os.sched_getaffinity(0))
    return max(1, min(n_jobs, cores, max_parallel or n_jobs))


def run_candidates(
    jobs: Sequence[CandidateJob], data: TrainingData, max_parallel: int | None = None
) -> list[CandidateResult]:
    """Every job's result, in job order; in worker processes when more than one fits."""
    workers = worker_count(len(jobs), max_parallel)
    if workers == 1:
        return [run_candidate(job, data) for job in jobs]
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    pinned = [CandidateJob(**{**job.__dict__, "torch_threads": threads}) for job in jobs]
    logger.info("training %d candidates in %d processes, %d torch threads each", len(jobs), workers, threads)
    pool: WorkerPool[CandidateJob, TrainingData, CandidateResult] = WorkerPool(run_candidate, workers)
    return pool.map(pinned, data, labels=[f"candidate {job.recipe_id}" for job in pinned])


def choose(results: Sequence[CandidateResult], objective_metric: str) -> CandidateResult:
    """The winner on validation (ties: the earlier candidate); with no validation, the only candidate."""
    if len(results) == 1 or results[0].validation_metrics is None:
        return results[0]
    return max(results, key=lambda r: (r.validation_metrics or {}).get(objective_metric, float("-inf")))


def log_candidates(results: Sequence[CandidateResult], chosen: CandidateResult) -> None:
    """Every candidate and every HPO trial as a nested MLflow run of the active run; the choice as tags."""
    import mlflow

    for result in results:
        for trial in result.trials:
            with mlflow.start_run(run_name=f"hpo-{result.recipe_id}-{trial['number']}", nested=True):
                mlflow.set_tags(
                    {
                        "recsmith.recipe": result.recipe_id,
                        "recsmith.hpo_state": trial["state"],
                        "recsmith.hpo_starting_point": str(trial.get("starting_point", False)).lower(),
                    }
                )
                mlflow.log_params({f"hp.{k}": v for k, v in trial["params"].items()})
                if "early_value" in trial:
                    mlflow.log_metric("validation.objective", trial["early_value"], step=0)
                if "metrics" in trial:
                    mlflow.log_metrics({f"validation.{k}": v for k, v in trial["metrics"].items()})
                    mlflow.log_metric("validation.objective", trial["value"], step=1)
                mlflow.log_metric("seconds", trial.get("seconds", 0.0))
        with mlflow.start_run(run_name=f"candidate-{result.recipe_id}", nested=True):
            mlflow.set_tags(
                {"recsmith.recipe": result.recipe_id, "recsmith.automl_chosen": str(result is chosen).lower()}
            )
            mlflow.log_params({f"hp.{k}": v for k, v in result.params.items()})
            if result.validation_metrics is not None:
                mlflow.log_metrics({f"validation.{k}": v for k, v in result.validation_metrics.items()})
            mlflow.log_metrics(result.test_metrics)
            completed = sum(t["state"] == "COMPLETE" for t in result.trials)
            mlflow.log_metrics(
                {
                    "fit_seconds": result.fit_seconds,
                    "candidate_seconds": result.seconds,
                    "hpo.trials_completed": completed,
                    "hpo.trials_pruned": len(result.trials) - completed,
                }
            )
    mlflow.set_tag("recsmith.automl_choice", chosen.recipe_id)
