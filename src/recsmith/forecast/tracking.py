"""MLflow tracking and registry of predictors: the same figures GetAccuracyMetrics returns, where reviewers look.

One run per predictor in the experiment ``recsmith-forecast/<dataset group>``: its config as params, the
AutoPredictor's summary metrics (and each window's, by step), a plot of the newest backtest window's forecasts
against the actual values, and the predictor folder as a pyfunc model. One child run per candidate algorithm
with its own metrics, fit time and any error. The predictor becomes a version of the registered model
``forecast.<dataset group>``, tagged with its metrics, and moves the ``production`` alias when its optimization
metric is lower than the production version's.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.forecast.base import Prediction, SeriesSet
from recsmith.catalog import Resource, ResourceType
from recsmith.platform import Platform
from recsmith.training.pyfunc import model_requirements

if TYPE_CHECKING:
    from recsmith.forecast.candidates import CandidateResult, Window
    from recsmith.forecast.predictors import PredictorConfig

logger = logging.getLogger(__name__)

_ENTRY = Path(__file__).with_name("pyfunc_entry.py")
_PLOTTED_SERIES = 4


def registered_model_name(dataset_group: str) -> str:
    return f"forecast.{dataset_group}"


def flat_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """A Forecast ``Metrics`` object as MLflow metric names: ``WAPE``, ``MASE``... of the mean,
    ``wQL_0.1``..., ``AverageWeightedQuantileLoss``, ``RMSE``; undefined (NaN) figures are left out."""
    out: dict[str, float] = {}
    for row in metrics["ErrorMetrics"]:
        suffix = "" if row["ForecastType"] == "mean" else f"_{row['ForecastType']}"
        for key in ("WAPE", "RMSE", "MASE", "MAPE"):
            out[f"{prefix}{key}{suffix}"] = row[key]
    for loss in metrics["WeightedQuantileLosses"]:
        out[f"{prefix}wQL_{loss['Quantile']:g}"] = loss["LossValue"]
    out[f"{prefix}AverageWeightedQuantileLoss"] = metrics["AverageWeightedQuantileLoss"]
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


def _experiment_id(platform: Platform, group_name: str) -> str:
    import mlflow

    name = f"recsmith-forecast/{group_name}"
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    location = f"{platform.settings.resolved_mlflow_artifact_root().rstrip('/')}/forecast-{group_name}"
    return str(mlflow.create_experiment(name, artifact_location=location))


def track_predictor(
    platform: Platform,
    predictor: Resource,
    config: PredictorConfig,
    folder: Path,
    evaluation: Sequence[Mapping[str, Any]],
    results: Mapping[str, CandidateResult],
    windows: Sequence[Window],
    truths: Sequence[Mapping[str, np.ndarray]],
    auto_windows: Sequence[Mapping[str, Prediction]],
    data: SeriesSet,
) -> dict[str, Any]:
    """Log the predictor and its candidates, register it and promote it when better; returns what the
    predictor records about it (run id, registered model and version, whether it was promoted)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from recsmith.training.registry import ensure_registered_model

    platform.configure_mlflow()
    group = platform.catalog.get(ResourceType.FORECAST_DATASET_GROUP, config.dataset_group_arn)
    mlflow.set_experiment(experiment_id=_experiment_id(platform, group.name))
    summary = flat_metrics(evaluation[0]["TestWindows"][0]["Metrics"])
    model_name = registered_model_name(group.name)
    with mlflow.start_run(run_name=predictor.name) as run:
        mlflow.set_tags(
            {
                "recsmith.service": "forecast",
                "recsmith.dataset_group": group.name,
                "recsmith.predictor_arn": predictor.arn,
                "recsmith.auto_predictor": str(bool(predictor.attributes.get("IsAutoPredictor", True))).lower(),
            }
        )
        mlflow.log_params(
            {
                "forecast_horizon": config.forecast_horizon,
                "forecast_frequency": config.forecast_frequency,
                "forecast_types": ",".join(config.forecast_types),
                "optimization_metric": config.optimization_metric,
                "algorithms": ",".join(config.algorithms),
                "backtest_windows": config.backtest_windows,
                "backtest_offset": config.offset,
                "holiday_country": config.holiday_country,
                "seed": config.seed,
                "series": len(data.series),
            }
        )
        mlflow.log_metrics(summary)
        for step, window in enumerate(evaluation[0]["TestWindows"][1:]):
            mlflow.log_metrics(flat_metrics(window["Metrics"]), step=step)
        for entry in evaluation[1:]:
            algorithm = str(entry["AlgorithmArn"]).rsplit("/", 1)[-1]
            with mlflow.start_run(run_name=f"{predictor.name}-{algorithm}", nested=True):
                mlflow.set_tags({"recsmith.algorithm": algorithm, "recsmith.predictor_arn": predictor.arn})
                mlflow.log_metrics(flat_metrics(entry["TestWindows"][0]["Metrics"]))
                mlflow.log_metric("fit_seconds", results[algorithm].fit_seconds)
        for algorithm, result in results.items():
            if result.error:
                with mlflow.start_run(run_name=f"{predictor.name}-{algorithm}", nested=True):
                    mlflow.set_tags({"recsmith.algorithm": algorithm, "recsmith.error": result.error[:500]})
        with tempfile.TemporaryDirectory() as tmp:
            plot = _plot_backtest(Path(tmp) / "backtest.png", data, windows[0], truths[0], auto_windows[0], config)
            if plot is not None:
                mlflow.log_artifact(str(plot), artifact_path="plots")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(_ENTRY),
            artifacts={"predictor": str(folder)},
            pip_requirements=model_requirements(),
        )
        client = MlflowClient()
        ensure_registered_model(client, model_name, f"Forecast predictors of dataset group {group.arn}")
        version = mlflow.register_model(
            info.model_uri,
            model_name,
            await_registration_for=120,
            tags={
                "recsmith.predictor_arn": predictor.arn,
                "recsmith.optimization_metric": config.optimization_metric,
                **{f"metric.{k}": f"{v:.6f}" for k, v in summary.items()},
            },
        )
    promoted = promote_if_better(platform, model_name, str(version.version), config.optimization_metric, summary)
    return {
        "mlflowRunId": run.info.run_id,
        "mlflowExperimentId": run.info.experiment_id,
        "modelName": model_name,
        "modelVersion": str(version.version),
        "modelUri": f"models:/{model_name}/{version.version}",
        "promoted": promoted,
    }


