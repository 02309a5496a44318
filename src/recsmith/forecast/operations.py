"""Amazon Forecast's API operations over the core: ``(platform, request) -> response`` in botocore's
``forecast`` and ``forecastquery`` JSON shapes, one function per operation, in two tables by operation name:
:data:`OPERATIONS` (``X-Amz-Target: AmazonForecast.<Operation>``) and :data:`RUNTIME_OPERATIONS`
(``AmazonForecastRuntime.<Operation>``); :data:`TARGETS` maps each target prefix to its table.

Each function checks what the request must hold, calls the typed core functions and shapes their answer; errors
are :mod:`recsmith.errors` classes whose ``code`` is Forecast's exception name. Long operations (imports,
predictors, forecasts, exports) record their resource CREATE_PENDING and hand it to :func:`submit`, the one seam
between the API and the executor: today it runs the job in this process before answering; the executor
(``recsmith.jobs``) replaces it by queueing the job by kind and ARN (:data:`JOB_RUNNERS` names the ``run_*``
function of each kind), so ``Describe*`` then shows CREATE_PENDING, CREATE_IN_PROGRESS and ACTIVE in turn.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from models.forecast.registry import algorithm_names, algorithm_of_arn
from recsmith.catalog import Resource, ResourceType
from recsmith.errors import InvalidInputError, InvalidNextTokenError, ResourceInUseError
from recsmith.forecast import lifecycle
from recsmith.forecast.datasets import (
    create_dataset,
    create_dataset_group,
    delete_dataset,
    delete_dataset_group,
    describe_dataset,
    describe_dataset_group,
    update_dataset_group,
)
from recsmith.forecast.forecasts import (
    delete_forecast,
    describe_forecast,
    describe_forecast_export_job,
    query_forecast,
    run_forecast,
    run_forecast_export_job,
    start_forecast,
    start_forecast_export_job,
    summarize_forecast,
    summarize_forecast_export_job,
)
from recsmith.forecast.imports import (
    describe_dataset_import_job,
    run_dataset_import_job,
    start_dataset_import_job,
    summarize_dataset_import_job,
)
from recsmith.forecast.predictors import (
    PredictorConfig,
    accuracy_metrics,
    delete_predictor,
    describe_legacy_predictor,
    describe_predictor,
    run_predictor,
    start_predictor,
    summarize_predictor,
)
from recsmith.forecast.resources import RUNNING, forecast_status, get, times
from recsmith.platform import Platform

Operation = Callable[[Platform, dict[str, Any]], dict[str, Any]]
JobRunner = Callable[[Platform, str], Resource]

JOB_RUNNERS: dict[ResourceType, JobRunner] = {
    ResourceType.FORECAST_DATASET_IMPORT_JOB: run_dataset_import_job,
    ResourceType.PREDICTOR: run_predictor,
    ResourceType.FORECAST: run_forecast,
    ResourceType.FORECAST_EXPORT_JOB: run_forecast_export_job,
}
"""The ``run_*`` function of each long operation's resource type: what an executor calls with the ARN."""


def submit(platform: Platform, resource_type: ResourceType, arn: str) -> None:
    """Run a CREATE_PENDING job. Here: at once, in this process; the executor replaces this to queue it."""
    JOB_RUNNERS[resource_type](platform, arn)


# ------------------------------------------------------------------ helpers
def _required(request: Mapping[str, Any], field: str) -> Any:
    value = request.get(field)
    if value is None or value == "":
        raise InvalidInputError(f"{field} is required")
    return value


def _s3_config(request: Mapping[str, Any], field: str) -> dict[str, Any]:
    config = (_required(request, field) or {}).get("S3Config")
    if not isinstance(config, dict) or not config.get("Path"):
        raise InvalidInputError(f"{field}.S3Config.Path is required")
    return config


def _page(items: Sequence[dict[str, Any]], request: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Forecast's pagination: ``MaxResults`` (1-100, default 100) a page, ``NextToken`` from the last answer."""
    size = request.get("MaxResults") or 100
    if not isinstance(size, int) or not 1 <= size <= 100:
        raise InvalidInputError("MaxResults must be an integer from 1 to 100")
    start = 0
    if request.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(str(request["NextToken"]).encode()).decode())
        except (ValueError, binascii.Error):
            raise InvalidNextTokenError("NextToken is not one this service returned") from None
    out: dict[str, Any] = {key: list(items[start : start + size])}
    if start + size < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


