"""The whole Personalize workflow through ``recsmith serve`` with boto3's three clients, on SQLite and PostgreSQL.

CreateDatasetGroup to GetRecommendations through the control plane only, then PutEvents changing the next answer,
the List* calls with pagination, Describe* shapes as the model has them, tags, UpdateCampaign, and deletion.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.api.conftest import Server, Tenants, postgres_env, start_server, stop_server
from tests.api.workflow import Deployed, deploy_group, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_workflow_on_sqlite(tenants: Tenants) -> None:
    """The session's server (SQLite) deployed group ``alpha`` through the same calls; check everything after."""
    check_workflow(tenants.server, tenants.alpha, prefix="sqlite")


def test_workflow_on_postgresql(tmp_path: Path) -> None:
    for env in postgres_env():
        server = start_server(tmp_path / "home", env)
        try:
            check_workflow(server, deploy_group(server.client("personalize"), "shop", tmp_path / "sample"), prefix="pg")
        finally:
            stop_server(server)


def check_workflow(server: Server, deployed: Deployed, prefix: str) -> None:
    personalize = server.client("personalize")
    runtime = server.client("personalize-runtime")
    events = server.client("personalize-events")
    group_name = deployed.group_arn.rsplit("/", 1)[-1]

    # Describe* answers carry the model's member names and types (timestamps parsed as datetimes by botocore)
    group = personalize.describe_dataset_group(datasetGroupArn=deployed.group_arn)["datasetGroup"]
    assert group["name"] == group_name and group["status"] == "ACTIVE"
    assert isinstance(group["creationDateTime"], datetime.datetime)
    version = personalize.describe_solution_version(solutionVersionArn=deployed.version_arn)["solutionVersion"]
    assert version["solutionArn"] == deployed.solution_arn
    assert version["recipeArn"].endswith("/sims") and version["trainingHours"] > 0
    metrics = personalize.get_solution_metrics(solutionVersionArn=deployed.version_arn)["metrics"]
    assert 0.0 <= metrics["normalized_discounted_cumulative_gain_at_10"] <= 1.0
    campaign = personalize.describe_campaign(campaignArn=deployed.campaign_arn)["campaign"]
    assert campaign["solutionVersionArn"] == deployed.version_arn
    assert campaign["campaignConfig"] == {"syncWithLatestSolutionVersion": False}
    # as in Personalize, a campaign never updated has no latestCampaignUpdate; one that was shows its outcome
    assert campaign.get("latestCampaignUpdate", {"status": "ACTIVE"})["status"] == "ACTIVE"

    # runtime: recommendations for a known user, then an event that changes them
    first = runtime.get_recommendations(campaignArn=deployed.campaign_arn, userId="u0001", numResults=5)
    items = [i["itemId"] for i in first["itemList"]]
    assert len(items) == 5 and first["recommendationId"]
    events.put_events(
        trackingId=deployed.tracking_id,
        userId="u0001",
        sessionId="s-1",
        eventList=[{"eventType": "click", "itemId": items[0], "sentAt": datetime.datetime.now()}],
    )
    after = runtime.get_recommendations(campaignArn=deployed.campaign_arn, userId="u0001", numResults=5)
    assert items[0] not in [i["itemId"] for i in after["itemList"]], "a clicked item is not recommended again"
    ranked = runtime.get_personalized_ranking(
        campaignArn=deployed.campaign_arn, userId="u0001", inputList=items[1:4] + ["never-seen"]
    )["personalizedRanking"]
    assert {i["itemId"] for i in ranked} == {*items[1:4], "never-seen"}

    # lists, with pagination done by the server and followed by botocore's paginator
    assert [d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=deployed.group_arn)["datasets"]] == [
        deployed.dataset_arn
    ]
    for n in range(3):
        personalize.create_dataset_group(name=f"{prefix}-extra-{n}")
    page = personalize.list_dataset_groups(maxResults=2)
    assert len(page["datasetGroups"]) == 2 and page["nextToken"]
    names = [
        g["name"]
        for answer in personalize.get_paginator("list_dataset_groups").paginate(PaginationConfig={"PageSize": 2})
        for g in answer["datasetGroups"]
    ]
    assert {f"{prefix}-extra-{n}" for n in range(3)} | {group_name} <= set(names)
    assert len(names) == len(set(names)), "no group twice across pages"
    with pytest.raises(ClientError, match="InvalidNextTokenException"):
        personalize.list_dataset_groups(nextToken=page["nextToken"][:-4] + "AAAA")
    recipes = personalize.list_recipes()["recipes"]
    assert "arn:aws:personalize:::recipe/aws-sims" in {r["recipeArn"] for r in recipes}
    recipe = personalize.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-sims")["recipe"]
    assert recipe["recipeType"] == "RELATED_ITEMS"

    # tags
    personalize.tag_resource(resourceArn=deployed.campaign_arn, tags=[{"tagKey": "team", "tagValue": "growth"}])
    assert personalize.list_tags_for_resource(resourceArn=deployed.campaign_arn)["tags"] == [
        {"tagKey": "team", "tagValue": "growth"}
    ]
    personalize.untag_resource(resourceArn=deployed.campaign_arn, tagKeys=["team"])
    assert personalize.list_tags_for_resource(resourceArn=deployed.campaign_arn)["tags"] == []

    # modeled errors
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException, match="already exists"):
        personalize.create_dataset_group(name=group_name)
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="still has"):
        personalize.delete_dataset_group(datasetGroupArn=deployed.group_arn)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException, match="no campaign"):
        runtime.get_recommendations(campaignArn=deployed.campaign_arn + "-gone", userId="u0001")

    # a second campaign of the same version: UpdateCampaign, then DeleteCampaign stops serving it
    extra = personalize.create_campaign(name=f"{prefix}-second", solutionVersionArn=deployed.version_arn)["campaignArn"]
    assert (
        wait_for(lambda: personalize.describe_campaign(campaignArn=extra)["campaign"], "campaign")["status"] == "ACTIVE"
    )
    assert runtime.get_recommendations(campaignArn=extra, userId="u0003", numResults=2)["itemList"]
    personalize.update_campaign(campaignArn=extra, campaignConfig={"syncWithLatestSolutionVersion": True})
    updated = personalize.describe_campaign(campaignArn=extra)["campaign"]
    assert updated["campaignConfig"]["syncWithLatestSolutionVersion"] is True
    personalize.delete_campaign(campaignArn=extra)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException, match="no campaign"):
        runtime.get_recommendations(campaignArn=extra, userId="u0001")
    assert runtime.get_recommendations(campaignArn=deployed.campaign_arn, userId="u0001", numResults=2)["itemList"]
