"""Resource names by Personalize's pattern, the whole name (issue 15, finding 6).

``re.match`` with ``$`` accepted a trailing newline, so ``movies\\n`` created a second dataset group beside
``movies`` and a data folder whose name ends in a newline.
"""

from __future__ import annotations

import json

import pytest

from recsmith.catalog import ResourceType
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.sample import INTERACTIONS_SCHEMA
from recsmith.errors import InvalidInputError
from recsmith.events.tracker import create_event_tracker
from recsmith.platform import Platform

BAD_NAMES = ["movies\n", "movies\r\n", "\nmovies", "mo vies", "-movies", "m" * 64, "", "movies\x00", "movíes"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_a_name_off_the_pattern_creates_nothing(platform: Platform, name: str) -> None:
    create_dataset_group(platform, "movies")
    with pytest.raises(InvalidInputError, match="invalid dataset group name"):
        create_dataset_group(platform, name)
    assert [group.name for group in platform.catalog.list(ResourceType.DATASET_GROUP)] == ["movies"]
    assert not [path.name for path in platform.settings.data_root.glob("*") if path.name != "movies"]


def test_every_kind_of_resource_checks_its_name(platform: Platform) -> None:
    create_dataset_group(platform, "movies")
    with pytest.raises(InvalidInputError, match="invalid schema name"):
        create_schema(platform, "movies-interactions\n", json.dumps(INTERACTIONS_SCHEMA))
    create_schema(platform, "movies-interactions", json.dumps(INTERACTIONS_SCHEMA))
    with pytest.raises(InvalidInputError, match="invalid dataset name"):
        create_dataset(platform, "movies-interactions\n", "movies", "INTERACTIONS", "movies-interactions")
    with pytest.raises(InvalidInputError, match="invalid event tracker name"):
        create_event_tracker(platform, "movies-tracker\n", "movies")
    name = "m" * 63  # the longest name Personalize takes
    assert create_dataset_group(platform, name).name == name