def promote_if_better(
    platform: Platform, model_name: str, version: str, metric: str, summary: Mapping[str, float]
) -> bool:
    """Move ``production`` to ``version`` when nothing is in production or its ``metric`` is lower."""
    from mlflow.tracking import MlflowClient

    from recsmith.training.registry import production_version, promote

    client = MlflowClient()
    current = production_version(client, model_name)
    value = summary.get(metric)
    if current is not None and current != version:
        tag = client.get_model_version(model_name, current).tags.get(f"metric.{metric}")
        if tag is not None and value is not None and float(tag) <= value:
            return False
    promote(client, model_name, version)
    return True


def _plot_backtest(
    path: Path,
    data: SeriesSet,
    window: Window,
    truth: Mapping[str, np.ndarray],
    forecasts: Mapping[str, Prediction],
    config: PredictorConfig,
) -> Path | None:
    """The newest window of a few series: history, actual values, the mean and the outer quantiles' band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = [sid for sid in sorted(truth) if sid in forecasts][:_PLOTTED_SERIES]
    if not ids:
        return None
    by_id = data.by_id()
    horizon = config.forecast_horizon
    figure, axes = plt.subplots(len(ids), 1, figsize=(10, 2.6 * len(ids)), squeeze=False)
    for axis, sid in zip(axes[:, 0], ids, strict=True):
        series = by_id[sid]
        index = data.index(series)
        start = int(np.searchsorted(index, window.test_start))
        past = slice(max(0, start - 3 * horizon), start)
        future = index[start : start + horizon]
        prediction = forecasts[sid]
        low, high = min(prediction.quantiles), max(prediction.quantiles)
        axis.plot(index[past], series.values[past], color="0.4", label="history")
        axis.plot(future, truth[sid], color="black", label="actual")
        axis.plot(future, prediction.mean, color="tab:blue", label="mean")
        axis.fill_between(
            future, prediction.quantiles[low], prediction.quantiles[high], alpha=0.25, label=f"p{low:g}-p{high:g}"
        )
        axis.set_title(sid.replace("\x1f", " / "), fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
