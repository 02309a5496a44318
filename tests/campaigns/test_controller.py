"""The campaign controller as a deployment runs it: ``recsmith run-controller`` moves an AUTO campaign after a
promotion made in the registry with no campaign server running; reads (``describe-campaign``,
``get-recommendations``, registry reads) never move or record anything; of two controllers one leads, a move is
recorded once, and another takes over when the leader's lease expires."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from mlflow.tracking import MlflowClient

from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.controller import LEASE, CampaignController
from recsmith.campaigns.server import ENV_PREFIX, settings_env
from recsmith.catalog import ResourceType
from recsmith.cli import main
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.training.registry import PRODUCTION, production_version, promote

if TYPE_CHECKING:
    from conftest import Trained


def _model_version(trained: Trained, index: int) -> str:
    version = trained.platform.catalog.get(ResourceType.SOLUTION_VERSION, trained.versions[index])
    return str(version.attributes["modelVersion"])


def _client(trained: Trained) -> MlflowClient:
    trained.platform.configure_mlflow()
    return MlflowClient()


@pytest.fixture
def cli(
    trained: Trained, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., dict[str, Any]]:
    """``recsmith ...`` in this process, on the trained installation."""
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in settings_env(trained.platform.settings).items():
        monkeypatch.setenv(name, value)

    def call(*argv: str) -> dict[str, Any]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out) if out.strip() else {}

    return call


@pytest.fixture
def run_controller(trained: Trained) -> Iterator[subprocess.Popen[bytes]]:
    """``recsmith run-controller`` as its own process (own session), stopped by SIGTERM to its group."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(settings_env(trained.platform.settings))
    process = subprocess.Popen(
        [sys.executable, "-m", "recsmith.cli", "run-controller"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["controller"].endswith(str(process.pid)) or str(process.pid) in started["controller"]
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_a_registry_promotion_moves_an_auto_campaign_with_no_server_running(
    trained: Trained, cli: Callable[..., dict[str, Any]], run_controller: subprocess.Popen[bytes]
) -> None:
    client = _client(trained)
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    promote(client, trained.model_name, v1)
    arn = cli(
        "create-campaign", "--name", "ctl-auto", "--solution-version", trained.versions[0], "--update-mode", "AUTO"
    )["campaignArn"]
    # a reviewer moves the alias in the MLflow UI (the alias alone: no stage, no tag)
    client.set_registered_model_alias(trained.model_name, PRODUCTION, v2)
    deadline = time.monotonic() + 60
    described = cli("describe-campaign", "--campaign-arn", arn)
    while described["campaign"]["solutionVersionArn"] != trained.versions[1] and time.monotonic() < deadline:
        assert run_controller.poll() is None, "run-controller exited"
        time.sleep(0.2)
        described = cli("describe-campaign", "--campaign-arn", arn)
    campaign = described["campaign"]
    assert campaign["solutionVersionArn"] == trained.versions[1]
    assert campaign["modelVersion"] == v2
    update = campaign["latestCampaignUpdate"]
    assert (update["status"], update["solutionVersionArn"], update["actor"]) == (
        "ACTIVE",
        trained.versions[1],
        "controller",
    )
    moves = described["campaignMoves"]
    assert [(m["actor"], m["from_version"], m["to_version"]) for m in moves] == [
        ("create-campaign", None, trained.versions[0]),
        ("controller", trained.versions[0], trained.versions[1]),
    ]
    # the controller brought the legacy stage and the sync tag in step with the alias
    assert client.get_model_version(trained.model_name, v2).current_stage == "Production"
    answer = cli("get-recommendations", "--campaign", arn, "--user-id", "u0001", "--num-results", "3")
    assert answer["modelVersion"] == v2


def test_reads_never_move_a_campaign_or_record_a_move(trained: Trained, cli: Callable[..., dict[str, Any]]) -> None:
    client = _client(trained)
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    promote(client, trained.model_name, v1)
    arn = cli(
        "create-campaign", "--name", "ctl-read", "--solution-version", trained.versions[0], "--update-mode", "AUTO"
    )["campaignArn"]
    client.set_registered_model_alias(trained.model_name, PRODUCTION, v2)  # no controller runs
    before = trained.platform.catalog.get(ResourceType.CAMPAIGN, arn)
    tags_before = client.get_registered_model(trained.model_name).tags
    for _ in range(2):
        described = cli("describe-campaign", "--campaign-arn", arn)
        assert described["campaign"]["solutionVersionArn"] == trained.versions[0]
        answer = cli("get-recommendations", "--campaign", arn, "--user-id", "u0001", "--num-results", "3")
        assert answer["modelVersion"] == v1
        cli("list-campaigns")
        assert production_version(client, trained.model_name) == v2
    after = trained.platform.catalog.get(ResourceType.CAMPAIGN, arn)
    assert after == before
    assert [m.actor for m in trained.platform.catalog.campaign_moves(arn)] == ["create-campaign"]
    assert client.get_registered_model(trained.model_name).tags == tags_before  # registry reads wrote nothing
    assert client.get_model_version(trained.model_name, v2).current_stage != "Production"


def _catalog_copy(trained: Trained, catalog_url: str) -> Settings:
    """Settings of the trained installation with its catalog (group, solution, versions) copied to
    ``catalog_url``: the same registry and models, the catalog on another database."""
    settings = Settings(home=trained.platform.settings.home, catalog_url=catalog_url, controller_lease_seconds=5.0)
    copy = Platform(settings)
    for kind in (ResourceType.DATASET_GROUP, ResourceType.SOLUTION, ResourceType.SOLUTION_VERSION):
        for resource in trained.platform.catalog.list(kind):
            copy.catalog.create(resource)
    copy.catalog.dispose()
    return settings


def test_two_controllers_one_leads_a_move_is_recorded_once_and_the_other_takes_over(
    trained: Trained, database_url: str
) -> None:
    """On SQLite and PostgreSQL catalogs alike."""
    settings = _catalog_copy(trained, database_url)
    lease_seconds = settings.controller_lease_seconds  # longer than a pass that loads a model
    platforms = [Platform(settings), Platform(settings)]
    first, second = (CampaignController(p, owner=f"ctl-{k}") for k, p in enumerate(platforms))
    client = _client(trained)
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    promote(client, trained.model_name, v1)
    campaign = create_campaign(platforms[0], "ctl-two", solution_version=trained.versions[0], update_mode="AUTO")
    promote(client, trained.model_name, v2)
    passes: list[tuple[str, bool, list[str]]] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def drive(controller: CampaignController) -> None:
        start.wait()
        for _ in range(4):
            outcome = controller.run_once([campaign.arn])
            with lock:
                passes.append((controller.owner, outcome.leader, outcome.committed))

    try:
        threads = [threading.Thread(target=drive, args=(c,)) for c in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        leaders = {owner for owner, leader, _ in passes if leader}
        assert len(leaders) == 1, passes  # the lease is renewed at each pass: the first to take it keeps it
        assert sum(len(committed) for _, _, committed in passes) == 1
        moved = platforms[0].catalog.get(ResourceType.CAMPAIGN, campaign.arn)
        assert moved.attributes["solutionVersionArn"] == trained.versions[1]
        assert moved.attributes["latestCampaignUpdate"]["status"] == "ACTIVE"
        moves = platforms[0].catalog.campaign_moves(campaign.arn)
        assert [(m.actor, m.to_version) for m in moves] == [
            ("create-campaign", trained.versions[0]),
            ("controller", trained.versions[1]),
        ]
        (leader,) = leaders
        follower = second if leader == first.owner else first
        # the leader dies without giving the lease up: the follower leads once the lease has expired
        assert not follower.run_once([campaign.arn]).leader
        time.sleep(lease_seconds + 0.1)
        assert follower.run_once([campaign.arn]).leader
        lease = platforms[0].coordination.lease(LEASE)
        assert lease is not None and lease.owner == follower.owner
        stale = first if follower is second else second
        assert not stale.run_once([campaign.arn]).leader  # the old leader, back, does not act
    finally:
        first.release()
        second.release()
        for platform in platforms:
            platform.catalog.dispose()


def test_update_campaign_from_the_cli_moves_a_manual_campaign_with_no_server(
    trained: Trained, cli: Callable[..., dict[str, Any]]
) -> None:
    """With no controller running, update-campaign's own pass moves the campaign; describe shows the caller."""
    v2 = _model_version(trained, 1)
    arn = cli("create-campaign", "--name", "ctl-manual", "--solution-version", trained.versions[0])["campaignArn"]
    promote(_client(trained), trained.model_name, v2)
    assert cli("run-controller", "--once")["leader"] is True  # a promotion does not move a MANUAL campaign
    assert cli("describe-campaign", "--campaign-arn", arn)["campaign"]["solutionVersionArn"] == trained.versions[0]
    cli("update-campaign", "--campaign-arn", arn, "--solution-version-arn", trained.versions[1])
    described = cli("describe-campaign", "--campaign-arn", arn)
    assert described["campaign"]["solutionVersionArn"] == trained.versions[1]
    assert described["campaign"]["latestCampaignUpdate"]["status"] == "ACTIVE"
    assert [m["actor"] for m in described["campaignMoves"]] == ["create-campaign", "update-campaign"]
    assert trained.platform.coordination.lease(LEASE) is None  # the CLI gave its lease back


def test_a_nudge_runs_a_pass_before_the_next_poll(trained: Trained) -> None:
    client = _client(trained)
    v1, v2 = _model_version(trained, 0), _model_version(trained, 1)
    promote(client, trained.model_name, v1)
    campaign = create_campaign(trained.platform, "ctl-nudge", solution_version=trained.versions[0], update_mode="AUTO")
    controller = CampaignController(trained.platform, poll_seconds=3600)
    controller.start()
    try:
        time.sleep(0.5)  # its first pass, at start, found nothing to do
        assert controller.running and controller.leader
        promote(client, trained.model_name, v2)
        nudged = time.monotonic()
        controller.nudge()  # as a registry webhook would
        deadline = nudged + 60
        while trained.platform.catalog.get(ResourceType.CAMPAIGN, campaign.arn).attributes["modelVersion"] != v2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        controller.stop()
    assert not controller.running
    assert trained.platform.coordination.lease(LEASE) is None  # a clean stop gives the lease up
