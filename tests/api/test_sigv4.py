"""The SigV4 verifier against botocore's own signer: what botocore signs verifies, any change to it does not.

No server here (the server tests cover every route); these pin the canonicalisation on the cases a server sees
rarely but a client may send: odd paths, query strings, folded header whitespace, presigned URLs, clock edges.
"""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import SecretStr

from recsmith.api.sigv4 import SignedRequest, SigV4Verifier
from recsmith.catalog.access_keys import AccessKey
from recsmith.errors import AuthenticationError

KEY = AccessKey(access_key_id="RSAKTESTKEY", secret_access_key=SecretStr("the-secret"))
SERVICES = frozenset({"personalize", "personalize-runtime", "personalize-events"})


def verifier(**kwargs: object) -> SigV4Verifier:
    return SigV4Verifier(
        lambda k: KEY if k == KEY.access_key_id else None, region="us-east-1", services=SERVICES, **kwargs
    )  # type: ignore[arg-type]


def as_received(
    request: AWSRequest, *, body: bytes | None = None, extra: list[tuple[str, str]] | None = None
) -> SignedRequest:
    parts = urlsplit(request.url)
    headers = [(k.lower(), v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()]
    headers.append(("host", parts.netloc))
    return SignedRequest(
        request.method, parts.path, parts.query, headers + (extra or []), request.body if body is None else body
    )


def signed(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None, secret: str = "the-secret"
) -> AWSRequest:
    request = AWSRequest(method, url, data=body, headers=headers or {"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY.access_key_id, secret), "personalize", "us-east-1").add_auth(request)
    return request


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/recommendations",
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8000/a%20b/c~d",
        "http://127.0.0.1:8000/metrics?b=2&a=1&a=0",
        "http://localhost/events",
    ],
)
def test_what_botocore_signs_verifies(url: str) -> None:
    request = signed("POST", url, b'{"userId": "u1"}')
    assert verifier().verify(as_received(request)).access_key_id == KEY.access_key_id


def test_folded_header_whitespace_and_unsigned_extra_headers_verify() -> None:
    request = signed(
        "POST",
        "http://127.0.0.1:8000/",
        b"{}",
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"},
    )
    received = as_received(request, extra=[("user-agent", "anything"), ("connection", "keep-alive")])
    folded = SignedRequest(
        received.method,
        received.raw_path,
        received.query_string,
        [(k, f"  {v}  " if k == "x-amz-target" else v) for k, v in received.headers],
        received.body,
    )
    assert verifier().verify(folded) == KEY


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("body", "does not match"),
        ("path", "does not match"),
        ("method", "does not match"),
        ("signed header", "does not match"),
        ("secret", "does not match"),
    ],
)
def test_any_change_after_signing_fails(change: str, message: str) -> None:
    request = signed(
        "POST",
        "http://127.0.0.1:8000/recommendations",
        b'{"userId": "u1"}',
        secret="wrong" if change == "secret" else "the-secret",
    )
    received = as_received(request)
    if change == "body":
        received = SignedRequest(received.method, received.raw_path, "", received.headers, b'{"userId": "u2"}')
    elif change == "path":
        received = SignedRequest(received.method, "/personalize-ranking", "", received.headers, received.body)
    elif change == "method":
        received = SignedRequest("PUT", received.raw_path, "", received.headers, received.body)
    elif change == "signed header":
        received = SignedRequest(
            received.method,
            received.raw_path,
            "",
            [(k, "text/plain" if k == "content-type" else v) for k, v in received.headers],
            received.body,
        )
    with pytest.raises(AuthenticationError, match=message) as caught:
        verifier().verify(received)
    assert caught.value.code == "InvalidSignatureException"


def test_clock_skew_is_fifteen_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    for minutes, ok in ((14, True), (16, False), (-14, True), (-16, False)):
        monkeypatch.setattr(
            botocore.auth, "get_current_datetime", lambda m=minutes: now - datetime.timedelta(minutes=m)
        )
        received = as_received(signed("POST", "http://127.0.0.1:8000/events", b"{}"))
        if ok:
            assert verifier().verify(received) == KEY
        else:
            with pytest.raises(AuthenticationError, match="Signature expired"):
                verifier().verify(received)


def test_presigned_urls_verify_until_they_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    request = AWSRequest("GET", "http://127.0.0.1:8000/metrics")
    SigV4QueryAuth(Credentials(KEY.access_key_id, "the-secret"), "personalize", "us-east-1", expires=30).add_auth(
        request
    )
    received = as_received(request)
    assert verifier().verify(received) == KEY
    later = verifier(clock=lambda: datetime.datetime.now(datetime.UTC).timestamp() + 60)
    with pytest.raises(AuthenticationError, match="Signature expired"):
        later.verify(received)
    tampered = SignedRequest("GET", "/openapi.json", received.query_string, received.headers, b"")
    with pytest.raises(AuthenticationError, match="does not match"):
        verifier().verify(tampered)


@pytest.mark.parametrize(
    ("authorization", "code", "message"),
    [
        (None, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        ("Bearer abc", "InvalidSignatureException", "must use AWS4-HMAC-SHA256"),
        (
            "AWS4-HMAC-SHA256 Credential=RSAKTESTKEY/20260101/us-east-1/personalize/aws4_request",
            "InvalidSignatureException",
            "missing SignedHeaders, Signature",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=NOBODY/20260101/us-east-1/personalize/aws4_request, "
            "SignedHeaders=host, Signature=00",
            "UnrecognizedClientException",
            "invalid",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=RSAKTESTKEY/x, SignedHeaders=host, Signature=00",
            "InvalidSignatureException",
            "scoped to",
        ),
    ],
)
def test_malformed_authorization_is_refused_with_aws_codes(authorization: str | None, code: str, message: str) -> None:
    headers = [("host", "127.0.0.1"), ("x-amz-date", "20260101T000000Z")]
    if authorization:
        headers.append(("authorization", authorization))
    with pytest.raises(AuthenticationError, match=message) as caught:
        verifier().verify(SignedRequest("POST", "/", "", headers, b"{}"))
    assert caught.value.code == code


def test_the_scope_must_name_our_region_and_a_personalize_service() -> None:
    for region, service, message in (
        ("eu-west-1", "personalize", "valid region"),
        ("us-east-1", "s3", "correct service"),
    ):
        request = AWSRequest("POST", "http://127.0.0.1:8000/", data=b"{}", headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(KEY.access_key_id, "the-secret"), service, region).add_auth(request)
        with pytest.raises(AuthenticationError, match=message):
            verifier().verify(as_received(request))
