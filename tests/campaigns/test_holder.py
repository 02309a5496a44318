"""The model holder only loads, smoke-tests and swaps what the campaign's record says; the controller moves it.

Serving workers (holders whose poller runs) report in the catalog; the controller commits an update once every
live worker has the version ready, and they switch together at the scheduled moment. A version a worker cannot
load is never committed, and a killed worker holds an update back only until its heartbeat expires.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest
from mlflow.tracking import MlflowClient

from recsmith.campaigns.campaigns import create_campaign, update_campaign
from recsmith.campaigns.controller import CampaignController
from recsmith.campaigns.holder import ModelHolder, ModelLoadError
from recsmith.campaigns.recommend import get_recommendations
from recsmith.campaigns.server import settings_env
from recsmith.catalog import CampaignMove, Resource, ResourceType
from recsmith.errors import InvalidInputError
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.training.registry import promote

if TYPE_CHECKING:
    from conftest import Trained


def _model_version(trained: Trained, index: int) -> str:
    version = trained.platform.catalog.get(ResourceType.SOLUTION_VERSION, trained.versions[index])
    return str(version.attributes["modelVersion"])


def _promote(trained: Trained, model_version: str) -> None:
    trained.platform.configure_mlflow()
    promote(MlflowClient(), trained.model_name, model_version)


def _campaign(trained: Trained, arn: str) -> Resource:
    return trained.platform.catalog.get(ResourceType.CAMPAIGN, arn)


def _moves(trained: Trained, arn: str) -> list[CampaignMove]:
    return trained.platform.catalog.campaign_moves(arn)


@pytest.fixture
def controller(trained: Trained) -> Iterator[CampaignController]:
    built = CampaignController(trained.platform)
    yield built
    built.release()


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


def test_a_holder_serves_the_record_and_only_the_controller_moves_it(
    trained: Trained, controller: CampaignController
) -> None:
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    _promote(trained, v1)
    campaign = create_campaign(
        trained.platform, "auto-follow", solution_version=trained.versions[0], update_mode="AUTO"
    )
    holder = ModelHolder(trained.platform, campaign.arn)
    assert holder.refresh() is True
    assert holder.current.model_version == v1

    _promote(trained, v2)
    assert holder.refresh() is False  # a holder never follows the registry by itself
    assert holder.current.model_version == v1
    assert [m.actor for m in _moves(trained, campaign.arn)] == ["create-campaign"]
    assert "latestCampaignUpdate" not in _campaign(trained, campaign.arn).attributes

    outcome = controller.run_once([campaign.arn])
    assert outcome.leader and outcome.committed == outcome.completed == [campaign.arn]
    assert holder.refresh() is True
    assert holder.current.model_version == v2
    assert holder.current.solution_version_arn == trained.versions[1]
    described = _campaign(trained, campaign.arn).describe()
    assert described["solutionVersionArn"] == trained.versions[1]
    update = described["latestCampaignUpdate"]
    assert (update["status"], update["modelVersion"], update["solutionVersionArn"]) == (
        "ACTIVE",
        v2,
        trained.versions[1],
    )
    move = _moves(trained, campaign.arn)[-1]
    assert (move.actor, move.from_version, move.to_version) == ("controller", trained.versions[0], trained.versions[1])
    assert controller.run_once([campaign.arn]).committed == []  # moved once, recorded once
    assert len(_moves(trained, campaign.arn)) == 2


def test_a_manual_campaign_moves_only_on_update_campaign(trained: Trained, controller: CampaignController) -> None:
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    _promote(trained, v1)
    campaign = create_campaign(trained.platform, "manual-pin", solution_version=trained.versions[0])
    holder = ModelHolder(trained.platform, campaign.arn)
    holder.refresh()
    _promote(trained, v2)
    assert controller.run_once([campaign.arn]).started == []
    assert holder.refresh() is False
    assert holder.current.model_version == v1

    requested = update_campaign(trained.platform, campaign.arn, solution_version=trained.versions[1], actor="alice")
    assert requested.attributes["latestCampaignUpdate"]["status"] == "CREATE PENDING"
    assert requested.attributes["solutionVersionArn"] == trained.versions[0]  # still what is served
    assert holder.refresh() is False
    assert controller.run_once([campaign.arn]).completed == [campaign.arn]
    assert holder.refresh() is True
    assert holder.current.model_version == v2
    assert [m.actor for m in _moves(trained, campaign.arn)] == ["create-campaign", "alice"]
    with pytest.raises(InvalidInputError, match="is AUTO: it serves the registry's production version"):
        update_campaign(trained.platform, campaign.arn, update_mode="AUTO", solution_version=trained.versions[0])


def test_a_version_that_cannot_load_is_never_committed(
    trained: Trained, controller: CampaignController, broken_version: str
) -> None:
    v1 = _model_version(trained, 0)
    _promote(trained, v1)
    campaign = create_campaign(
        trained.platform, "auto-broken", solution_version=trained.versions[0], update_mode="AUTO"
    )
    holder = ModelHolder(trained.platform, campaign.arn)
    holder.refresh()

    _promote(trained, broken_version)
    assert controller.run_once([campaign.arn]).failed == [campaign.arn]
    described = _campaign(trained, campaign.arn).describe()
    update = described["latestCampaignUpdate"]
    assert update["status"] == "CREATE FAILED"
    assert f"cannot load models:/{trained.model_name}/{broken_version}" in update["failureReason"]
    assert update["modelVersion"] == broken_version
    assert described["solutionVersionArn"] == trained.versions[0]
    assert holder.refresh() is False
    answer = get_recommendations(trained.platform, holder, campaign.arn, user_id="u0001", num_results=3)
    assert answer["modelVersion"] == v1 and len(answer["itemList"]) == 3
    assert controller.run_once([campaign.arn]).started == []  # not retried at every pass
    assert [m.to_version for m in _moves(trained, campaign.arn)] == [trained.versions[0]]


def test_nothing_to_fall_back_to_raises(trained: Trained, broken_version: str) -> None:
    """A campaign whose served version's artifacts are gone: a fresh holder has nothing to serve."""
    campaign = create_campaign(trained.platform, "born-broken", solution_version=trained.versions[0])
    assert trained.platform.coordination.compare_and_update(campaign, {"modelVersion": broken_version}) is not None
    with pytest.raises(ModelLoadError, match="cannot load models:/"):
        ModelHolder(trained.platform, campaign.arn).refresh()
    holder = ModelHolder(trained.platform, campaign.arn)
    with pytest.raises(ModelLoadError, match="no model loaded yet"):
        _ = holder.current


