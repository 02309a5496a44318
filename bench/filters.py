"""What a filter adds to one recommendation request, in process: warm (cached), and right after a PutItems.

A group with 50,000 items (multi-valued GENRES, numeric PRICE) and 200,000 interactions; for each filter the
script times the filter step of a GetRecommendations (``apply_filter`` plus the blocked ids among a 50,000-item
catalogue, what :mod:`recsmith.campaigns.recommend` does) and prints the median and p99 in microseconds, with
a bare dictionary lookup's time as the floor measured in the same run.

    python bench/filters.py [--items 50000] [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]


def _timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    from recsmith.campaigns.filters import apply_filter, create_filter
    from recsmith.catalog import ResourceType
    from recsmith.events.metadata import put_items
    from recsmith.platform import Platform
    from recsmith.settings import Settings
    from recsmith.workflow import ImportConfig, import_dataset

    root = Path(tempfile.mkdtemp(prefix="bench-filters-"))
    platform = Platform(Settings(home=root / "home"))
    rng = np.random.default_rng(7)
    genres = np.array([f"g{k:02d}" for k in range(20)])
    ids = np.array([f"i{k:06d}" for k in range(args.items)])
    items = pd.DataFrame(
        {
            "ITEM_ID": ids,
            "GENRES": ["|".join(rng.choice(genres, size=rng.integers(1, 4), replace=False)) for _ in ids],
            "PRICE": rng.uniform(1, 100, len(ids)).round(2),
        }
    )
    items.to_csv(root / "items.csv", index=False)
    n = 200_000
    pd.DataFrame(
        {
            "USER_ID": [f"u{k:05d}" for k in rng.integers(0, 20_000, n)],
            "ITEM_ID": ids[rng.integers(0, len(ids), n)],
            "TIMESTAMP": 1_700_000_000 + np.arange(n),
            "EVENT_TYPE": rng.choice(["click", "purchase"], n),
        }
    ).to_csv(root / "interactions.csv", index=False)
    schemas = {
        "ITEMS": [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "GENRES", "type": "string", "categorical": True},
            {"name": "PRICE", "type": "double"},
        ],
        "INTERACTIONS": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "EVENT_TYPE", "type": "string"},
        ],
    }
    for kind, fields in schemas.items():
        (root / f"{kind}.json").write_text(json.dumps({"type": "record", "name": kind.title(), "fields": fields}))
        import_dataset(
            platform,
            ImportConfig(
                dataset_group="bench",
                dataset_type=kind,
                data_location=str(root / f"{kind.lower()}.csv"),
                schema_file=str(root / f"{kind}.json"),
            ),
        )
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "bench").arn
    items_arn = platform.catalog.get(ResourceType.DATASET, "bench-items").arn
    filters = {
        "genre IN ($G)": (create_filter(platform, "by-genre", "bench", "INCLUDE ItemID WHERE Items.GENRES IN ($G)"),
                          {"G": '"g03","g07"'}),
        "price < $MAX": (create_filter(platform, "cheap", "bench", "INCLUDE ItemID WHERE Items.PRICE < $MAX"),
                         {"MAX": "20"}),
        "exclude purchased": (create_filter(platform, "unbought", "bench",
                                            'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'), {}),
    }  # fmt: skip
    catalogue = ids.copy()  # stands for the model's item_ids_
    floor, _ = _timed(lambda: {"a": 1}.get("a"), args.calls)
    print(f"items={args.items} calls={args.calls} (machine shared with other helpers; medians)")
    print(f"floor (dict lookup): {floor:.2f} us")
    user = iter(range(10**9))
    for name, (resource, values) in filters.items():

        def step(resource: object = resource, values: dict[str, str] = values) -> object:
            decision = apply_filter(platform, resource.arn, values, group, user_id=f"u{next(user) % 20_000:05d}")  # type: ignore[attr-defined]
            return decision.blocked_among(catalogue)

        started = time.perf_counter()
        step()
        cold = (time.perf_counter() - started) * 1e3
        median, p99 = _timed(step, args.calls)
        put_items(platform, items_arn, [{"itemId": "i000001", "properties": json.dumps({"genres": "g03", "price": 5})}])
        started = time.perf_counter()
        step()
        after_put = (time.perf_counter() - started) * 1e3
        print(
            f"{name:18s} warm median {median:8.1f} us  p99 {p99:8.1f} us  | first call {cold:7.1f} ms  "
            f"| first call after a PutItems {after_put:7.1f} ms"
        )


if __name__ == "__main__":
    main()
