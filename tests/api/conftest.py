"""A real ``recsmith serve`` on loopback, and boto3 clients pointed at it as a user points them.

The server runs in its own process group and is stopped by group, whatever the test does. Clients get their
key the way users do: the admin key from the credentials file the server wrote at first start, tenant keys from
``recsmith create-access-key``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.api.workflow import Deployed, deploy_group
from tests.conftest import _postgres_database
from tests.serving.servers import free_port

REGION = "us-east-1"


@dataclass
class Server:
    """A running ``recsmith serve``: its URL, home, environment and log."""

    url: str
    home: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]
    tenants: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials"

    def admin_key(self) -> tuple[str, str]:
        import configparser

        parser = configparser.RawConfigParser()
        parser.read(self.credentials_file)
        return parser.get("recsmith", "aws_access_key_id"), parser.get("recsmith", "aws_secret_access_key")

    def client(self, service: str, key: tuple[str, str] | None = None, *, validate: bool = True) -> Any:
        """boto3's own client for ``service``, signing with ``key`` (default: the admin key)."""
        key_id, secret = key or self.admin_key()
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, parameter_validation=validate),
        )

    def cli(self, *args: str) -> dict[str, Any]:
        """``recsmith ARGS`` against the server's stores; its JSON answer."""
        out = subprocess.run(
            [sys.executable, "-m", "recsmith.cli", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        parsed: dict[str, Any] = json.loads(out.stdout)
        return parsed

    def tenant_key(self, group: str) -> tuple[str, str]:
        """A key limited to dataset group ``group`` (made once per group)."""
        if group not in self.tenants:
            answer = self.cli("create-access-key", "--dataset-group", group)["AccessKey"]
            self.tenants[group] = (answer["AccessKeyId"], answer["SecretAccessKey"])
        return self.tenants[group]


def start_server(home: Path, env_extra: dict[str, str] | None = None, workers: int = 1) -> Server:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RECSMITH_", "AWS_"))},
        "RECSMITH_HOME": str(home),
        "RECSMITH_CAMPAIGN_POLL_SECONDS": "0.5",
        "RECSMITH_DVC_TRACK": "0",
        **(env_extra or {}),
    }
    log = home / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "recsmith.cli", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", home, env, log, process)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"recsmith serve exited {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(server)
    raise AssertionError(f"recsmith serve did not answer /readyz:\n{log.read_text()[-4000:]}")


def stop_server(server: Server) -> None:
    """SIGTERM to the server's process group, SIGKILL after 15 s: nothing outlives the test."""
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
    try:
        os.killpg(server.process.pid, signal.SIGKILL)  # any child left behind (a training)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server (SQLite stores) for a test module."""
    running = start_server(tmp_path_factory.mktemp("serve") / "home")
    try:
        yield running
    finally:
        stop_server(running)


@dataclass(frozen=True)
class Tenants:
    """One server with two dataset groups, each with an ACTIVE campaign: ``alpha`` (sims), ``beta`` (popularity)."""

    server: Server
    alpha: Deployed
    beta: Deployed


@pytest.fixture(scope="session")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    """Deployed once for the session (training is the slow part), both groups at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("tenants")
    server = start_server(root / "home")
    try:
        with ThreadPoolExecutor(2) as pool:
            alpha = pool.submit(deploy_group, server.client("personalize"), "alpha", root / "alpha")
            beta = pool.submit(
                deploy_group,
                server.client("personalize"),
                "beta",
                root / "beta",
                "arn:aws:personalize:::recipe/aws-popularity-count",
            )
            deployed = Tenants(server, alpha.result(), beta.result())
        yield deployed
    finally:
        stop_server(server)


def postgres_env() -> Iterator[dict[str, str]]:
    """Catalog and event store on a fresh PostgreSQL database (skipped where none is configured)."""
    base = os.environ.get("RECSMITH_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("RECSMITH_TEST_POSTGRES_URL is unset (CI sets it; PostgreSQL tests run there)")
    for url in _postgres_database(base.replace("postgresql://", "postgresql+psycopg://", 1)):
        yield {"RECSMITH_CATALOG_URL": url, "RECSMITH_EVENT_STORE_URL": url}