def _workers(trained: Trained, arn: str, count: int) -> list[ModelHolder]:
    """Serving workers whose poller waits an hour: the test drives their refreshes itself."""
    holders = [ModelHolder(trained.platform, arn, poll_seconds=3600) for _ in range(count)]
    for holder in holders:
        holder.refresh()
        holder.start()
    return holders


def test_workers_switch_together_at_the_commit(trained: Trained, controller: CampaignController) -> None:
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    _promote(trained, v1)
    campaign = create_campaign(
        trained.platform, "auto-workers", solution_version=trained.versions[0], update_mode="AUTO"
    )
    first, second = _workers(trained, campaign.arn, 2)
    try:
        assert len(trained.platform.coordination.workers(campaign.arn, alive_within=10)) == 2
        _promote(trained, v2)
        outcome = controller.run_once([campaign.arn])
        assert outcome.started == [campaign.arn] and outcome.committed == []
        update = _campaign(trained, campaign.arn).attributes["latestCampaignUpdate"]
        assert update["status"] == "CREATE IN_PROGRESS" and "activateAt" not in update

        assert first.refresh() is False  # loaded and smoke-tested, reported ready, still serving v1
        assert first.current.model_version == v1
        assert controller.run_once([campaign.arn]).committed == []  # the second worker is not ready
        second.refresh()
        assert controller.run_once([campaign.arn]).committed == [campaign.arn]
        activate_at = _campaign(trained, campaign.arn).attributes["latestCampaignUpdate"]["activateAt"]
        assert [m.actor for m in _moves(trained, campaign.arn)] == ["create-campaign", "controller"]

        first.refresh()
        second.refresh()  # both have read the commit
        if time.time() < activate_at:
            assert first.current.model_version == second.current.model_version == v1
        time.sleep(max(0.0, activate_at - time.time()) + 0.01)
        # the switch happens on the next request, without a poll
        assert first.current.model_version == second.current.model_version == v2
        assert _campaign(trained, campaign.arn).describe()["solutionVersionArn"] == trained.versions[0]
        first.refresh()
        second.refresh()  # they report serving v2
        assert controller.run_once([campaign.arn]).completed == [campaign.arn]
        described = _campaign(trained, campaign.arn).describe()
        assert described["solutionVersionArn"] == trained.versions[1]
        assert described["latestCampaignUpdate"]["status"] == "ACTIVE"
        assert len(_moves(trained, campaign.arn)) == 2
    finally:
        first.stop()
        second.stop()
    assert trained.platform.coordination.workers(campaign.arn) == []  # a clean stop takes the rows away


