"""``recsmith_retrain`` end to end on an embedded Airflow with ``dag.test()``, on the generated sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.airflow_local import prepare_airflow, run_dag
from recsmith.catalog import ResourceType
from recsmith.data.sample import SampleFiles
from recsmith.platform import Platform
from recsmith.stage_results import Promotion, TrainResult
from recsmith.training.registry import production_version

pytestmark = pytest.mark.integration


def _production(platform: Platform, model_name: str) -> str | None:
    from mlflow.tracking import MlflowClient

    platform.configure_mlflow()
    return production_version(MlflowClient(), model_name)


def test_retrain_deploys_then_never_demotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_files: SampleFiles
) -> None:
    from airflow.sdk.exceptions import ParamValidationError
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))  # tasks build Platform.from_env() from it
    prepare_airflow(tmp_path / "airflow")
    conf = {
        "dataset_group": "it",
        "data_location": str(sample_files.interactions),
        "schema_file": str(sample_files.interactions_schema),
        "recipe": "automl",
        # the default candidates include hrnn and deepfm: one epoch keeps this test quick
        "solution_config": {
            "autoMLConfig": {"recipeHyperParameters": {"hrnn": {"epochs": 1}, "deepfm": {"epochs": 1}}}
        },
        "campaign": "it-campaign",
    }

    state, first = run_dag("recsmith_retrain", conf)

    assert state == DagRunState.SUCCESS
    assert set(first) == {"import_dataset", "train", "evaluate", "promote", "deploy", "mark_training_failed"}
    # each task got its typed result from the one before it
    assert isinstance(first["train"], TrainResult) and isinstance(first["promote"], Promotion)
    version_arn = first["train"].solution_version_arn
    model_name = first["train"].model_name
    assert model_name == "it.it-automl"
    assert first["evaluate"].solution_version_arn == version_arn and first["evaluate"].production_version is None
    assert first["promote"].promoted is True and first["promote"].reason.startswith("first version in production")
    assert first["deploy"].update_mode == "AUTO" and first["deploy"].solution_version_arn == version_arn
    assert first["mark_training_failed"] is None  # skipped: the training succeeded
    platform = Platform.from_env()
    try:
        campaign = platform.catalog.find(ResourceType.CAMPAIGN, "it-campaign")
        assert campaign is not None and campaign.arn == first["deploy"].campaign_arn
        assert campaign.attributes["solutionVersionArn"] == version_arn
        assert _production(platform, model_name) == first["train"].model_version
        version = platform.catalog.get(ResourceType.SOLUTION_VERSION, version_arn)
        assert version.attributes["taskKey"].startswith("recsmith_retrain/") and version.attributes["taskKey"].endswith(
            "/train"
        )

        state, second = run_dag("recsmith_retrain", conf)

        assert state == DagRunState.SUCCESS
        evaluation = second["evaluate"]
        assert evaluation.production_version == first["train"].model_version
        # same data, same seed: the same score, which does not beat production, so nothing moves
        assert evaluation.value == evaluation.production_value
        assert evaluation.beats_production is False
        assert second["promote"].promoted is False and "does not beat production" in second["promote"].reason
        assert _production(platform, model_name) == first["train"].model_version
        assert second["deploy"] is None
        assert platform.catalog.get(ResourceType.CAMPAIGN, campaign.arn).attributes["updateMode"] == "AUTO"

        with pytest.raises(ParamValidationError, match="update_mode"):
            run_dag("recsmith_retrain", {**conf, "update_mode": "SOMETIMES"})
    finally:
        platform.catalog.dispose()


def test_a_config_error_fails_the_run_without_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_files: SampleFiles
) -> None:
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))
    prepare_airflow(tmp_path / "airflow")

    state, results = run_dag(
        "recsmith_import",
        {"dataset_group": "it", "data_location": str(sample_files.interactions), "schema_file": "missing.json"},
    )

    assert state == DagRunState.FAILED
    assert results == {"import_dataset": None}


def test_prepare_airflow_switches_the_metadata_database(tmp_path: Path) -> None:
    from airflow import settings

    prepare_airflow(tmp_path / "airflow")

    assert settings.SQL_ALCHEMY_CONN == f"sqlite:///{(tmp_path / 'airflow').resolve() / 'airflow.db'}"
    assert str(settings.engine.url).endswith(str(tmp_path / "airflow" / "airflow.db"))
    assert (tmp_path / "airflow" / "airflow.db").stat().st_size > 0