def _filtered(
    items: Sequence[dict[str, Any]], request: Mapping[str, Any], allowed: Sequence[str]
) -> list[dict[str, Any]]:
    """Forecast's list ``Filters``: ``[{"Key", "Value", "Condition": "IS" | "IS_NOT"}]``, all of them applied."""
    out = list(items)
    for item in request.get("Filters") or []:
        key, value, condition = item.get("Key"), item.get("Value"), item.get("Condition")
        if key not in allowed:
            raise InvalidInputError(f"Filters Key {key!r} is not allowed here; allowed: {', '.join(allowed)}")
        if condition not in ("IS", "IS_NOT"):
            raise InvalidInputError("Filters Condition must be IS or IS_NOT")
        out = [i for i in out if (i.get(key) == value) == (condition == "IS")]
    return out


def _listed(platform: Platform, resource_type: ResourceType) -> list[Resource]:
    if resource_type in lifecycle.JOB_TYPES:
        lifecycle.reap_interrupted_jobs(platform)
    return platform.catalog.list(resource_type)


def _described(platform: Platform, resource_type: ResourceType, arn: str, field: str) -> Resource:
    if resource_type in lifecycle.JOB_TYPES:
        lifecycle.reap_interrupted_jobs(platform)
    return get(platform, resource_type, arn, field)


def _holiday_country(data_config: Mapping[str, Any]) -> str | None:
    for dataset in data_config.get("AdditionalDatasets") or []:
        if dataset.get("Name") != "holiday":
            raise InvalidInputError(
                f"AdditionalDatasets {dataset.get('Name')!r} is not supported; supported: holiday (CountryCode)"
            )
        codes = (dataset.get("Configuration") or {}).get("CountryCode") or []
        if len(codes) != 1:
            raise InvalidInputError('the holiday dataset needs exactly one CountryCode, e.g. {"CountryCode": ["US"]}')
        return str(codes[0])
    return None


