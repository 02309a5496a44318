"""Batch inference from and to S3 (moto's server on loopback): a prefix of JSON Lines in, one .out per file out,
and a job that fails part-way publishes nothing."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from recsmith.campaigns.batch import create_batch_inference_job
from recsmith.catalog import Status
from recsmith.platform import Platform
from recsmith.settings import Settings

if TYPE_CHECKING:
    from conftest import Trained


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3_platform(trained: Trained, endpoint: str) -> Iterator[Platform]:
    """The trained installation, configured to reach the S3 server."""
    settings = trained.platform.settings.model_copy(
        update={"s3_endpoint_url": endpoint, "aws_access_key_id": "testing"}
    )
    built = Platform(Settings(**{**settings.model_dump(), "aws_secret_access_key": "testing"}))
    yield built
    built.catalog.dispose()
    built.events.dispose()


def _s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _put_lines(client: Any, bucket: str, key: str, lines: list[str]) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())


def test_prefix_in_prefix_out(trained: Trained, s3_platform: Platform, endpoint: str) -> None:
    client = _s3(endpoint)
    bucket = f"batch-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    _put_lines(client, bucket, "in/a.jsonl", [json.dumps({"userId": f"u{u:04d}"}) for u in range(1, 6)])
    _put_lines(client, bucket, "in/b.json", [json.dumps({"itemId": "i0010"}), json.dumps({"userId": "u0009"})])
    _put_lines(client, bucket, "in/ignored.csv", ["not,batch,input"])
    job = create_batch_inference_job(
        s3_platform, "s3-batch", trained.versions[0], f"s3://{bucket}/in/", f"s3://{bucket}/out/", num_results=4
    )
    assert job.status is Status.ACTIVE, job.failure_reason
    assert job.attributes["recordsProcessed"] == 7 and job.attributes["recordsFailed"] == 0
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"])
    assert keys == ["out/a.jsonl.out", "out/b.json.out"]
    body = client.get_object(Bucket=bucket, Key="out/b.json.out")["Body"].read().decode()
    related, user = (json.loads(line) for line in body.splitlines())
    assert related["input"] == {"itemId": "i0010"} and len(related["output"]["recommendedItems"]) == 4
    assert user["error"] is None and len(user["output"]["scores"]) == 4


def test_failed_job_publishes_nothing(trained: Trained, s3_platform: Platform, endpoint: str) -> None:
    client = _s3(endpoint)
    bucket = f"batch-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    _put_lines(client, bucket, "in/a.jsonl", [json.dumps({"userId": "u0001"})])
    client.put_object(Bucket=bucket, Key="in/b.jsonl", Body=b"\xff\xfe not utf-8\n")  # fails the job, after a.jsonl
    job = create_batch_inference_job(
        s3_platform, "s3-broken", trained.versions[0], f"s3://{bucket}/in/", f"s3://{bucket}/out/"
    )
    assert job.status is Status.CREATE_FAILED
    assert f"s3://{bucket}/in/b.jsonl: not UTF-8 text" in (job.failure_reason or "")
    assert client.list_objects_v2(Bucket=bucket, Prefix="out/").get("KeyCount", 0) == 0


def test_missing_prefix_names_the_uri(trained: Trained, s3_platform: Platform, endpoint: str) -> None:
    bucket = f"batch-{uuid.uuid4().hex[:8]}"
    _s3(endpoint).create_bucket(Bucket=bucket)
    job = create_batch_inference_job(
        s3_platform, "s3-empty", trained.versions[0], f"s3://{bucket}/nothing/", f"s3://{bucket}/out/"
    )
    assert job.status is Status.CREATE_FAILED
    assert f"s3://{bucket}/nothing/" in (job.failure_reason or "") and ".jsonl" in (job.failure_reason or "")
