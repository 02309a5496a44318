"""A real ``bentoml serve`` of a trained AUTO campaign on a free loopback port, started once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from recsmith.platform import Platform
from tests.serving.servers import running_campaign, trained_group


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


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serving")
    setup = trained_group(root, "store", poll_seconds=0.5)
    log = root / "server.log"
    with running_campaign(setup, "store-live", log) as (campaign_arn, url):
        yield Served(
            platform=setup.platform,
            url=url,
            campaign_arn=campaign_arn,
            tracking_id=setup.tracking_id,
            solution_version_arn=setup.trained.solution_version_arn,
            model_version=setup.trained.model_version,
            model_name=setup.trained.model_name,
            log=log,
        )
