"""The catalog keeps resources with Personalize's lifecycle on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time

import pytest

from recsmith.catalog import CampaignMove, Catalog, Resource, ResourceType, Status
from recsmith.errors import ResourceAlreadyExistsError, ResourceNotFoundError

ARN = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"


def group(name: str = "shop") -> Resource:
    arn = ARN.replace("shop", name)
    return Resource(arn=arn, resource_type=ResourceType.DATASET_GROUP, name=name, dataset_group_arn=arn)


def test_create_get_by_arn_or_name_update_delete(database_url: str) -> None:
    catalog = Catalog(database_url)
    catalog.create(group())
    assert catalog.get(ResourceType.DATASET_GROUP, ARN).name == "shop"
    assert catalog.get(ResourceType.DATASET_GROUP, "shop").arn == ARN
    updated = catalog.update(group(), status=Status.CREATE_FAILED, failure_reason="why", attributes={"k": 1})
    assert updated.status is Status.CREATE_FAILED and updated.attributes == {"k": 1}
    assert catalog.get(ResourceType.DATASET_GROUP, "shop").failure_reason == "why"
    assert catalog.get(ResourceType.DATASET_GROUP, "shop").describe()["datasetGroupArn"] == ARN
    catalog.delete(ResourceType.DATASET_GROUP, "shop")
    with pytest.raises(ResourceNotFoundError, match="no dataset-group with ARN or name 'shop'"):
        catalog.get(ResourceType.DATASET_GROUP, "shop")
    catalog.dispose()


def test_duplicate_names_are_refused(database_url: str) -> None:
    catalog = Catalog(database_url)
    catalog.create(group())
    with pytest.raises(ResourceAlreadyExistsError, match="already exists"):
        catalog.create(group())
    catalog.dispose()


def test_list_filters_by_group_and_attributes_and_moves_are_kept(database_url: str) -> None:
    catalog = Catalog(database_url)
    catalog.create(group("a"))
    catalog.create(group("b"))
    assert [r.name for r in catalog.list(ResourceType.DATASET_GROUP)] == ["a", "b"]
    assert [r.name for r in catalog.list(ResourceType.DATASET_GROUP, dataset_group_arn=ARN.replace("shop", "b"))] == [
        "b"
    ]
    move = CampaignMove(campaign_arn="c", at=time.time(), actor="me", from_version=None, to_version="v1", reason="x")
    catalog.record_campaign_move(move)
    catalog.record_campaign_move(move.model_copy(update={"from_version": "v1", "to_version": "v2"}))
    assert [m.to_version for m in catalog.campaign_moves("c")] == ["v1", "v2"]
    catalog.dispose()