def test_a_worker_that_cannot_load_fails_the_update(
    trained: Trained, controller: CampaignController, broken_version: str
) -> None:
    v1 = _model_version(trained, 0)
    _promote(trained, v1)
    campaign = create_campaign(
        trained.platform, "auto-w-broken", solution_version=trained.versions[0], update_mode="AUTO"
    )
    (worker,) = _workers(trained, campaign.arn, 1)
    try:
        _promote(trained, broken_version)
        assert controller.run_once([campaign.arn]).started == [campaign.arn]
        worker.refresh()
        assert controller.run_once([campaign.arn]).failed == [campaign.arn]
        update = _campaign(trained, campaign.arn).attributes["latestCampaignUpdate"]
        assert update["status"] == "CREATE FAILED"
        assert "worker " in update["failureReason"]
        assert f"cannot load models:/{trained.model_name}/{broken_version}" in update["failureReason"]
        worker.refresh()
        assert worker.current.model_version == v1
        assert len(_moves(trained, campaign.arn)) == 1
    finally:
        worker.stop()


WORKER_SCRIPT = """
import sys, time
from recsmith.campaigns.holder import ModelHolder
from recsmith.platform import Platform
holder = ModelHolder(Platform.from_env(), sys.argv[1])
holder.refresh()
holder.start()
print("ready", flush=True)
time.sleep(600)
"""


def test_a_killed_worker_holds_an_update_back_only_until_its_heartbeat_expires(trained: Trained) -> None:
    """kill -9 leaves the worker's row behind (no clean stop): the controller waits for it until the row's
    heartbeat is older than the time-to-live, then moves on without it. Nothing looks at process ids."""
    ttl = 2.0
    platform = Platform(
        Settings(home=trained.platform.settings.home, campaign_poll_seconds=0.2, campaign_worker_ttl_seconds=ttl)
    )
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    _promote(trained, v1)
    campaign = create_campaign(platform, "auto-killed", solution_version=trained.versions[0], update_mode="AUTO")
    env = {**os.environ, **settings_env(platform.settings)}
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, campaign.arn],
        env=env,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    controller = CampaignController(platform)
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == b"ready"
        assert len(platform.coordination.workers(campaign.arn, alive_within=ttl)) == 1
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        _promote(trained, v2)
        killed_at = time.time()
        first = controller.run_once([campaign.arn])
        if time.time() - killed_at < ttl:  # the dead worker still looks alive: the update waits for it
            assert first.started == [campaign.arn] and first.committed == []
        deadline = time.monotonic() + 30
        while _campaign(trained, campaign.arn).attributes["solutionVersionArn"] != trained.versions[1]:
            assert time.monotonic() < deadline, _campaign(trained, campaign.arn).attributes
            time.sleep(0.2)
            controller.run_once([campaign.arn])
        assert time.time() - killed_at >= ttl * 0.9
        assert [m.actor for m in _moves(trained, campaign.arn)] == ["create-campaign", "controller"]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        controller.release()
        platform.catalog.dispose()
