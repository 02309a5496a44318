"""Signing plain HTTP calls the way boto3 does, for callers that are not AWS SDKs (httpx, benchmarks, scripts).

:class:`SignedAuth` is an ``httpx.Auth`` that signs each request with botocore's own SigV4 signer (so what it
sends is exactly what boto3 would), covering ``host``, ``content-type``, ``x-amz-date`` and the body's hash.
:func:`admin_auth` reads the admin key that ``recsmith serve`` (or a campaign server) wrote at first start.
"""

from __future__ import annotations

import configparser
from collections.abc import Generator
from pathlib import Path

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from recsmith.api.auth import CREDENTIALS_PROFILE


class SignedAuth(httpx.Auth):
    """SigV4-sign every request with one key (region and service as the credential scope says)."""

    requires_request_body = True

    def __init__(
        self, access_key_id: str, secret_access_key: str, region: str = "us-east-1", service: str = "personalize"
    ) -> None:
        self._signer = SigV4Auth(Credentials(access_key_id, secret_access_key), service, region)
        self.access_key_id = access_key_id

    def sign(self, method: str, url: str, body: bytes, content_type: str = "application/json") -> dict[str, str]:
        """The headers that sign one request (Authorization, X-Amz-Date, Content-Type)."""
        request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": content_type})
        self._signer.add_auth(request)
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        content_type = request.headers.get("content-type", "application/json")
        for name, value in self.sign(request.method, str(request.url), request.content, content_type).items():
            request.headers[name] = value
        yield request


def read_credentials(path: Path, profile: str = CREDENTIALS_PROFILE) -> tuple[str, str, str]:
    """``(access key id, secret, region)`` of a profile in an AWS shared-credentials file."""
    parser = configparser.RawConfigParser()
    parser.read(path)
    return (
        parser.get(profile, "aws_access_key_id"),
        parser.get(profile, "aws_secret_access_key"),
        parser.get(profile, "region", fallback="us-east-1"),
    )


def admin_auth(home: Path, service: str = "personalize") -> SignedAuth:
    """Signing with the admin key in ``home/credentials``."""
    key_id, secret, region = read_credentials(home / "credentials")
    return SignedAuth(key_id, secret, region, service)
