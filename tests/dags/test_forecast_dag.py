"""``recsmith_forecast``: Amazon Forecast's workflow as a DAG, parsed and run end to end with ``dag.test()``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestration.airflow_local import DAGS_FOLDER, prepare_airflow, run_dag
from recsmith.catalog import ResourceType, Status
from recsmith.platform import Platform
from tests.forecast.conftest import write_demand_csv

STAGES = ["import_target_series", "train_predictor", "create_forecast", "export_forecast"]


def test_the_stages_run_in_order_when_triggered() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags["recsmith_forecast"]
    assert dag.task_ids == STAGES
    for before, after in zip(STAGES, STAGES[1:], strict=False):
        assert dag.get_task(after).upstream_task_ids == {before}
    assert dag.schedule is None  # no environment variable decides a schedule the UI cannot show
    schema = {name: dag.params.get_param(name).schema for name in dag.params}
    assert schema["forecast_horizon"]["type"] == "integer" and schema["export_format"]["enum"] == ["CSV", "PARQUET"]


@pytest.mark.integration
@pytest.mark.slow
def test_import_predictor_forecast_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECSMITH_FORECAST_NEURAL_BATCHES", "20")
    prepare_airflow(tmp_path / "airflow")
    conf = {
        "dataset_group": "dagdemand",
        "data_location": str(write_demand_csv(tmp_path / "demand.csv")),
        "algorithms": "ETS,NPTS",
        "export_location": str(tmp_path / "exports"),
    }

    state, results = run_dag("recsmith_forecast", conf)

    assert state == DagRunState.SUCCESS, results
    assert results["import_target_series"]["dataVersion"]
    predictor_arn = results["train_predictor"]
    assert predictor_arn.startswith("arn:aws:forecast:us-east-1:000000000000:predictor/dagdemand_")
    (export,) = results["export_forecast"]["files"]
    frame = pd.read_csv(export)
    assert len(frame) == 3 * 24 and list(frame.columns) == ["item_id", "date", "p10", "p50", "p90", "mean"]
    platform = Platform.from_env()
    try:
        predictor = platform.catalog.get(ResourceType.PREDICTOR, predictor_arn)
        assert predictor.status is Status.ACTIVE and predictor.attributes["promoted"] is True
        assert platform.catalog.get(ResourceType.FORECAST, results["create_forecast"]).status is Status.ACTIVE
    finally:
        platform.catalog.dispose()
