"""SigV4 and tenants on every route of a real ``recsmith serve``, with two tenants that each have a live campaign.

Every route refuses unsigned, mis-signed, tampered, expired and unknown-key requests with AWS's codes; a key
limited to one dataset group can neither read nor write the other group (control plane, runtime, events,
PutItems/PutUsers), and lists never show it. The admin key from the credentials file the server wrote works with
``AWS_SHARED_CREDENTIALS_FILE`` and ``AWS_PROFILE`` alone.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.api.conftest import REGION, Server, Tenants

pytestmark = [pytest.mark.slow, pytest.mark.integration]


# ------------------------------------------------------------------ signing
ROUTES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("POST", "/", {"X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"}, b"{}"),
    ("POST", "/", {"X-Amz-Target": "AmazonPersonalize.CreateDatasetGroup"}, b'{"name": "intruder"}'),
    ("POST", "/recommendations", {}, b'{"campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/x"}'),
    ("POST", "/personalize-ranking", {}, b'{"campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/x"}'),
    ("POST", "/events", {}, b'{"trackingId": "t", "sessionId": "s", "eventList": []}'),
    ("POST", "/users", {}, b'{"datasetArn": "arn:aws:personalize:us-east-1:000000000000:dataset/x/USERS"}'),
    ("POST", "/items", {}, b'{"datasetArn": "arn:aws:personalize:us-east-1:000000000000:dataset/x/ITEMS"}'),
    ("GET", "/metrics", {}, b""),
    ("GET", "/openapi.json", {}, b""),
    ("GET", "/docs", {}, b""),
]


def _signed(
    server: Server,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    key: tuple[str, str],
    service: str = "personalize",
    region: str = REGION,
) -> AWSRequest:
    """A request signed by botocore's own signer, as boto3 would send it."""
    request = AWSRequest(
        method, server.url + path, data=body, headers={"Content-Type": "application/x-amz-json-1.1", **headers}
    )
    SigV4Auth(Credentials(*key), service, region).add_auth(request)
    return request


def _send(request: AWSRequest, body: bytes | None = None) -> httpx.Response:
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    return httpx.request(request.method, request.url, headers=headers, content=request.body if body is None else body)


def _refused(response: httpx.Response, code: str) -> str:
    assert response.status_code == 403, (response.status_code, response.text)
    answer = response.json()
    assert answer["__type"] == code, answer
    assert response.headers["x-amzn-ErrorType"] == code
    return str(answer["message"])


@pytest.mark.parametrize(("method", "path", "headers", "body"), ROUTES, ids=[f"{m} {p} {h}" for m, p, h, _ in ROUTES])
def test_every_route_refuses_bad_signatures(
    tenants: Tenants, method: str, path: str, headers: dict[str, str], body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = tenants.server
    admin = server.admin_key()
    # unsigned
    _refused(
        httpx.request(method, server.url + path, headers=headers, content=body), "MissingAuthenticationTokenException"
    )
    # signed with the wrong secret
    message = _refused(
        _send(_signed(server, method, path, headers, body, (admin[0], "not-the-secret"))), "InvalidSignatureException"
    )
    assert "does not match" in message
    # an unknown key
    _refused(
        _send(_signed(server, method, path, headers, body, ("RSAKNOSUCHKEY0000000", "x"))),
        "UnrecognizedClientException",
    )
    # the right key, but the body changed after signing
    if body:
        _refused(_send(_signed(server, method, path, headers, body, admin), body + b" "), "InvalidSignatureException")
    # the right key, another region or service in the scope
    _refused(
        _send(_signed(server, method, path, headers, body, admin, region="eu-west-1")), "InvalidSignatureException"
    )
    _refused(_send(_signed(server, method, path, headers, body, admin, service="s3")), "InvalidSignatureException")
    # signed 20 minutes ago: past the 15-minute skew
    past = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past)
    assert "Signature expired" in _refused(
        _send(_signed(server, method, path, headers, body, admin)), "InvalidSignatureException"
    )
    monkeypatch.undo()
    # and the same request signed now is let through (whatever the operation then answers, it is not a 403)
    assert _send(_signed(server, method, path, headers, body, admin)).status_code != 403


