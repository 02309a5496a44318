"""The AWS CLI against ``recsmith serve``: ``aws personalize ... --endpoint-url``, configured by the credentials file
the server wrote and nothing else, from CreateDatasetGroup to GetRecommendations and PutEvents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from recsmith.data.sample import generate_sample
from tests.api.conftest import Server
from tests.api.workflow import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.integration]

AWS = str(Path(sys.executable).with_name("aws"))


def aws(server: Server, tmp_path: Path, *args: str, ok: bool = True) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file),
        AWS_PROFILE="recsmith",
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_MAX_ATTEMPTS="1",
    )
    out = subprocess.run(
        [AWS, *args, "--endpoint-url", server.url, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if not ok:
        assert out.returncode != 0, out.stdout
        return out.stderr
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def wait(server: Server, tmp_path: Path, *args: str, key: str) -> dict[str, Any]:
    """Poll with boto3 (an ``aws`` process costs seconds of CPU on a busy machine), then describe with ``aws``."""
    operation, flag, arn = args[1], args[2], args[3]
    describe = getattr(server.client("personalize"), operation.replace("-", "_"))
    member = "".join(part.capitalize() for part in flag.strip("-").split("-"))
    wait_for(lambda: describe(**{member[0].lower() + member[1:]: arn})[key], operation)
    answer: dict[str, Any] = aws(server, tmp_path, *args)[key]
    return answer


def test_aws_personalize_workflow(server: Server, tmp_path: Path) -> None:
    sample = generate_sample(tmp_path / "sample", n_users=60, n_items=40, seed=5)
    group = aws(server, tmp_path, "personalize", "create-dataset-group", "--name", "cli-shop")["datasetGroupArn"]
    schema = aws(
        server,
        tmp_path,
        "personalize",
        "create-schema",
        "--name",
        "cli-interactions",
        "--schema",
        f"file://{sample.interactions_schema}",
    )["schemaArn"]
    dataset = aws(
        server,
        tmp_path,
        "personalize",
        "create-dataset",
        "--name",
        "cli-interactions",
        "--dataset-group-arn",
        group,
        "--dataset-type",
        "Interactions",
        "--schema-arn",
        schema,
    )["datasetArn"]
    job = aws(
        server,
        tmp_path,
        "personalize",
        "create-dataset-import-job",
        "--job-name",
        "cli-import",
        "--dataset-arn",
        dataset,
        "--data-source",
        f"dataLocation={sample.interactions}",
        "--role-arn",
        "arn:aws:iam::000000000000:role/x",
    )["datasetImportJobArn"]
    described = wait(
        server,
        tmp_path,
        "personalize",
        "describe-dataset-import-job",
        "--dataset-import-job-arn",
        job,
        key="datasetImportJob",
    )
    assert described["status"] == "ACTIVE", described
    tracking = aws(
        server, tmp_path, "personalize", "create-event-tracker", "--name", "cli-tracker", "--dataset-group-arn", group
    )["trackingId"]
    solution = aws(
        server,
        tmp_path,
        "personalize",
        "create-solution",
        "--name",
        "cli-pop",
        "--dataset-group-arn",
        group,
        "--recipe-arn",
        "arn:aws:personalize:::recipe/aws-popularity-count",
    )["solutionArn"]
    version = aws(server, tmp_path, "personalize", "create-solution-version", "--solution-arn", solution)[
        "solutionVersionArn"
    ]
    trained = wait(
        server,
        tmp_path,
        "personalize",
        "describe-solution-version",
        "--solution-version-arn",
        version,
        key="solutionVersion",
    )
    assert trained["status"] == "ACTIVE", trained
    metrics = aws(server, tmp_path, "personalize", "get-solution-metrics", "--solution-version-arn", version)["metrics"]
    assert "coverage" in metrics
    campaign = aws(
        server, tmp_path, "personalize", "create-campaign", "--name", "cli-live", "--solution-version-arn", version
    )["campaignArn"]
    live = wait(server, tmp_path, "personalize", "describe-campaign", "--campaign-arn", campaign, key="campaign")
    assert live["status"] == "ACTIVE", live
    listed = aws(server, tmp_path, "personalize", "list-campaigns", "--solution-arn", solution)["campaigns"]
    assert [c["campaignArn"] for c in listed] == [campaign]

    items = aws(
        server,
        tmp_path,
        "personalize-runtime",
        "get-recommendations",
        "--campaign-arn",
        campaign,
        "--user-id",
        "u0002",
        "--num-results",
        "4",
    )["itemList"]
    assert len(items) == 4
    aws(
        server,
        tmp_path,
        "personalize-events",
        "put-events",
        "--tracking-id",
        tracking,
        "--user-id",
        "u0002",
        "--session-id",
        "s1",
        "--event-list",
        json.dumps([{"eventType": "click", "itemId": items[0]["itemId"], "sentAt": time.time()}]),
    )
    again = aws(
        server,
        tmp_path,
        "personalize-runtime",
        "get-recommendations",
        "--campaign-arn",
        campaign,
        "--user-id",
        "u0002",
        "--num-results",
        "4",
    )["itemList"]
    assert items[0]["itemId"] not in [i["itemId"] for i in again]
    error = aws(server, tmp_path, "personalize", "describe-campaign", "--campaign-arn", campaign + "-nope", ok=False)
    assert "ResourceNotFoundException" in error
