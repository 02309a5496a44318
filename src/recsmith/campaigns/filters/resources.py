"""Filter resources: create (parsed, and its fields checked against the group's schemas) and delete."""

from __future__ import annotations

from recsmith.arns import validate_name
from recsmith.campaigns.filters.grammar import FilterExpression, parse_filter_expression
from recsmith.catalog import Resource, ResourceType
from recsmith.errors import FilterExpressionError
from recsmith.platform import Platform


# --------------------------------------------------------------- resources
def create_filter(platform: Platform, name: str, dataset_group: str, filter_expression: str) -> Resource:
    """A filter of a dataset group; the expression is parsed (and rejected) now, as Personalize does."""
    validate_name(name, "filter")
    group = platform.catalog.get(ResourceType.DATASET_GROUP, dataset_group)
    check_filter_fields(platform, group.arn, parse_filter_expression(filter_expression))
    return platform.create_resource(
        ResourceType.FILTER,
        name,
        dataset_group_arn=group.arn,
        attributes={"filterExpression": filter_expression},
    )


def check_filter_fields(platform: Platform, group_arn: str, parsed: FilterExpression) -> None:
    """Refuse what Personalize refuses about fields: unknown ones, textual or boolean ones, and <, <=, >, >= on
    a field that is not numeric. Datasets not created yet are checked when the filter is applied."""
    from recsmith.data.datasets import dataset_schema, find_dataset
    from recsmith.data.schemas import DatasetType

    schemas = {}
    for dataset, kind in (("Items", DatasetType.ITEMS), ("CurrentUser", DatasetType.USERS)):
        found = find_dataset(platform, group_arn, kind)
        if found is not None:
            schemas[dataset] = (kind, dataset_schema(platform, found))
    comparisons = {
        (c.dataset, c.field): c.op
        for e in parsed.expressions
        for c in [c for group in e.where for c in group] + list(e.condition_if)
        if c.op in ("<", "<=", ">", ">=")
    }
    for dataset, name in parsed.fields:
        if dataset not in schemas:
            continue
        kind, schema = schemas[dataset]
        field = next((f for f in schema.fields if f.name.upper() == name.upper()), None)
        where = f"filter expression: {dataset}.{name}"
        if field is None:
            raise FilterExpressionError(
                f"{where}: the {kind.value} schema {schema.name!r} has no such field "
                f"(its fields: {', '.join(schema.field_names)})"
            )
        if field.textual:
            raise FilterExpressionError(f"{where}: textual fields cannot be filtered on (as in Personalize)")
        if field.type == "boolean":
            raise FilterExpressionError(
                f'{where}: boolean fields cannot be filtered on (as in Personalize); use a string field with "True" '
                'and "False"'
            )
        op = comparisons.get((dataset, name))
        if op is not None and field.type == "string":
            raise FilterExpressionError(f"{where}: {op} needs a numeric field; {field.name} is a string")


def delete_filter(platform: Platform, filter_arn: str) -> Resource:
    return platform.catalog.delete(ResourceType.FILTER, filter_arn)
