"""Predictors: AutoPredictor over every algorithm (or one algorithm, as ``CreatePredictor`` with an
``AlgorithmArn`` asks), backtested, tracked in MLflow and registered.

Training (:func:`run_predictor`) reads the dataset group's target time series at its current data version,
builds the regular series (:mod:`recsmith.forecast.series`) and lays out the backtest windows: window ``i``
(``0`` the newest) tests the ``horizon`` steps starting ``offset + i * horizon`` steps before the end of the data
(``offset`` is ``BackTestWindowOffset``, default the horizon; ``NumberOfBacktestWindows`` 1-5).

AutoPredictor chooses per series, as Forecast's does, and chooses honestly: in each window every algorithm is
fitted before the *validation windows* (up to seven horizons, about a week of seasons, right before the test
window) and forecasts each of them from its start; for each series the ensemble (the best algorithm, or the
equal-weight average of the best two or three) with the lowest mean ``OptimizationMetric`` over the validation
windows is the one scored on the test window. The test windows never inform the choice they are scored on (on
the hourly benchmark data one validation day picked a different winner than the next day for every series;
a week of them is steadier). The final predictor makes its choice per series on every validation and test
window (all past data by then) and fits the algorithms it uses on all the data. ``GetAccuracyMetrics``
reports AutoPredictor's figures and each algorithm's beside it, per window and averaged.

MLflow: a run per predictor (params, AutoPredictor's metrics, plots of the backtest forecasts, the predictor
folder as a pyfunc model), a child run per algorithm with its own metrics; the predictor is a version of the
registered model ``forecast.<dataset group>``, promoted to ``production`` when its optimization metric beats
the version in production (lower is better for every Forecast metric).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.forecast.base import SEASONALITY, Prediction, SeriesSet, holiday_calendar
from models.forecast.registry import algorithm_arn, algorithm_names, get_forecaster_class
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import InvalidInputError, RecsmithError, ResourceInUseError
from recsmith.forecast import lifecycle
from recsmith.forecast.artifact import MODELS, combine, save_series, write_meta
from recsmith.forecast.candidates import CandidateJob, CandidateResult, Window, run_candidates
from recsmith.forecast.datasets import dataset_schema, group_dataset
from recsmith.forecast.metrics import average_metrics, seasonal_scale, series_loss, window_metrics
from recsmith.forecast.resources import RUNNING, forecast_arn, forecast_status, get, status_fields, times, validate_name
from recsmith.forecast.schemas import DatasetType, check_frequency
from recsmith.forecast.series import Featurization, build_series, check_frequency_order, truncate, window_truth
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

OPTIMIZATION_METRICS = ("WAPE", "RMSE", "AverageWeightedQuantileLoss", "MASE", "MAPE")
DEFAULT_FORECAST_TYPES = ("0.1", "0.5", "0.9", "mean")
MAX_ENSEMBLE = 3
MAX_VALIDATION_WINDOWS = 7
NEURAL = ("Deep_AR_Plus", "CNN_QR")


class PredictorConfig(BaseModel):
    """Everything a predictor's training depends on; recorded on the predictor, so a rerun trains the same."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_group_arn: str = Field(description="The dataset group whose TARGET_TIME_SERIES is forecast.")
    forecast_horizon: int = Field(ge=1, le=500, description="Steps to forecast (ForecastHorizon).")
    forecast_frequency: str = Field(description="Y, M, W, D, H, 30min, 15min, 10min, 5min or 1min.")
    forecast_types: tuple[str, ...] = Field(
        default=DEFAULT_FORECAST_TYPES, min_length=1, max_length=20, description="Quantiles (0.01-0.99) and mean."
    )
    forecast_dimensions: tuple[str, ...] = Field(default=(), description="String attributes that split series.")
    optimization_metric: str = Field(default="AverageWeightedQuantileLoss", description="What AutoPredictor minimises.")
    algorithms: tuple[str, ...] = Field(default_factory=lambda: tuple(algorithm_names()), min_length=1)
    auto: bool = Field(default=True, description="Choose an ensemble per series (AutoPredictor / PerformAutoML).")
    backtest_windows: int = Field(default=1, ge=1, le=5, description="NumberOfBacktestWindows.")
    backtest_offset: int | None = Field(default=None, ge=1, description="BackTestWindowOffset; default the horizon.")
    holiday_country: str | None = Field(default=None, description="Country code of the holiday calendar feature.")
    transformations: dict[str, str] = Field(default_factory=dict, description="The target's AttributeConfigs.")
    algorithm_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Hyperparameters per algorithm (TrainingParameters)."
    )
    seed: int = 0

    @field_validator("forecast_frequency")
    @classmethod
    def _frequency(cls, value: str) -> str:
        return check_frequency(value, "ForecastFrequency")

    @field_validator("optimization_metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value not in OPTIMIZATION_METRICS:
            raise ValueError(f"OptimizationMetric {value!r} is not one of {', '.join(OPTIMIZATION_METRICS)}")
        return value

    @field_validator("forecast_types")
    @classmethod
    def _types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if item == "mean":
                continue
            try:
                number = float(item)
            except ValueError:
                raise ValueError(f"ForecastTypes value {item!r} is neither mean nor a quantile") from None
            if not 0.01 <= number <= 0.99 or round(number, 2) != number:
                raise ValueError(f"ForecastTypes quantile {item!r} must be 0.01-0.99 in steps of 0.01")
        if len(set(value)) != len(value):
            raise ValueError("ForecastTypes lists a value twice")
        return value

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in algorithm_names():
                raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(algorithm_names())}")
        return value

    @property
    def quantiles(self) -> tuple[float, ...]:
        """The quantiles to forecast: those asked, and 0.5 always (it backs the mean's neighbours)."""
        asked = sorted({float(t) for t in self.forecast_types if t != "mean"})
        return tuple(asked) if asked else (0.5,)

    @property
    def offset(self) -> int:
        return self.backtest_offset or self.forecast_horizon


