"""Zero-downtime rollouts against a real ``recsmith serve-campaign`` with two workers, under steady traffic.

Five promotions in the registry in a row must drop no request, every answer must name the model version that
produced it, and versions must only move forward (no answer from the old version after the new one was first
served), even though the two workers load each version independently: the campaign controller in the
serve-campaign process commits a version once both workers have it ready, and they switch together. Each
move is recorded once. A version that cannot load leaves the old one serving and the update marked failed. A
PutEvents reaches the user's next answer within a second.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from mlflow.tracking import MlflowClient

from recsmith.catalog import ResourceType
from recsmith.platform import Platform
from recsmith.training.registry import promote
from tests.serving.servers import aws_client, running_campaign, signed, trained_group

pytestmark = pytest.mark.integration

PROMOTIONS = 5
MAX_REQUESTS = 20_000  # the load loop is bounded in count and in time
MAX_SECONDS = 300.0


@dataclass
class Rollout:
    platform: Platform
    url: str
    campaign_arn: str
    model_name: str
    tracking_id: str
    first_version: str
    new_versions: list[str]
    broken_version: str
    log: Path


@dataclass
class Traffic:
    """Requests from a background thread: (status, model version or error text) of each, in order."""

    url: str
    campaign_arn: str
    answers: list[tuple[int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        with httpx.Client(base_url=self.url, timeout=10, auth=signed(self.url)) as client:
            while not self.stop.is_set() and len(self.answers) < MAX_REQUESTS and time.monotonic() < deadline:
                try:
                    response = client.post(
                        "/recommendations", json={"campaignArn": self.campaign_arn, "userId": "u0009"}
                    )
                except httpx.HTTPError as exc:
                    self.answers.append((0, repr(exc)))
                    continue
                ok = response.status_code == 200
                self.answers.append((response.status_code, response.json()["modelVersion"] if ok else response.text))

    def last_version(self) -> str | None:
        return self.answers[-1][1] if self.answers and self.answers[-1][0] == 200 else None


def _register_copies(platform: Platform, model_name: str, version: str, count: int) -> tuple[list[str], str]:
    """``count`` new registered versions holding a copy of ``version``'s model, and one broken copy."""
    client = MlflowClient()
    source = client.get_model_version(model_name, version)
    logged = client.get_logged_model(source.source.removeprefix("models:/"))
    root = Path(urlparse(logged.artifact_location).path)
    copy = platform.settings.resolved_home / "copies" / "good"
    shutil.copytree(root, copy)
    tags = {"recsmith.solution_version_arn": source.tags["recsmith.solution_version_arn"]}
    new = [str(client.create_model_version(model_name, str(copy), tags=tags).version) for _ in range(count)]
    broken = platform.settings.resolved_home / "copies" / "broken"
    shutil.copytree(root, broken)
    for path in broken.rglob("arrays.npz"):
        path.unlink()
    return new, str(client.create_model_version(model_name, str(broken), tags=tags).version)


@pytest.fixture(scope="module")
def rollout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollout]:
    root = tmp_path_factory.mktemp("rollout")
    setup = trained_group(root, "roll", poll_seconds=0.2)
    model_name, first = setup.trained.model_name, str(setup.trained.model_version)
    new_versions, broken = _register_copies(setup.platform, model_name, first, PROMOTIONS)
    log = root / "server.log"
    with running_campaign(setup, "roll-live", log, workers=2, timeout=240) as (campaign_arn, url):
        yield Rollout(
            platform=setup.platform,
            url=url,
            campaign_arn=campaign_arn,
            model_name=model_name,
            tracking_id=setup.tracking_id,
            first_version=first,
            new_versions=new_versions,
            broken_version=broken,
            log=log,
        )


def _client(url: str, service: str) -> Any:
    return aws_client(url, service)


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["itemId"] for entry in entries]


