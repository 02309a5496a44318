"""``recsmith get-recommendations`` with ``--promotions``, ``--metadata-columns`` and ``--session-id``."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.filters import create_filter
from recsmith.cli import main
from recsmith.events.tracker import put_events

if TYPE_CHECKING:
    from conftest import Trained


def test_cli_flags_reach_the_response(
    trained_with_metadata: Trained, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trained = trained_with_metadata
    platform = trained.platform
    monkeypatch.setenv("RECSMITH_HOME", str(platform.settings.home))
    campaign = create_campaign(platform, "shop-response-cli", solution_version=trained.versions[0]).arn
    drama = create_filter(platform, "shop-cli-drama", "shop", 'INCLUDE ItemID WHERE Items.GENRES IN ("drama")')

    def run(*argv: str) -> Any:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out)

    promotion = json.dumps([{"name": "drama", "percentPromotedItems": 50, "filterArn": drama.arn}])
    answer = run(
        "get-recommendations",
        "--campaign",
        campaign,
        "--user-id",
        "u0004",
        "--num-results",
        "4",
        "--promotions",
        promotion,
        "--metadata-columns",
        '{"ITEMS": ["GENRES"]}',
    )["itemList"]
    assert [entry.get("promotionName") for entry in answer] == [None, "drama", None, "drama"]
    assert all("drama" in entry["metadata"]["GENRES"] for entry in answer if entry.get("promotionName"))

    put_events(
        platform,
        trained.tracking_id,
        "cli-visitor",
        [{"eventType": "click", "itemId": "i0003", "sentAt": time.time()}],
    )
    visitor = run("get-recommendations", "--campaign", campaign, "--session-id", "cli-visitor", "--num-results", "5")
    causes = {reason for entry in visitor["itemList"] for reason in entry["reason"][1:]}
    assert causes == {"Because of item i0003"}
