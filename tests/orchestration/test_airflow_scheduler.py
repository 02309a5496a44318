"""The DAGs under a real Airflow (``airflow standalone`` on loopback, a non-default port, LocalExecutor): triggered
through the REST API, on schedule, and with their training task killed, as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from recsmith.catalog import Resource, ResourceType, Status
from recsmith.data.sample import SampleFiles
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.workflow import ImportConfig, import_dataset
from tests.airflow_server import AirflowServer, airflow_standalone

# every wait below is bounded; the module's server start counts towards its first test's time
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1800)]

GROUP = "sched"
RECSMITH = Path(sys.executable).with_name("recsmith")


RETRAIN_CONF = {
    "dataset_group": GROUP,
    "recipe": "automl",
    "perform_hpo": True,
    "solution_config": {
        "autoMLConfig": {"recipeList": ["popularity_count", "sims", "next_item_knn"]},
        "hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"}},
        "performAutoTraining": False,
    },
    "campaign": "sched-campaign",
}
AUTO_DAG = "recsmith_auto_training__sched-popular"


@dataclass
class Setup:
    airflow: AirflowServer
    home: Path
    retrain_run: str

    def platform(self) -> Platform:
        return Platform(Settings(home=self.home))

    def versions(self, task_key_prefix: str) -> list[Resource]:
        platform = self.platform()
        try:
            return [
                version
                for version in platform.catalog.list(ResourceType.SOLUTION_VERSION)
                if str(version.attributes.get("taskKey") or "").startswith(task_key_prefix)
            ]
        finally:
            platform.catalog.dispose()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, sample_files: SampleFiles) -> Iterator[Setup]:
    """One server for the module; the retrain run and the automatic training start at once and overlap with the
    kill test, so the module costs one server start and about the longest of the three."""
    root = tmp_path_factory.mktemp("airflow-scheduler")
    home = root / "recsmith"
    platform = Platform(Settings(home=home))
    try:
        import_dataset(
            platform,
            ImportConfig(
                dataset_group=GROUP,
                data_location=str(sample_files.interactions),
                schema_file=str(sample_files.interactions_schema),
            ),
        )
        # the embedded MLflow store migrates its SQLite tables on first use; three trainings starting at once on
        # a fresh store race there ("table _alembic_tmp_experiments already exists") and break it for good, so
        # it is created once first, as `make demo` or a tracking server has it before Airflow trains anything
        platform.configure_mlflow()
        MlflowClient().search_experiments()
    finally:
        platform.catalog.dispose()
    with airflow_standalone(root / "airflow", env={"RECSMITH_HOME": str(home)}) as airflow:
        dag = airflow.wait_for_dag("recsmith_retrain")
        # unpaused when created: a run triggered through the API starts without anyone touching the UI
        assert dag["is_paused"] is False
        conf = {
            **RETRAIN_CONF,
            "data_location": str(sample_files.interactions),
            "schema_file": str(sample_files.interactions_schema),
        }
        retrain_run = airflow.trigger("recsmith_retrain", conf)
        created = subprocess.run(
            [str(RECSMITH), "create-solution", "--name", "sched-popular", "--dataset-group", GROUP]
            + ["--recipe", "popularity_count", "--solution-config"]
            + [json.dumps({"autoTrainingConfig": {"schedulingExpression": "rate(3 days)"}})],
            env={**os.environ, "RECSMITH_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr
        yield Setup(airflow, home, retrain_run)


def _wait_for_training(setup: Setup, prefix: str, known: set[str], timeout: float = 600) -> Resource:
    """A version of ``prefix`` not seen before, once it is IN PROGRESS with its training process recorded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for version in setup.versions(prefix):
            started = version.status is Status.CREATE_IN_PROGRESS and "mlflowRunId" in version.attributes
            if version.arn not in known and started:  # mid-training: its MLflow run has started
                return version
        time.sleep(0.5)
    raise AssertionError(f"no new training of {prefix} within {timeout} s")


