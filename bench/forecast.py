"""Forecast benchmark: AutoPredictor on Forecast's getting-started data (hourly electricity, three series),
against the seasonal-naive forecast (same hour, previous day) on the same backtest window, in the same run.

What a user runs: the file is imported through a dataset import job into a fresh home, an AutoPredictor is
trained with Forecast's defaults (ForecastHorizon 24, ForecastFrequency H, ForecastTypes 0.1/0.5/0.9/mean, one
backtest window: the last 24 hours of each series), and GetAccuracyMetrics' figures are printed for AutoPredictor
and each algorithm beside it, with their ratio to seasonal naive (computed by the same metric code on the same
window). Then a forecast is made and QueryForecast is timed through the API operation (catalog lookup included),
``--queries`` calls over the three items.

Targets (issue 19): AutoPredictor's WAPE and mean weighted quantile loss beat seasonal naive by at least 20%
(ratio <= 0.80); AutoPredictor trains in at most 5 minutes on 2 cores; QueryForecast p99 <= 20 ms.

    .venv/bin/python bench/forecast.py [--data ../shared/data/forecast/item-demand-time.csv] [--queries 2000]
        [--max-parallel N] [--neural-batches N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "forecast" / "item-demand-time.csv"
SCHEMA = {
    "Attributes": [
        {"AttributeName": "timestamp", "AttributeType": "timestamp"},
        {"AttributeName": "target_value", "AttributeType": "float"},
        {"AttributeName": "item_id", "AttributeType": "string"},
    ]
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--max-parallel", type=int, default=None)
    parser.add_argument("--neural-batches", type=int, default=None)
    args = parser.parse_args()

    from models.forecast.registry import get_forecaster_class
    from recsmith.forecast.datasets import create_dataset, create_dataset_group
    from recsmith.forecast.imports import create_dataset_import_job
    from recsmith.forecast.metrics import window_metrics
    from recsmith.forecast.operations import OPERATIONS, RUNTIME_OPERATIONS
    from recsmith.forecast.predictors import PredictorConfig, _scales, create_predictor, training_series
    from recsmith.forecast.series import truncate, window_truth
    from recsmith.platform import Platform
    from recsmith.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="bench-forecast-"))
    platform = Platform(
        Settings(home=home, forecast_max_parallel=args.max_parallel, forecast_neural_batches=args.neural_batches)
    )
    print(f"data {args.data}; home {home}; cores {len(os.sched_getaffinity(0))}; load {os.getloadavg()[0]:.1f}")
    dataset = create_dataset(platform, "elec", "CUSTOM", "TARGET_TIME_SERIES", SCHEMA, "H")
    group = create_dataset_group(platform, "elec", "CUSTOM", [dataset.arn])
    started = time.perf_counter()
    job = create_dataset_import_job(platform, "elec_import", dataset.arn, str(args.data))
    print(
        f"import: {job.status.value} in {time.perf_counter() - started:.1f} s, "
        f"{job.attributes['dataVersion']['rowCount']} rows"
    )

    config = PredictorConfig(dataset_group_arn=group.arn, forecast_horizon=24, forecast_frequency="H")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    predictor = create_predictor(platform, "elec_auto", config)
    seconds = time.perf_counter() - started
    if predictor.failure_reason:
        raise SystemExit(f"predictor failed: {predictor.failure_reason}")
    print(
        f"AutoPredictor: {seconds:.1f} s wall (load {load_before:.1f} -> {os.getloadavg()[0]:.1f}); "
        f"per algorithm (backtest fit + forecasts, s): {predictor.attributes['candidateSeconds']}; "
        f"ensembles per series: {predictor.attributes['ensembleCounts']}"
    )

    # seasonal naive on the same window, by the same metric code
    data, _, _ = training_series(platform, config)
    evaluation = predictor.attributes["evaluation"]
    start = evaluation[0]["TestWindows"][1]["TestWindowStart"]
    import pandas as pd

    test_start = pd.Timestamp(start, unit="s")
    history = truncate(data, test_start)
    naive = get_forecaster_class("Seasonal_Naive")().fit(history, 24).predict(history, 24, config.quantiles)
    truth = window_truth(data, test_start, 24)
    baseline = window_metrics(truth, naive, config.quantiles, _scales(data, test_start))
    base_wape = baseline["ErrorMetrics"][0]["WAPE"]
    base_wql = baseline["AverageWeightedQuantileLoss"]

    print(f"\nbacktest window {test_start} + 24 h, {len(truth)} series")
    print(f"{'':16s} {'WAPE':>7s} {'ratio':>6s} {'mean wQL':>9s} {'ratio':>6s} {'RMSE':>7s} {'MASE':>6s} {'MAPE':>6s}")
    rows = [("Seasonal naive", baseline)] + [
        ((e.get("AlgorithmArn") or "AutoPredictor").rsplit("/", 1)[-1], e["TestWindows"][0]["Metrics"])
        for e in evaluation
    ]
    for name, metrics in rows:
        mean = metrics["ErrorMetrics"][0]
        wql = metrics["AverageWeightedQuantileLoss"]
        print(
            f"{name:16s} {mean['WAPE']:7.4f} {mean['WAPE'] / base_wape:6.2f} {wql:9.4f} {wql / base_wql:6.2f} "
            f"{mean['RMSE']:7.2f} {mean['MASE']:6.3f} {mean['MAPE']:6.3f}"
        )
    auto = evaluation[0]["TestWindows"][0]["Metrics"]
    wape_ratio = auto["ErrorMetrics"][0]["WAPE"] / base_wape
    wql_ratio = auto["AverageWeightedQuantileLoss"] / base_wql

    forecast_arn = OPERATIONS["CreateForecast"](platform, {"ForecastName": "elec_fc", "PredictorArn": predictor.arn})[
        "ForecastArn"
    ]
    query = RUNTIME_OPERATIONS["QueryForecast"]
    items = sorted(truth)
    query(platform, {"ForecastArn": forecast_arn, "Filters": {"item_id": items[0]}})  # load the forecast's index
    latencies = []
    for n in range(args.queries):
        begin = time.perf_counter()
        answer = query(platform, {"ForecastArn": forecast_arn, "Filters": {"item_id": items[n % len(items)]}})
        latencies.append((time.perf_counter() - begin) * 1000)
        assert len(answer["Forecast"]["Predictions"]["p50"]) == 24
    p50, p99 = np.percentile(latencies, [50, 99])
    print(
        f"\nQueryForecast through the API operation: {args.queries} calls, p50 {p50:.2f} ms, p99 {p99:.2f} ms "
        f"(median {statistics.median(latencies):.2f} ms)"
    )
    print("\ntargets:")
    print(f"  WAPE ratio {wape_ratio:.2f} <= 0.80: {'met' if wape_ratio <= 0.8 else 'NOT met'}")
    print(f"  mean wQL ratio {wql_ratio:.2f} <= 0.80: {'met' if wql_ratio <= 0.8 else 'NOT met'}")
    print(f"  AutoPredictor {seconds:.0f} s <= 300 s: {'met' if seconds <= 300 else 'NOT met'} (load-dependent)")
    print(f"  QueryForecast p99 {p99:.2f} ms <= 20 ms: {'met' if p99 <= 20 else 'NOT met'}")


if __name__ == "__main__":
    main()
