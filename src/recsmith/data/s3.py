"""S3 I/O for import and export jobs: list, download (streamed to a local file) and upload.

The client follows the settings (``RECSMITH_S3_ENDPOINT_URL``, ``RECSMITH_AWS_ACCESS_KEY_ID``,
``RECSMITH_AWS_SECRET_ACCESS_KEY``, ``RECSMITH_AWS_REGION``); what is unset falls back to boto3's default
credential chain. Every S3 failure becomes an :class:`InvalidInputError` whose message starts with the
``s3://`` URI and says what to fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from recsmith.errors import InvalidInputError
from recsmith.settings import Settings

DATA_SUFFIXES = (".csv", ".parquet")
_CHUNK = 1 << 20
_MISSING_OBJECT = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden", "InvalidToken"}
_S3_FAILURES = (BotoCoreError, ClientError, S3UploadFailedError, OSError)


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured endpoint, credentials and region."""
    kwargs: dict[str, Any] = {
        "region_name": settings.resolved_aws_region,
        "config": Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}),
    }
    if settings.s3_endpoint_url:
        kwargs["endpoint_url"] = settings.s3_endpoint_url
    if settings.aws_access_key_id:
        kwargs["aws_access_key_id"] = settings.aws_access_key_id
    if settings.aws_secret_access_key is not None:
        kwargs["aws_secret_access_key"] = settings.aws_secret_access_key.get_secret_value()
    return boto3.client("s3", **kwargs)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; the key may be empty or end in '/' (a prefix)."""
    if not uri.startswith("s3://"):
        raise InvalidInputError(f"{uri}: not an S3 URI; expected s3://bucket/key or s3://bucket/prefix/")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise InvalidInputError(f"{uri}: S3 URI has no bucket; expected s3://bucket/key or s3://bucket/prefix/")
    return bucket, key


def list_objects(settings: Settings, uri: str, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> list[str]:
    """The URIs an import of ``uri`` reads: the object itself, or, for a prefix ending in '/', every object
    with one of ``suffixes`` (default .csv and .parquet) directly in it (not in its sub-prefixes, as with a
    local folder), sorted by key."""
    bucket, key = parse_s3_uri(uri)
    if key and not key.endswith("/"):
        return [uri]
    client = s3_client(settings)
    found: list[str] = []
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key, Delimiter="/"):
            for entry in page.get("Contents", []):
                if entry["Key"].lower().endswith(suffixes):
                    found.append(f"s3://{bucket}/{entry['Key']}")
    except _S3_FAILURES as exc:
        raise _translate(exc, uri, settings) from exc
    if not found:
        raise InvalidInputError(f"{uri}: prefix holds no {' or '.join(suffixes)} objects")
    return sorted(found)


def download(settings: Settings, uri: str, dest: Path) -> Path:
    """Stream the object ``uri`` into ``dest`` (written as ``dest``.part, then renamed); returns ``dest``."""
    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        raise InvalidInputError(f"{uri}: is a prefix, not an object")
    partial = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        body = s3_client(settings).get_object(Bucket=bucket, Key=key)["Body"]
        with partial.open("wb") as handle:
            for chunk in body.iter_chunks(_CHUNK):
                handle.write(chunk)
        os.replace(partial, dest)
    except _S3_FAILURES as exc:
        partial.unlink(missing_ok=True)
        raise _translate(exc, uri, settings) from exc
    return dest


def upload(settings: Settings, path: Path, uri: str) -> str:
    """Upload the local file ``path`` to the object ``uri`` (multipart when large); returns ``uri``."""
    bucket, key = parse_s3_uri(uri)
    if not key or key.endswith("/"):
        raise InvalidInputError(f"{uri}: is a prefix, not an object")
    try:
        s3_client(settings).upload_file(str(path), bucket, key)
    except _S3_FAILURES as exc:
        # boto3 wraps the ClientError of an upload in S3UploadFailedError, raised inside its except block
        cause = exc.__context__ if isinstance(exc, S3UploadFailedError) and exc.__context__ else exc
        raise _translate(cause, uri, settings) from exc
    return uri


def _translate(exc: BaseException, uri: str, settings: Settings) -> InvalidInputError:
    """A recsmith error, naming ``uri`` and what to fix, for a boto3/botocore failure."""
    if isinstance(exc, InvalidInputError):
        return exc
    bucket, _ = parse_s3_uri(uri)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code == "NoSuchBucket":
            return InvalidInputError(f"{uri}: no such bucket {bucket!r}")
        if code in _MISSING_OBJECT:
            return InvalidInputError(f"{uri}: no such object")
        if code in _DENIED:
            return InvalidInputError(f"{uri}: access denied: check RECSMITH_AWS_* credentials ({code})")
        return InvalidInputError(f"{uri}: S3 error {code}: {error.get('Message', exc)}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        endpoint = settings.s3_endpoint_url or "the AWS S3 endpoint"
        return InvalidInputError(f"{uri}: cannot reach S3 at {endpoint}: check RECSMITH_S3_ENDPOINT_URL ({exc})")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return InvalidInputError(
            f"{uri}: no usable AWS credentials: set RECSMITH_AWS_ACCESS_KEY_ID and RECSMITH_AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, OSError):
        return InvalidInputError(f"{uri}: local file error during S3 transfer: {exc}")
    return InvalidInputError(f"{uri}: S3 transfer failed: {type(exc).__name__}: {exc}")
