"""The work of one candidate algorithm in a predictor's training, run in a worker process.

For each backtest window a candidate is fitted once, on the data before the window's *validation windows*
(a few horizons right before the test window) when AutoPredictor must choose, else before the test window
itself. It then forecasts each validation window from its start (rolling origin: the newer observations as
context, no refit), which is what the choice is made on, and the test window the same way, which is what is
reported. The final fit, on all the data, is saved for the forecasts.

Jobs run in a ``spawn`` process pool (no forked torch state), one per core at most, torch's threads pinned so
the workers share the cores rather than fight over them: on two busy cores an LSTM trained 7x slower with two
threads per process than with one. Workers only compute; the parent logs to MLflow and writes the catalog.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from models.forecast.base import Prediction, SeriesSet
from models.forecast.registry import get_forecaster_class
from recsmith.forecast.series import truncate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """One backtest window: the test window starts at ``test_start``; ``validation_starts`` are the starts of
    the horizons before it that a choice is made on (none when there is no choice to make)."""

    test_start: pd.Timestamp
    validation_starts: tuple[pd.Timestamp, ...] = ()


@dataclass(frozen=True)
class CandidateJob:
    algorithm: str
    params: Mapping[str, Any]
    seed: int
    horizon: int
    quantiles: tuple[float, ...]
    windows: tuple[Window, ...] = ()
    final_path: str | None = None  # fit on everything and save here
    torch_threads: int = 1


@dataclass
class WindowForecasts:
    test: dict[str, Prediction]
    validation: list[dict[str, Prediction]] = field(default_factory=list)


@dataclass
class CandidateResult:
    algorithm: str
    windows: list[WindowForecasts] = field(default_factory=list)
    fit_seconds: float = 0.0
    error: str | None = None


def run_candidate(job: CandidateJob, data: SeriesSet) -> CandidateResult:
    """Backtest (and, with ``final_path``, fit and save) one algorithm; a failure is returned, not raised, so one
    broken algorithm does not sink an AutoPredictor."""
    import torch

    torch.set_num_threads(job.torch_threads)
    result = CandidateResult(job.algorithm)
    started = time.perf_counter()
    forecaster_cls = get_forecaster_class(job.algorithm)
    try:
        for window in job.windows:
            fit_end = window.validation_starts[0] if window.validation_starts else window.test_start
            model = forecaster_cls(job.params, seed=job.seed).fit(truncate(data, fit_end), job.horizon)
            validation = [
                model.predict(truncate(data, start), job.horizon, job.quantiles) for start in window.validation_starts
            ]
            test = model.predict(truncate(data, window.test_start), job.horizon, job.quantiles)
            result.windows.append(WindowForecasts(test, validation))
        if job.final_path is not None:
            model = forecaster_cls(job.params, seed=job.seed).fit(data, job.horizon)
            model.save(Path(job.final_path))
    except (ValueError, ArithmeticError, RuntimeError, KeyError) as exc:
        logger.exception("%s failed", job.algorithm)
        result.error = f"{type(exc).__name__}: {exc}"
    result.fit_seconds = time.perf_counter() - started
    return result


def worker_count(n_jobs: int, max_parallel: int | None = None) -> int:
    cores = len(os.sched_getaffinity(0))
    return max(1, min(n_jobs, cores, max_parallel or n_jobs))


def run_candidates(
    jobs: Sequence[CandidateJob], data: SeriesSet, max_parallel: int | None = None
) -> list[CandidateResult]:
    """Every job's result, in job order; in a spawn process pool when more than one worker fits."""
    workers = worker_count(len(jobs), max_parallel)
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    pinned = [CandidateJob(**{**job.__dict__, "torch_threads": threads}) for job in jobs]
    if workers == 1:
        return [run_candidate(job, data) for job in pinned]
    logger.info("running %d forecasting candidates in %d processes, %d torch threads each", len(jobs), workers, threads)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_candidate, job, data) for job in pinned]
        return [f.result() for f in futures]
