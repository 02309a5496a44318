"""Automatic training (Personalize's autoTrainingConfig) run with ``dag.test()``: a solution created through the
CLI gets a DAG; a run trains only when new interactions arrived; the update DAG changes the schedule."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from orchestration.airflow_local import prepare_airflow, run_dag
from recsmith.catalog import ResourceType, Status
from recsmith.cli import main
from recsmith.data.sample import SampleFiles
from recsmith.events.tracker import create_event_tracker, put_events
from recsmith.platform import Platform
from recsmith.stage_results import NewDataCheck, Promotion, TrainResult
from recsmith.workflow import ImportConfig, import_dataset

pytestmark = pytest.mark.integration

DAG_ID = "recsmith_auto_training__shop-popular"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out) if out.strip() else {}


def test_automatic_training_trains_only_when_new_interactions_arrived(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_files: SampleFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))  # the CLI, the DAG file and the tasks read it
    prepare_airflow(tmp_path / "airflow")
    platform = Platform.from_env()
    try:
        import_dataset(
            platform,
            ImportConfig(
                dataset_group="shop",
                data_location=str(sample_files.interactions),
                schema_file=str(sample_files.interactions_schema),
            ),
        )
        _cli(
            capsys,
            *("create-solution", "--name", "shop-popular", "--dataset-group", "shop", "--recipe", "popularity_count"),
            *("--solution-config", json.dumps({"autoTrainingConfig": {"schedulingExpression": "rate(2 days)"}})),
        )

        state, first = run_dag(DAG_ID)

        assert state == DagRunState.SUCCESS
        assert isinstance(first["check_new_data"], NewDataCheck) and first["check_new_data"].new_data is True
        assert first["check_new_data"].reason.startswith("no version yet")
        trained = first["train"]
        assert isinstance(trained, TrainResult) and isinstance(first["promote"], Promotion)
        assert first["promote"].promoted is True
        version = platform.catalog.get(ResourceType.SOLUTION_VERSION, trained.solution_version_arn)
        assert version.status is Status.ACTIVE
        assert version.attributes["trainingType"] == "AUTOMATIC"

        state, second = run_dag(DAG_ID)

        # nothing new: the run succeeds and trains nothing
        assert state == DagRunState.SUCCESS
        assert second == {name: None for name in second}
        versions = platform.catalog.list(ResourceType.SOLUTION_VERSION)
        assert [v.arn for v in versions] == [trained.solution_version_arn]

        tracker = create_event_tracker(platform, "shop-tracker", "shop")
        event = {"eventId": "e-1", "eventType": "click", "itemId": "i0001", "sentAt": time.time()}
        put_events(platform, tracker.attributes["trackingId"], "session-1", [event], user_id="u0001")

        state, third = run_dag(DAG_ID)

        assert state == DagRunState.SUCCESS
        assert third["check_new_data"].reason == f"1 events now, 0 when {trained.solution_version_arn} trained"
        assert third["train"].solution_version_arn != trained.solution_version_arn
        assert len(platform.catalog.list(ResourceType.SOLUTION_VERSION)) == 2
    finally:
        platform.catalog.dispose()


def test_the_update_dag_changes_the_schedule_the_auto_training_dag_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import DeltaTriggerTimetable
    from airflow.sdk.exceptions import ParamValidationError
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))
    prepare_airflow(tmp_path / "airflow")
    _cli(capsys, "create-dataset-group", "--name", "shop")
    _cli(capsys, "create-solution", "--name", "shop-popular", "--dataset-group", "shop", "--recipe", "popularity_count")
    from orchestration.airflow_local import DAGS_FOLDER

    assert DagBag(dag_folder=str(DAGS_FOLDER)).dags[DAG_ID].timetable == DeltaTriggerTimetable(timedelta(days=7))

    state, results = run_dag(
        "recsmith_update_solution", {"solution": "shop-popular", "scheduling_expression": "rate(14 days)"}
    )

    assert state == DagRunState.SUCCESS
    assert results["update_solution"]["autoTrainingConfig"] == {"schedulingExpression": "rate(14 days)"}
    assert DagBag(dag_folder=str(DAGS_FOLDER)).dags[DAG_ID].timetable == DeltaTriggerTimetable(timedelta(days=14))
    with pytest.raises(ParamValidationError, match="scheduling_expression"):
        run_dag("recsmith_update_solution", {"solution": "shop-popular", "scheduling_expression": "rate(45 days)"})

    state, results = run_dag("recsmith_update_solution", {"solution": "shop-popular", "perform_auto_training": False})

    assert state == DagRunState.SUCCESS
    assert DAG_ID not in DagBag(dag_folder=str(DAGS_FOLDER)).dags
