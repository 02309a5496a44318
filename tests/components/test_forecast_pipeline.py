"""The Forecast pipeline compiles with every stage on the baked image, and runs end to end with ``kfp.local``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kfp import compiler

from recsmith.forecast.workflow import PredictorStageConfig, TargetImportConfig
from tests.forecast.conftest import write_demand_csv

STAGES = ("import-target-series", "train-predictor", "create-forecast", "export-forecast")


def test_compiles_with_every_stage_on_the_baked_image(tmp_path: Path) -> None:
    from components.forecast import recsmith_forecast_pipeline

    output = tmp_path / "forecast.yaml"
    compiler.Compiler().compile(recsmith_forecast_pipeline, str(output))
    spec = yaml.safe_load(output.read_text())
    assert {f"comp-{stage}" for stage in STAGES} <= set(spec["components"])
    executors = spec["deploymentSpec"]["executors"].values()
    assert {executor["container"]["image"] for executor in executors} == {"recsmith-python:latest"}
    assert not any("pip install" in json.dumps(executor) for executor in executors)
    outputs = spec["components"]["comp-train-predictor"]["outputDefinitions"]["artifacts"]
    assert outputs["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"


@pytest.mark.integration
@pytest.mark.slow
def test_local_run_imports_trains_forecasts_and_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kfp import local

    from components.forecast import recsmith_forecast_pipeline

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))  # the component subprocesses inherit it
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    recsmith_forecast_pipeline(
        import_config=TargetImportConfig(
            dataset_group="kfpdemand", data_location=str(write_demand_csv(tmp_path / "demand.csv"))
        ).model_dump_json(),
        predictor_config=PredictorStageConfig(dataset_group="kfpdemand", algorithms=["NPTS"]).model_dump_json(),
        destination=str(tmp_path / "exports"),
    )
    (export,) = (tmp_path / "exports").glob("export_*_part0.csv")
    assert len(pd.read_csv(export)) == 3 * 24
    outputs = [json.loads(path.read_text()) for path in (tmp_path / "root").rglob("executor_output.json")]
    trained = next(output for output in outputs if "metrics" in output.get("artifacts", {}))
    (metrics,) = trained["artifacts"]["metrics"]["artifacts"]
    assert 0.0 < metrics["metadata"]["WAPE"] < 1.0
    assert trained["parameterValues"]["Output"].startswith("arn:aws:forecast:us-east-1:000000000000:predictor/")
