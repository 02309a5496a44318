"""Personalize's control plane (``AmazonPersonalize.<Operation>``): thin handlers over the CLI's core functions.

Each handler translates Personalize's request members into the core function's arguments and the core's
:class:`~recsmith.catalog.Resource` into Personalize's response members; the dispatcher has already checked
the input against the model (:mod:`recsmith.api.validation`) and shapes the answer by the output model
(:mod:`recsmith.api.shapes`), so a handler only renames what differs (``name`` is ``jobName`` for jobs, our
solution config is Personalize's ``solutionConfig``...). Tenancy is checked on every resource a call names
(:mod:`recsmith.api.tenancy`). Long operations (imports, exports, trainings, batch jobs) are recorded CREATE
PENDING by the core's ``start_*`` function and handed to the job executor (``platform.jobs.submit``; the pool runs
in ``recsmith serve``'s main process), so the call returns at once, as Personalize's does; ``Describe*`` and
``List*`` first end any job whose worker died (:func:`~recsmith.jobs.lifecycle.refresh_job`). :data:`HANDLERS`
is the table of operations this server claims.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recsmith.api import recipes, tenancy
from recsmith.api.context import Call, Handler
from recsmith.arns import make_arn
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import InvalidInputError, ResourceInUseError, ResourceNotFoundError

HANDLERS: dict[str, Handler] = {}

_JOB_TYPES = (ResourceType.DATASET_IMPORT_JOB, ResourceType.DATASET_EXPORT_JOB, ResourceType.BATCH_INFERENCE_JOB)


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[name] = handler
        return handler

    return register


# ------------------------------------------------------------------ helpers
def _get(call: Call, resource_type: ResourceType, arn: str) -> Resource:
    return tenancy.get_owned(call.platform, call.key, resource_type, arn)


def _job(call: Call, resource_type: ResourceType, arn: str) -> Resource:
    """A job resource as it truly stands (one whose worker died is ended CREATE FAILED first)."""
    from recsmith.jobs.lifecycle import refresh_job

    return refresh_job(call.platform, _get(call, resource_type, arn))


def _submit(call: Call, job: Resource, params: dict[str, Any]) -> str:
    """Hand a CREATE PENDING job to the executor and tag it; its ARN."""
    from recsmith.jobs import JobKind

    call.platform.jobs.submit(JobKind(job.resource_type.value), job.arn)
    _tags(call, job, params)
    return job.arn


def _describe(resource: Resource) -> dict[str, Any]:
    """The catalog's description with Personalize's member names where ours differ."""
    out = resource.describe()
    out.pop("owner", None)
    if resource.resource_type in _JOB_TYPES:
        out["jobName"] = out.pop("name")
    if resource.resource_type in (ResourceType.SOLUTION, ResourceType.SOLUTION_VERSION):
        config = out.get("solutionConfig")
        if isinstance(config, dict) and "perform_automl" in config:
            out["solutionConfig"] = _personalize_solution_config(config)
            out.setdefault("eventType", config.get("event_type"))
    if resource.resource_type is ResourceType.SOLUTION_VERSION:
        out["solutionVersionArn"] = resource.arn
    if resource.resource_type is ResourceType.CAMPAIGN:
        out["campaignConfig"] = {"syncWithLatestSolutionVersion": out.get("updateMode") == "AUTO"}
        latest = out.get("latestCampaignUpdate")
        if isinstance(latest, dict):
            out["latestCampaignUpdate"] = {**latest, "campaignConfig": out["campaignConfig"]}
    return out


def _personalize_solution_config(config: dict[str, Any]) -> dict[str, Any]:
    """Our stored :class:`~recsmith.training.solutions.SolutionConfig` as Personalize's ``solutionConfig``."""
    objective = config.get("objective_metric")
    out: dict[str, Any] = {}
    if config.get("event_value_threshold") is not None:
        out["eventValueThreshold"] = str(config["event_value_threshold"])
    if config.get("hyperparameters"):
        out["algorithmHyperParameters"] = {k: str(v) for k, v in config["hyperparameters"].items()}
    if config.get("perform_automl"):
        out["autoMLConfig"] = {
            "metricName": objective,
            "recipeList": [recipes.recipe_arn(r) for r in config.get("automl_recipes", [])],
        }
    if config.get("perform_hpo"):
        resources = {"maxNumberOfTrainingJobs": str(config.get("hpo_trials"))}
        if config.get("max_parallel_jobs"):
            resources["maxParallelTrainingJobs"] = str(config["max_parallel_jobs"])
        out["hpoConfig"] = {
            "hpoObjective": {"type": "Maximize", "metricName": objective},
            "hpoResourceConfig": resources,
        }
    return out