def start_predictor(
    platform: Platform,
    name: str,
    config: PredictorConfig,
    *,
    auto_predictor: bool = True,
    data_config: dict[str, Any] | None = None,
) -> Resource:
    """Check a predictor request and record it CREATE_PENDING; :func:`run_predictor` trains it.

    ``data_config`` is the request's ``DataConfig`` as sent, which DescribeAutoPredictor gives back."""
    validate_name(name, "PredictorName")
    lifecycle.reap_interrupted_jobs(platform)
    group = get(platform, ResourceType.FORECAST_DATASET_GROUP, config.dataset_group_arn, "DatasetGroupArn")
    target = group_dataset(platform, group, DatasetType.TARGET_TIME_SERIES)
    if target is None:
        raise InvalidInputError(f"dataset group {group.name} has no TARGET_TIME_SERIES dataset")
    schema = dataset_schema(target)
    unknown = [d for d in config.forecast_dimensions if d not in schema.dimensions]
    if unknown:
        raise InvalidInputError(
            f"ForecastDimensions {unknown[0]!r} is not a string attribute of {target.name} "
            f"(its dimensions: {', '.join(schema.dimensions) or 'none'})"
        )
    check_frequency_order(target.attributes["DataFrequency"], config.forecast_frequency)
    if config.holiday_country is not None:
        try:
            holiday_calendar(config.holiday_country, range(2020, 2021))
        except ValueError as exc:
            raise InvalidInputError(f"holiday CountryCode: {exc}") from exc
    Featurization.from_transformations(config.transformations)
    for algorithm, params in config.algorithm_params.items():
        try:
            get_forecaster_class(algorithm).params_class(**params)
        except (KeyError, ValueError) as exc:
            raise InvalidInputError(f"TrainingParameters for {algorithm}: {exc}") from exc
    arn = forecast_arn(platform.settings, ResourceType.PREDICTOR, name)
    return platform.catalog.create(
        Resource(
            arn=arn,
            resource_type=ResourceType.PREDICTOR,
            name=name,
            dataset_group_arn=group.arn,
            status=Status.CREATE_PENDING,
            attributes={
                "config": config.model_dump(mode="json"),
                "IsAutoPredictor": auto_predictor,
                "DataConfig": data_config or _data_config(config),
            },
        )
    )


