"""A small deterministic sample in Personalize's CSV shape, for the demo and the tests.

Users have an age band and two favourite genres; items have genres and a creation time. Each user browses in
sessions (an inactivity gap of hours between them); within a session they mostly walk through one of their
genres in catalogue order, so "what comes next" is learnable and co-occurrence is meaningful. Event types are
``click`` and, now and then, ``purchase``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.columns import CREATION_TIMESTAMP, EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID

GENRES = ("action", "comedy", "drama", "horror", "romance", "scifi", "documentary", "animation")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
START = 1_700_000_000  # 2023-11-14, epoch seconds

INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": USER_ID, "type": "string"},
        {"name": ITEM_ID, "type": "string"},
        {"name": TIMESTAMP, "type": "long"},
        {"name": EVENT_TYPE, "type": "string"},
        {"name": EVENT_VALUE, "type": ["null", "float"]},
    ],
    "version": "1.0",
}
ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": ITEM_ID, "type": "string"},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
        {"name": CREATION_TIMESTAMP, "type": "long"},
    ],
    "version": "1.0",
}
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": USER_ID, "type": "string"},
        {"name": "AGE_BAND", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}


@dataclass(frozen=True)
class SampleFiles:
    """Paths of a generated sample."""

    folder: Path
    interactions: Path
    items: Path
    users: Path
    interactions_schema: Path
    items_schema: Path
    users_schema: Path


def generate_sample(folder: Path, n_users: int = 300, n_items: int = 240, seed: int = 7) -> SampleFiles:
    """Write interactions.csv, items.csv, users.csv and their schemas to ``folder``; same seed, same files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    item_genre = np.arange(n_items) % len(GENRES)
    items = pd.DataFrame(
        {
            ITEM_ID: [f"i{i:04d}" for i in range(n_items)],
            "GENRES": [
                GENRES[g] if i % 5 else f"{GENRES[g]}|{GENRES[(g + 1) % len(GENRES)]}" for i, g in enumerate(item_genre)
            ],
            CREATION_TIMESTAMP: START - 86_400 * rng.integers(1, 365, size=n_items),
        }
    )
    users = pd.DataFrame(
        {
            USER_ID: [f"u{u:04d}" for u in range(n_users)],
            "AGE_BAND": [AGE_BANDS[u % len(AGE_BANDS)] for u in range(n_users)],
        }
    )
    genre_items = [np.flatnonzero(item_genre == g) for g in range(len(GENRES))]
    rows: list[tuple[str, str, int, str, float]] = []
    for u in range(n_users):
        favourites = rng.choice(len(GENRES), size=2, replace=False)
        clock = START + int(rng.integers(0, 86_400 * 30))
        for _session in range(int(rng.integers(2, 6))):
            genre = favourites[0] if rng.random() < 0.65 else favourites[1]
            pool = genre_items[genre]
            position = int(rng.integers(0, len(pool)))
            for _step in range(int(rng.integers(3, 9))):
                if rng.random() < 0.1:
                    item = int(rng.integers(0, n_items))  # an occasional random click
                else:
                    item = int(pool[position % len(pool)])
                    position += 1
                purchase = rng.random() < 0.15
                rows.append(
                    (
                        f"u{u:04d}",
                        f"i{item:04d}",
                        clock,
                        "purchase" if purchase else "click",
                        float(rng.integers(3, 6)) if purchase else 1.0,
                    )
                )
                clock += int(rng.integers(20, 600))
            clock += int(rng.integers(6 * 3600, 5 * 86_400))
    interactions = pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE])
    files = SampleFiles(
        folder=folder,
        interactions=folder / "interactions.csv",
        items=folder / "items.csv",
        users=folder / "users.csv",
        interactions_schema=folder / "interactions.schema.json",
        items_schema=folder / "items.schema.json",
        users_schema=folder / "users.schema.json",
    )
    interactions.to_csv(files.interactions, index=False)
    items.to_csv(files.items, index=False)
    users.to_csv(files.users, index=False)
    files.interactions_schema.write_text(json.dumps(INTERACTIONS_SCHEMA, indent=2))
    files.items_schema.write_text(json.dumps(ITEMS_SCHEMA, indent=2))
    files.users_schema.write_text(json.dumps(USERS_SCHEMA, indent=2))
    return files
