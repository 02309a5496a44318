"""The DAGs parse, follow the conventions (dag_id = file stem, typed params, unpaused) and pass typed results."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from models.registry import recipe_ids
from orchestration.airflow_local import DAGS_FOLDER

STAGES = ["import_dataset", "train", "evaluate", "promote", "deploy"]
STATIC_DAGS = {
    "recsmith_import",
    "recsmith_train",
    "recsmith_deploy",
    "recsmith_retrain",
    "recsmith_update_solution",
    "recsmith_forecast",
}


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory):
    """The DAGs as parsed with an empty recsmith home (``make test`` exports the checkout's)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECSMITH_HOME", str(tmp_path_factory.mktemp("home")))
        return _dagbag()


def test_every_file_is_one_dag_named_after_it(dagbag) -> None:
    assert dagbag.import_errors == {}
    stems = {path.stem for path in DAGS_FOLDER.glob("*.py")} - {"__init__"}
    # the automatic-training file makes one DAG per solution of the catalog, and the test catalog has none
    assert stems == STATIC_DAGS | {"recsmith_auto_training"}
    assert set(dagbag.dags) == STATIC_DAGS
    for dag_id, dag in dagbag.dags.items():
        assert Path(dag.fileloc).stem == dag_id
        assert dag.doc_md and dag.doc_md.lstrip().startswith("### recsmith: ")
        assert dag.start_date is not None and dag.start_date.tzinfo is not None
        assert dag.catchup is False
        # a DAG triggered through the REST API must not wait, queued, for someone to unpause it
        assert dag.is_paused_upon_creation is False


def test_params_are_typed_for_the_trigger_form_and_their_defaults_validate(dagbag) -> None:
    from airflow.sdk.definitions.param import NOTSET

    for dag in dagbag.dags.values():
        assert dag.params, dag.dag_id
        for name in dag.params:
            param = dag.params.get_param(name)
            if param.value is NOTSET:
                # a field the operator must fill shows an example of what goes in it
                assert "e.g. " in param.description, (dag.dag_id, name)
            else:
                param.resolve()  # a default that passes its own schema: the Trigger button is enabled
            kinds = param.schema.get("type")
            assert set(kinds if isinstance(kinds, list) else [kinds]) <= {
                "string",
                "boolean",
                "integer",
                "number",
                "object",
                "null",
            }, (dag.dag_id, name)
            assert param.schema.get("title") and param.description, (dag.dag_id, name)


def test_data_defaults_are_absolute_paths_of_the_demos_sample(dagbag) -> None:
    params = dagbag.dags["recsmith_retrain"].params
    for name, file in (("data_location", "interactions.csv"), ("schema_file", "interactions.schema.json")):
        default = Path(params.get_param(name).value)
        # under the RECSMITH_HOME the DAGs were parsed with: never relative to the scheduler's working directory
        assert default.is_absolute() and default.parts[-2:] == ("sample", file), default


def test_retrain_passes_each_stage_result_to_the_next(dagbag) -> None:
    dag = dagbag.dags["recsmith_retrain"]
    assert dag.task_ids == [*STAGES, "mark_training_failed"]
    for before, after in zip(STAGES, STAGES[1:], strict=False):
        # the upstream edge comes from the XCom argument, not from an order set by hand
        task = dag.get_task(after)
        assert task.upstream_task_ids == {before}, (before, after)
        assert before in json.dumps(task.op_args, default=repr), (before, after)
    assert dag.get_task("mark_training_failed").upstream_task_ids == {"train"}
    assert dag.get_task("mark_training_failed").trigger_rule == "one_failed"
    assert dag.schedule is None
    schema = {name: dag.params.get_param(name).schema for name in dag.params}
    assert schema["recipe"]["enum"] == [*recipe_ids(), "automl"]
    assert schema["update_mode"]["enum"] == ["AUTO", "MANUAL"]
    assert schema["perform_hpo"]["type"] == "boolean"
    assert schema["solution"]["type"] == ["null", "string"]
    assert {"dataset_group", "data_location", "schema_file", "solution", "campaign"} <= set(schema)


def test_retries_cover_transient_faults(dagbag) -> None:
    for dag in dagbag.dags.values():
        assert all(task.retries == 2 for task in dag.tasks), dag.dag_id


def test_a_new_import_schedules_training(dagbag) -> None:
    (outlet,) = dagbag.dags["recsmith_import"].get_task("import_dataset").outlets
    assert outlet.uri.rstrip("/") == "recsmith://imports"
    train = dagbag.dags["recsmith_train"]
    assert train.task_ids == ["train", "evaluate", "promote", "mark_training_failed"]
    assert "recsmith://imports" in repr(train.timetable)


def test_config_errors_fail_without_retry_and_others_propagate(tmp_path: Path, monkeypatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from orchestration.airflow_tasks import stage
    from recsmith.errors import InvalidInputError
    from recsmith.workflow import train_config

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path))
    with pytest.raises(AirflowFailException, match="unknown recipe 'nope'"), stage():
        train_config("demo", None, "nope", False)
    with pytest.raises(AirflowFailException, match="InvalidInputError: bad file"), stage():
        raise InvalidInputError("bad file")
    with pytest.raises(ConnectionError, match="flaky"), stage():
        raise ConnectionError("flaky")


