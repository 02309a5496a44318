"""The DAGs parse, follow the conventions (dag_id = file stem, typed params) and wire the stages in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.registry import recipe_ids
from orchestration.airflow_local import DAGS_FOLDER

STAGES = ["import_dataset", "train", "evaluate", "register", "promote", "deploy"]


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture(scope="module")
def dagbag():
    return _dagbag()


def test_every_file_is_one_dag_named_after_it(dagbag) -> None:
    assert dagbag.import_errors == {}
    stems = {path.stem for path in DAGS_FOLDER.glob("*.py")} - {"__init__"}
    expected = {"recsmith_import", "recsmith_train", "recsmith_deploy", "recsmith_retrain", "recsmith_forecast"}
    assert set(dagbag.dags) == stems == expected
    for dag_id, dag in dagbag.dags.items():
        assert Path(dag.fileloc).stem == dag_id
        assert dag.doc_md and dag_id.removeprefix("recsmith_") in dag.doc_md.lower()
        assert dag.start_date is not None and dag.start_date.tzinfo is not None
        assert dag.catchup is False


def test_params_are_typed_for_the_trigger_form(dagbag) -> None:
    for dag in dagbag.dags.values():
        assert dag.params, dag.dag_id
        for name in dag.params:
            param = dag.params.get_param(name)
            assert param.schema.get("type") in {"string", "boolean", "integer", "number", "object"}, (dag.dag_id, name)
            assert param.schema.get("title") and param.description, (dag.dag_id, name)


def test_retrain_runs_the_stages_in_order(dagbag) -> None:
    dag = dagbag.dags["recsmith_retrain"]
    assert dag.task_ids == STAGES
    for before, after in zip(STAGES, STAGES[1:], strict=False):
        assert before in dag.get_task(after).upstream_task_ids, (before, after)
    schema = {name: dag.params.get_param(name).schema for name in dag.params}
    assert schema["recipe"]["enum"] == [*recipe_ids(), "automl"]
    assert schema["update_mode"]["enum"] == ["AUTO", "MANUAL"]
    assert schema["perform_hpo"]["type"] == "boolean"
    assert {"dataset_group", "data_location", "schema_file", "solution", "campaign"} <= set(schema)


def test_retries_cover_transient_faults(dagbag) -> None:
    for dag in dagbag.dags.values():
        assert all(task.retries == 2 for task in dag.tasks), dag.dag_id


def test_a_new_import_schedules_training(dagbag) -> None:
    (outlet,) = dagbag.dags["recsmith_import"].get_task("import_dataset").outlets
    assert outlet.uri.rstrip("/") == "recsmith://imports"
    train = dagbag.dags["recsmith_train"]
    assert train.task_ids == ["train", "evaluate", "register", "promote"]
    assert "recsmith://imports" in repr(train.timetable)


def test_retrain_schedule_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECSMITH_RETRAIN_SCHEDULE", raising=False)
    assert _dagbag().dags["recsmith_retrain"].schedule is None
    monkeypatch.setenv("RECSMITH_RETRAIN_SCHEDULE", "0 3 * * *")
    assert _dagbag().dags["recsmith_retrain"].timetable.expression == "0 3 * * *"


def test_config_errors_fail_without_retry_and_others_propagate(tmp_path: Path, monkeypatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from orchestration.airflow_tasks import stage, train_config
    from recsmith.errors import InvalidInputError

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path))
    with pytest.raises(AirflowFailException, match="unknown recipe 'nope'"), stage():
        train_config("demo", "", "nope", False)
    with pytest.raises(AirflowFailException, match="InvalidInputError: bad file"), stage():
        raise InvalidInputError("bad file")
    with pytest.raises(ConnectionError, match="flaky"), stage():
        raise ConnectionError("flaky")


def test_train_config_of_the_params() -> None:
    from orchestration.airflow_tasks import train_config

    automl = train_config("demo", "", "automl", False)
    assert automl.solution == "demo-automl"
    assert automl.solution_config.perform_automl and automl.solution_config.recipe is None
    sims = train_config("demo", "my-solution", "sims", True)
    assert sims.solution == "my-solution"
    assert (sims.solution_config.recipe, sims.solution_config.perform_hpo) == ("sims", True)
