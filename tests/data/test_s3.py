"""S3 import and export against a real S3 API: moto's server on a free local port."""

from __future__ import annotations

import csv
import io
import json
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from models.columns import EVENT_TYPE, EVENT_VALUE, ITEM_ID, TIMESTAMP, USER_ID
from recsmith.catalog import ResourceType, Status
from recsmith.data import s3
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema
from recsmith.data.export import create_dataset_export_job
from recsmith.data.imports import create_dataset_import_job, read_current
from recsmith.data.sample import INTERACTIONS_SCHEMA, ITEMS_SCHEMA, SampleFiles
from recsmith.errors import InvalidInputError
from recsmith.events.tracker import create_event_tracker, put_events
from recsmith.platform import Platform
from recsmith.settings import Settings

GOOD = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nu1,i1,1700000000,click,1.0\nu1,i2,1700000100,click,\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _raw_client(endpoint: str, key: str = "testing", secret: str = "testing") -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret
    )


@pytest.fixture
def bucket(endpoint: str) -> str:
    name = f"recsmith-{uuid.uuid4().hex[:10]}"
    _raw_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_platform(tmp_path: Path, endpoint: str) -> Iterator[Platform]:
    built = Platform(
        Settings(
            home=tmp_path / "home",
            s3_endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    )
    yield built
    if "catalog" in built.__dict__:
        built.catalog.dispose()
    if "events" in built.__dict__:
        built.events.dispose()


@pytest.fixture
def dataset(s3_platform: Platform) -> str:
    create_dataset_group(s3_platform, "shop")
    create_schema(s3_platform, "shop-interactions", json.dumps(INTERACTIONS_SCHEMA))
    return create_dataset(s3_platform, "shop-interactions", "shop", "INTERACTIONS", "shop-interactions").arn


def _put(endpoint: str, bucket: str, key: str, body: str | bytes) -> str:
    _raw_client(endpoint).put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return f"s3://{bucket}/{key}"


def _current(platform: Platform, dataset: str) -> pd.DataFrame:
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, dataset))
    assert frame is not None
    return frame


def _no_staging_left(platform: Platform) -> bool:
    root = platform.settings.data_root
    return not root.exists() or not list(root.glob(".s3-*"))


def test_parse_s3_uri() -> None:
    assert s3.parse_s3_uri("s3://b/k/x.csv") == ("b", "k/x.csv")
    assert s3.parse_s3_uri("s3://b/p/") == ("b", "p/")
    assert s3.parse_s3_uri("s3://b") == ("b", "")
    with pytest.raises(InvalidInputError, match="not an S3 URI"):
        s3.parse_s3_uri("/tmp/x.csv")
    with pytest.raises(InvalidInputError, match="has no bucket"):
        s3.parse_s3_uri("s3:///key")


def test_settings_read_s3_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSMITH_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RECSMITH_AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("RECSMITH_AWS_SECRET_ACCESS_KEY", "SK")
    settings = Settings()
    assert settings.s3_endpoint_url == "http://127.0.0.1:9" and settings.aws_access_key_id == "AK"
    assert settings.aws_secret_access_key is not None and settings.aws_secret_access_key.get_secret_value() == "SK"
    assert "SK" not in repr(settings)
    assert settings.resolved_aws_region == settings.region
    monkeypatch.setenv("RECSMITH_AWS_REGION", "eu-west-1")
    assert Settings().resolved_aws_region == "eu-west-1"


def test_sample_imports_from_one_object(
    s3_platform: Platform, dataset: str, sample_files: SampleFiles, endpoint: str, bucket: str
) -> None:
    uri = _put(endpoint, bucket, "in/interactions.csv", sample_files.interactions.read_bytes())
    job = create_dataset_import_job(s3_platform, "from-s3", dataset, uri)
    assert job.status is Status.ACTIVE, job.failure_reason
    local = pd.read_csv(sample_files.interactions)
    assert job.attributes["dataVersion"]["rowCount"] == len(_current(s3_platform, dataset)) == len(local)
    assert job.attributes["dataVersion"]["sources"] == [uri]
    assert _no_staging_left(s3_platform)


def test_sample_imports_from_a_prefix_of_parts(
    s3_platform: Platform, dataset: str, sample_files: SampleFiles, endpoint: str, bucket: str
) -> None:
    local = pd.read_csv(sample_files.interactions, dtype=str, keep_default_na=False)
    half = len(local) // 2
    _put(endpoint, bucket, "parts/part-0.csv", local.iloc[:half].to_csv(index=False))
    _put(endpoint, bucket, "parts/part-1.csv", local.iloc[half:].to_csv(index=False))
    _put(endpoint, bucket, "parts/README.txt", "not data")
    _put(endpoint, bucket, "parts/old/part-9.csv", "USER_ID,ITEM_ID\nbroken")  # sub-prefix: not read
    assert s3.list_objects(s3_platform.settings, f"s3://{bucket}/parts/") == [
        f"s3://{bucket}/parts/part-0.csv",
        f"s3://{bucket}/parts/part-1.csv",
    ]
    job = create_dataset_import_job(s3_platform, "parts", dataset, f"s3://{bucket}/parts/")
    assert job.status is Status.ACTIVE, job.failure_reason
    assert len(_current(s3_platform, dataset)) == len(local.drop_duplicates([USER_ID, ITEM_ID, TIMESTAMP]))
    assert len(job.attributes["dataVersion"]["sources"]) == 2
    assert _no_staging_left(s3_platform)


