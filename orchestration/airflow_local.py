"""Run the DAGs of ``dags/`` in this process on an embedded Airflow: SQLite metadata, no scheduler, no server.

The stable API the tests and ``scripts/demo.py`` use::

    from orchestration.airflow_local import prepare_airflow, run_dag

    prepare_airflow(Path(".recsmith/airflow"))          # once per process, before running anything
    state, results = run_dag("recsmith_retrain", {"dataset_group": "demo", ...})
    assert state == "success"                            # DagRunState is a str enum
    results["deploy"].campaign_arn                       # each task's typed result (recsmith.stage_results)

``run_dag`` runs the DAG with ``dag.test()``: every task runs here, in order, with the ``RECSMITH_*``
environment of this process, so set ``RECSMITH_HOME`` before calling it. A failed task does not raise: the
returned state is ``failed`` and the failed task's result is ``None``.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsmith.faces import face_folder

if TYPE_CHECKING:
    from airflow.utils.state import DagRunState

logger = logging.getLogger(__name__)

DAGS_FOLDER = face_folder("dags")
"""The installed ``dags`` package's folder (the checkout's ``dags/`` when editable), the default of
:func:`prepare_airflow`."""

_HTTPX_WARNING = "Using `httpx` with `starlette.testclient` is deprecated"


def _airflow_env(home: Path, dags_folder: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


def prepare_airflow(home: Path, dags_folder: Path = DAGS_FOLDER) -> None:
    """Point Airflow at ``home`` (config, SQLite metadata database, logs) and ``dags_folder``; create the tables.

    Call it before anything imports Airflow when you can: Airflow reads its configuration at import time.
    When Airflow is already imported, the metadata database and DAGs folder are switched over in place (logs
    stay where the first configuration put them). Takes about a second on a fresh folder; calling it again
    with the same folder is cheap and harmless.
    """
    home = home.expanduser().resolve()
    dags_folder = dags_folder.expanduser().resolve()
    if not dags_folder.is_dir():
        raise FileNotFoundError(f"DAGs folder {dags_folder} does not exist")
    home.mkdir(parents=True, exist_ok=True)
    env = _airflow_env(home, dags_folder)
    already_imported = "airflow.settings" in sys.modules
    os.environ.update(env)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_HTTPX_WARNING, category=UserWarning)
        _configure_and_migrate(env, already_imported, home)


def _configure_and_migrate(env: dict[str, str], already_imported: bool, home: Path) -> None:
    from airflow import settings
    from airflow.utils.db import upgradedb

    # the configuration reads the AIRFLOW__* environment on every get; the engine was built once, at import
    if already_imported and settings.SQL_ALCHEMY_CONN != env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]:
        logger.info("switching the embedded Airflow over to %s", home)
        settings.configure_vars()
        settings.reconfigure_orm()
    upgradedb()


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> tuple[DagRunState, dict[str, Any]]:
    """Run ``dag_id`` once with ``conf`` as its params; return the run's state and each task's return value.

    The DAG is parsed afresh from the configured DAGs folder for every run (a reused DAG object keeps the
    previous run's params). The result maps every task id to what the task returned (its ``return_value``
    XCom), or ``None`` for a task that failed, was skipped or returned nothing. Params that break their
    schema raise ``airflow.sdk.exceptions.ParamValidationError`` before any task runs. Results come back as
    the tasks returned them: the stages' pydantic results (:mod:`recsmith.stage_results`), or plain values.
    """
    from airflow.configuration import conf as airflow_conf
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=airflow_conf.get("core", "dags_folder"))
    if dag_id not in bag.dags:
        errors = "; ".join(f"{path}: {error.splitlines()[-1]}" for path, error in bag.import_errors.items())
        raise KeyError(f"no DAG {dag_id!r}; DAGs: {', '.join(sorted(bag.dags))}; import errors: {errors or 'none'}")
    dag = bag.dags[dag_id]
    with warnings.catch_warnings():
        # dag.test() runs the execution API through starlette's test client, which warns about httpx
        warnings.filterwarnings("ignore", message=_HTTPX_WARNING, category=UserWarning)
        run = dag.test(run_conf=conf or {})
    return run.state, {task_id: _return_value(dag_id, run.run_id, task_id) for task_id in dag.task_ids}


def _return_value(dag_id: str, run_id: str, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.sdk.serde import deserialize
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key="return_value", map_index=-1)
            .one_or_none()
        )
        return None if row is None else deserialize(XComModel.deserialize_value(row))
