"""The model holder: AUTO follows the registry, MANUAL stays pinned, a broken version never serves."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest
from mlflow.tracking import MlflowClient

from recsmith.campaigns.campaigns import create_campaign, update_campaign
from recsmith.campaigns.holder import ModelHolder, ModelLoadError
from recsmith.campaigns.recommend import get_recommendations
from recsmith.catalog import ResourceType
from recsmith.training.registry import promote

if TYPE_CHECKING:
    from conftest import Trained


def _model_version(trained: Trained, index: int) -> str:
    version = trained.platform.catalog.get(ResourceType.SOLUTION_VERSION, trained.versions[index])
    return str(version.attributes["modelVersion"])


def _promote(trained: Trained, model_version: str) -> None:
    trained.platform.configure_mlflow()
    promote(MlflowClient(), trained.model_name, model_version)


@pytest.fixture(scope="module")
def broken_version(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registered version of the solution's model whose recipe arrays were removed from its artifacts."""
    trained.platform.configure_mlflow()
    client = MlflowClient()
    source = client.get_model_version(trained.model_name, _model_version(trained, 1)).source
    logged = client.get_logged_model(source.removeprefix("models:/"))
    copy = tmp_path_factory.mktemp("broken") / "model"
    shutil.copytree(Path(urlparse(logged.artifact_location).path), copy)
    removed = list(copy.rglob("arrays.npz"))
    assert removed, "the copied model should hold the recipe's arrays"
    for path in removed:
        path.unlink()
    version = client.create_model_version(
        trained.model_name, str(copy), tags={"recsmith.solution_version_arn": trained.versions[1]}
    )
    return str(version.version)


def test_auto_campaign_follows_promotion(trained: Trained) -> None:
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    _promote(trained, v1)
    campaign = create_campaign(
        trained.platform, "auto-follow", solution_version=trained.versions[0], update_mode="AUTO"
    )
    holder = ModelHolder(trained.platform, campaign.arn)
    assert holder.refresh() is True
    assert holder.current.model_version == v1
    assert holder.refresh() is False  # nothing changed

    _promote(trained, v2)
    assert holder.refresh() is True
    assert holder.current.model_version == v2
    assert holder.current.solution_version_arn == trained.versions[1]
    move = trained.platform.catalog.campaign_moves(campaign.arn)[-1]
    assert (move.actor, move.from_version, move.to_version) == (
        "controller",
        trained.versions[0],
        trained.versions[1],
    )
    update = trained.platform.catalog.get(ResourceType.CAMPAIGN, campaign.arn).attributes[
        "latestCampaignUpdate"
    ]
    assert update["status"] == "ACTIVE" and update["modelVersion"] == v2


def test_manual_campaign_stays_pinned(trained: Trained) -> None:
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    _promote(trained, v1)
    campaign = create_campaign(trained.platform, "manual-pin", solution_version=trained.versions[0])
    holder = ModelHolder(trained.platform, campaign.arn)
    holder.refresh()
    _promote(trained, v2)
    assert holder.refresh() is False
    assert holder.current.model_version == v1

    update_campaign(trained.platform, campaign.arn, solution_version=trained.versions[1])
    assert holder.refresh() is True
    assert holder.current.model_version == v2
    moves = trained.platform.catalog.campaign_moves(campaign.arn)
    assert [m.actor for m in moves] == ["create-campaign", "update-campaign"]  # the worker adds no duplicate


def test_broken_version_keeps_the_old_model_serving(trained: Trained, broken_version: str) -> None:
    v1 = _model_version(trained, 0)
    _promote(trained, v1)
    campaign = create_campaign(
        trained.platform, "auto-broken", solution_version=trained.versions[0], update_mode="AUTO"
    )
    holder = ModelHolder(trained.platform, campaign.arn)
    holder.refresh()

    _promote(trained, broken_version)
    assert holder.refresh() is False
    assert holder.current.model_version == v1
    update = trained.platform.catalog.get(ResourceType.CAMPAIGN, campaign.arn).attributes[
        "latestCampaignUpdate"
    ]
    assert update["status"] == "CREATE FAILED"
    assert f"models:/{trained.model_name}/{broken_version}" in update["failureReason"]
    assert update["modelVersion"] == broken_version
    answer = get_recommendations(trained.platform, holder, campaign.arn, user_id="u0001", num_results=3)
    assert answer["modelVersion"] == v1 and len(answer["itemList"]) == 3
    assert holder.refresh() is False  # not retried at every poll
    assert trained.platform.catalog.campaign_moves(campaign.arn)[-1].to_version == trained.versions[0]


def test_nothing_to_fall_back_to_raises(trained: Trained, broken_version: str) -> None:
    _promote(trained, broken_version)
    campaign = create_campaign(
        trained.platform, "auto-born-broken", solution_version=trained.versions[0], update_mode="AUTO"
    )
    with pytest.raises(ModelLoadError, match="cannot load models:/"):
        ModelHolder(trained.platform, campaign.arn).refresh()
    holder = ModelHolder(trained.platform, campaign.arn)
    with pytest.raises(ModelLoadError, match="no model loaded yet"):
        _ = holder.current


def test_poller_swaps_in_the_background(trained: Trained) -> None:
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    _promote(trained, v1)
    campaign = create_campaign(
        trained.platform, "auto-poll", solution_version=trained.versions[0], update_mode="AUTO"
    )
    holder = ModelHolder(trained.platform, campaign.arn, poll_seconds=0.05)
    holder.refresh()
    holder.start()
    assert holder.running
    try:
        _promote(trained, v2)
        deadline = time.monotonic() + 10
        while holder.current.model_version != v2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder.current.model_version == v2
    finally:
        holder.stop()
    assert not holder.running
