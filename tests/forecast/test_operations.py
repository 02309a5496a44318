"""The Forecast API operations, called with Forecast-shaped requests (checked by botocore's validator, as boto3
checks them) and answering in Forecast's shapes (checked member by member against botocore's model): the whole
flow from CreateDatasetGroup to QueryForecast and an export, the legacy CreatePredictor with several backtest
windows, pagination, and the errors, each one of those the operation declares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from recsmith.errors import RecsmithError
from recsmith.forecast.operations import OPERATIONS, RUNTIME_OPERATIONS, TARGETS
from recsmith.platform import Platform
from recsmith.settings import Settings
from tests.forecast.conftest import write_demand_csv
from tests.forecast.shapes import MODELS, check_request, check_response, error_codes

ROLE = "arn:aws:iam::000000000000:role/forecast"
SCHEMA = {
    "Attributes": [
        {"AttributeName": "timestamp", "AttributeType": "timestamp"},
        {"AttributeName": "target_value", "AttributeType": "float"},
        {"AttributeName": "item_id", "AttributeType": "string"},
    ]
}


def call(platform: Platform, operation: str, **request: Any) -> dict[str, Any]:
    """One operation as the API server calls it, with the request and answer checked against botocore."""
    service = "forecastquery" if operation in RUNTIME_OPERATIONS else "forecast"
    check_request(service, operation, request)
    table = RUNTIME_OPERATIONS if service == "forecastquery" else OPERATIONS
    response = table[operation](platform, request)
    check_response(service, operation, response)
    return response


def refused(platform: Platform, operation: str, match: str, **request: Any) -> RecsmithError:
    """The error ``operation`` raises, checked to be one the operation declares in botocore's model."""
    service = "forecastquery" if operation in RUNTIME_OPERATIONS else "forecast"
    table = RUNTIME_OPERATIONS if service == "forecastquery" else OPERATIONS
    with pytest.raises(RecsmithError, match=match) as caught:
        table[operation](platform, request)
    assert caught.value.code in error_codes(service, operation), (operation, caught.value.code)
    return caught.value


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The getting-started flow once, on three generated hourly series of two weeks."""
    root = tmp_path_factory.mktemp("forecast-flow")
    platform = Platform(Settings(home=root / "home", forecast_neural_batches=20))
    source = write_demand_csv(root / "demand.csv", hours=24 * 14)
    out: dict[str, Any] = {"platform": platform, "root": root}
    out["group"] = call(platform, "CreateDatasetGroup", DatasetGroupName="demand", Domain="CUSTOM")["DatasetGroupArn"]
    out["dataset"] = call(
        platform,
        "CreateDataset",
        DatasetName="demand_target",
        Domain="CUSTOM",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency="H",
        Schema=SCHEMA,
    )["DatasetArn"]
    call(platform, "UpdateDatasetGroup", DatasetGroupArn=out["group"], DatasetArns=[out["dataset"]])
    out["import"] = call(
        platform,
        "CreateDatasetImportJob",
        DatasetImportJobName="demand_import",
        DatasetArn=out["dataset"],
        DataSource={"S3Config": {"Path": str(source), "RoleArn": ROLE}},
        TimestampFormat="yyyy-MM-dd HH:mm:ss",
    )["DatasetImportJobArn"]
    out["predictor"] = call(
        platform,
        "CreateAutoPredictor",
        PredictorName="demand_auto",
        ForecastHorizon=24,
        ForecastFrequency="H",
        ForecastTypes=["0.1", "0.5", "0.9", "mean"],
        DataConfig={
            "DatasetGroupArn": out["group"],
            "AdditionalDatasets": [{"Name": "holiday", "Configuration": {"CountryCode": ["US"]}}],
        },
    )["PredictorArn"]
    out["forecast"] = call(platform, "CreateForecast", ForecastName="demand_fc", PredictorArn=out["predictor"])[
        "ForecastArn"
    ]
    out["export"] = call(
        platform,
        "CreateForecastExportJob",
        ForecastExportJobName="demand_export",
        ForecastArn=out["forecast"],
        Destination={"S3Config": {"Path": str(root / "exports"), "RoleArn": ROLE}},
    )["ForecastExportJobArn"]
    yield out
    platform.catalog.dispose()


def test_every_operation_is_one_of_the_service_models() -> None:
    assert set(OPERATIONS) <= set(MODELS["forecast"].operation_names)
    assert set(RUNTIME_OPERATIONS) == {"QueryForecast"}
    assert TARGETS == {
        MODELS["forecast"].metadata["targetPrefix"]: OPERATIONS,
        MODELS["forecastquery"].metadata["targetPrefix"]: RUNTIME_OPERATIONS,
    }


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_resources_are_active_with_forecast_arns(flow: dict[str, Any]) -> None:
    platform = flow["platform"]
    assert flow["group"] == "arn:aws:forecast:us-east-1:000000000000:dataset-group/demand"
    group = call(platform, "DescribeDatasetGroup", DatasetGroupArn=flow["group"])
    assert group["DatasetArns"] == [flow["dataset"]] and group["Domain"] == "CUSTOM"
    job = call(platform, "DescribeDatasetImportJob", DatasetImportJobArn=flow["import"])
    assert job["Status"] == "ACTIVE" and job["FieldStatistics"]["item_id"]["CountDistinct"] == 3
    predictor = call(platform, "DescribeAutoPredictor", PredictorArn=flow["predictor"])
    assert predictor["Status"] == "ACTIVE", predictor.get("Message")
    assert predictor["DatasetImportJobArns"] == [flow["import"]]
    assert predictor["DataConfig"]["AdditionalDatasets"][0]["Configuration"] == {"CountryCode": ["US"]}
    assert call(platform, "DescribeForecast", ForecastArn=flow["forecast"])["Status"] == "ACTIVE"
    assert call(platform, "DescribeForecastExportJob", ForecastExportJobArn=flow["export"])["Status"] == "ACTIVE"
    listed = call(
        platform, "ListPredictors", Filters=[{"Key": "DatasetGroupArn", "Value": flow["group"], "Condition": "IS"}]
    )
    assert [p["PredictorArn"] for p in listed["Predictors"]] == [flow["predictor"]]
    assert call(platform, "ListForecasts")["Forecasts"][0]["CreatedUsingAutoPredictor"] is True


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_accuracy_metrics_report_autopredictor_and_every_algorithm(flow: dict[str, Any]) -> None:
    metrics = call(flow["platform"], "GetAccuracyMetrics", PredictorArn=flow["predictor"])
    results = metrics["PredictorEvaluationResults"]
    assert metrics["IsAutoPredictor"] is True and metrics["OptimizationMetric"] == "AverageWeightedQuantileLoss"
    assert "AlgorithmArn" not in results[0]  # AutoPredictor's own figures first
    algorithms = [r["AlgorithmArn"].rsplit("/", 1)[-1] for r in results[1:]]
    assert sorted(algorithms) == sorted(["ETS", "ARIMA", "NPTS", "Prophet", "Deep_AR_Plus", "CNN_QR"])
    for result in results:
        summary, window = result["TestWindows"]
        assert (summary["EvaluationType"], window["EvaluationType"]) == ("SUMMARY", "COMPUTED")
        assert window["ItemCount"] == 3
        assert pd.Timestamp(window["TestWindowStart"], unit="s") == pd.Timestamp("2024-01-14 00:00:00")
        quantiles = [loss["Quantile"] for loss in summary["Metrics"]["WeightedQuantileLosses"]]
        assert quantiles == [0.1, 0.5, 0.9]
        mean = summary["Metrics"]["ErrorMetrics"][0]
        assert mean["ForecastType"] == "mean" and 0.0 <= mean["WAPE"] < 1.0 and mean["MASE"] > 0
    # the ensemble is chosen on validation days before the test day: it need not be the best on the test day,
    # but it is never worse than the worst algorithm
    wql = [r["TestWindows"][0]["Metrics"]["AverageWeightedQuantileLoss"] for r in results]
    assert wql[0] <= max(wql[1:])


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_query_forecast_answers_per_statistic_after_the_data(flow: dict[str, Any]) -> None:
    answer = call(flow["platform"], "QueryForecast", ForecastArn=flow["forecast"], Filters={"item_id": "b"})
    predictions = answer["Forecast"]["Predictions"]
    assert set(predictions) == {"p10", "p50", "p90", "mean"}
    stamps = [p["Timestamp"] for p in predictions["p50"]]
    assert stamps[0] == "2024-01-15T00:00:00" and len(stamps) == 24  # the hour after the data's last
    for low, mid, high in zip(predictions["p10"], predictions["p50"], predictions["p90"], strict=True):
        assert low["Value"] <= mid["Value"] <= high["Value"]
    part = call(
        flow["platform"],
        "QueryForecast",
        ForecastArn=flow["forecast"],
        Filters={"item_id": "b"},
        StartDate="2024-01-15T05:00:00",
        EndDate="2024-01-15T07:00:00",
    )
    assert [p["Timestamp"][-8:] for p in part["Forecast"]["Predictions"]["mean"]] == [
        "05:00:00",
        "06:00:00",
        "07:00:00",
    ]
    refused(
        flow["platform"], "QueryForecast", "no series with", ForecastArn=flow["forecast"], Filters={"item_id": "zz"}
    )
    refused(
        flow["platform"],
        "QueryForecast",
        "'store' is not a series key",
        ForecastArn=flow["forecast"],
        Filters={"store": "x"},
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_export_writes_every_series_as_forecast_does(flow: dict[str, Any]) -> None:
    (path,) = (flow["root"] / "exports").glob("demand_export_*_part0.csv")
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["item_id", "date", "p10", "p50", "p90", "mean"]
    assert len(frame) == 3 * 24 and frame["date"].iloc[0] == "2024-01-15T00:00:00Z"
    assert not list((flow["root"] / "exports").glob(".*"))  # no partial file left


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_predictor_is_tracked_and_registered_in_mlflow(flow: dict[str, Any]) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    platform = flow["platform"]
    predictor = platform.catalog.get(
        __import__("recsmith.catalog", fromlist=["ResourceType"]).ResourceType.PREDICTOR, flow["predictor"]
    )
    platform.configure_mlflow()
    client = MlflowClient()
    run = client.get_run(predictor.attributes["mlflowRunId"])
    assert run.data.params["forecast_horizon"] == "24"
    assert run.data.metrics["AverageWeightedQuantileLoss"] == pytest.approx(
        predictor.attributes["evaluation"][0]["TestWindows"][0]["Metrics"]["AverageWeightedQuantileLoss"]
    )
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert {c.data.tags["recsmith.algorithm"] for c in children} == {
        "ETS",
        "ARIMA",
        "NPTS",
        "Prophet",
        "Deep_AR_Plus",
        "CNN_QR",
    }
    assert "plots/backtest.png" in [a.path for a in client.list_artifacts(run.info.run_id, "plots")]
    model = client.get_registered_model("forecast.demand")
    assert str(model.aliases["production"]) == predictor.attributes["modelVersion"]
    loaded = mlflow.pyfunc.load_model(predictor.attributes["modelUri"])
    rows = loaded.predict(pd.DataFrame({"item_id": ["a"]}))
    assert len(rows) == 24 and set(rows["item_id"]) == {"a"}


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_legacy_predictor_with_two_backtest_windows(flow: dict[str, Any]) -> None:
    platform = flow["platform"]
    arn = call(
        platform,
        "CreatePredictor",
        PredictorName="demand_npts",
        AlgorithmArn="arn:aws:forecast:::algorithm/NPTS",
        ForecastHorizon=24,
        EvaluationParameters={"NumberOfBacktestWindows": 2, "BackTestWindowOffset": 48},
        InputDataConfig={"DatasetGroupArn": flow["group"]},
        FeaturizationConfig={"ForecastFrequency": "H"},
    )["PredictorArn"]
    described = call(platform, "DescribePredictor", PredictorArn=arn)
    assert described["Status"] == "ACTIVE" and described["AlgorithmArn"].endswith("/NPTS")
    assert described["IsAutoPredictor"] is False
    (result,) = call(platform, "GetAccuracyMetrics", PredictorArn=arn)["PredictorEvaluationResults"][:1]
    windows = [pd.Timestamp(w["TestWindowStart"], unit="s") for w in result["TestWindows"][1:]]
    assert windows == [pd.Timestamp("2024-01-13 00:00"), pd.Timestamp("2024-01-12 00:00")]


def test_errors_are_the_ones_each_operation_declares(tmp_path: Path) -> None:
    platform = Platform(Settings(home=tmp_path / "home"))
    call(platform, "CreateDatasetGroup", DatasetGroupName="g", Domain="RETAIL")
    refused(platform, "CreateDatasetGroup", "already exists", DatasetGroupName="g", Domain="RETAIL")
    refused(platform, "CreateDatasetGroup", "unknown Domain 'SHOES'", DatasetGroupName="h", Domain="SHOES")
    refused(
        platform, "CreateDatasetGroup", "invalid DatasetGroupName name 'a-b'", DatasetGroupName="a-b", Domain="RETAIL"
    )
    refused(platform, "DescribeDatasetGroup", "no dataset-group 'nope'", DatasetGroupArn="nope")
    refused(
        platform,
        "CreateDataset",
        "needs attribute demand",
        DatasetName="d",
        Domain="RETAIL",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency="D",
        Schema=SCHEMA,
    )
    refused(
        platform,
        "CreateAutoPredictor",
        "has no TARGET_TIME_SERIES dataset",
        PredictorName="p",
        ForecastHorizon=7,
        ForecastFrequency="D",
        DataConfig={"DatasetGroupArn": "g"},
    )
    refused(
        platform,
        "CreateAutoPredictor",
        "ForecastTypes quantile '0.999'",
        PredictorName="p",
        ForecastHorizon=7,
        ForecastFrequency="D",
        ForecastTypes=["0.999"],
        DataConfig={"DatasetGroupArn": "g"},
    )
    refused(platform, "GetAccuracyMetrics", "no predictor", PredictorArn="arn:aws:forecast:us-east-1:0:predictor/x")
    refused(platform, "ListDatasetGroups", "NextToken is not one this service returned", NextToken="???")


def test_lists_page_with_next_token(tmp_path: Path) -> None:
    platform = Platform(Settings(home=tmp_path / "home"))
    for name in ("g1", "g2", "g3"):
        call(platform, "CreateDatasetGroup", DatasetGroupName=name, Domain="CUSTOM")
    first = call(platform, "ListDatasetGroups", MaxResults=2)
    second = call(platform, "ListDatasetGroups", MaxResults=2, NextToken=first["NextToken"])
    assert [g["DatasetGroupName"] for g in first["DatasetGroups"] + second["DatasetGroups"]] == ["g1", "g2", "g3"]
    assert "NextToken" not in second
    call(platform, "DeleteDatasetGroup", DatasetGroupArn="g2")
    assert [g["DatasetGroupName"] for g in call(platform, "ListDatasetGroups")["DatasetGroups"]] == ["g1", "g3"]
