"""Walk botocore's models: every operation recsmith claims answers through boto3, every other one says it is not
supported, and every error an operation answers is one its model declares (so boto3 raises the modeled exception).

Each claimed operation is called with its required members only, each given the simplest value its shape allows
(a made-up ARN, a name, a number in range), so most calls meet a resource that does not exist; what matters is
that the server routes, checks and answers them in the model's terms, never 500 and never "unknown operation".
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import regex
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import Shape

from recsmith.api.app import SERVICE_HANDLERS
from recsmith.api.service_models import load_service
from recsmith.api.validation import SHAPE_OVERRIDES, check_input, validation_errors
from recsmith.errors import InvalidInputError
from tests.api.conftest import Server

pytestmark = pytest.mark.integration

# errors any operation may answer besides its modeled ones: AWS's common errors
COMMON_ERRORS = {"AccessDeniedException", "ValidationException", "SerializationException"}

_CANDIDATES = [
    "arn:aws:personalize:us-east-1:000000000000:campaign/nothing-here",
    "nothing-here",
    "s3://bucket/key",
    "arn:aws:iam::000000000000:role/unused",
    json.dumps({"type": "record", "name": "Interactions", "fields": []}),
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x")',
    "x",
]


def sample_value(shape: Shape) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return {name: sample_value(shape.members[name]) for name in shape.required_members}
    if kind == "list":
        return [sample_value(shape.member) for _ in range(max(1, shape.metadata.get("min", 1)))]
    if kind == "map":
        return {}
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        pattern = SHAPE_OVERRIDES.get(shape.name, {}).get("pattern", shape.metadata.get("pattern"))
        low, high = shape.metadata.get("min", 0), shape.metadata.get("max", 10**6)
        for text in _CANDIDATES:
            if low <= len(text) <= high and (not pattern or regex.fullmatch(pattern, text)):
                return text
        raise AssertionError(f"no sample for {shape.name} ({pattern})")
    if kind in ("integer", "long"):
        return max(shape.metadata.get("min", 1), 1)
    if kind in ("double", "float"):
        return 1.0
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return time.time()
    return "x"


def _claimed() -> list[tuple[str, str]]:
    return [(service, op) for service, handlers in SERVICE_HANDLERS.items() for op in sorted(handlers)]


def _unclaimed() -> list[tuple[str, str]]:
    out = []
    for service, handlers in SERVICE_HANDLERS.items():
        out += [(service, op) for op in load_service(service).operation_names if op not in handlers]
    return out


def test_the_operations_we_claim_exist_in_the_models() -> None:
    for service, operation in _claimed():
        assert operation in load_service(service).operation_names, (service, operation)
    nouns = ["DatasetGroup", "Schema", "Dataset", "EventTracker", "Filter", "Solution", "Campaign"]
    jobs = ["DatasetImportJob", "DatasetExportJob", "BatchInferenceJob", "SolutionVersion"]
    wanted = {f"{verb}{noun}" for noun in nouns for verb in ("Create", "Describe", "Delete")}
    wanted |= {f"List{noun}s" for noun in nouns + jobs} | {
        f"{verb}{job}" for job in jobs for verb in ("Create", "Describe")
    }
    wanted |= {"UpdateDataset", "UpdateCampaign", "GetSolutionMetrics", "StopSolutionVersionCreation", "ListRecipes"}
    wanted |= {"DescribeRecipe", "TagResource", "UntagResource", "ListTagsForResource"}
    assert wanted <= set(SERVICE_HANDLERS["personalize"]), wanted - set(SERVICE_HANDLERS["personalize"])
    assert set(SERVICE_HANDLERS["personalize-runtime"]) == {"GetRecommendations", "GetPersonalizedRanking"}
    assert set(SERVICE_HANDLERS["personalize-events"]) == {"PutEvents", "PutUsers", "PutItems"}


@pytest.mark.parametrize(("service", "operation"), _claimed(), ids=[f"{s}.{o}" for s, o in _claimed()])
def test_every_claimed_operation_answers_in_the_model_s_terms(server: Server, service: str, operation: str) -> None:
    model = load_service(service).operation(operation)
    params = sample_value(model.input_shape) if model.input_shape is not None else {}
    assert validation_errors(model.input_shape, params) == [], "the sample itself must be valid"
    client = server.client(service)
    try:
        getattr(client, xform_name(operation))(**params)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        declared = {shape.name for shape in model.error_shapes} | COMMON_ERRORS
        assert code in declared, f"{operation} answered {code}: {exc.response['Error']['Message']}"


@pytest.mark.parametrize(("service", "operation"), _unclaimed(), ids=[f"{s}.{o}" for s, o in _unclaimed()])
def test_an_unclaimed_operation_says_it_is_not_supported(server: Server, service: str, operation: str) -> None:
    model = load_service(service).operation(operation)
    params = sample_value(model.input_shape) if model.input_shape is not None else {}
    client = server.client(service, validate=False)
    with pytest.raises(ClientError, match="not supported by recsmith") as caught:
        getattr(client, xform_name(operation))(**params)
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"


def test_validation_names_the_field_in_aws_words() -> None:
    model = load_service("personalize").operation("CreateDatasetGroup")
    with pytest.raises(
        InvalidInputError,
        match=r"Value 'bad name\n' at 'name' failed to satisfy constraint: Member must satisfy regular expression",
    ):
        check_input(model.input_shape, {"name": "bad name\n"})
    with pytest.raises(
        InvalidInputError, match="Value null at 'name' failed to satisfy constraint: Member must not be null"
    ):
        check_input(model.input_shape, {})
    events = load_service("personalize-events").operation("PutEvents")
    too_many = [{"eventType": "click", "sentAt": 1.0}] * 11
    with pytest.raises(
        InvalidInputError,
        match="at 'eventList' failed to satisfy constraint: Member must have length less than or equal to 10",
    ):
        check_input(events.input_shape, {"trackingId": "t", "sessionId": "s", "eventList": too_many})
    with pytest.raises(InvalidInputError, match=r"at 'eventList.1.member.sentAt' .* Member must be a timestamp"):
        check_input(
            events.input_shape,
            {"trackingId": "t", "sessionId": "s", "eventList": [{"eventType": "c", "sentAt": "soon"}]},
        )
    runtime = load_service("personalize-runtime").operation("GetRecommendations")
    with pytest.raises(
        InvalidInputError, match="at 'numResults' failed to satisfy constraint: Member must be an integer"
    ):
        check_input(runtime.input_shape, {"campaignArn": _CANDIDATES[0], "userId": "u", "numResults": True})
    with pytest.raises(InvalidInputError, match="Member must have value greater than or equal to 0"):
        check_input(runtime.input_shape, {"campaignArn": _CANDIDATES[0], "userId": "u", "numResults": -1})


def test_hostile_bodies_are_400s_in_aws_shape(server: Server) -> None:
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def post(path: str, body: bytes, target: str | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/json", **({"X-Amz-Target": target} if target else {})}
        request = AWSRequest("POST", server.url + path, data=body, headers=headers)
        SigV4Auth(Credentials(*server.admin_key()), "personalize", "us-east-1").add_auth(request)
        return httpx.post(request.url, headers=dict(request.headers.items()), content=body)

    bodies = [
        b'{"campaignArn": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
        b"not json",
        b"[1, 2]",
        b'{"campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/x", "userId": "u", "numResults": 1e400}',
    ]
    for body in bodies:
        answer = post("/recommendations", body)
        assert answer.status_code == 400, (body[:40], answer.text)
        assert answer.json()["__type"] in ("SerializationException", "InvalidInputException")
    big = post("/events", b'{"trackingId": "' + b"x" * 2_000_000 + b'"}')
    assert big.status_code == 413 and big.json()["__type"] == "InvalidInputException"
    unknown = post("/", b"{}", target="AmazonPersonalize.NoSuchThing")
    assert unknown.status_code == 400 and unknown.json()["__type"] == "UnknownOperationException"
    nowhere = post("/nowhere", b"{}")
    assert nowhere.status_code == 404 and nowhere.json()["__type"] == "UnknownOperationException"
