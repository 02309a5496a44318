"""
### recsmith: forecast end to end (Amazon Forecast's workflow)

`import_target_series` → `train_predictor` → `create_forecast` → `export_forecast`, each a call of the
`recsmith.forecast.workflow` function of that name: the file is imported into the dataset group's target time
series (group and dataset created the first time), an AutoPredictor is trained and backtested (registered in
MLflow as a version of `forecast.<dataset group>`, promoted when it beats production), its forecast is made and
exported as CSV or Parquet to a folder or an `s3://` prefix.

Runs when triggered (the UI's trigger form, the REST API). Resources are named after the run, so a retried task
reuses what it made.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=None,
    is_paused_upon_creation=False,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["recsmith", "forecast"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "dataset_group": Param(
            "demand",
            type="string",
            pattern="^[a-zA-Z][a-zA-Z0-9_]*$",
            title="Dataset group",
            description="Forecast dataset group; created when missing.",
        ),
        "data_location": Param(
            ".recsmith/forecast/item-demand-time.csv",
            type="string",
            minLength=1,
            title="Data location",
            description="Target time series CSV (no header: timestamp, target_value, item_id) or Parquet, or s3://.",
        ),
        "data_frequency": Param(
            "H",
            type="string",
            enum=["Y", "M", "W", "D", "H", "30min", "15min", "10min", "5min", "1min"],
            title="Data frequency",
            description="How often the data is recorded.",
        ),
        "forecast_horizon": Param(
            24,
            type="integer",
            minimum=1,
            maximum=500,
            title="Forecast horizon",
            description="Steps to forecast.",
        ),
        "forecast_frequency": Param(
            "H",
            type="string",
            enum=["Y", "M", "W", "D", "H", "30min", "15min", "10min", "5min", "1min"],
            title="Forecast frequency",
            description="Frequency of the forecast (the data's or coarser).",
        ),
        "algorithms": Param(
            "",
            type="string",
            pattern="^[A-Za-z_,]*$",
            title="Algorithms",
            description="Comma-separated candidates (ETS, ARIMA, NPTS, Prophet, Deep_AR_Plus, CNN_QR); empty: all.",
        ),
        "holiday_country": Param(
            "",
            type="string",
            title="Holiday calendar",
            description="Country code (US, DE...); empty for none.",
        ),
        "export_location": Param(
            ".recsmith/forecast/exports",
            type="string",
            minLength=1,
            title="Export location",
            description="Folder or s3:// prefix the forecast is exported to.",
        ),
        "export_format": Param(
            "CSV",
            type="string",
            enum=["CSV", "PARQUET"],
            title="Export format",
            description="File format.",
        ),
    },
)
def recsmith_forecast() -> None:
    @task
    def import_target_series(params: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        from orchestration.airflow_tasks import stage
        from recsmith.forecast.workflow import TargetImportConfig, import_target_series

        assert params is not None and run_id is not None
        with stage() as platform:
            config = TargetImportConfig(
                dataset_group=params["dataset_group"],
                data_location=params["data_location"],
                data_frequency=params["data_frequency"],
            )
            return import_target_series(platform, config, run_id)

    @task
    def train_predictor(
        imported: dict[str, Any], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> str:
        from orchestration.airflow_tasks import stage
        from recsmith.forecast.workflow import PredictorStageConfig, train_predictor

        assert params is not None and run_id is not None
        with stage() as platform:
            config = PredictorStageConfig(
                dataset_group=params["dataset_group"],
                forecast_horizon=params["forecast_horizon"],
                forecast_frequency=params["forecast_frequency"],
                holiday_country=params["holiday_country"] or None,
                algorithms=[a.strip() for a in params["algorithms"].split(",") if a.strip()] or None,
            )
            return str(train_predictor(platform, config, run_id)["predictorArn"])

    @task
    def create_forecast(predictor_arn: str, run_id: str | None = None) -> str:
        from orchestration.airflow_tasks import stage
        from recsmith.forecast.workflow import create_forecast

        assert run_id is not None
        with stage() as platform:
            return str(create_forecast(platform, predictor_arn, run_id)["forecastArn"])

    @task
    def export_forecast(
        forecast_arn: str, params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        from orchestration.airflow_tasks import stage
        from recsmith.forecast.workflow import export_forecast

        assert params is not None and run_id is not None
        with stage() as platform:
            return export_forecast(platform, forecast_arn, params["export_location"], params["export_format"], run_id)

    export_forecast(create_forecast(train_predictor(import_target_series())))


recsmith_forecast()
