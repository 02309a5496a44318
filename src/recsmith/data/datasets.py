"""Dataset groups, schemas and datasets: the containers an import fills."""

from __future__ import annotations

from pathlib import Path

from recsmith.arns import make_arn, validate_name
from recsmith.catalog import Resource, ResourceType
from recsmith.data.schemas import DatasetSchema, DatasetType, parse_schema
from recsmith.errors import ResourceAlreadyExistsError, ResourceInUseError, SchemaError
from recsmith.platform import Platform


def create_dataset_group(platform: Platform, name: str) -> Resource:
    """A new, empty dataset group: the namespace of everything else."""
    validate_name(name, "dataset group")
    arn = make_arn(platform.settings, ResourceType.DATASET_GROUP, name)
    return platform.catalog.create(
        Resource(arn=arn, resource_type=ResourceType.DATASET_GROUP, name=name, dataset_group_arn=arn)
    )


def create_schema(platform: Platform, name: str, schema_json: str) -> Resource:
    """Register an Avro schema after checking it as Personalize would."""
    validate_name(name, "schema")
    parsed = parse_schema(schema_json)
    arn = make_arn(platform.settings, ResourceType.SCHEMA, name)
    return platform.catalog.create(
        Resource(arn=arn, resource_type=ResourceType.SCHEMA, name=name, attributes={"schema": parsed.source})
    )


def load_schema(platform: Platform, schema_arn_or_name: str) -> DatasetSchema:
    """The parsed schema of a registered schema resource."""
    resource = platform.catalog.get(ResourceType.SCHEMA, schema_arn_or_name)
    return parse_schema(resource.attributes["schema"])


def create_dataset(platform: Platform, name: str, dataset_group: str, dataset_type: str, schema: str) -> Resource:
    """A dataset of ``dataset_type`` in a group, bound to a schema that fits the type; one per type per group."""
    validate_name(name, "dataset")
    group = platform.catalog.get(ResourceType.DATASET_GROUP, dataset_group)
    kind = DatasetType.parse(dataset_type)
    schema_resource = platform.catalog.get(ResourceType.SCHEMA, schema)
    parse_schema(schema_resource.attributes["schema"]).check_for(kind)
    arn = make_arn(platform.settings, ResourceType.DATASET, f"{group.name}/{kind.value}")
    if platform.catalog.find(ResourceType.DATASET, arn):
        raise ResourceAlreadyExistsError(f"dataset group {group.name!r} already has a {kind.value} dataset")
    return platform.catalog.create(
        Resource(
            arn=arn,
            resource_type=ResourceType.DATASET,
            name=name,
            dataset_group_arn=group.arn,
            attributes={"datasetType": kind.value, "schemaArn": schema_resource.arn, "dataVersion": None},
        )
    )


def update_dataset(platform: Platform, dataset: str, schema: str) -> Resource:
    """Bind ``dataset`` to a new schema that only adds nullable fields (Personalize's UpdateDataset).

    The data already imported stays valid as it is: its rows read the added fields as null, and the next
    import writes them.
    """
    target = platform.catalog.get(ResourceType.DATASET, dataset)
    schema_resource = platform.catalog.get(ResourceType.SCHEMA, schema)
    new = parse_schema(schema_resource.attributes["schema"])
    new.check_for(DatasetType(target.attributes["datasetType"]))
    dataset_schema(platform, target).check_update(new)
    return platform.catalog.update(target, attributes={"schemaArn": schema_resource.arn})


def find_dataset(platform: Platform, dataset_group_arn: str, dataset_type: DatasetType) -> Resource | None:
    """The group's dataset of a type, if it has one."""
    group = platform.catalog.get(ResourceType.DATASET_GROUP, dataset_group_arn)
    arn = make_arn(platform.settings, ResourceType.DATASET, f"{group.name}/{dataset_type.value}")
    return platform.catalog.find(ResourceType.DATASET, arn)


def dataset_folder(platform: Platform, dataset: Resource) -> Path:
    """Where the data versions of a dataset live."""
    group_name = dataset.arn.rsplit("/", 2)[-2]
    return platform.settings.data_root / group_name / dataset.attributes["datasetType"]


def delete_dataset_group(platform: Platform, dataset_group: str) -> Resource:
    """Delete an empty dataset group; as in Personalize, its datasets, trackers and solutions go first."""
    group = platform.catalog.get(ResourceType.DATASET_GROUP, dataset_group)
    dependant_types = (
        ResourceType.DATASET,
        ResourceType.EVENT_TRACKER,
        ResourceType.FILTER,
        ResourceType.SOLUTION,
        ResourceType.CAMPAIGN,
    )
    for kind in dependant_types:
        dependants = platform.catalog.list(kind, dataset_group_arn=group.arn)
        if dependants:
            raise ResourceInUseError(
                f"dataset group {group.name!r} still has {kind.value} {dependants[0].name!r}; delete it first"
            )
    return platform.catalog.delete(ResourceType.DATASET_GROUP, group.arn)


def dataset_schema(platform: Platform, dataset: Resource) -> DatasetSchema:
    """The schema a dataset is bound to."""
    schema = platform.catalog.get(ResourceType.SCHEMA, dataset.attributes["schemaArn"])
    try:
        return parse_schema(schema.attributes["schema"])
    except SchemaError as exc:  # a schema stored before a rule changed
        raise SchemaError(f"schema {schema.name!r} of dataset {dataset.name!r}: {exc}") from exc
