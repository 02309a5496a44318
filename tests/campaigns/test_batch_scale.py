"""Batch inference streams: 100k input lines score in chunks while the job's memory stays flat."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from recsmith.campaigns.batch import create_batch_inference_job
from recsmith.catalog import Resource, Status

if TYPE_CHECKING:
    from conftest import Trained

pytestmark = pytest.mark.slow


def _write_requests(path: Path, lines: int) -> None:
    with path.open("w") as handle:
        for n in range(lines):
            handle.write(json.dumps({"userId": f"u{n % 300 + 1:04d}"}) + "\n")


def _peak_rss_growth(run: Callable[[], Resource]) -> tuple[int, Resource]:
    """How far above its starting RSS this process got while ``run()`` ran (sampled every 10 ms)."""
    process = psutil.Process()
    start = process.memory_info().rss
    peak = start
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = run()
    finally:
        done.set()
        sampler.join()
    return peak - start, result


def test_memory_stays_flat_from_10k_to_100k_lines(trained: Trained, tmp_path: Path) -> None:
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    _write_requests(small, 10_000)
    _write_requests(large, 100_000)

    def job(name: str, path: Path) -> Resource:
        return create_batch_inference_job(
            trained.platform, name, trained.versions[0], str(path), str(tmp_path / name), num_results=10
        )

    small_growth, _ = _peak_rss_growth(lambda: job("rss-small", small))
    started = time.perf_counter()
    large_growth, finished = _peak_rss_growth(lambda: job("rss-large", large))
    elapsed = time.perf_counter() - started
    assert finished.status is Status.ACTIVE, finished.failure_reason
    assert finished.attributes["recordsProcessed"] == 100_000
    with (tmp_path / "rss-large" / "large.jsonl.out").open() as output:
        assert sum(1 for _ in output) == 100_000
    # ten times the input may not cost more memory than a few MB of noise over the small job
    assert large_growth < small_growth + 16 * 2**20, (small_growth, large_growth)
    assert elapsed < 60, f"100k lines took {elapsed:.1f}s"
