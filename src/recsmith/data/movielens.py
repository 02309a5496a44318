"""Convert a MovieLens folder (ratings.csv, movies.csv, tags.csv) to Personalize's CSV shape.

Interactions: one row per rating (EVENT_TYPE ``rating``, EVENT_VALUE the stars) and per tag (EVENT_TYPE
``tag``). Items: ITEM_ID, GENRES (``|``-joined, as MovieLens has them), TITLE. Files are read as found: a last
line without a newline is fine, and ratings of users and movies that appear nowhere else are kept, as
Personalize keeps interactions whose ids are absent from the Items and Users datasets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from models.columns import EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from recsmith.data.sample import INTERACTIONS_SCHEMA, SampleFiles
from recsmith.errors import InvalidInputError

MOVIELENS_ITEMS_SCHEMA = {
    "type": "record",
    "name": "MovieLensItems",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": ITEM_ID, "type": "string"},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
        {"name": "TITLE", "type": ["null", "string"], "textual": True},
    ],
    "version": "1.0",
}


def convert_movielens(source: Path, target: Path, include_tags: bool = False) -> SampleFiles:
    """Write interactions.csv, items.csv and schemas for the MovieLens files in ``source`` to ``target``."""
    ratings_path = source / "ratings.csv"
    if not ratings_path.is_file():
        raise InvalidInputError(f"{source}: no ratings.csv; expected a MovieLens folder (ml-latest-small)")
    target.mkdir(parents=True, exist_ok=True)
    ratings = pd.read_csv(ratings_path, dtype={"userId": str, "movieId": str, "rating": float, "timestamp": "int64"})
    interactions = pd.DataFrame(
        {
            USER_ID: ratings["userId"],
            ITEM_ID: ratings["movieId"],
            TIMESTAMP: ratings["timestamp"],
            EVENT_TYPE: "rating",
            EVENT_VALUE: ratings["rating"],
        }
    )
    tags_path = source / "tags.csv"
    if include_tags and tags_path.is_file():
        tags = pd.read_csv(tags_path, dtype={"userId": str, "movieId": str, "tag": str, "timestamp": "int64"})
        interactions = pd.concat(
            [
                interactions,
                pd.DataFrame(
                    {
                        USER_ID: tags["userId"],
                        ITEM_ID: tags["movieId"],
                        TIMESTAMP: tags["timestamp"],
                        EVENT_TYPE: "tag",
                        EVENT_VALUE: None,
                    }
                ),
            ],
            ignore_index=True,
        )
    files = SampleFiles(
        folder=target,
        interactions=target / "interactions.csv",
        items=target / "items.csv",
        users=target / "users.csv",
        interactions_schema=target / "interactions.schema.json",
        items_schema=target / "items.schema.json",
        users_schema=target / "users.schema.json",
    )
    interactions.to_csv(files.interactions, index=False)
    movies_path = source / "movies.csv"
    if movies_path.is_file():
        movies = pd.read_csv(movies_path, dtype=str, keep_default_na=False)
        genres = movies["genres"].where(movies["genres"] != "(no genres listed)", "")
        pd.DataFrame({ITEM_ID: movies["movieId"], "GENRES": genres, "TITLE": movies["title"]}).to_csv(
            files.items, index=False
        )
    files.interactions_schema.write_text(json.dumps(INTERACTIONS_SCHEMA, indent=2))
    files.items_schema.write_text(json.dumps(MOVIELENS_ITEMS_SCHEMA, indent=2))
    return files
