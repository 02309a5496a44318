"""A real ``bentoml serve`` of a trained AUTO campaign on a free loopback port, started once per session."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.server import serve_campaign, stop_server, wait_ready
from recsmith.data.sample import generate_sample
from recsmith.events.tracker import create_event_tracker
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.training.registry import promote
from recsmith.training.solutions import SolutionConfig
from recsmith.workflow import ImportConfig, TrainConfig, import_dataset, train


@dataclass(frozen=True)
class Served:
    """A running campaign server and what a client needs to call it."""

    platform: Platform
    url: str
    campaign_arn: str
    tracking_id: str
    solution_version_arn: str
    model_version: str
    model_name: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serving")
    settings = Settings(home=root / "home", campaign_poll_seconds=0.5)
    platform = Platform(settings)
    sample = generate_sample(root / "sample")
    import_dataset(
        platform,
        ImportConfig(
            dataset_group="store", data_location=str(sample.interactions), schema_file=str(sample.interactions_schema)
        ),
    )
    trained = train(
        platform,
        TrainConfig(dataset_group="store", solution="store-sims", solution_config=SolutionConfig(recipe="sims")),
    )
    tracker = create_event_tracker(platform, "store-tracker", "store")
    platform.configure_mlflow()
    promote(MlflowClient(), trained["modelName"], trained["modelVersion"])
    campaign = create_campaign(
        platform, "store-live", solution_version=trained["solutionVersionArn"], update_mode="AUTO"
    )
    port = _free_port()
    log = root / "server.log"
    process = serve_campaign(settings, campaign.arn, port, log_file=log)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, timeout=90, process=process)
        except Exception as exc:
            raise AssertionError(f"campaign server did not start:\n{log.read_text()[-4000:]}") from exc
        yield Served(
            platform=platform,
            url=url,
            campaign_arn=campaign.arn,
            tracking_id=tracker.attributes["trackingId"],
            solution_version_arn=trained["solutionVersionArn"],
            model_version=trained["modelVersion"],
            model_name=trained["modelName"],
            log=log,
        )
    finally:
        stop_server(process)
        platform.catalog.dispose()
        platform.events.dispose()
