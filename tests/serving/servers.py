"""What the serving tests share: a trained sims campaign on the generated sample, and a real campaign server.

The session-wide ``served`` fixture and the rollout tests (two workers, their own registry) build the same
campaign the same way; only the server's workers and what they register before it starts differ.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.server import serve_campaign, stop_server, wait_ready
from recsmith.data.sample import generate_sample
from recsmith.events.tracker import create_event_tracker
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.training.registry import promote
from recsmith.training.solutions import SolutionConfig
from recsmith.workflow import ImportConfig, TrainConfig, TrainResult, import_dataset, train


@dataclass(frozen=True)
class TrainedGroup:
    """A dataset group with the sample imported, a sims solution version in production, and a tracker."""

    platform: Platform
    trained: TrainResult
    tracking_id: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trained_group(root: Path, group: str, poll_seconds: float) -> TrainedGroup:
    """Import the sample into ``group``, train ``<group>-sims``, promote it, and create ``<group>-tracker``."""
    platform = Platform(Settings(home=root / "home", campaign_poll_seconds=poll_seconds))
    sample = generate_sample(root / "sample")
    import_dataset(
        platform,
        ImportConfig(
            dataset_group=group, data_location=str(sample.interactions), schema_file=str(sample.interactions_schema)
        ),
    )
    trained = train(
        platform,
        TrainConfig(dataset_group=group, solution=f"{group}-sims", solution_config=SolutionConfig(recipe="sims")),
    )
    tracker = create_event_tracker(platform, f"{group}-tracker", group)
    platform.configure_mlflow()
    promote(MlflowClient(), trained.model_name, trained.model_version)
    return TrainedGroup(platform, trained, tracker.attributes["trackingId"])


@contextmanager
def running_campaign(
    setup: TrainedGroup,
    name: str,
    log: Path,
    *,
    workers: int = 1,
    timeout: float = 90,
    update_mode: str = "AUTO",
) -> Iterator[tuple[str, str]]:
    """A campaign ``name`` (AUTO unless ``update_mode`` says MANUAL) of the trained version, served by a real
    ``bentoml serve``: (campaign ARN, URL).

    The server runs in its own process group and is stopped by group, whatever the test does; the platform's
    stores are closed afterwards.
    """
    platform = setup.platform
    campaign = create_campaign(
        platform, name, solution_version=setup.trained.solution_version_arn, update_mode=update_mode
    )
    port = free_port()
    process: subprocess.Popen[bytes] = serve_campaign(
        platform.settings, campaign.arn, port, workers=workers, log_file=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, timeout=timeout, process=process)
        except Exception as exc:
            raise AssertionError(f"campaign server did not start:\n{log.read_text()[-4000:]}") from exc
        yield campaign.arn, url
    finally:
        stop_server(process)
        platform.catalog.dispose()
        platform.events.dispose()


def aws_client(url: str, service: str, *, validate: bool = True) -> Any:
    """boto3's ``personalize-runtime`` or ``personalize-events`` client pointed at a campaign server.

    No retries, so a refused request fails the test at once; ``validate=False`` turns off botocore's
    client-side checks, so that the server's own refusal of bad input (0 or 11 events) is what gets tested.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="dummy",
        aws_secret_access_key="dummy",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, parameter_validation=validate),
    )