def test_probes_need_no_signature(tenants: Tenants) -> None:
    for path in ("/readyz", "/livez"):
        assert httpx.get(tenants.server.url + path).json() == {"status": "ok"}


def test_presigned_url_reaches_metrics_until_it_expires(tenants: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    server = tenants.server
    request = AWSRequest("GET", server.url + "/metrics")
    SigV4QueryAuth(Credentials(*server.admin_key()), "personalize", REGION, expires=60).add_auth(request)
    answer = httpx.get(request.url)
    assert answer.status_code == 200 and "recsmith_api_requests_total" in answer.text
    past = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=2)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past)
    stale = AWSRequest("GET", server.url + "/metrics")
    SigV4QueryAuth(Credentials(*server.admin_key()), "personalize", REGION, expires=60).add_auth(stale)
    assert "Signature expired" in _refused(httpx.get(stale.url), "InvalidSignatureException")


# ------------------------------------------------------------------ tenants
def test_a_tenant_key_cannot_reach_another_group(tenants: Tenants) -> None:
    server, alpha, beta = tenants.server, tenants.alpha, tenants.beta
    key = server.tenant_key("alpha")
    personalize = server.client("personalize", key)
    runtime = server.client("personalize-runtime", key)
    events = server.client("personalize-events", key)
    denied = "AccessDeniedException"

    # its own group works on every plane
    assert personalize.describe_campaign(campaignArn=alpha.campaign_arn)["campaign"]["status"] == "ACTIVE"
    assert runtime.get_recommendations(campaignArn=alpha.campaign_arn, userId="u0001", numResults=3)["itemList"]
    events.put_events(
        trackingId=alpha.tracking_id,
        sessionId="s",
        userId="u0001",
        eventList=[{"eventType": "click", "itemId": "i0001", "sentAt": datetime.datetime.now()}],
    )

    # the other group: control plane reads and writes
    calls = {
        "DescribeDatasetGroup": lambda: personalize.describe_dataset_group(datasetGroupArn=beta.group_arn),
        "DescribeCampaign": lambda: personalize.describe_campaign(campaignArn=beta.campaign_arn),
        "DescribeSolutionVersion": lambda: personalize.describe_solution_version(solutionVersionArn=beta.version_arn),
        "GetSolutionMetrics": lambda: personalize.get_solution_metrics(solutionVersionArn=beta.version_arn),
        "ListDatasets": lambda: personalize.list_datasets(datasetGroupArn=beta.group_arn),
        "CreateFilter": lambda: personalize.create_filter(
            name="sneaky", datasetGroupArn=beta.group_arn, filterExpression='EXCLUDE ItemID WHERE Items.X IN ("a")'
        ),
        "CreateDatasetGroup": lambda: personalize.create_dataset_group(name="gamma"),
        "CreateCampaign": lambda: personalize.create_campaign(name="sneaky", solutionVersionArn=beta.version_arn),
        "UpdateCampaign": lambda: personalize.update_campaign(campaignArn=beta.campaign_arn, minProvisionedTPS=2),
        "DeleteCampaign": lambda: personalize.delete_campaign(campaignArn=beta.campaign_arn),
        "TagResource": lambda: personalize.tag_resource(
            resourceArn=beta.group_arn, tags=[{"tagKey": "k", "tagValue": "v"}]
        ),
        # runtime and events
        "GetRecommendations": lambda: runtime.get_recommendations(campaignArn=beta.campaign_arn, userId="u0001"),
        "GetPersonalizedRanking": lambda: runtime.get_personalized_ranking(
            campaignArn=beta.campaign_arn, userId="u0001", inputList=["i0001"]
        ),
        "PutEvents": lambda: events.put_events(
            trackingId=beta.tracking_id,
            sessionId="s",
            eventList=[{"eventType": "click", "itemId": "i0001", "sentAt": datetime.datetime.now()}],
        ),
        "PutItems": lambda: events.put_items(datasetArn=beta.dataset_arn, items=[{"itemId": "i9"}]),
        "PutUsers": lambda: events.put_users(datasetArn=beta.dataset_arn, users=[{"userId": "u9"}]),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError, match=denied) as caught:
            call()
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, name

    # nothing of beta's shows in any list, and beta's campaign still serves
    assert [g["name"] for g in personalize.list_dataset_groups()["datasetGroups"]] == ["alpha"]
    assert [c["campaignArn"] for c in personalize.list_campaigns()["campaigns"]] == [alpha.campaign_arn]
    assert {s["name"] for s in personalize.list_schemas()["schemas"]} == set()  # the admin made both schemas
    assert all(
        v["solutionVersionArn"].startswith(alpha.solution_arn)
        for v in personalize.list_solution_versions()["solutionVersions"]
    )
    assert len(personalize.list_event_trackers()["eventTrackers"]) == 1
    admin_runtime = server.client("personalize-runtime")
    assert admin_runtime.get_recommendations(campaignArn=beta.campaign_arn, userId="u0001", numResults=3)["itemList"]


