"""A MANUAL campaign behind a real ``bentoml serve``: a promotion in the registry does not move it; only
``update-campaign`` does, and then every worker serves the new version without dropping a request."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from recsmith.campaigns.campaigns import update_campaign
from recsmith.training.registry import promote
from recsmith.training.solutions import SolutionConfig
from recsmith.workflow import TrainConfig, train
from tests.serving.servers import running_campaign, signed, trained_group

pytestmark = pytest.mark.integration

POLL_SECONDS = 0.3


def _served_version(client: httpx.Client, campaign_arn: str) -> str:
    response = client.post("/recommendations", json={"campaignArn": campaign_arn, "userId": "u0003"})
    assert response.status_code == 200, response.text
    return str(response.json()["modelVersion"])


def test_manual_campaign_stays_pinned_until_update_campaign(tmp_path: Path) -> None:
    setup = trained_group(tmp_path, "pinned", poll_seconds=POLL_SECONDS)
    first = setup.trained.model_version
    with running_campaign(setup, "pinned-live", tmp_path / "server.log", update_mode="MANUAL") as (arn, url):
        newer = train(
            setup.platform,
            TrainConfig(dataset_group="pinned", solution="pinned-sims", solution_config=SolutionConfig(recipe="sims")),
        )
        assert newer.model_version != first
        setup.platform.configure_mlflow()
        promote(MlflowClient(), setup.trained.model_name, newer.model_version)
        with httpx.Client(base_url=url, timeout=10, auth=signed(url)) as client:
            # many polls later the MANUAL campaign still answers with the version it was created with
            deadline = time.monotonic() + 10 * POLL_SECONDS
            while time.monotonic() < deadline:
                assert _served_version(client, arn) == first
                time.sleep(POLL_SECONDS / 3)

            update_campaign(setup.platform, arn, solution_version=newer.solution_version_arn)
            seen = [_served_version(client, arn)]
            deadline = time.monotonic() + 30
            while seen[-1] != newer.model_version and time.monotonic() < deadline:
                time.sleep(0.05)
                seen.append(_served_version(client, arn))
        assert seen[-1] == newer.model_version, f"update-campaign did not reach the server: {seen[-5:]}"
        assert set(seen) <= {first, newer.model_version}
        moves = setup.platform.catalog.campaign_moves(arn)
        assert any(m.actor == "update-campaign" and m.to_version == newer.solution_version_arn for m in moves)