def test_a_training_task_killed_on_every_try_leaves_create_failed_versions_never_in_progress(setup: Setup) -> None:
    airflow = setup.airflow
    conf = {
        "dataset_group": GROUP,
        "solution": "sched-slow",
        "recipe": "hrnn",
        # long enough to be killed mid-training on any machine
        "solution_config": {"algorithmHyperParameters": {"epochs": 200}, "performAutoTraining": False},
    }
    airflow.wait_for_dag("recsmith_train")
    run_id = airflow.trigger("recsmith_train", conf)
    prefix = f"recsmith_train/{run_id}/train"
    killed: set[str] = set()
    for _ in range(3):  # the first try and its two retries
        version = _wait_for_training(setup, prefix, killed)
        os.kill(version.attributes["trainingProcess"]["pid"], signal.SIGKILL)  # as the OOM killer does
        killed.add(version.arn)

    state = airflow.wait_for_run("recsmith_train", run_id, timeout=600)

    assert state == "failed"
    states = airflow.task_states("recsmith_train", run_id)
    assert states["train"] == "failed" and states["mark_training_failed"] == "success", states
    versions = setup.versions(prefix)
    # one version per try, none left IN PROGRESS: the retries failed their predecessors', the clean-up the last
    assert {v.arn for v in versions} == killed
    assert all(v.status is Status.CREATE_FAILED for v in versions), [(v.arn, v.status) for v in versions]
    # each names the process that died (the job lifecycle sees it gone on this host)
    for version in versions:
        pid = version.attributes["trainingProcess"]["pid"]
        assert f"(pid {pid} on " in str(version.failure_reason) and "ended before it finished" in str(
            version.failure_reason
        ), version.failure_reason
    platform = setup.platform()
    try:
        platform.configure_mlflow()
        client = MlflowClient()
        for version in versions:
            assert client.get_run(version.attributes["mlflowRunId"]).info.status == "FAILED"
    finally:
        platform.catalog.dispose()


def test_retrain_with_automl_and_hpo_succeeds_from_a_rest_trigger(setup: Setup) -> None:
    airflow, run_id = setup.airflow, setup.retrain_run
    assert airflow.url.startswith("http://127.0.0.1:") and not airflow.url.endswith(":8080")

    state = airflow.wait_for_run("recsmith_retrain", run_id, timeout=900)

    states = airflow.task_states("recsmith_retrain", run_id)
    assert state == "success", (states, airflow.task_log("recsmith_retrain", run_id, "train"))
    assert states == {
        "import_dataset": "success",
        "train": "success",
        "evaluate": "success",
        "promote": "success",
        "deploy": "success",
        "mark_training_failed": "skipped",
    }
    # AutoML trained its candidates in worker processes, under Airflow's task runner
    versions = setup.versions(f"recsmith_retrain/{run_id}/")
    (version,) = [v for v in versions if v.status is Status.ACTIVE]
    # a retried try (a transient fault) left its version CREATE FAILED with the reason, never IN PROGRESS
    failed = {v.arn: v.failure_reason for v in versions if v is not version}
    assert all(v.status is Status.CREATE_FAILED for v in versions if v is not version), failed
    tries = len(versions)
    log = airflow.task_log("recsmith_retrain", run_id, "train", try_number=tries)
    assert "training 3 candidates in 2 processes" in log or len(os.sched_getaffinity(0)) < 2, (failed, log[-3000:])
    assert set(version.attributes["candidates"]) == {"popularity_count", "sims", "next_item_knn"}
    assert version.attributes["tunedHPOParams"] is not None
    promotion = airflow.xcom("recsmith_retrain", run_id, "promote")
    assert "first version in production" in json.dumps(promotion)


def test_automatic_training_of_a_solution_created_with_the_cli_fires_on_schedule(setup: Setup) -> None:
    airflow = setup.airflow
    dag_id = AUTO_DAG
    dag = airflow.wait_for_dag(dag_id)

    # the schedule as the UI shows it, from the solution's schedulingExpression
    assert dag["is_paused"] is False
    assert dag["timetable_summary"] == "3 days, 0:00:00"
    assert "sched-popular" in dag["description"] and "rate(3 days)" in dag["description"]
    deadline = time.monotonic() + 900
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = airflow.api("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]
        if runs and runs[0]["state"] in ("success", "failed"):
            break
        time.sleep(2)
    (run,) = runs
    assert run["run_type"] == "scheduled", run
    states = airflow.task_states(dag_id, run["dag_run_id"])
    assert run["state"] == "success", (states, airflow.task_log(dag_id, run["dag_run_id"], "train"))
    assert states["check_new_data"] == states["train"] == states["promote"] == "success"
    (version,) = setup.versions(f"{dag_id}/{run['dag_run_id']}/")
    assert version.status is Status.ACTIVE and version.attributes["trainingType"] == "AUTOMATIC"
    # the next run is three days after this one
    dag = airflow.api("GET", f"/dags/{dag_id}/details")
    assert dag["next_dagrun_run_after"] is not None