def test_a_tenant_schema_is_its_own(tenants: Tenants) -> None:
    server = tenants.server
    alpha_p = server.client("personalize", server.tenant_key("alpha"))
    beta_p = server.client("personalize", server.tenant_key("beta"))
    schema = json.dumps(
        {
            "type": "record",
            "name": "Items",
            "namespace": "com.amazonaws.personalize.schema",
            "fields": [{"name": "ITEM_ID", "type": "string"}],
            "version": "1.0",
        }
    )
    arn = alpha_p.create_schema(name="alpha-items", schema=schema)["schemaArn"]
    assert [s["schemaArn"] for s in alpha_p.list_schemas()["schemas"]] == [arn]
    assert beta_p.list_schemas()["schemas"] == []
    with pytest.raises(ClientError, match="AccessDeniedException"):
        beta_p.describe_schema(schemaArn=arn)
    with pytest.raises(ClientError, match="AccessDeniedException"):
        beta_p.create_dataset(
            name="b-items", datasetGroupArn=tenants.beta.group_arn, datasetType="Items", schemaArn=arn
        )


def test_a_deleted_key_stops_working(tenants: Tenants) -> None:
    from recsmith.catalog.access_keys import AccessKeyStore
    from recsmith.settings import Settings

    server = tenants.server
    answer = server.cli("create-access-key", "--dataset-group", "alpha")["AccessKey"]
    key = (answer["AccessKeyId"], answer["SecretAccessKey"])
    personalize = server.client("personalize", key)
    assert personalize.list_dataset_groups()["datasetGroups"]
    store = AccessKeyStore.from_settings(Settings(home=server.home))
    store.delete(key[0])
    store.dispose()
    import time

    time.sleep(6)  # the server remembers a key for 5 s
    with pytest.raises(ClientError, match="UnrecognizedClientException"):
        personalize.list_dataset_groups()


# ---------------------------------------------------------- credentials file
def test_credentials_file_is_all_a_client_needs(tenants: Tenants, tmp_path: Path) -> None:
    server = tenants.server
    mode = stat.S_IMODE(server.credentials_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert not (server.home / "catalog.db").read_bytes().count(server.admin_key()[1].encode()), "secret stored in clear"
    script = (
        "import boto3, json, sys\n"
        "p = boto3.client('personalize', endpoint_url=sys.argv[1])\n"
        "print(json.dumps(sorted(g['name'] for g in p.list_dataset_groups()['datasetGroups'])))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file),
        AWS_PROFILE="recsmith",
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
    )
    out = subprocess.run(
        [sys.executable, "-c", script, server.url], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert {"alpha", "beta"} <= set(json.loads(out.stdout))
