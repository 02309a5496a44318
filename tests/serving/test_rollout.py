"""Zero-downtime rollouts against a real ``bentoml serve`` with two workers, under steady traffic.

Five promotions in a row must drop no request, every answer must name the model version that produced it,
and versions must only move forward, even though the two workers load each version independently. A
version that cannot load leaves the old one serving and the update marked failed. A PutEvents reaches the
user's next answer within a second.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import httpx
import pytest
from botocore.config import Config
from mlflow.tracking import MlflowClient

from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.server import serve_campaign, stop_server, wait_ready
from recsmith.catalog import ResourceType
from recsmith.data.sample import generate_sample
from recsmith.events.tracker import create_event_tracker
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.training.registry import promote
from recsmith.training.solutions import SolutionConfig
from recsmith.workflow import ImportConfig, TrainConfig, import_dataset, train

pytestmark = pytest.mark.integration

PROMOTIONS = 5


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
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    settings = Settings(home=root / "home", campaign_poll_seconds=0.2)
    platform = Platform(settings)
    sample = generate_sample(root / "sample")
    import_dataset(
        platform,
        ImportConfig(
            dataset_group="roll", data_location=str(sample.interactions), schema_file=str(sample.interactions_schema)
        ),
    )
    trained = train(
        platform,
        TrainConfig(dataset_group="roll", solution="roll-sims", solution_config=SolutionConfig(recipe="sims")),
    )
    tracker = create_event_tracker(platform, "roll-tracker", "roll")
    platform.configure_mlflow()
    promote(MlflowClient(), trained["modelName"], trained["modelVersion"])
    new_versions, broken = _register_copies(platform, trained["modelName"], trained["modelVersion"], PROMOTIONS)
    campaign = create_campaign(
        platform, "roll-live", solution_version=trained["solutionVersionArn"], update_mode="AUTO"
    )
    port = _free_port()
    log = root / "server.log"
    process = serve_campaign(settings, campaign.arn, port, workers=2, log_file=log)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, timeout=120, process=process)
        except Exception as exc:
            raise AssertionError(f"campaign server did not start:\n{log.read_text()[-4000:]}") from exc
        yield Rollout(
            platform=platform,
            url=url,
            campaign_arn=campaign.arn,
            model_name=trained["modelName"],
            tracking_id=tracker.attributes["trackingId"],
            first_version=str(trained["modelVersion"]),
            new_versions=new_versions,
            broken_version=broken,
            log=log,
        )
    finally:
        stop_server(process)
        platform.catalog.dispose()
        platform.events.dispose()


def _client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="dummy",
        aws_secret_access_key="dummy",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


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
            deadline = time.monotonic() + 20
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
    update = rollout.platform.catalog.get(ResourceType.CAMPAIGN, rollout.campaign_arn).attributes[
        "latestCampaignUpdate"
    ]
    assert update["status"] == "ACTIVE" and update["modelVersion"] == rollout.new_versions[-1]


def test_broken_version_keeps_the_old_one_serving(rollout: Rollout) -> None:
    serving = rollout.new_versions[-1]
    traffic = Traffic(rollout.url, rollout.campaign_arn)
    thread = threading.Thread(target=traffic.run)
    thread.start()
    try:
        promote(MlflowClient(), rollout.model_name, rollout.broken_version)
        deadline = time.monotonic() + 20
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