def test_five_promotions_under_traffic_drop_nothing(rollout: Rollout) -> None:
    traffic = Traffic(rollout.url, rollout.campaign_arn)
    thread = threading.Thread(target=traffic.run)
    thread.start()
    client = MlflowClient()
    try:
        time.sleep(0.3)
        for version in rollout.new_versions:
            promote(client, rollout.model_name, version)
            deadline = time.monotonic() + 60
            while traffic.last_version() != version and time.monotonic() < deadline:
                time.sleep(0.05)
            assert traffic.last_version() == version, (
                f"version {version} never served:\n{rollout.log.read_text()[-3000:]}"
            )
            time.sleep(0.3)  # some traffic on each version, served by both workers
    finally:
        traffic.stop.set()
        thread.join()
    failed = [answer for answer in traffic.answers if answer[0] != 200]
    assert not failed, failed[:5]
    served = [int(version) for _, version in traffic.answers]
    assert served == sorted(served), "a response named an older version after a newer one"
    assert served[0] == int(rollout.first_version)
    assert set(served) >= {int(v) for v in rollout.new_versions}
    assert len(traffic.answers) > 50
    deadline = time.monotonic() + 30  # the update turns ACTIVE once both workers report the new version
    campaign = rollout.platform.catalog.get(ResourceType.CAMPAIGN, rollout.campaign_arn)
    while campaign.attributes["latestCampaignUpdate"]["status"] != "ACTIVE" and time.monotonic() < deadline:
        time.sleep(0.1)
        campaign = rollout.platform.catalog.get(ResourceType.CAMPAIGN, rollout.campaign_arn)
    update = campaign.attributes["latestCampaignUpdate"]
    assert update["status"] == "ACTIVE" and update["modelVersion"] == rollout.new_versions[-1]
    assert campaign.attributes["modelVersion"] == rollout.new_versions[-1]
    moves = rollout.platform.catalog.campaign_moves(rollout.campaign_arn)
    assert [m.actor for m in moves] == ["create-campaign"] + ["controller"] * PROMOTIONS  # each move once
    assert [m.reason.rsplit("-> ", 1)[-1].rstrip(")") for m in moves[1:]] == rollout.new_versions


def test_broken_version_keeps_the_old_one_serving(rollout: Rollout) -> None:
    serving = rollout.new_versions[-1]
    traffic = Traffic(rollout.url, rollout.campaign_arn)
    thread = threading.Thread(target=traffic.run)
    thread.start()
    try:
        promote(MlflowClient(), rollout.model_name, rollout.broken_version)
        deadline = time.monotonic() + 60
        update: dict[str, Any] = {}
        while time.monotonic() < deadline:
            campaign = rollout.platform.catalog.get(ResourceType.CAMPAIGN, rollout.campaign_arn)
            update = campaign.attributes.get("latestCampaignUpdate") or {}
            if update.get("status") == "CREATE FAILED":
                break
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        traffic.stop.set()
        thread.join()
        promote(MlflowClient(), rollout.model_name, serving)  # leave the registry as the next test expects
    assert update.get("status") == "CREATE FAILED", update
    assert update["modelVersion"] == rollout.broken_version
    assert f"models:/{rollout.model_name}/{rollout.broken_version}" in update["failureReason"]
    assert traffic.answers and {status for status, _ in traffic.answers} == {200}
    assert {version for _, version in traffic.answers} == {serving}
    moves = rollout.platform.catalog.campaign_moves(rollout.campaign_arn)
    assert len(moves) == 1 + PROMOTIONS  # the broken version was never committed, so never recorded


def test_put_events_changes_the_next_answer_within_a_second(rollout: Rollout) -> None:
    runtime = _client(rollout.url, "personalize-runtime")
    events = _client(rollout.url, "personalize-events")
    before = _ids(runtime.get_recommendations(campaignArn=rollout.campaign_arn, userId="u0011")["itemList"])
    clicked = before[:2]
    start = time.perf_counter()
    events.put_events(
        trackingId=rollout.tracking_id,
        userId="u0011",
        sessionId="rollout-session",
        eventList=[{"eventType": "click", "itemId": item, "sentAt": time.time()} for item in clicked],
    )
    after = _ids(runtime.get_recommendations(campaignArn=rollout.campaign_arn, userId="u0011")["itemList"])
    elapsed = time.perf_counter() - start
    assert not set(clicked) & set(after)
    assert elapsed < 1.0, f"event to new recommendation took {elapsed:.3f}s"