def predictor_config(predictor: Resource) -> PredictorConfig:
    return PredictorConfig.model_validate(predictor.attributes["config"])


def run_predictor(platform: Platform, predictor_arn: str) -> Resource:
    """Train a CREATE_PENDING predictor; returns it ACTIVE, or CREATE_FAILED with the reason."""
    predictor = lifecycle.begin(platform, ResourceType.PREDICTOR, predictor_arn)
    config = predictor_config(predictor)
    folder = platform.settings.resolved_home / "forecast" / "predictors" / predictor.name
    staging = folder.with_name(f".staging-{predictor.name}-{os.getpid()}")
    predictor = platform.catalog.update(predictor, attributes={"stagingPath": str(staging)})
    try:
        outcome = _train(platform, predictor, config, staging, folder)
    except (RecsmithError, ValueError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        return lifecycle.fail(platform, predictor, str(exc))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        lifecycle.fail(platform, predictor, "training was interrupted")
        raise
    return platform.catalog.update(predictor, status=Status.ACTIVE, attributes={**outcome, "stagingPath": None})


def create_predictor(
    platform: Platform, name: str, config: PredictorConfig, *, auto_predictor: bool = True
) -> Resource:
    """Start and train a predictor in this process; returns it ACTIVE or CREATE_FAILED."""
    return run_predictor(platform, start_predictor(platform, name, config, auto_predictor=auto_predictor).arn)


# ------------------------------------------------------------------ training
def training_series(platform: Platform, config: PredictorConfig) -> tuple[SeriesSet, dict[str, Any], list[str]]:
    """The group's target series at the current data version, the version, and the series' key fields."""
    group = platform.catalog.get(ResourceType.FORECAST_DATASET_GROUP, config.dataset_group_arn)
    target = group_dataset(platform, group, DatasetType.TARGET_TIME_SERIES)
    if target is None:
        raise InvalidInputError(f"dataset group {group.name} has no TARGET_TIME_SERIES dataset")
    version = target.attributes.get("dataVersion")
    if not version:
        raise InvalidInputError(f"dataset {target.name} has no imported data; run a dataset import job first")
    schema = dataset_schema(target)
    frame = pd.read_parquet(version["path"])
    data = build_series(
        frame,
        schema,
        config.forecast_frequency,
        config.forecast_dimensions,
        Featurization.from_transformations(config.transformations),
        config.holiday_country,
    )
    return data, {**version, "datasetArn": target.arn}, [schema.id_field, *config.forecast_dimensions]


def validation_count(data: SeriesSet, horizon: int) -> int:
    """How many horizons before each test window the choice is made on: about a week of seasons, at most 7."""
    return max(1, min(MAX_VALIDATION_WINDOWS, -(-7 * SEASONALITY[data.frequency] // horizon)))


def backtest_windows(data: SeriesSet, config: PredictorConfig, choose: bool) -> list[Window]:
    """The windows, newest first. Each test window (and, when choosing, its validation windows) must leave at
    least two horizons of history, and the offset must stay under half the longest series, as Forecast asks;
    the validation windows shrink to what the history allows."""
    longest = max(len(s.values) for s in data.series)
    horizon = config.forecast_horizon
    if config.offset < horizon:
        raise InvalidInputError(f"BackTestWindowOffset {config.offset} is shorter than the ForecastHorizon {horizon}")
    if 2 * config.offset >= longest:
        raise InvalidInputError(
            f"BackTestWindowOffset {config.offset} must be under half the longest series ({longest} points); "
            "shorten the horizon or the offset, or import more history"
        )
    end = max(data.end(s) for s in data.series)
    oldest_back = config.offset + (config.backtest_windows - 1) * horizon
    if oldest_back + 2 * horizon > longest:
        raise InvalidInputError(
            f"{config.backtest_windows} backtest windows of {horizon} steps need {oldest_back + 2 * horizon} points "
            f"of history; the longest series has {longest}"
        )
    room = (longest - oldest_back - 2 * horizon) // horizon
    validations = min(validation_count(data, horizon), room) if choose else 0
    if choose and validations < 1:
        raise InvalidInputError(
            f"AutoPredictor needs one more horizon of history before its oldest backtest window to choose on "
            f"({oldest_back + 3 * horizon} points; the longest series has {longest})"
        )
    windows = []
    for i in range(config.backtest_windows):
        test_start = end + (1 - config.offset - i * horizon) * data.offset
        starts = tuple(test_start - (k * horizon) * data.offset for k in range(validations, 0, -1))
        windows.append(Window(test_start, starts))
    return windows


def _params(platform: Platform, config: PredictorConfig, algorithm: str) -> dict[str, Any]:
    params = dict(config.algorithm_params.get(algorithm, {}))
    batches = platform.settings.forecast_neural_batches
    if algorithm in NEURAL and batches is not None:
        params.setdefault("batches", batches)
    return params


def _train(
    platform: Platform, predictor: Resource, config: PredictorConfig, staging: Path, folder: Path
) -> dict[str, Any]:
    started = time.time()
    data, version, key_fields = training_series(platform, config)
    choose = config.auto and len(config.algorithms) > 1
    windows = backtest_windows(data, config, choose)
    quantiles = config.quantiles
    jobs = [
        CandidateJob(
            name, _params(platform, config, name), config.seed, config.forecast_horizon, quantiles, tuple(windows)
        )
        for name in config.algorithms
    ]
    results = run_candidates(jobs, data, platform.settings.forecast_max_parallel)
    working = [r for r in results if r.error is None]
    if not working:
        raise InvalidInputError("every algorithm failed: " + "; ".join(f"{r.algorithm}: {r.error}" for r in results))
    truths = [window_truth(data, w.test_start, config.forecast_horizon) for w in windows]
    scales = [_scales(data, w.test_start) for w in windows]
    evaluations = {r.algorithm: _evaluate(r, windows, truths, scales, quantiles, config) for r in working}

    auto_windows: list[dict[str, Prediction]] = []
    if choose:
        for i, window in enumerate(windows):
            scored = [
                _Scored(
                    {r.algorithm: r.windows[i].validation[v] for r in working},
                    window_truth(data, start, config.forecast_horizon),
                    _scales(data, start),
                )
                for v, start in enumerate(window.validation_starts)
            ]
            chosen = _choose_per_series(scored, config)
            auto_windows.append(
                {
                    sid: combine([_by(working, a).windows[i].test[sid] for a in algs])
                    for sid, algs in chosen.items()
                    if sid in truths[i]
                }
            )
        auto_eval = _evaluate_predictions(auto_windows, windows, truths, scales, quantiles, config)
        every = [
            _Scored({r.algorithm: r.windows[i].test for r in working}, truths[i], scales[i])
            for i in range(len(windows))
        ]
        for i, window in enumerate(windows):
            for v, start in enumerate(window.validation_starts):
                every.append(
                    _Scored(
                        {r.algorithm: r.windows[i].validation[v] for r in working},
                        window_truth(data, start, config.forecast_horizon),
                        _scales(data, start),
                    )
                )
        final = _choose_per_series(every, config)
    else:
        best = working[0].algorithm
        auto_eval = evaluations[best]
        final = {s.id: [best] for s in data.series}
    default = _most_common(final)
    used = sorted({a for algs in final.values() for a in algs})

    staging.mkdir(parents=True, exist_ok=True)
    final_jobs = [
        CandidateJob(
            a,
            _params(platform, config, a),
            config.seed,
            config.forecast_horizon,
            quantiles,
            (),
            str(staging / MODELS / a),
        )
        for a in used
    ]
    for result in run_candidates(final_jobs, data, platform.settings.forecast_max_parallel):
        if result.error is not None:
            raise InvalidInputError(f"the final fit of {result.algorithm} failed: {result.error}")
    save_series(data, staging)
    meta = {
        "predictorArn": predictor.arn,
        "horizon": config.forecast_horizon,
        "frequency": config.forecast_frequency,
        "quantiles": list(quantiles),
        "forecastTypes": list(config.forecast_types),
        "holidayCountry": config.holiday_country,
        "keyFields": key_fields,
        "ensembles": {sid: algs for sid, algs in final.items() if algs != default},
        "defaultEnsemble": default,
        "dataVersion": version["id"],
    }
    write_meta(staging, meta)
    evaluation = [{"AlgorithmArn": None, **auto_eval}] + [
        {"AlgorithmArn": algorithm_arn(a), **evaluations[a]} for a in sorted(evaluations)
    ]
    from recsmith.forecast.tracking import track_predictor

    tracked = track_predictor(
        platform,
        predictor,
        config,
        staging,
        evaluation,
        {r.algorithm: r for r in results},
        windows,
        truths,
        auto_windows or [r.test for r in working[0].windows],
        data,
    )
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, folder)
    imports = [
        j.arn
        for j in platform.catalog.list(
            ResourceType.FORECAST_DATASET_IMPORT_JOB, where={"DatasetArn": version["datasetArn"]}
        )
        if (j.attributes.get("dataVersion") or {}).get("id") == version["id"]
    ]
    return {
        "artifactPath": str(folder),
        "evaluation": evaluation,
        "ensembleCounts": _counts(final),
        "candidateErrors": {r.algorithm: r.error for r in results if r.error},
        "candidateSeconds": {r.algorithm: round(r.fit_seconds, 2) for r in results},
        "dataVersion": version["id"],
        "dataMd5": version["md5"],
        "DatasetImportJobArns": imports,
        "trainingSeconds": round(time.time() - started, 2),
        **tracked,
    }


def _by(results: Sequence[CandidateResult], algorithm: str) -> CandidateResult:
    return next(r for r in results if r.algorithm == algorithm)


def _scales(data: SeriesSet, before: pd.Timestamp) -> dict[str, float]:
    history = truncate(data, before)
    return {s.id: seasonal_scale(s.values, SEASONALITY[data.frequency]) for s in history.series}


def _evaluate(
    result: CandidateResult,
    windows: Sequence[Window],
    truths: Sequence[Mapping[str, np.ndarray]],
    scales: Sequence[Mapping[str, float]],
    quantiles: Sequence[float],
    config: PredictorConfig,
) -> dict[str, Any]:
    return _evaluate_predictions([w.test for w in result.windows], windows, truths, scales, quantiles, config)


def _evaluate_predictions(
    predictions: Sequence[Mapping[str, Prediction]],
    windows: Sequence[Window],
    truths: Sequence[Mapping[str, np.ndarray]],
    scales: Sequence[Mapping[str, float]],
    quantiles: Sequence[float],
    config: PredictorConfig,
) -> dict[str, Any]:
    """Forecast's ``TestWindows`` of one algorithm (or of the ensemble): the SUMMARY, then every window."""
    computed = []
    for window, truth, scale, forecast in zip(windows, truths, scales, predictions, strict=True):
        if not truth:
            raise InvalidInputError(f"no series covers the backtest window starting {window.test_start}")
        metrics = window_metrics(truth, forecast, quantiles, scale)
        computed.append(
            {
                "TestWindowStart": window.test_start.timestamp(),
                "TestWindowEnd": (window.test_start + config.forecast_horizon * _offset(config)).timestamp(),
                "ItemCount": len(truth),
                "EvaluationType": "COMPUTED",
                "Metrics": metrics,
            }
        )
    summary = {"EvaluationType": "SUMMARY", "Metrics": average_metrics([c["Metrics"] for c in computed])}
    return {"TestWindows": [summary, *computed]}


def _offset(config: PredictorConfig) -> pd.DateOffset:
    from models.forecast.base import pandas_frequency

    return pd.tseries.frequencies.to_offset(pandas_frequency(config.forecast_frequency))


def _options(ranked: Sequence[str]) -> list[list[str]]:
    return [list(ranked[:k]) for k in range(1, min(MAX_ENSEMBLE, len(ranked)) + 1)]


@dataclass(frozen=True)
class _Scored:
    """One window's forecasts by every algorithm, with the actual values and the MASE scales."""

    forecasts: Mapping[str, Mapping[str, Prediction]]
    truth: Mapping[str, np.ndarray]
    scales: Mapping[str, float]


def _choose_per_series(windows: Sequence[_Scored], config: PredictorConfig) -> dict[str, list[str]]:
    """Per series, the ensemble (best one, two or three algorithms, averaged) with the lowest mean loss over
    ``windows``."""
    series_ids = sorted({sid for w in windows for sid in w.truth})
    algorithms = sorted({a for w in windows for a in w.forecasts})
    chosen = {}
    for sid in series_ids:

        def loss(members: Sequence[str], sid: str = sid) -> float:
            values = [
                series_loss(
                    config.optimization_metric,
                    w.truth[sid],
                    combine([w.forecasts[a][sid] for a in members]),
                    config.quantiles,
                    w.scales.get(sid, float("nan")),
                )
                for w in windows
                if sid in w.truth and all(sid in w.forecasts.get(a, {}) for a in members)
            ]
            return float(np.mean(values)) if values else float("inf")

        ranked = sorted(algorithms, key=lambda a: loss([a]))
        options: list[list[str]] = _options(ranked)
        best: list[str] = min(options, key=loss)
        chosen[sid] = sorted(best)
    return chosen


def _most_common(final: Mapping[str, list[str]]) -> list[str]:
    counts: dict[tuple[str, ...], int] = {}
    for algs in final.values():
        counts[tuple(algs)] = counts.get(tuple(algs), 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return list(ranked[0][0]) if ranked else []


def _counts(final: Mapping[str, list[str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for algs in final.values():
        key = "+".join(algs)
        out[key] = out.get(key, 0) + 1
    return out


# ------------------------------------------------------------- API shapes
def describe_predictor(predictor: Resource) -> dict[str, Any]:
    """DescribeAutoPredictor's answer (DescribePredictor's for a legacy one adds its fields)."""
    config = predictor_config(predictor)
    out: dict[str, Any] = {
        "PredictorArn": predictor.arn,
        "PredictorName": predictor.name,
        "ForecastHorizon": config.forecast_horizon,
        "ForecastTypes": list(config.forecast_types),
        "ForecastFrequency": config.forecast_frequency,
        "DatasetImportJobArns": list(predictor.attributes.get("DatasetImportJobArns", [])),
        "DataConfig": predictor.attributes.get("DataConfig") or _data_config(config),
        "OptimizationMetric": config.optimization_metric,
        **status_fields(predictor),
        **times(predictor),
    }
    if config.forecast_dimensions:
        out["ForecastDimensions"] = list(config.forecast_dimensions)
    return out


def describe_legacy_predictor(predictor: Resource) -> dict[str, Any]:
    """DescribePredictor's answer: the legacy CreatePredictor's fields (no DataConfig, ForecastFrequency inside
    FeaturizationConfig)."""
    config = predictor_config(predictor)
    featurization: dict[str, Any] = {"ForecastFrequency": config.forecast_frequency}
    if config.forecast_dimensions:
        featurization["ForecastDimensions"] = list(config.forecast_dimensions)
    out: dict[str, Any] = {
        "PredictorArn": predictor.arn,
        "PredictorName": predictor.name,
        "ForecastHorizon": config.forecast_horizon,
        "ForecastTypes": list(config.forecast_types),
        "PerformAutoML": config.auto and len(config.algorithms) > 1,
        "PerformHPO": False,
        "EvaluationParameters": {
            "NumberOfBacktestWindows": config.backtest_windows,
            "BackTestWindowOffset": config.offset,
        },
        "InputDataConfig": {"DatasetGroupArn": config.dataset_group_arn},
        "FeaturizationConfig": featurization,
        "IsAutoPredictor": bool(predictor.attributes.get("IsAutoPredictor", True)),
        "DatasetImportJobArns": list(predictor.attributes.get("DatasetImportJobArns", [])),
        "OptimizationMetric": config.optimization_metric,
        **status_fields(predictor),
        **times(predictor),
    }
    if config.holiday_country:
        out["InputDataConfig"]["SupplementaryFeatures"] = [{"Name": "holiday", "Value": config.holiday_country}]
    if len(config.algorithms) == 1:
        out["AlgorithmArn"] = algorithm_arn(config.algorithms[0])
        params = config.algorithm_params.get(config.algorithms[0])
        if params:
            out["TrainingParameters"] = {k: str(v) for k, v in params.items()}
    else:
        out["AutoMLAlgorithmArns"] = [algorithm_arn(a) for a in config.algorithms]
    return out


def _data_config(config: PredictorConfig) -> dict[str, Any]:
    """A DataConfig for a predictor created without one (the CLI's workflow, the DAG)."""
    out: dict[str, Any] = {"DatasetGroupArn": config.dataset_group_arn}
    if config.holiday_country:
        out["AdditionalDatasets"] = [{"Name": "holiday", "Configuration": {"CountryCode": [config.holiday_country]}}]
    return out


def summarize_predictor(predictor: Resource) -> dict[str, Any]:
    out = {
        "PredictorArn": predictor.arn,
        "PredictorName": predictor.name,
        "DatasetGroupArn": predictor.dataset_group_arn,
        "IsAutoPredictor": bool(predictor.attributes.get("IsAutoPredictor", True)),
        "Status": forecast_status(predictor.status),
        **times(predictor),
    }
    if predictor.failure_reason:
        out["Message"] = predictor.failure_reason
    return out


def accuracy_metrics(predictor: Resource) -> dict[str, Any]:
    """GetAccuracyMetrics: AutoPredictor's evaluation first (no AlgorithmArn), then each algorithm's."""
    if predictor.status is not Status.ACTIVE:
        raise ResourceInUseError(f"predictor {predictor.name} is {forecast_status(predictor.status)}, not ACTIVE")
    config = predictor_config(predictor)
    results = []
    for entry in predictor.attributes["evaluation"]:
        item = {"TestWindows": _finite(entry["TestWindows"])}
        if entry.get("AlgorithmArn"):
            item = {"AlgorithmArn": entry["AlgorithmArn"], **item}
        results.append(item)
    return {
        "PredictorEvaluationResults": results,
        "IsAutoPredictor": bool(predictor.attributes.get("IsAutoPredictor", True)),
        "OptimizationMetric": config.optimization_metric,
    }


def _finite(value: Any) -> Any:
    """The stored figures with NaN dropped (JSON has no NaN; Forecast leaves an undefined metric out)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items() if not (isinstance(v, float) and not np.isfinite(v))}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def delete_predictor(platform: Platform, predictor: str) -> Resource:
    target = get(platform, ResourceType.PREDICTOR, predictor, "PredictorArn")
    if target.status in RUNNING:
        raise ResourceInUseError(f"predictor {target.name} is still training")
    forecasts = platform.catalog.list(ResourceType.FORECAST, where={"PredictorArn": target.arn})
    if forecasts:
        raise ResourceInUseError(f"predictor {target.name} has forecast {forecasts[0].name}; delete it first")
    deleted = platform.catalog.delete(ResourceType.PREDICTOR, target.arn)
    if target.attributes.get("artifactPath"):
        shutil.rmtree(target.attributes["artifactPath"], ignore_errors=True)
    return deleted


__all__ = [
    "PredictorConfig",
    "accuracy_metrics",
    "create_predictor",
    "delete_predictor",
    "describe_predictor",
    "run_predictor",
    "start_predictor",
    "summarize_predictor",
]