def _tags(call: Call, resource: Resource, params: dict[str, Any]) -> None:
    tags = params.get("tags")
    if tags:
        _store_tags(call, resource, {t["tagKey"]: t["tagValue"] for t in tags})


def _store_tags(call: Call, resource: Resource, tags: dict[str, str]) -> None:
    call.platform.catalog.update(resource, attributes={"tags": [{"tagKey": k, "tagValue": v} for k, v in tags.items()]})


def _list(call: Call, params: dict[str, Any], key: str, resources: list[Resource]) -> dict[str, Any]:
    from recsmith.jobs.lifecycle import refresh_job

    page, token = call.state.paginator.page(call.operation, params, tenancy.visible(call.key, resources))
    page = [refresh_job(call.platform, r) for r in page]
    out: dict[str, Any] = {key: [_describe(r) for r in page]}
    if token:
        out["nextToken"] = token
    return out


def _group_filter(call: Call, params: dict[str, Any]) -> str | None:
    group = params.get("datasetGroupArn")
    if not group:
        return None
    return _get(call, ResourceType.DATASET_GROUP, group).arn


def _created(call: Call, resource: Resource, params: dict[str, Any], key: str) -> dict[str, Any]:
    _tags(call, resource, params)
    return {key: resource.arn}


# ----------------------------------------------------------- dataset groups
@operation("CreateDatasetGroup")
def create_dataset_group(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.data.datasets import create_dataset_group

    arn = make_arn(call.platform.settings, ResourceType.DATASET_GROUP, params["name"])
    tenancy.require_group(call.key, arn, f"dataset group {params['name']!r}")
    return _created(call, create_dataset_group(call.platform, params["name"]), params, "datasetGroupArn")


@operation("DescribeDatasetGroup")
def describe_dataset_group(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"datasetGroup": _describe(_get(call, ResourceType.DATASET_GROUP, params["datasetGroupArn"]))}


@operation("ListDatasetGroups")
def list_dataset_groups(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return _list(call, params, "datasetGroups", call.platform.catalog.list(ResourceType.DATASET_GROUP))


@operation("DeleteDatasetGroup")
def delete_dataset_group(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.data.datasets import delete_dataset_group

    delete_dataset_group(call.platform, _get(call, ResourceType.DATASET_GROUP, params["datasetGroupArn"]).arn)
    return {}


# ------------------------------------------------------------------ schemas
@operation("CreateSchema")
def create_schema(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.data.datasets import create_schema

    schema = create_schema(call.platform, params["name"], params["schema"])
    if not call.key.is_admin:  # a tenant's schema is its own (see recsmith.api.tenancy)
        schema = call.platform.catalog.update(schema, attributes={tenancy.SCHEMA_TENANT: call.key.dataset_group_arn})
    return _created(call, schema, params, "schemaArn")


@operation("DescribeSchema")
def describe_schema(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"schema": _describe(_get(call, ResourceType.SCHEMA, params["schemaArn"]))}


@operation("ListSchemas")
def list_schemas(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return _list(call, params, "schemas", call.platform.catalog.list(ResourceType.SCHEMA))


@operation("DeleteSchema")
def delete_schema(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    schema = _get(call, ResourceType.SCHEMA, params["schemaArn"])
    users = call.platform.catalog.list(ResourceType.DATASET, where={"schemaArn": schema.arn})
    if users:
        raise ResourceInUseError(f"schema {schema.name!r} is used by dataset {users[0].arn}; delete it first")
    call.platform.catalog.delete(ResourceType.SCHEMA, schema.arn)
    return {}


# ----------------------------------------------------------------- datasets
@operation("CreateDataset")
def create_dataset(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.data.datasets import create_dataset

    group = _get(call, ResourceType.DATASET_GROUP, params["datasetGroupArn"])
    schema = _get(call, ResourceType.SCHEMA, params["schemaArn"])
    dataset = create_dataset(call.platform, params["name"], group.arn, params["datasetType"], schema.arn)
    return _created(call, dataset, params, "datasetArn")


@operation("DescribeDataset")
def describe_dataset(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"dataset": _describe(_get(call, ResourceType.DATASET, params["datasetArn"]))}


@operation("ListDatasets")
def list_datasets(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    group = _group_filter(call, params)
    return _list(call, params, "datasets", call.platform.catalog.list(ResourceType.DATASET, dataset_group_arn=group))


@operation("UpdateDataset")
def update_dataset(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.data.datasets import update_dataset

    dataset = _get(call, ResourceType.DATASET, params["datasetArn"])
    schema = _get(call, ResourceType.SCHEMA, params["schemaArn"])
    return {"datasetArn": update_dataset(call.platform, dataset.arn, schema.arn).arn}


@operation("DeleteDataset")
def delete_dataset(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    dataset = _get(call, ResourceType.DATASET, params["datasetArn"])
    call.platform.catalog.delete(ResourceType.DATASET, dataset.arn)
    return {}


# ---------------------------------------------------- import and export jobs
@operation("CreateDatasetImportJob")
def create_dataset_import_job(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.data.imports import start_dataset_import_job

    dataset = _get(call, ResourceType.DATASET, params["datasetArn"])
    location = params["dataSource"].get("dataLocation")
    if not location:
        raise InvalidInputError("dataSource.dataLocation is required: a local path or s3://bucket/key")
    mode = params.get("importMode") or "FULL"
    job = start_dataset_import_job(call.platform, params["jobName"], dataset.arn, location, mode)
    return {"datasetImportJobArn": _submit(call, job, params)}


@operation("DescribeDatasetImportJob")
def describe_dataset_import_job(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    job = _job(call, ResourceType.DATASET_IMPORT_JOB, params["datasetImportJobArn"])
    return {"datasetImportJob": _describe(job)}


@operation("ListDatasetImportJobs")
def list_dataset_import_jobs(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    where = (
        {"datasetArn": _get(call, ResourceType.DATASET, params["datasetArn"]).arn} if params.get("datasetArn") else None
    )
    jobs = call.platform.catalog.list(ResourceType.DATASET_IMPORT_JOB, where=where)
    return _list(call, params, "datasetImportJobs", jobs)


@operation("CreateDatasetExportJob")
def create_dataset_export_job(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.data.export import start_dataset_export_job

    dataset = _get(call, ResourceType.DATASET, params["datasetArn"])
    output = params["jobOutput"]["s3DataDestination"]["path"]
    mode = params.get("ingestionMode") or "PUT"
    job = start_dataset_export_job(call.platform, params["jobName"], dataset.arn, output, mode)
    return {"datasetExportJobArn": _submit(call, job, params)}


@operation("DescribeDatasetExportJob")
def describe_dataset_export_job(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    job = _job(call, ResourceType.DATASET_EXPORT_JOB, params["datasetExportJobArn"])
    return {"datasetExportJob": _describe(job)}


@operation("ListDatasetExportJobs")
def list_dataset_export_jobs(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    where = (
        {"datasetArn": _get(call, ResourceType.DATASET, params["datasetArn"]).arn} if params.get("datasetArn") else None
    )
    jobs = call.platform.catalog.list(ResourceType.DATASET_EXPORT_JOB, where=where)
    return _list(call, params, "datasetExportJobs", jobs)


# ----------------------------------------------------------- event trackers
@operation("CreateEventTracker")
def create_event_tracker(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.events.tracker import create_event_tracker

    group = _get(call, ResourceType.DATASET_GROUP, params["datasetGroupArn"])
    tracker = create_event_tracker(call.platform, params["name"], group.arn)
    _tags(call, tracker, params)
    return {"eventTrackerArn": tracker.arn, "trackingId": tracker.attributes["trackingId"]}


@operation("DescribeEventTracker")
def describe_event_tracker(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"eventTracker": _describe(_get(call, ResourceType.EVENT_TRACKER, params["eventTrackerArn"]))}


@operation("ListEventTrackers")
def list_event_trackers(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    group = _group_filter(call, params)
    trackers = call.platform.catalog.list(ResourceType.EVENT_TRACKER, dataset_group_arn=group)
    return _list(call, params, "eventTrackers", trackers)


@operation("DeleteEventTracker")
def delete_event_tracker(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    tracker = _get(call, ResourceType.EVENT_TRACKER, params["eventTrackerArn"])
    call.platform.catalog.delete(ResourceType.EVENT_TRACKER, tracker.arn)
    return {}


# ------------------------------------------------------------------ filters
@operation("CreateFilter")
def create_filter(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.campaigns.filters import create_filter

    group = _get(call, ResourceType.DATASET_GROUP, params["datasetGroupArn"])
    created = create_filter(call.platform, params["name"], group.arn, params["filterExpression"])
    return _created(call, created, params, "filterArn")


@operation("DescribeFilter")
def describe_filter(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"filter": _describe(_get(call, ResourceType.FILTER, params["filterArn"]))}


@operation("ListFilters")
def list_filters(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    group = _group_filter(call, params)
    return _list(call, params, "Filters", call.platform.catalog.list(ResourceType.FILTER, dataset_group_arn=group))


@operation("DeleteFilter")
def delete_filter(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.campaigns.filters.resources import delete_filter

    delete_filter(call.platform, _get(call, ResourceType.FILTER, params["filterArn"]).arn)
    return {}


# -------------------------------------------------------- recipes, solutions
@operation("ListRecipes")
def list_recipes(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    found = recipes.list_recipes()
    page, token = call.state.paginator.page(call.operation, params, found)
    return {"recipes": page, **({"nextToken": token} if token else {})}


@operation("DescribeRecipe")
def describe_recipe(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"recipe": recipes.describe_recipe(params["recipeArn"])}


def solution_config_values(params: dict[str, Any]) -> dict[str, Any]:
    """:class:`~recsmith.training.solutions.SolutionConfig` fields from CreateSolution's members."""
    from recsmith.training.solutions import from_personalize_solution_config

    values: dict[str, Any] = {
        "recipe": recipes.recipe_id_of(params["recipeArn"]) if params.get("recipeArn") else None,
        "perform_automl": bool(params.get("performAutoML")),
        "perform_hpo": bool(params.get("performHPO")),
    }
    if params.get("eventType"):
        values["event_type"] = params["eventType"]
    config = dict(params.get("solutionConfig") or {})
    automl = dict(config.get("autoMLConfig") or {})
    if "recipeList" in automl:
        automl["recipeList"] = [recipes.recipe_id_of(r) for r in automl["recipeList"]]
        config["autoMLConfig"] = automl
    values.update(from_personalize_solution_config(config))
    return values


@operation("CreateSolution")
def create_solution(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.training.solutions import create_solution, parse_solution_config

    group = _get(call, ResourceType.DATASET_GROUP, params["datasetGroupArn"])
    config = parse_solution_config(solution_config_values(params))
    return _created(call, create_solution(call.platform, params["name"], group.arn, config), params, "solutionArn")


@operation("DescribeSolution")
def describe_solution(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"solution": _describe(_get(call, ResourceType.SOLUTION, params["solutionArn"]))}


@operation("ListSolutions")
def list_solutions(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    group = _group_filter(call, params)
    return _list(call, params, "solutions", call.platform.catalog.list(ResourceType.SOLUTION, dataset_group_arn=group))


@operation("DeleteSolution")
def delete_solution(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    solution = _get(call, ResourceType.SOLUTION, params["solutionArn"])
    campaigns = call.platform.catalog.list(ResourceType.CAMPAIGN, where={"solutionArn": solution.arn})
    if campaigns:
        raise ResourceInUseError(f"solution {solution.name!r} is deployed as campaign {campaigns[0].arn}")
    call.platform.catalog.delete(ResourceType.SOLUTION, solution.arn)
    return {}


@operation("CreateSolutionVersion")
def create_solution_version(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.training.versions import start_solution_version

    solution = _get(call, ResourceType.SOLUTION, params["solutionArn"])
    version = start_solution_version(call.platform, solution.arn, params.get("trainingMode") or "FULL")
    return {"solutionVersionArn": _submit(call, version, params)}


@operation("DescribeSolutionVersion")
def describe_solution_version(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    version = _job(call, ResourceType.SOLUTION_VERSION, params["solutionVersionArn"])
    out = _describe(version)
    solution = call.platform.catalog.find(ResourceType.SOLUTION, version.attributes["solutionArn"])
    if solution is not None:  # the configuration it was trained with, as Personalize repeats it
        for key, value in _describe(solution).items():
            if key in ("performHPO", "performAutoML", "solutionConfig", "eventType") or (
                key == "recipeArn" and not out.get("recipeArn")
            ):
                out.setdefault(key, value)
    return {"solutionVersion": out}


@operation("ListSolutionVersions")
def list_solution_versions(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    where = None
    if params.get("solutionArn"):
        where = {"solutionArn": _get(call, ResourceType.SOLUTION, params["solutionArn"]).arn}
    versions = call.platform.catalog.list(ResourceType.SOLUTION_VERSION, where=where)
    return _list(call, params, "solutionVersions", versions)


@operation("GetSolutionMetrics")
def get_solution_metrics(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    version = _get(call, ResourceType.SOLUTION_VERSION, params["solutionVersionArn"])
    if version.status is not Status.ACTIVE:
        raise ResourceInUseError(f"solution version {version.arn} is {version.status.value}; it has no metrics yet")
    metrics = {k: v for k, v in (version.attributes.get("metrics") or {}).items() if isinstance(v, int | float)}
    return {"solutionVersionArn": version.arn, "metrics": metrics}


@operation("StopSolutionVersionCreation")
def stop_solution_version_creation(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.jobs import JobKind

    version = _get(call, ResourceType.SOLUTION_VERSION, params["solutionVersionArn"])
    call.platform.jobs.stop(JobKind.SOLUTION_VERSION, version.arn)
    return {}


# ---------------------------------------------------------------- campaigns
def _campaign_target(call: Call, arn: str) -> tuple[str | None, str | None]:
    """``(solution version, solution)``: a campaign may name either (a solution ARN follows its versions)."""
    version = call.platform.catalog.find(ResourceType.SOLUTION_VERSION, arn)
    if version is not None:
        return tenancy.require(call.key, version).arn, None
    solution = call.platform.catalog.find(ResourceType.SOLUTION, arn)
    if solution is not None:
        return None, tenancy.require(call.key, solution).arn
    raise ResourceNotFoundError(f"no solution version or solution {arn!r}")


@operation("CreateCampaign")
def create_campaign(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.campaigns.campaigns import create_campaign

    version, solution = _campaign_target(call, params["solutionVersionArn"])
    sync = bool((params.get("campaignConfig") or {}).get("syncWithLatestSolutionVersion")) or solution is not None
    campaign = create_campaign(
        call.platform,
        params["name"],
        solution_version=version,
        solution=solution,
        update_mode="AUTO" if sync else "MANUAL",
        actor="CreateCampaign",
    )
    if params.get("minProvisionedTPS"):
        campaign = call.platform.catalog.update(campaign, attributes={"minProvisionedTPS": params["minProvisionedTPS"]})
    _tags(call, campaign, params)
    call.state.campaigns.deploy(campaign.arn)
    return {"campaignArn": campaign.arn}


@operation("DescribeCampaign")
def describe_campaign(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"campaign": _describe(_get(call, ResourceType.CAMPAIGN, params["campaignArn"]))}


@operation("ListCampaigns")
def list_campaigns(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    where = None
    if params.get("solutionArn"):
        where = {"solutionArn": _get(call, ResourceType.SOLUTION, params["solutionArn"]).arn}
    return _list(call, params, "campaigns", call.platform.catalog.list(ResourceType.CAMPAIGN, where=where))


@operation("UpdateCampaign")
def update_campaign(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.campaigns.campaigns import update_campaign

    campaign = _get(call, ResourceType.CAMPAIGN, params["campaignArn"])
    version = None
    if params.get("solutionVersionArn"):
        version, solution = _campaign_target(call, params["solutionVersionArn"])
        if solution is not None:
            version = None
    config = params.get("campaignConfig") or {}
    sync = config.get("syncWithLatestSolutionVersion")
    mode = None if sync is None else ("AUTO" if sync else "MANUAL")
    if version is not None or mode is not None:
        campaign = update_campaign(
            call.platform, campaign.arn, solution_version=version, update_mode=mode, actor="UpdateCampaign"
        )
    if params.get("minProvisionedTPS"):
        campaign = call.platform.catalog.update(campaign, attributes={"minProvisionedTPS": params["minProvisionedTPS"]})
    call.state.campaigns.nudge(campaign.arn)
    return {"campaignArn": campaign.arn}


@operation("DeleteCampaign")
def delete_campaign(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.campaigns.campaigns import delete_campaign

    campaign = _get(call, ResourceType.CAMPAIGN, params["campaignArn"])
    delete_campaign(call.platform, campaign.arn)
    call.state.campaigns.drop(campaign.arn)
    return {}


# ------------------------------------------------------ batch inference jobs
@operation("CreateBatchInferenceJob")
def create_batch_inference_job(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    from recsmith.campaigns.batch import start_batch_inference_job

    version = _get(call, ResourceType.SOLUTION_VERSION, params["solutionVersionArn"])
    filter_arn = _get(call, ResourceType.FILTER, params["filterArn"]).arn if params.get("filterArn") else None
    job = start_batch_inference_job(
        call.platform,
        params["jobName"],
        version.arn,
        params["jobInput"]["s3DataSource"]["path"],
        params["jobOutput"]["s3DataDestination"]["path"],
        params.get("numResults") or 25,
        filter_arn=filter_arn,
    )
    return {"batchInferenceJobArn": _submit(call, job, params)}


@operation("DescribeBatchInferenceJob")
def describe_batch_inference_job(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    job = _job(call, ResourceType.BATCH_INFERENCE_JOB, params["batchInferenceJobArn"])
    return {"batchInferenceJob": _describe(job)}


@operation("ListBatchInferenceJobs")
def list_batch_inference_jobs(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    where = None
    if params.get("solutionVersionArn"):
        where = {"solutionVersionArn": _get(call, ResourceType.SOLUTION_VERSION, params["solutionVersionArn"]).arn}
    jobs = call.platform.catalog.list(ResourceType.BATCH_INFERENCE_JOB, where=where)
    return _list(call, params, "batchInferenceJobs", jobs)


# --------------------------------------------------------------------- tags
def resource_for_arn(call: Call, arn: str) -> Resource:
    """Any resource by its ARN: the type is in the ARN (``solution/<name>/<id>`` is a solution version)."""
    try:
        kind, _, rest = arn.split(":", 5)[5].partition("/")
        resource_type = ResourceType(kind)
    except (IndexError, ValueError):
        raise ResourceNotFoundError(f"no resource with ARN {arn!r}") from None
    if resource_type is ResourceType.SOLUTION and "/" in rest:
        resource_type = ResourceType.SOLUTION_VERSION
    resource = call.platform.catalog.find(resource_type, arn)
    if resource is None or resource.arn != arn:
        raise ResourceNotFoundError(f"no resource with ARN {arn!r}")
    return tenancy.require(call.key, resource)


def _current_tags(resource: Resource) -> dict[str, str]:
    return {t["tagKey"]: t["tagValue"] for t in resource.attributes.get("tags") or []}


@operation("TagResource")
def tag_resource(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    resource = resource_for_arn(call, params["resourceArn"])
    tags = {**_current_tags(resource), **{t["tagKey"]: t["tagValue"] for t in params["tags"]}}
    if len(tags) > 200:
        raise InvalidInputError(f"a resource has at most 200 tags; {resource.arn} would have {len(tags)}")
    _store_tags(call, resource, tags)
    return {}


@operation("UntagResource")
def untag_resource(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    resource = resource_for_arn(call, params["resourceArn"])
    drop = set(params["tagKeys"])
    _store_tags(call, resource, {k: v for k, v in _current_tags(resource).items() if k not in drop})
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    resource = resource_for_arn(call, params["resourceArn"])
    return {"tags": [{"tagKey": k, "tagValue": v} for k, v in _current_tags(resource).items()]}
