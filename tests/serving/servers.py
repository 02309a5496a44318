"""What the serving tests share: a trained sims campaign on the generated sample, and a real campaign server.

The session-wide ``served`` fixture and the rollout tests (two workers, their own registry) build the same
campaign the same way; only the server's workers and what they register before it starts differ. The server is
what a user runs: ``recsmith serve-campaign``, which supervises ``bentoml serve`` and runs the campaign
controller that moves the campaign.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from recsmith.api.client import SignedAuth, read_credentials
from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.server import ENV_PREFIX, settings_env, stop_server, wait_ready
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


_HOMES: dict[str, Path] = {}  # campaign server URL -> its home, where it wrote the admin key


def signed(url: str, service: str = "personalize") -> SignedAuth:
    """httpx auth that signs with the admin key of the campaign server at ``url`` (every route is SigV4-signed)."""
    key_id, secret, region = read_credentials(_HOMES[url] / "credentials")
    return SignedAuth(key_id, secret, region, service)


def admin_signer(url: str, service: str = "personalize") -> Any:
    """A ``tests.faults.http_fuzz`` signer with the admin key of the campaign server at ``url``."""
    from tests.faults.http_fuzz import sigv4_signer

    key_id, secret, region = read_credentials(_HOMES[url] / "credentials")
    return sigv4_signer(key_id, secret, region, service)


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
    timeout: float = 180,
    update_mode: str = "AUTO",
) -> Iterator[tuple[str, str]]:
    """A campaign ``name`` (AUTO unless ``update_mode`` says MANUAL) of the trained version, served by a real
    ``recsmith serve-campaign`` (``bentoml serve`` and the campaign controller): (campaign ARN, URL).

    The server runs in its own process group and is stopped by group, whatever the test does (the CLI stops
    bentoml's process group and its controller on SIGTERM; leftovers are killed); the platform's stores are
    closed afterwards.
    """
    platform = setup.platform
    campaign = create_campaign(
        platform, name, solution_version=setup.trained.solution_version_arn, update_mode=update_mode
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(settings_env(platform.settings))
    command = [
        sys.executable, "-m", "recsmith.cli", "--verbose", "serve-campaign",
        "--campaign", campaign.arn, "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    with open(log, "ab") as output:
        process: subprocess.Popen[bytes] = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, timeout=timeout, process=process)
        except Exception as exc:
            raise AssertionError(f"campaign server did not start:\n{log.read_text()[-4000:]}") from exc
        _HOMES[url] = platform.settings.resolved_home
        yield campaign.arn, url
    finally:
        _HOMES.pop(url, None)
        stop_server(process)
        platform.catalog.dispose()
        platform.events.dispose()


def aws_client(url: str, service: str, *, validate: bool = True) -> Any:
    """boto3's ``personalize-runtime`` or ``personalize-events`` client pointed at a campaign server.

    No retries, so a refused request fails the test at once; ``validate=False`` turns off botocore's
    client-side checks, so that the server's own refusal of bad input (0 or 11 events) is what gets tested. It
    signs with the admin key the server wrote at its first start, as a user's client would.
    """
    key_id, secret, region = read_credentials(_HOMES[url] / "credentials")
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, parameter_validation=validate),
    )
