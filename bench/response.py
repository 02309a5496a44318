"""Response features benchmark: what promotions, metadataColumns, reasons and session-aware event reads cost.

In process, on one trained SIMS campaign over a generated catalogue (10k users, 3k items by default), with an
event store holding signed-in and anonymous session events. Each figure is the median and p99 over
``--requests`` calls, against a baseline measured in the same run:

- event read: the store's identity query (the user's events plus anonymous events of sessions the user owns)
  against the plain ``user_id = ?`` query it replaced;
- GetRecommendations (numResults 25): plain, with a 20% promotion, with ``metadataColumns``;
- reasons: the time sims spends naming "because of item X" per answer.

    .venv/bin/python bench/response.py [--users 10000] [--items 3000] [--requests 400]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from sqlalchemy import select  # noqa: E402

from recsmith.campaigns.campaigns import create_campaign  # noqa: E402
from recsmith.campaigns.filters import create_filter  # noqa: E402
from recsmith.campaigns.holder import ModelHolder  # noqa: E402
from recsmith.campaigns.recommend import get_recommendations  # noqa: E402
from recsmith.data.sample import generate_sample  # noqa: E402
from recsmith.events.store import EventRow, StoredEvent  # noqa: E402
from recsmith.events.tracker import create_event_tracker  # noqa: E402
from recsmith.platform import Platform  # noqa: E402
from recsmith.settings import Settings  # noqa: E402
from recsmith.training.solutions import SolutionConfig  # noqa: E402
from recsmith.workflow import ImportConfig, TrainConfig, import_dataset, train  # noqa: E402


def _timed(call: Callable[[int], object], n: int) -> tuple[float, float]:
    """Median and p99 of ``n`` calls, in milliseconds."""
    call(0)  # warm caches (filter tables, item metadata)
    laps = []
    for k in range(n):
        start = time.perf_counter()
        call(k)
        laps.append((time.perf_counter() - start) * 1000)
    laps.sort()
    return statistics.median(laps), laps[min(len(laps) - 1, int(0.99 * len(laps)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=3_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--profile", action="store_true", help="also print where a promoted request spends time")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-response-"))
    platform = Platform(Settings(home=root / "home"))
    sample = generate_sample(root / "sample", n_users=args.users, n_items=args.items)
    for kind, data, schema in (
        ("INTERACTIONS", sample.interactions, sample.interactions_schema),
        ("ITEMS", sample.items, sample.items_schema),
    ):
        import_dataset(
            platform,
            ImportConfig(dataset_group="bench", dataset_type=kind, data_location=str(data), schema_file=str(schema)),
        )
    started = time.perf_counter()
    trained = train(
        platform,
        TrainConfig(dataset_group="bench", solution="bench-sims", solution_config=SolutionConfig(recipe="sims")),
    )
    print(f"trained sims in {time.perf_counter() - started:.1f} s")
    tracker = create_event_tracker(platform, "bench-tracker", "bench")
    campaign = create_campaign(platform, "bench-live", solution_version=trained.solution_version_arn)
    holder = ModelHolder(platform, campaign.arn)
    holder.refresh()
    group = campaign.dataset_group_arn
    assert group is not None
    promo = create_filter(platform, "bench-promo", "bench", 'INCLUDE ItemID WHERE Items.GENRES IN ("comedy")')

    # events: each of 5000 sessions has 2 anonymous events, then its user signs in and adds 2 more
    rng = np.random.default_rng(0)
    users = [f"u{u:04d}" for u in range(args.users)]
    item_ids = [f"i{i:04d}" for i in range(args.items)]
    batch: list[StoredEvent] = []
    for s in range(5_000):
        user = users[int(rng.integers(len(users)))]
        for step in range(4):
            batch.append(
                StoredEvent(
                    dataset_group_arn=group,
                    tracking_id=tracker.attributes["trackingId"],
                    event_id=f"e{s}-{step}",
                    user_id=user if step >= 2 else None,
                    session_id=f"s{s}",
                    item_id=item_ids[int(rng.integers(len(item_ids)))],
                    event_type="click",
                    sent_at=1.7e9 + s,
                )
            )
    for start in range(0, len(batch), 1000):
        platform.events.append(batch[start : start + 1000])
    store = platform.events
    asked = [users[int(rng.integers(len(users)))] for _ in range(args.requests)]

    def plain_query(k: int) -> object:
        query = (
            select(EventRow.item_id)
            .where(EventRow.dataset_group_arn == group, EventRow.user_id == asked[k], EventRow.item_id.is_not(None))
            .order_by(EventRow.id.desc())
            .limit(200)
        )
        with store._engine.connect() as connection:
            return connection.execute(query).all()

    rows: list[tuple[str, tuple[float, float]]] = []
    rows.append(("event read: plain user_id query (baseline)", _timed(plain_query, args.requests)))
    rows.append(
        (
            "event read: identity query (sessions joined)",
            _timed(lambda k: store.recent_items(group, asked[k]), args.requests),
        )
    )

    def recs(**extra: object) -> Callable[[int], object]:
        return lambda k: get_recommendations(platform, holder, campaign.arn, user_id=asked[k], num_results=25, **extra)  # type: ignore[arg-type]

    rows.append(("GetRecommendations n=25 (baseline)", _timed(recs(), args.requests)))
    promotion = [{"name": "comedy", "percentPromotedItems": 20, "filterArn": promo.arn}]
    rows.append(("  + promotions 20%", _timed(recs(promotions=promotion), args.requests)))
    rows.append(("  + metadataColumns GENRES", _timed(recs(metadata_columns={"ITEMS": ["GENRES"]}), args.requests)))
    recipe = holder.current.recipe
    answers = [recipe.recommend([u], 25)[0] for u in asked]
    histories = [recipe.user_history(u) for u in asked]
    chosen = [np.asarray([recipe.item_index_[i] for i in a.item_ids], dtype=np.int64) for a in answers]
    rows.append(
        ("reasons: sims _explain per answer", _timed(lambda k: recipe._explain(histories[k], chosen[k]), args.requests))
    )

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(lambda: [recs(promotions=promotion)(k) for k in range(args.requests)])
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    base = {"event": rows[0][1][0], "recs": rows[2][1][0]}
    print(f"\n{len(batch)} events in the store; {args.requests} requests each; machine shared with other jobs\n")
    print(f"| {'what':48} | median ms | p99 ms | x baseline |")
    print(f"|{'-' * 50}|-----------|--------|------------|")
    for name, (median, p99) in rows:
        ref = base["event"] if name.startswith("event") else base["recs"]
        print(f"| {name:48} | {median:9.3f} | {p99:6.3f} | {median / ref:10.2f} |")


if __name__ == "__main__":
    main()
