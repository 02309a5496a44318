"""Each forecasting algorithm alone on Forecast's getting-started data: fitted on everything but the last 24
hours of each series, scored on those 24 hours against seasonal naive (same hour, previous day), with its fit
and forecast times. No AutoPredictor, no catalog: the algorithms as ``models.forecast`` ships them, one torch
thread (as a predictor's workers run them).

    .venv/bin/python bench/forecast_algorithms.py [--data ../shared/data/forecast/item-demand-time.csv]
        [--algorithms ETS,ARIMA,...] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "forecast" / "item-demand-time.csv"
HORIZON = 24
QUANTILES = (0.1, 0.5, 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--algorithms", default="Seasonal_Naive,ETS,ARIMA,NPTS,Prophet,Deep_AR_Plus,CNN_QR")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from models.forecast.base import Series, SeriesSet
    from models.forecast.registry import get_forecaster_class
    from recsmith.forecast.metrics import seasonal_scale, window_metrics

    torch.set_num_threads(args.threads)
    frame = pd.read_csv(args.data, header=None, names=["timestamp", "value", "item"], parse_dates=["timestamp"])
    history, truth = [], {}
    for item, group in frame.groupby("item"):
        index = pd.date_range(group["timestamp"].min(), group["timestamp"].max(), freq="h")
        values = group.set_index("timestamp")["value"].reindex(index).fillna(0.0).to_numpy()
        history.append(Series(str(item), index[0], values[:-HORIZON]))
        truth[str(item)] = values[-HORIZON:]
    data = SeriesSet(tuple(history), "H")
    scales = {s.id: seasonal_scale(s.values, 24) for s in data.series}
    print(
        f"{len(history)} series, {len(history[0].values)} hours of history each; threads {args.threads}; "
        f"load {os.getloadavg()[0]:.1f}"
    )
    rows = []
    for name in args.algorithms.split(","):
        started = time.perf_counter()
        model = get_forecaster_class(name)(seed=0).fit(data, HORIZON)
        fit = time.perf_counter() - started
        started = time.perf_counter()
        prediction = model.predict(data, HORIZON, QUANTILES)
        predict = time.perf_counter() - started
        metrics = window_metrics(truth, prediction, QUANTILES, scales)
        rows.append((name, metrics["ErrorMetrics"][0]["WAPE"], metrics["AverageWeightedQuantileLoss"], fit, predict))
    base = next((r for r in rows if r[0] == "Seasonal_Naive"), None)
    print(f"{'':15s} {'WAPE':>7s} {'ratio':>6s} {'mean wQL':>9s} {'ratio':>6s} {'fit s':>7s} {'predict s':>9s}")
    for name, wape, wql, fit, predict in rows:
        wape_ratio = wape / base[1] if base else float("nan")
        wql_ratio = wql / base[2] if base else float("nan")
        print(f"{name:15s} {wape:7.4f} {wape_ratio:6.2f} {wql:9.4f} {wql_ratio:6.2f} {fit:7.1f} {predict:9.2f}")
    print(f"load at the end {os.getloadavg()[0]:.1f}; median fit {np.median([r[3] for r in rows]):.1f} s")


if __name__ == "__main__":
    main()
