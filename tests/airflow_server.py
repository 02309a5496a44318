"""A real Airflow (``airflow standalone``: scheduler, DAG processor, API server, triggerer, LocalExecutor) on
loopback, for tests that need what ``dag.test()`` does not run: the scheduler, the task runner, schedules, the
REST API and the UI.

Reusable: ``with airflow_standalone(tmp, env={"RECSMITH_HOME": ...}) as airflow:`` gives an :class:`AirflowServer`
with a REST client authenticated as a real user (the simple auth manager, a password this helper writes), and
helpers to trigger a DAG and wait for its run. The server listens on 127.0.0.1 on a free, non-default port, and
its tasks reach the execution API at that port (``[core] execution_api_server_url``); it runs in its own process
group, stopped by group (SIGTERM, then SIGKILL), so nothing outlives the ``with``. Every wait is bounded. Its
metadata database is a fresh PostgreSQL database where ``RECSMITH_TEST_POSTGRES_URL`` is set (CI), else SQLite.

Airflow reads settings from the environment of ``airflow standalone``; pass recsmith's (``RECSMITH_HOME`` and
others) in ``env``: the DAG processor and every task inherit them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

AIRFLOW = Path(sys.executable).with_name("airflow")
TERMINAL = {"success", "failed"}


def free_port() -> int:
    """A free loopback port (never Airflow's default 8080, which another Airflow may hold)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != 8080:
            return port


@dataclass
class AirflowServer:
    """A running ``airflow standalone``: its URL, home, log and an authenticated REST client."""

    url: str
    home: Path
    log: Path
    process: subprocess.Popen[bytes]
    username: str
    password: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        # generous: on a busy 2-core machine the API server shares the CPU with training tasks
        self.client = httpx.Client(base_url=self.url, timeout=90)

    def authenticate(self) -> None:
        """Get a JWT for the REST API as the test user (``POST /auth/token``)."""
        response = self.client.post("/auth/token", json={"username": self.username, "password": self.password})
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API v2 (``path`` below ``/api/v2``); raises on an HTTP error, returns the JSON."""
        response = self.client.request(method, f"/api/v2{path}", **kwargs)
        if response.is_error:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """The DAG once the DAG processor has parsed it and the scheduler knows when it next runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = self.client.get(f"/api/v2/dags/{dag_id}")
            except httpx.TimeoutException:
                continue
            if response.status_code == 200:
                return dict(response.json())
            time.sleep(1)
        raise AssertionError(f"DAG {dag_id} did not appear within {timeout} s; see {self.log}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Trigger a run now through the REST API; returns its run id."""
        body = {"logical_date": None, "conf": dict(conf or {})}
        return str(self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """The run's final state (``success`` or ``failed``); raises when it has none within ``timeout``."""
        deadline = time.monotonic() + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            try:
                state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            except httpx.TimeoutException:
                continue  # a slow answer while tasks hold the CPU; ask again until the deadline
            if state in TERMINAL:
                return str(state)
            time.sleep(2)
        raise AssertionError(f"run {run_id} of {dag_id} still {state} after {timeout} s; see {self.log}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """Each task's state in a run."""
        found = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in found}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The text of one try's log."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        content = self.api("GET", path, params={"full_content": True})["content"]
        if isinstance(content, list):  # structured log lines
            return "\n".join(line.get("event", "") if isinstance(line, dict) else str(line) for line in content)
        return str(content)

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """A task's return value as the REST API shows it."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.api("GET", path, params={"deserialize": True, "stringify": False})["value"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left of it."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@contextmanager
def metadata_database(home: Path) -> Iterator[str]:
    """Airflow's metadata database: a fresh PostgreSQL database where ``RECSMITH_TEST_POSTGRES_URL`` names a
    server (CI), dropped afterwards; otherwise SQLite under ``home``. With SQLite the scheduler, the API server,
    the DAG processor and every task write one file, and on a busy machine a trigger can fail with "database is
    locked" (seen: a POST of a run answered 500)."""
    base = os.environ.get("RECSMITH_TEST_POSTGRES_URL")
    if not base:
        yield f"sqlite:///{home / 'airflow.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"airflow_test_{secrets.token_hex(5)}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(str(admin.url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def airflow_standalone(
    root: Path,
    env: Mapping[str, str] | None = None,
    dags_folder: Path | None = None,
    startup_timeout: float = 240,
    config: Mapping[str, str] | None = None,
) -> Iterator[AirflowServer]:
    """Start ``airflow standalone`` under ``root`` (its home, SQLite database and log) and stop it afterwards.

    ``config`` adds ``AIRFLOW__SECTION__KEY`` settings; the defaults here re-parse DAG files every 5 s (a DAG
    generated from new catalog entries shows up quickly) and retry a task after 1 s. The metadata database is
    :func:`metadata_database`'s.
    """
    home = root.resolve()
    home.mkdir(parents=True, exist_ok=True)
    with metadata_database(home) as database_url:
        yield from _standalone(home, database_url, env, dags_folder, startup_timeout, config)


def _standalone(
    home: Path,
    database_url: str,
    env: Mapping[str, str] | None,
    dags_folder: Path | None,
    startup_timeout: float,
    config: Mapping[str, str] | None,
) -> Iterator[AirflowServer]:
    from orchestration.airflow_local import DAGS_FOLDER

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    username, password = "recsmith-test", secrets.token_urlsafe(16)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({username: password}))
    settings = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        # psycopg 3 is both; Airflow would otherwise look for asyncpg, which is not installed
        **({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": database_url} if "postgresql" in database_url else {}),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "1",
        "AIRFLOW__CORE__PARALLELISM": "4",
        # tasks talk to the API server while training holds the CPU: Airflow's 5 s timeout fails them on 2 cores
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        # parsing a DAG file imports pandas (through the recipe ids): past Airflow's 30 s on an overloaded machine
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
        # Airflow's log servers bind every interface (it has no host setting); at least not a fixed port
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        **{key.upper(): value for key, value in (config or {}).items()},
    }
    environment = {
        **os.environ,
        "PATH": f"{AIRFLOW.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **settings,
        **(env or {}),
    }
    log = home / "standalone.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(AIRFLOW), "standalone"],
            env=environment,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = AirflowServer(url, home, log, process, username, password)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"airflow standalone exited with {process.returncode}; see {log}")
            try:
                health = server.client.get("/api/v2/monitor/health")
                if health.status_code == 200 and health.json()["scheduler"]["status"] == "healthy":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"airflow standalone not healthy after {startup_timeout} s; see {log}")
            time.sleep(1)
        server.authenticate()
        yield server
    finally:
        server.client.close()
        _stop(process)