def test_train_config_of_the_params() -> None:
    from orchestration import airflow_tasks
    from recsmith import workflow
    from recsmith.workflow import train_config

    assert airflow_tasks.AUTOML == workflow.AUTOML  # the trigger form's value is the one the workflow knows

    automl = train_config("demo", None, "automl", False)
    assert automl.solution == "demo-automl"
    assert automl.solution_config.perform_automl and automl.solution_config.recipe is None
    sims = train_config("demo", "my-solution", "sims", True, {"performAutoTraining": False})
    assert sims.solution == "my-solution"
    assert (sims.solution_config.recipe, sims.solution_config.perform_hpo) == ("sims", True)
    assert sims.solution_config.perform_auto_training is False


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    from recsmith.cli import main

    capsys.readouterr()  # drop what parsing the DAGs logged
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out) if out.strip() else {}


def test_a_solution_created_with_the_cli_gets_its_automatic_training_dag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk import DeltaTriggerTimetable

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))  # the DAG file reads this catalog when parsed
    _cli(monkeypatch, capsys, "create-dataset-group", "--name", "shop")
    config = json.dumps({"autoTrainingConfig": {"schedulingExpression": "rate(3 days)"}})
    _cli(monkeypatch, capsys, "create-solution", "--name", "weekly", "--dataset-group", "shop", "--recipe", "sims")
    _cli(
        monkeypatch,
        capsys,
        *("create-solution", "--name", "every-3", "--dataset-group", "shop", "--recipe", "sims"),
        *("--solution-config", config),
    )
    _cli(
        monkeypatch,
        capsys,
        *("create-solution", "--name", "manual", "--dataset-group", "shop", "--recipe", "sims"),
        "--no-perform-auto-training",
    )
    described = _cli(monkeypatch, capsys, "describe-solution", "--solution-arn", "every-3")["solution"]
    assert described["performAutoTraining"] is True
    assert described["autoTrainingConfig"] == {"schedulingExpression": "rate(3 days)"}

    dags = _dagbag().dags
    assert {"recsmith_auto_training__weekly", "recsmith_auto_training__every-3"} <= set(dags)
    assert "recsmith_auto_training__manual" not in dags
    every_3 = dags["recsmith_auto_training__every-3"]
    assert every_3.timetable == DeltaTriggerTimetable(timedelta(days=3))
    assert dags["recsmith_auto_training__weekly"].timetable == DeltaTriggerTimetable(timedelta(days=7))
    assert every_3.task_ids == ["check_new_data", "train", "evaluate", "promote", "mark_training_failed"]
    assert every_3.is_paused_upon_creation is False
    assert "group:shop" in every_3.tags

    _cli(
        monkeypatch,
        capsys,
        *("update-solution", "--solution-arn", "every-3"),
        *("--solution-update-config", json.dumps({"autoTrainingConfig": {"schedulingExpression": "rate(1 day)"}})),
    )
    _cli(monkeypatch, capsys, "update-solution", "--solution-arn", "weekly", "--no-perform-auto-training")
    dags = _dagbag().dags
    assert dags["recsmith_auto_training__every-3"].timetable == DeltaTriggerTimetable(timedelta(days=1))
    assert "recsmith_auto_training__weekly" not in dags


@pytest.mark.parametrize("expression", ["rate(0 days)", "rate(31 days)", "cron(0 3 * * ? *)", "rate(2 hours)", ""])
def test_a_schedule_outside_personalizes_range_is_refused(
    expression: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recsmith.cli import main

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))
    _cli(monkeypatch, capsys, "create-dataset-group", "--name", "shop")
    config = json.dumps({"autoTrainingConfig": {"schedulingExpression": expression}})
    capsys.readouterr()
    argv = ["create-solution", "--name", "s", "--dataset-group", "shop", "--recipe", "sims"]
    code = main([*argv, "--solution-config", config])

    assert code != 0
    assert "must be rate(N days) with N from 1 to 30" in capsys.readouterr().err