def test_bad_row_in_s3_names_the_uri_and_changes_nothing(
    s3_platform: Platform, dataset: str, endpoint: str, bucket: str
) -> None:
    good = _put(endpoint, bucket, "good.csv", GOOD)
    assert create_dataset_import_job(s3_platform, "good", dataset, good).status is Status.ACTIVE
    before = s3_platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"]
    _put(endpoint, bucket, "bad/part-0.csv", GOOD)
    bad = _put(endpoint, bucket, "bad/part-1.csv", GOOD + "u2,i3,17000oops,click,1\n")
    job = create_dataset_import_job(s3_platform, "bad", dataset, f"s3://{bucket}/bad/")
    assert job.status is Status.CREATE_FAILED
    assert (job.failure_reason or "").startswith(f"{bad}, row 4, column TIMESTAMP: expected an integer")
    assert s3_platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"] == before
    assert _no_staging_left(s3_platform)
    # an error found while reading (not while validating) names the URI too
    broken = _put(endpoint, bucket, "utf.csv", GOOD.encode() + b"u2,i\xff3,1700000000,click,1\n")
    job = create_dataset_import_job(s3_platform, "bad-utf8", dataset, broken)
    assert (job.failure_reason or "").startswith(f"{broken}, row 4: bytes are not valid UTF-8")


def test_missing_object_prefix_and_bucket(s3_platform: Platform, dataset: str, bucket: str) -> None:
    missing = f"s3://{bucket}/absent.csv"
    job = create_dataset_import_job(s3_platform, "no-key", dataset, missing)
    assert job.status is Status.CREATE_FAILED
    assert job.failure_reason == f"{missing}: no such object"
    job = create_dataset_import_job(s3_platform, "no-prefix", dataset, f"s3://{bucket}/nothing/")
    assert "prefix holds no .csv or .parquet objects" in (job.failure_reason or "")
    for name, uri in [("no-bucket", "s3://recsmith-absent/x.csv"), ("no-bucket-dir", "s3://recsmith-absent/p/")]:
        job = create_dataset_import_job(s3_platform, name, dataset, uri)
        assert job.status is Status.CREATE_FAILED
        assert job.failure_reason == f"{uri}: no such bucket 'recsmith-absent'"
    assert s3_platform.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"] is None
    assert _no_staging_left(s3_platform)


