"""A platform with the sample imported and a SIMS solution trained twice, shared by the campaign tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from recsmith.data.sample import generate_sample
from recsmith.events.tracker import create_event_tracker
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.training.solutions import SolutionConfig
from recsmith.workflow import ImportConfig, TrainConfig, import_dataset, train

GROUP = "shop"
SOLUTION = "shop-sims"


@dataclass(frozen=True)
class Trained:
    """A trained installation: two ACTIVE versions of one solution (oldest first) and an event tracker."""

    platform: Platform
    versions: list[str]
    model_name: str
    tracking_id: str


def build_trained(home: Path, versions: int = 2) -> Trained:
    platform = Platform(Settings(home=home / "home", campaign_poll_seconds=0.1))
    sample = generate_sample(home / "sample")
    import_dataset(
        platform,
        ImportConfig(
            dataset_group=GROUP,
            data_location=str(sample.interactions),
            schema_file=str(sample.interactions_schema),
        ),
    )
    config = TrainConfig(dataset_group=GROUP, solution=SOLUTION, solution_config=SolutionConfig(recipe="sims"))
    trained = [train(platform, config) for _ in range(versions)]
    tracker = create_event_tracker(platform, f"{GROUP}-tracker", GROUP)
    return Trained(
        platform=platform,
        versions=[t.solution_version_arn for t in trained],
        model_name=trained[0].model_name,
        tracking_id=tracker.attributes["trackingId"],
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    built = build_trained(tmp_path_factory.mktemp("campaigns"))
    yield built
    built.platform.catalog.dispose()
    built.platform.events.dispose()


@pytest.fixture(scope="session")
def trained_with_metadata(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """``trained`` with the sample's ITEMS (GENRES, CREATION_TIMESTAMP) and USERS (AGE_BAND) imported too."""
    sample = generate_sample(tmp_path_factory.mktemp("metadata"))
    for kind, data, schema in (
        ("ITEMS", sample.items, sample.items_schema),
        ("USERS", sample.users, sample.users_schema),
    ):
        import_dataset(
            trained.platform,
            ImportConfig(dataset_group=GROUP, dataset_type=kind, data_location=str(data), schema_file=str(schema)),
        )
    return trained
