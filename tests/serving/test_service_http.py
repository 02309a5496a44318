"""The campaign service behind a real ``bentoml serve``, called with httpx and with boto3's Personalize clients."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from botocore.exceptions import ClientError
from mlflow.tracking import MlflowClient

from recsmith.catalog import ResourceType
from recsmith.training.registry import promote
from recsmith.training.solutions import SolutionConfig
from recsmith.workflow import TrainConfig, train
from tests.serving.servers import aws_client, signed

if TYPE_CHECKING:
    from conftest import Served

pytestmark = pytest.mark.integration


def _client(served: Served, service: str) -> Any:
    return aws_client(served.url, service)


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["itemId"] for entry in entries]


def test_recommendations_over_httpx_name_the_model_version(served: Served) -> None:
    response = httpx.post(
        f"{served.url}/recommendations",
        json={"campaignArn": served.campaign_arn, "userId": "u0001", "numResults": 7},
        auth=signed(served.url),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["itemList"]) == 7
    assert body["recommendationId"].startswith("RID-")
    assert body["modelVersion"] == served.model_version
    assert body["solutionVersionArn"] == served.solution_version_arn


def test_boto3_runtime_client(served: Served) -> None:
    runtime = _client(served, "personalize-runtime")
    recs = runtime.get_recommendations(campaignArn=served.campaign_arn, userId="u0002", numResults=5)
    assert len(recs["itemList"]) == 5 and recs["recommendationId"].startswith("RID-")
    related = runtime.get_recommendations(campaignArn=served.campaign_arn, itemId="i0010", numResults=4)
    assert len(related["itemList"]) == 4 and "i0010" not in _ids(related["itemList"])
    ranked = runtime.get_personalized_ranking(
        campaignArn=served.campaign_arn, userId="u0002", inputList=["unknown-item", "i0001", "i0002", "i0003"]
    )
    order = _ids(ranked["personalizedRanking"])
    assert sorted(order) == sorted(["unknown-item", "i0001", "i0002", "i0003"])
    assert order[-1] == "unknown-item"


def test_put_events_changes_the_users_next_recommendations(served: Served) -> None:
    runtime = _client(served, "personalize-runtime")
    events = _client(served, "personalize-events")
    before = _ids(runtime.get_recommendations(campaignArn=served.campaign_arn, userId="u0005")["itemList"])
    clicked = before[:2]
    answer = events.put_events(
        trackingId=served.tracking_id,
        userId="u0005",
        sessionId="session-http",
        eventList=[{"eventType": "click", "itemId": item, "sentAt": time.time()} for item in clicked],
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    after = _ids(runtime.get_recommendations(campaignArn=served.campaign_arn, userId="u0005")["itemList"])
    assert after != before
    assert not set(clicked) & set(after)


def test_num_results_over_500_is_400(served: Served) -> None:
    response = httpx.post(
        f"{served.url}/recommendations",
        json={"campaignArn": served.campaign_arn, "userId": "u0001", "numResults": 501},
        auth=signed(served.url),
    )
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "InvalidInputException"
    assert "numResults" in response.json()["message"]


def test_unknown_campaign_is_404(served: Served) -> None:
    other = served.campaign_arn.replace("store-live", "nowhere")
    response = httpx.post(
        f"{served.url}/recommendations", json={"campaignArn": other, "userId": "u0001"}, auth=signed(served.url)
    )
    assert response.status_code == 404
    assert response.json()["__type"] == "ResourceNotFoundException"
    runtime = _client(served, "personalize-runtime")
    with pytest.raises(runtime.exceptions.ResourceNotFoundException, match="is not served here"):
        runtime.get_recommendations(campaignArn=other, userId="u0001")


def test_errors_reach_boto3_as_modeled_exceptions(served: Served) -> None:
    events = _client(served, "personalize-events")
    with pytest.raises(events.exceptions.ResourceNotFoundException, match="no event tracker"):
        events.put_events(
            trackingId="not-a-tracker",
            sessionId="s",
            eventList=[{"eventType": "click", "itemId": "i0001", "sentAt": time.time()}],
        )
    runtime = _client(served, "personalize-runtime")
    with pytest.raises(ClientError, match="exactly one of userId"):
        runtime.get_recommendations(campaignArn=served.campaign_arn)


def test_request_validation_errors_are_invalid_input(served: Served) -> None:
    response = httpx.post(
        f"{served.url}/personalize-ranking",
        json={"campaignArn": served.campaign_arn, "inputList": ["i0001"]},
        auth=signed(served.url),
    )
    assert response.status_code == 400
    assert response.json()["__type"] == "InvalidInputException"
    assert "userId" in response.json()["message"]


def test_swagger_and_openapi_are_served(served: Served) -> None:
    assert httpx.get(f"{served.url}/").status_code == 403  # unsigned
    assert httpx.get(f"{served.url}/", auth=signed(served.url)).status_code == 200
    spec = httpx.get(f"{served.url}/docs.json", auth=signed(served.url)).json()
    assert {"/recommendations", "/personalize-ranking"} <= set(spec["paths"])  # /events etc. are mounted routes
    assert httpx.get(f"{served.url}/readyz").status_code == 200


def test_promotion_hot_swaps_without_dropping_a_request(served: Served) -> None:
    """Runs last: it moves the AUTO campaign to a new version while requests keep flowing."""
    new = train(
        served.platform,
        TrainConfig(dataset_group="store", solution="store-sims", solution_config=SolutionConfig(recipe="sims")),
    )
    statuses: list[int] = []
    versions: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=served.url, auth=signed(served.url)) as client:
            while not stop.is_set():
                response = client.post("/recommendations", json={"campaignArn": served.campaign_arn, "userId": "u0009"})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    versions.append(response.json()["modelVersion"])

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.3)
        served.platform.configure_mlflow()
        promote(MlflowClient(), served.model_name, new.model_version)
        deadline = time.monotonic() + 15
        while (not versions or versions[-1] != new.model_version) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join()
    assert versions[0] == served.model_version
    assert versions[-1] == new.model_version
    assert set(statuses) == {200}
    # a worker serves a committed version on its next request; its poller records the move on its next poll
    expected = ("controller", new.solution_version_arn)
    deadline = time.monotonic() + 10
    moves = served.platform.catalog.campaign_moves(served.campaign_arn)
    while (moves[-1].actor, moves[-1].to_version) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        moves = served.platform.catalog.campaign_moves(served.campaign_arn)
    assert (moves[-1].actor, moves[-1].to_version) == expected


def test_every_route_is_signed_and_tenant_keys_stay_in_their_group(served: Served) -> None:
    from recsmith.api.client import SignedAuth
    from recsmith.catalog.access_keys import AccessKeyStore

    for path in ("/recommendations", "/personalize-ranking", "/events", "/users", "/items"):
        response = httpx.post(f"{served.url}{path}", json={"campaignArn": served.campaign_arn, "userId": "u0001"})
        assert response.status_code == 403, (path, response.text)
        assert response.json()["__type"] == "MissingAuthenticationTokenException"
    store = AccessKeyStore.from_settings(served.platform.settings)
    own = store.create(served.platform.catalog.get(ResourceType.CAMPAIGN, served.campaign_arn).dataset_group_arn)
    other = store.create("arn:aws:personalize:us-east-1:000000000000:dataset-group/someone-else")
    store.dispose()
    body = {"campaignArn": served.campaign_arn, "userId": "u0001", "numResults": 2}
    as_own = httpx.post(
        f"{served.url}/recommendations",
        json=body,
        auth=SignedAuth(own.access_key_id, own.secret_access_key.get_secret_value()),
    )
    assert as_own.status_code == 200, as_own.text
    as_other = httpx.post(
        f"{served.url}/recommendations",
        json=body,
        auth=SignedAuth(other.access_key_id, other.secret_access_key.get_secret_value()),
    )
    assert as_other.status_code == 403 and as_other.json()["__type"] == "AccessDeniedException"