def test_unreachable_endpoint(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        s3_endpoint_url=f"http://127.0.0.1:{_free_port()}",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    with pytest.raises(InvalidInputError, match=r"^s3://b/k\.csv: cannot reach S3 at http://127\.0\.0\.1"):
        s3.download(settings, "s3://b/k.csv", tmp_path / "k.csv")
    assert not list(tmp_path.glob("k.csv*"))


def test_bad_credentials_are_access_denied(endpoint: str, bucket: str, tmp_path: Path) -> None:
    """moto's server checks credentials for real once its auth is switched on (POST /moto-api/reset-auth)."""
    _put(endpoint, bucket, "k.csv", GOOD)
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader",
        PolicyName="all-s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    real = iam.create_access_key(UserName="reader")["AccessKey"]

    def settings(key: str, secret: str) -> Settings:
        return Settings(home=tmp_path, s3_endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret)

    _set_moto_auth(endpoint, "0")
    try:
        uri = f"s3://{bucket}/k.csv"
        s3.download(settings(real["AccessKeyId"], real["SecretAccessKey"]), uri, tmp_path / "ok.csv")
        assert (tmp_path / "ok.csv").read_text() == GOOD
        for key, secret, code in [
            ("AKIAUNKNOWN000000000", "nope", "InvalidAccessKeyId"),
            (real["AccessKeyId"], "wrong-secret", "SignatureDoesNotMatch"),
        ]:
            with pytest.raises(InvalidInputError, match=rf"^{uri}: access denied: check RECSMITH_AWS_\* .*{code}"):
                s3.download(settings(key, secret), uri, tmp_path / "denied.csv")
            with pytest.raises(InvalidInputError, match="access denied: check RECSMITH_AWS_"):
                s3.list_objects(settings(key, secret), f"s3://{bucket}/")
        # an import job with bad credentials: CREATE FAILED with the reason, the dataset unchanged
        denied = Platform(settings("AKIAUNKNOWN000000000", "nope"))
        create_dataset_group(denied, "shop")
        create_schema(denied, "shop-interactions", json.dumps(INTERACTIONS_SCHEMA))
        dataset = create_dataset(denied, "shop-interactions", "shop", "INTERACTIONS", "shop-interactions").arn
        job = create_dataset_import_job(denied, "denied", dataset, uri)
        assert job.status is Status.CREATE_FAILED
        assert (job.failure_reason or "").startswith(f"{uri}: access denied: check RECSMITH_AWS_")
        assert denied.catalog.get(ResourceType.DATASET, dataset).attributes["dataVersion"] is None
        assert _no_staging_left(denied)
        denied.catalog.dispose()
    finally:
        _set_moto_auth(endpoint, "inf")
    assert not (tmp_path / "denied.csv").exists()


def _set_moto_auth(endpoint: str, count: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=count.encode(), method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _events(platform: Platform) -> None:
    tracking_id = create_event_tracker(platform, "shop-tracker", "shop").attributes["trackingId"]
    events = [
        {"eventType": "click", "itemId": "i7", "sentAt": 1700000200, "eventValue": 2.5},
        {"eventType": "purchase", "itemId": "i8", "sentAt": 1700000300},
    ]
    assert put_events(platform, tracking_id, "session-1", events, user_id="u5") == 2


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("where", ["local", "s3"])
def test_export_bulk_put_all(
    s3_platform: Platform, dataset: str, tmp_path: Path, endpoint: str, bucket: str, where: str
) -> None:
    create_dataset_import_job(s3_platform, "imp", dataset, _put(endpoint, bucket, "good.csv", GOOD))
    _events(s3_platform)
    output = str(tmp_path / "exports") if where == "local" else f"s3://{bucket}/exports/"
    texts = {}
    for mode in ("BULK", "PUT", "ALL"):
        job = create_dataset_export_job(s3_platform, f"export-{mode.lower()}", dataset, output, mode)
        assert job.status is Status.ACTIVE, job.failure_reason
        location = job.attributes["outputLocation"]
        if where == "local":
            assert location == str(tmp_path / "exports" / f"export-{mode.lower()}.csv")
            texts[mode] = Path(location).read_text()
        else:
            assert location == f"s3://{bucket}/exports/export-{mode.lower()}.csv"
            key = location.removeprefix(f"s3://{bucket}/")
            texts[mode] = _raw_client(endpoint).get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert job.attributes["rowCount"] == len(_rows(texts[mode]))
    assert texts["BULK"].splitlines()[0] == "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"
    assert [(r[USER_ID], r[ITEM_ID], r[TIMESTAMP]) for r in _rows(texts["BULK"])] == [
        ("u1", "i1", "1700000000"),
        ("u1", "i2", "1700000100"),
    ]
    assert texts["PUT"].splitlines()[0] == ",".join([USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE])
    assert [(r[USER_ID], r[ITEM_ID], r[TIMESTAMP], r[EVENT_TYPE], r[EVENT_VALUE]) for r in _rows(texts["PUT"])] == [
        ("u5", "i7", "1700000200", "click", "2.5"),
        ("u5", "i8", "1700000300", "purchase", ""),
    ]
    assert _rows(texts["ALL"]) == _rows(texts["BULK"]) + _rows(texts["PUT"])
    if where == "local":
        assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [
            "export-all.csv",
            "export-bulk.csv",
            "export-put.csv",
        ]
    assert _no_staging_left(s3_platform)


def test_export_failures(s3_platform: Platform, dataset: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="allowed: BULK, PUT, ALL"):
        create_dataset_export_job(s3_platform, "x", dataset, str(tmp_path), "SOME")
    create_schema(s3_platform, "shop-items", json.dumps(ITEMS_SCHEMA))
    items = create_dataset(s3_platform, "shop-items", "shop", "ITEMS", "shop-items").arn
    with pytest.raises(InvalidInputError, match="only INTERACTIONS datasets have"):
        create_dataset_export_job(s3_platform, "y", items, str(tmp_path), "PUT")
    job = create_dataset_export_job(s3_platform, "empty", items, str(tmp_path / "out"), "BULK")
    assert job.status is Status.ACTIVE and job.attributes["rowCount"] == 0
    assert Path(job.attributes["outputLocation"]).read_text().startswith("ITEM_ID,")
    job = create_dataset_export_job(s3_platform, "to-absent-bucket", dataset, "s3://recsmith-absent/out/", "PUT")
    assert job.status is Status.CREATE_FAILED
    assert job.failure_reason == "s3://recsmith-absent/out/to-absent-bucket.csv: no such bucket 'recsmith-absent'"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    job = create_dataset_export_job(s3_platform, "to-a-file", dataset, str(blocker), "PUT")
    assert job.status is Status.CREATE_FAILED and "cannot create the output folder" in (job.failure_reason or "")
    assert _no_staging_left(s3_platform)
