"""``recsmith forecast`` and ``recsmith forecastquery``: `aws forecast`'s commands and flags, one code path with
the API operations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsmith.cli import main
from recsmith.forecast.operations import OPERATIONS
from tests.forecast.conftest import write_demand_csv

SCHEMA = (
    '{"Attributes": [{"AttributeName": "timestamp", "AttributeType": "timestamp"}, '
    '{"AttributeName": "target_value", "AttributeType": "float"}, '
    '{"AttributeName": "item_id", "AttributeType": "string"}]}'
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_every_operation_has_its_aws_command(capsys: pytest.CaptureFixture[str]) -> None:
    from botocore import xform_name

    from recsmith.forecast.cli import service_parser

    commands = service_parser("forecast")._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(commands) == {xform_name(op, "-") for op in OPERATIONS}


def test_import_predict_query_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))
    source = write_demand_csv(tmp_path / "demand.csv", hours=24 * 10)
    run(capsys, "forecast", "create-dataset-group", "--dataset-group-name", "demand", "--domain", "CUSTOM")
    dataset = run(
        capsys,
        "forecast",
        "create-dataset",
        "--dataset-name",
        "demand_target",
        "--domain",
        "CUSTOM",
        "--dataset-type",
        "TARGET_TIME_SERIES",
        "--data-frequency",
        "H",
        "--schema",
        SCHEMA,
    )["DatasetArn"]
    run(capsys, "forecast", "update-dataset-group", "--dataset-group-arn", "demand", "--dataset-arns", dataset)
    source_json = json.dumps({"S3Config": {"Path": str(source), "RoleArn": "x"}})
    run(
        capsys,
        "forecast",
        "create-dataset-import-job",
        "--dataset-import-job-name",
        "first",
        "--dataset-arn",
        dataset,
        "--data-source",
        source_json,
    )
    predictor = run(
        capsys,
        "forecast",
        "create-predictor",
        "--predictor-name",
        "demand_npts",
        "--algorithm-arn",
        "arn:aws:forecast:::algorithm/NPTS",
        "--forecast-horizon",
        "24",
        "--input-data-config",
        '{"DatasetGroupArn": "demand"}',
        "--featurization-config",
        '{"ForecastFrequency": "H"}',
        "--forecast-types",
        "0.1",
        "0.9",
    )["PredictorArn"]
    described = run(capsys, "forecast", "describe-predictor", "--predictor-arn", predictor)
    assert described["Status"] == "ACTIVE" and described["ForecastTypes"] == ["0.1", "0.9"]
    forecast = run(capsys, "forecast", "create-forecast", "--forecast-name", "fc", "--predictor-arn", predictor)
    answer = run(
        capsys,
        "forecastquery",
        "query-forecast",
        "--forecast-arn",
        forecast["ForecastArn"],
        "--filters",
        '{"item_id": "c"}',
    )
    assert set(answer["Forecast"]["Predictions"]) == {"p10", "p90"}
    exports = tmp_path / "exports"
    destination = json.dumps({"S3Config": {"Path": str(exports), "RoleArn": "x"}})
    run(
        capsys,
        "forecast",
        "create-forecast-export-job",
        "--forecast-export-job-name",
        "out",
        "--forecast-arn",
        forecast["ForecastArn"],
        "--destination",
        destination,
        "--format",
        "PARQUET",
    )
    assert len(list(exports.glob("out_*_part0.parquet"))) == 1
    assert main(["forecast", "describe-forecast", "--forecast-arn", "nope"]) == 1
    assert "ForecastArn: no forecast 'nope'" in capsys.readouterr().err