def _transformations(configs: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for config in configs or []:
        out.update({str(k): str(v) for k, v in (config.get("Transformations") or {}).items()})
    return out


def _config(**values: Any) -> PredictorConfig:
    try:
        return PredictorConfig(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInputError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc


# ----------------------------------------------------------- dataset groups
def create_dataset_group_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    group = create_dataset_group(
        platform,
        _required(request, "DatasetGroupName"),
        _required(request, "Domain"),
        request.get("DatasetArns") or [],
    )
    return {"DatasetGroupArn": group.arn}


def describe_dataset_group_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    group = get(platform, ResourceType.FORECAST_DATASET_GROUP, _required(request, "DatasetGroupArn"), "DatasetGroupArn")
    return describe_dataset_group(group)


def list_dataset_groups_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    groups = [
        {"DatasetGroupArn": g.arn, "DatasetGroupName": g.name, **times(g)}
        for g in platform.catalog.list(ResourceType.FORECAST_DATASET_GROUP)
    ]
    return _page(groups, request, "DatasetGroups")


def update_dataset_group_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    dataset_arns = request.get("DatasetArns")
    if dataset_arns is None:
        raise InvalidInputError("DatasetArns is required")
    update_dataset_group(platform, _required(request, "DatasetGroupArn"), dataset_arns)
    return {}


def delete_dataset_group_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    delete_dataset_group(platform, _required(request, "DatasetGroupArn"))
    return {}


# ----------------------------------------------------------------- datasets
def create_dataset_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    dataset = create_dataset(
        platform,
        _required(request, "DatasetName"),
        _required(request, "Domain"),
        _required(request, "DatasetType"),
        _required(request, "Schema"),
        request.get("DataFrequency"),
    )
    return {"DatasetArn": dataset.arn}


def describe_dataset_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    return describe_dataset(
        get(platform, ResourceType.FORECAST_DATASET, _required(request, "DatasetArn"), "DatasetArn")
    )


def list_datasets_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    datasets = [
        {
            "DatasetArn": d.arn,
            "DatasetName": d.name,
            "DatasetType": d.attributes["DatasetType"],
            "Domain": d.attributes["Domain"],
            **times(d),
        }
        for d in platform.catalog.list(ResourceType.FORECAST_DATASET)
    ]
    return _page(datasets, request, "Datasets")


def delete_dataset_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    delete_dataset(platform, _required(request, "DatasetArn"))
    return {}


# -------------------------------------------------------------- import jobs
def create_dataset_import_job_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    source = _s3_config(request, "DataSource")
    if request.get("UseGeolocationForTimeZone"):
        raise InvalidInputError("UseGeolocationForTimeZone is not supported; give a TimeZone")
    job = start_dataset_import_job(
        platform,
        _required(request, "DatasetImportJobName"),
        _required(request, "DatasetArn"),
        source["Path"],
        timestamp_format=request.get("TimestampFormat"),
        time_zone=request.get("TimeZone"),
        file_format=request.get("Format") or "CSV",
        import_mode=request.get("ImportMode") or "FULL",
        role_arn=source.get("RoleArn"),
    )
    submit(platform, ResourceType.FORECAST_DATASET_IMPORT_JOB, job.arn)
    return {"DatasetImportJobArn": job.arn}


def describe_dataset_import_job_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    job = _described(
        platform,
        ResourceType.FORECAST_DATASET_IMPORT_JOB,
        _required(request, "DatasetImportJobArn"),
        "DatasetImportJobArn",
    )
    return describe_dataset_import_job(job)


def list_dataset_import_jobs_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    jobs = _listed(platform, ResourceType.FORECAST_DATASET_IMPORT_JOB)
    rows = [{**summarize_dataset_import_job(j), "DatasetArn": j.attributes["DatasetArn"]} for j in jobs]
    rows = _filtered(rows, request, ("DatasetArn", "Status"))
    return _page([{k: v for k, v in r.items() if k != "DatasetArn"} for r in rows], request, "DatasetImportJobs")


def delete_dataset_import_job_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    job = _described(
        platform,
        ResourceType.FORECAST_DATASET_IMPORT_JOB,
        _required(request, "DatasetImportJobArn"),
        "DatasetImportJobArn",
    )
    _not_running(job)
    platform.catalog.delete(ResourceType.FORECAST_DATASET_IMPORT_JOB, job.arn)
    return {}


def _not_running(resource: Resource) -> None:
    if resource.status in RUNNING:
        raise ResourceInUseError(f"{resource.name} is {forecast_status(resource.status)}; wait for it to end")


# --------------------------------------------------------------- predictors
def create_auto_predictor_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    for unsupported in ("ReferencePredictorArn", "MonitorConfig", "TimeAlignmentBoundary", "EncryptionConfig"):
        if request.get(unsupported):
            raise InvalidInputError(f"{unsupported} is not supported by recsmith")
    if request.get("ExplainPredictor"):
        raise InvalidInputError("ExplainPredictor is not supported yet")
    data_config = _required(request, "DataConfig")
    config = _config(
        dataset_group_arn=_required(data_config, "DatasetGroupArn"),
        forecast_horizon=_required(request, "ForecastHorizon"),
        forecast_frequency=_required(request, "ForecastFrequency"),
        forecast_types=tuple(request["ForecastTypes"]) if request.get("ForecastTypes") else None,
        forecast_dimensions=tuple(request.get("ForecastDimensions") or ()),
        optimization_metric=request.get("OptimizationMetric"),
        holiday_country=_holiday_country(data_config),
        transformations=_transformations(data_config.get("AttributeConfigs")),
    )
    predictor = start_predictor(platform, _required(request, "PredictorName"), config, data_config=dict(data_config))
    submit(platform, ResourceType.PREDICTOR, predictor.arn)
    return {"PredictorArn": predictor.arn}


def create_predictor_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    """The legacy CreatePredictor: one algorithm (``AlgorithmArn``) or ``PerformAutoML``, with explicit
    ``EvaluationParameters`` (NumberOfBacktestWindows 1-5, BackTestWindowOffset)."""
    if request.get("PerformHPO"):
        raise InvalidInputError("PerformHPO is not supported; give TrainingParameters")
    featurization = _required(request, "FeaturizationConfig")
    input_config = _required(request, "InputDataConfig")
    evaluation = request.get("EvaluationParameters") or {}
    auto = bool(request.get("PerformAutoML"))
    if auto == bool(request.get("AlgorithmArn")):
        raise InvalidInputError("give either AlgorithmArn or PerformAutoML=true")
    try:
        algorithms = tuple(algorithm_names()) if auto else (algorithm_of_arn(request["AlgorithmArn"]),)
    except KeyError as exc:
        raise InvalidInputError(f"AlgorithmArn: {exc.args[0]}") from exc
    holiday = None
    for feature in input_config.get("SupplementaryFeatures") or []:
        if feature.get("Name") != "holiday":
            raise InvalidInputError(
                f"SupplementaryFeatures {feature.get('Name')!r} is not supported; supported: holiday"
            )
        holiday = feature.get("Value")
    params: dict[str, dict[str, Any]] = {}
    if request.get("TrainingParameters"):
        if auto:
            raise InvalidInputError("TrainingParameters apply to one AlgorithmArn, not to PerformAutoML")
        params[algorithms[0]] = dict(request["TrainingParameters"])
    config = _config(
        dataset_group_arn=_required(input_config, "DatasetGroupArn"),
        forecast_horizon=_required(request, "ForecastHorizon"),
        forecast_frequency=_required(featurization, "ForecastFrequency"),
        forecast_types=tuple(request["ForecastTypes"]) if request.get("ForecastTypes") else None,
        forecast_dimensions=tuple(featurization.get("ForecastDimensions") or ()),
        optimization_metric=request.get("OptimizationMetric"),
        algorithms=algorithms,
        auto=auto,
        backtest_windows=evaluation.get("NumberOfBacktestWindows"),
        backtest_offset=evaluation.get("BackTestWindowOffset"),
        holiday_country=holiday,
        algorithm_params=params,
        transformations=_legacy_transformations(featurization.get("Featurizations")),
    )
    predictor = start_predictor(platform, _required(request, "PredictorName"), config, auto_predictor=False)
    submit(platform, ResourceType.PREDICTOR, predictor.arn)
    return {"PredictorArn": predictor.arn}


def _legacy_transformations(featurizations: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for featurization in featurizations or []:
        for method in featurization.get("FeaturizationPipeline") or []:
            out.update({str(k): str(v) for k, v in (method.get("FeaturizationMethodParameters") or {}).items()})
    return out


def describe_auto_predictor_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    predictor = _described(platform, ResourceType.PREDICTOR, _required(request, "PredictorArn"), "PredictorArn")
    return describe_predictor(predictor)


def describe_predictor_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    predictor = _described(platform, ResourceType.PREDICTOR, _required(request, "PredictorArn"), "PredictorArn")
    return describe_legacy_predictor(predictor)


def list_predictors_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    rows = [summarize_predictor(p) for p in _listed(platform, ResourceType.PREDICTOR)]
    return _page(_filtered(rows, request, ("DatasetGroupArn", "Status")), request, "Predictors")


def get_accuracy_metrics_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    predictor = _described(platform, ResourceType.PREDICTOR, _required(request, "PredictorArn"), "PredictorArn")
    return accuracy_metrics(predictor)


def delete_predictor_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    delete_predictor(platform, _required(request, "PredictorArn"))
    return {}


# ---------------------------------------------------------------- forecasts
def create_forecast_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    forecast = start_forecast(
        platform,
        _required(request, "ForecastName"),
        _required(request, "PredictorArn"),
        request.get("ForecastTypes"),
        request.get("TimeSeriesSelector"),
    )
    submit(platform, ResourceType.FORECAST, forecast.arn)
    return {"ForecastArn": forecast.arn}


def describe_forecast_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    return describe_forecast(
        _described(platform, ResourceType.FORECAST, _required(request, "ForecastArn"), "ForecastArn")
    )


def list_forecasts_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    rows = [summarize_forecast(f) for f in _listed(platform, ResourceType.FORECAST)]
    return _page(_filtered(rows, request, ("DatasetGroupArn", "PredictorArn", "Status")), request, "Forecasts")


def delete_forecast_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    delete_forecast(platform, _required(request, "ForecastArn"))
    return {}


def create_forecast_export_job_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    destination = _s3_config(request, "Destination")
    job = start_forecast_export_job(
        platform,
        _required(request, "ForecastExportJobName"),
        _required(request, "ForecastArn"),
        destination["Path"],
        request.get("Format") or "CSV",
        destination.get("RoleArn"),
    )
    submit(platform, ResourceType.FORECAST_EXPORT_JOB, job.arn)
    return {"ForecastExportJobArn": job.arn}


def describe_forecast_export_job_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    job = _described(
        platform, ResourceType.FORECAST_EXPORT_JOB, _required(request, "ForecastExportJobArn"), "ForecastExportJobArn"
    )
    return describe_forecast_export_job(job)


def list_forecast_export_jobs_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    jobs = _listed(platform, ResourceType.FORECAST_EXPORT_JOB)
    rows = [{**summarize_forecast_export_job(j), "ForecastArn": j.attributes["ForecastArn"]} for j in jobs]
    rows = _filtered(rows, request, ("ForecastArn", "Status"))
    return _page([{k: v for k, v in r.items() if k != "ForecastArn"} for r in rows], request, "ForecastExportJobs")


def delete_forecast_export_job_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    job = _described(
        platform, ResourceType.FORECAST_EXPORT_JOB, _required(request, "ForecastExportJobArn"), "ForecastExportJobArn"
    )
    _not_running(job)
    platform.catalog.delete(ResourceType.FORECAST_EXPORT_JOB, job.arn)
    return {}


# ------------------------------------------------------------------ runtime
def query_forecast_op(platform: Platform, request: dict[str, Any]) -> dict[str, Any]:
    predictions = query_forecast(
        platform,
        _required(request, "ForecastArn"),
        _required(request, "Filters"),
        request.get("StartDate"),
        request.get("EndDate"),
    )
    return {"Forecast": {"Predictions": predictions}}


OPERATIONS: dict[str, Operation] = {
    "CreateDatasetGroup": create_dataset_group_op,
    "DescribeDatasetGroup": describe_dataset_group_op,
    "ListDatasetGroups": list_dataset_groups_op,
    "UpdateDatasetGroup": update_dataset_group_op,
    "DeleteDatasetGroup": delete_dataset_group_op,
    "CreateDataset": create_dataset_op,
    "DescribeDataset": describe_dataset_op,
    "ListDatasets": list_datasets_op,
    "DeleteDataset": delete_dataset_op,
    "CreateDatasetImportJob": create_dataset_import_job_op,
    "DescribeDatasetImportJob": describe_dataset_import_job_op,
    "ListDatasetImportJobs": list_dataset_import_jobs_op,
    "DeleteDatasetImportJob": delete_dataset_import_job_op,
    "CreateAutoPredictor": create_auto_predictor_op,
    "DescribeAutoPredictor": describe_auto_predictor_op,
    "CreatePredictor": create_predictor_op,
    "DescribePredictor": describe_predictor_op,
    "ListPredictors": list_predictors_op,
    "GetAccuracyMetrics": get_accuracy_metrics_op,
    "DeletePredictor": delete_predictor_op,
    "CreateForecast": create_forecast_op,
    "DescribeForecast": describe_forecast_op,
    "ListForecasts": list_forecasts_op,
    "DeleteForecast": delete_forecast_op,
    "CreateForecastExportJob": create_forecast_export_job_op,
    "DescribeForecastExportJob": describe_forecast_export_job_op,
    "ListForecastExportJobs": list_forecast_export_jobs_op,
    "DeleteForecastExportJob": delete_forecast_export_job_op,
}
"""``AmazonForecast.<Operation>`` -> its function."""

RUNTIME_OPERATIONS: dict[str, Operation] = {"QueryForecast": query_forecast_op}
"""``AmazonForecastRuntime.<Operation>`` -> its function."""

TARGETS: dict[str, dict[str, Operation]] = {"AmazonForecast": OPERATIONS, "AmazonForecastRuntime": RUNTIME_OPERATIONS}
"""The ``X-Amz-Target`` prefix of each botocore service model (``targetPrefix``) -> its operations."""
