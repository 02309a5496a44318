"""Property-based fuzz of every route of the real campaign endpoint (issue 15): 0 server errors, every refusal in
Personalize's error shape.

The runtime routes are fuzzed from the service's own OpenAPI document (``/docs.json``); the events routes from
botocore's ``personalize-events`` model, the contract boto3 builds its requests from. Generated requests both fit
and break the documents; half name a real campaign, tracker or dataset, so they reach past the lookup. The fuzzed
writes go to a dataset group of their own, so the served group's data stays what other tests expect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from recsmith.catalog import ResourceType
from recsmith.data.sample import generate_sample
from recsmith.events.tracker import create_event_tracker
from recsmith.workflow import ImportConfig, import_dataset
from tests.faults.http_fuzz import fuzz, openapi_from_botocore
from tests.serving.servers import admin_signer, signed

if TYPE_CHECKING:
    from conftest import Served

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = 40  # per operation and generation mode (fitting, breaking)
SECONDS = 45.0  # per document, whatever the machine's speed


def test_runtime_routes_answer_every_generated_request_without_a_server_error(served: Served) -> None:
    document = httpx.get(f"{served.url}/docs.json", timeout=10, auth=signed(served.url)).json()
    assert {"/recommendations", "/personalize-ranking"} <= set(document["paths"])
    known = {"campaignArn": served.campaign_arn, "userId": "u0003", "itemId": "i0001"}
    report = fuzz(
        served.url, document, examples=EXAMPLES, seconds=SECONDS, known_values=known, signer=admin_signer(served.url)
    )
    assert report.findings == [], report.summary()
    assert min(report.sent["POST /recommendations"], report.sent["POST /personalize-ranking"]) >= 10, report.summary()
    assert report.statuses.get(200, 0) > 0 and report.statuses.get(400, 0) > 0, report.summary()


def test_events_routes_answer_every_generated_request_without_a_server_error(
    served: Served, tmp_path_factory: pytest.TempPathFactory
) -> None:
    platform = served.platform
    sample = generate_sample(tmp_path_factory.mktemp("fuzz-sample"))
    datasets = (("ITEMS", sample.items, sample.items_schema), ("USERS", sample.users, sample.users_schema))
    for kind, data, schema in datasets:
        import_dataset(
            platform,
            ImportConfig(dataset_group="fuzz", dataset_type=kind, data_location=str(data), schema_file=str(schema)),
        )
    tracking_id = create_event_tracker(platform, "fuzz-tracker", "fuzz").attributes["trackingId"]
    known = {
        "trackingId": tracking_id,
        "POST /items datasetArn": platform.catalog.get(ResourceType.DATASET, "fuzz-items").arn,
        "POST /users datasetArn": platform.catalog.get(ResourceType.DATASET, "fuzz-users").arn,
    }
    document = openapi_from_botocore("personalize-events", ["PutEvents", "PutUsers", "PutItems"])
    report = fuzz(
        served.url, document, examples=EXAMPLES, seconds=SECONDS, known_values=known, signer=admin_signer(served.url)
    )
    assert report.findings == [], report.summary()
    assert min(report.sent.values()) >= 10, report.summary()
    assert report.statuses.get(200, 0) > 0 and report.statuses.get(400, 0) > 0, report.summary()
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "fuzz").arn
    stored = platform.events.events_frame(group)  # whatever the fuzz got stored still reads as training data
    assert str(stored["TIMESTAMP"].dtype) == "int64"


def test_unknown_paths_and_methods_answer_in_aws_shape(served: Served) -> None:
    for method, path, status in (("GET", "/nope", 404), ("POST", "/nope", 404), ("GET", "/events", 405)):
        answer = httpx.request(method, f"{served.url}{path}", timeout=10, auth=signed(served.url))
        assert answer.status_code == status
        assert answer.json()["__type"] == answer.headers["x-amzn-ErrorType"] == "UnknownOperationException"
