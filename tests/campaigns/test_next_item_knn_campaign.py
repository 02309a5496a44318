"""A next_item_knn campaign reads the user's events from the event store: a PutEvents moves the next answer,
and every recommended item names the user's own item that led to it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from models.base import REASON_MODEL, because_of
from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.holder import ModelHolder
from recsmith.campaigns.recommend import get_recommendations
from recsmith.data.sample import generate_sample
from recsmith.events.tracker import create_event_tracker, put_events
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.training.solutions import SolutionConfig
from recsmith.workflow import ImportConfig, TrainConfig, import_dataset, train


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, ModelHolder, str]]:
    home = tmp_path_factory.mktemp("next-item-knn")
    platform = Platform(Settings(home=home / "home", campaign_poll_seconds=0.1))
    sample = generate_sample(home / "sample")
    import_dataset(
        platform,
        ImportConfig(
            dataset_group="shop", data_location=str(sample.interactions), schema_file=str(sample.interactions_schema)
        ),
    )
    config = TrainConfig(
        dataset_group="shop", solution="shop-next", solution_config=SolutionConfig(recipe="next_item_knn")
    )
    version = train(platform, config).solution_version_arn
    campaign = create_campaign(platform, "shop-next-live", solution_version=version)
    holder = ModelHolder(platform, campaign.arn)
    assert holder.refresh() is True
    tracker = create_event_tracker(platform, "shop-tracker", "shop")
    yield platform, holder, tracker.attributes["trackingId"]
    platform.catalog.dispose()
    platform.events.dispose()


def _ask(platform: Platform, holder: ModelHolder, user: str, n: int = 10) -> list[dict]:  # type: ignore[type-arg]
    return get_recommendations(platform, holder, holder.campaign_arn, user_id=user, num_results=n)["itemList"]


def test_put_events_moves_the_answer_and_reasons_name_the_event(served: tuple[Platform, ModelHolder, str]) -> None:
    platform, holder, tracking_id = served
    recipe = holder.current.recipe
    user = "someone-new"
    clicked = str(recipe.item_ids_[0])
    before = [entry["itemId"] for entry in _ask(platform, holder, user)]
    put_events(
        platform, tracking_id, "s-1", [{"eventType": "click", "itemId": clicked, "sentAt": time.time()}], user_id=user
    )
    after = _ask(platform, holder, user)
    # the campaign answers as the recipe does with the stored event as the user's history since training
    expected = recipe.recommend([user], 10, recent_events={user: [clicked]})[0]
    assert [entry["itemId"] for entry in after] == expected.item_ids != before
    assert clicked not in expected.item_ids
    scored = [entry for entry in after if entry["reason"][0] == REASON_MODEL]
    assert scored, "the event's neighbours are recommended"
    assert all(entry["reason"] == [REASON_MODEL, because_of(clicked)] for entry in scored)


def test_a_known_users_new_event_counts_as_their_latest(served: tuple[Platform, ModelHolder, str]) -> None:
    platform, holder, tracking_id = served
    recipe = holder.current.recipe
    user = str(recipe.user_ids_[0])
    before = _ask(platform, holder, user)
    seen = set(recipe.item_ids_[recipe.user_history(user)].tolist()) | {entry["itemId"] for entry in before}
    newest = next(item for item in recipe.item_ids_.tolist() if item not in seen)
    put_events(
        platform, tracking_id, "s-2", [{"eventType": "click", "itemId": newest, "sentAt": time.time()}], user_id=user
    )
    after = _ask(platform, holder, user)
    expected = recipe.recommend([user], 10, recent_events={user: [newest]})[0]
    assert [entry["itemId"] for entry in after] == expected.item_ids
    assert [entry["reason"] for entry in after] == [expected.reasons_of(k) for k in range(len(expected))]
    assert any(entry["reason"] == [REASON_MODEL, because_of(newest)] for entry in after)
