"""The Personalize workflow through boto3's own clients, as a user's script runs it against ``recsmith serve``.

Shared by the workflow test (SQLite and PostgreSQL) and the auth tests (which need a live campaign of each of two
tenants): dataset group, schema, dataset, import job, tracker, solution, solution version, campaign.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsmith.data.sample import generate_sample


def wait_for(describe: Callable[[], dict[str, Any]], what: str, timeout: float = 240) -> dict[str, Any]:
    """Poll a Describe* until its status is final; the last answer (ACTIVE expected by the caller)."""
    deadline = time.monotonic() + timeout
    answer = describe()
    while time.monotonic() < deadline:
        if answer["status"] in ("ACTIVE", "CREATE FAILED"):
            return answer
        time.sleep(0.25)
        answer = describe()
    raise AssertionError(f"{what} still {answer['status']} after {timeout} s: {answer}")


@dataclass(frozen=True)
class Deployed:
    group_arn: str
    dataset_arn: str
    tracking_id: str
    solution_arn: str
    version_arn: str
    campaign_arn: str


def deploy_group(
    personalize: Any, group: str, folder: Path, recipe: str = "arn:aws:personalize:::recipe/aws-sims"
) -> Deployed:
    """CreateDatasetGroup to an ACTIVE campaign, through the control plane only."""
    sample = generate_sample(folder, n_users=60, n_items=40, seed=3)
    group_arn = personalize.create_dataset_group(name=group)["datasetGroupArn"]
    schema_arn = personalize.create_schema(name=f"{group}-interactions", schema=sample.interactions_schema.read_text())[
        "schemaArn"
    ]
    dataset_arn = personalize.create_dataset(
        name=f"{group}-interactions", datasetGroupArn=group_arn, datasetType="Interactions", schemaArn=schema_arn
    )["datasetArn"]
    job_arn = personalize.create_dataset_import_job(
        jobName=f"{group}-import",
        datasetArn=dataset_arn,
        dataSource={"dataLocation": str(sample.interactions)},
        roleArn="arn:aws:iam::000000000000:role/unused",
    )["datasetImportJobArn"]
    job = wait_for(
        lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job_arn)["datasetImportJob"], "import"
    )
    assert job["status"] == "ACTIVE", job
    tracking_id = personalize.create_event_tracker(name=f"{group}-tracker", datasetGroupArn=group_arn)["trackingId"]
    solution_arn = personalize.create_solution(name=f"{group}-sims", datasetGroupArn=group_arn, recipeArn=recipe)[
        "solutionArn"
    ]
    version_arn = personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    version = wait_for(
        lambda: personalize.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"], "training"
    )
    assert version["status"] == "ACTIVE", version
    campaign_arn = personalize.create_campaign(name=f"{group}-live", solutionVersionArn=version_arn)["campaignArn"]
    campaign = wait_for(lambda: personalize.describe_campaign(campaignArn=campaign_arn)["campaign"], "campaign")
    assert campaign["status"] == "ACTIVE", campaign
    return Deployed(group_arn, dataset_arn, tracking_id, solution_arn, version_arn, campaign_arn)
