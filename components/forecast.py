"""KFP components of the Forecast workflow, one per stage, each calling the ``recsmith.forecast.workflow``
function of its name, and ``recsmith_forecast_pipeline`` composing them: import → predictor → forecast → export.

Configs travel as the JSON of the same pydantic models the DAG and the CLI build (``TargetImportConfig``,
``PredictorStageConfig``); the data stays where the platform keeps it. The predictor's backtest metrics come out
as a ``Metrics`` artifact and its registered MLflow model as a ``Model`` artifact.
"""

# No `from __future__ import annotations`: KFP reads the real annotation objects of the component functions.

from kfp import dsl
from kfp.dsl import Metrics, Model, Output

from components.stages import IMAGE

FORECAST_PIPELINE_NAME = "recsmith-forecast-pipeline"


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def import_target_series(config: str, run_id: str) -> dict:
    """Import a target time series file (``TargetImportConfig`` JSON); returns the job ARN and data version."""
    from recsmith.forecast.workflow import TargetImportConfig, import_target_series
    from recsmith.platform import Platform

    return import_target_series(Platform.from_env(), TargetImportConfig.model_validate_json(config), run_id)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_predictor(config: str, run_id: str, metrics: Output[Metrics], model: Output[Model]) -> str:
    """Train and backtest a predictor (``PredictorStageConfig`` JSON); returns its ARN."""
    from recsmith.forecast.workflow import PredictorStageConfig, train_predictor
    from recsmith.platform import Platform

    result = train_predictor(Platform.from_env(), PredictorStageConfig.model_validate_json(config), run_id)
    for name, value in result["metrics"].items():
        metrics.log_metric(name, float(value))
    model_uri = f"models:/{result['modelName']}/{result['modelVersion']}"
    with open(model.path, "w") as handle:
        handle.write(model_uri + "\n")
    model.metadata.update(
        {"modelUri": model_uri, "predictorArn": result["predictorArn"], "promoted": result["promoted"]}
    )
    return result["predictorArn"]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def create_forecast(predictor_arn: str, run_id: str) -> str:
    """Forecast every series with the predictor; returns the forecast's ARN."""
    from recsmith.forecast.workflow import create_forecast
    from recsmith.platform import Platform

    return create_forecast(Platform.from_env(), predictor_arn, run_id)["forecastArn"]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def export_forecast(forecast_arn: str, destination: str, file_format: str, run_id: str) -> dict:
    """Export the forecast as CSV or Parquet to a folder or S3 prefix; returns the job and its files."""
    from recsmith.forecast.workflow import export_forecast
    from recsmith.platform import Platform

    return export_forecast(Platform.from_env(), forecast_arn, destination, file_format, run_id)


@dsl.pipeline(name=FORECAST_PIPELINE_NAME, description="Forecast: import, AutoPredictor, forecast, export.")
def recsmith_forecast_pipeline(
    import_config: str,
    predictor_config: str,
    destination: str,
    file_format: str = "CSV",
    run_id: str = dsl.PIPELINE_JOB_ID_PLACEHOLDER,
) -> None:
    imported = import_target_series(config=import_config, run_id=run_id)
    trained = train_predictor(config=predictor_config, run_id=run_id).after(imported)
    forecast = create_forecast(predictor_arn=trained.outputs["Output"], run_id=run_id)
    export_forecast(forecast_arn=forecast.output, destination=destination, file_format=file_format, run_id=run_id)
