"""The fault suite (issue 15): a poisoned client beside honest ones, kill -9 mid-PutEvents, no orphan, no stale port.

One trained campaign; one real ``bentoml serve`` per event store (SQLite, and PostgreSQL where
RECSMITH_TEST_POSTGRES_URL is set). On each: eight honest boto3 clients across two dataset groups stream PutEvents
while one client sends the attack run's bodies (before the rules, 16-20% of the honest calls failed); then
``kill -9`` of the server's whole process group mid-stream: every acknowledged event is in the store, and no
process of the server is left (a worker used to survive, re-parented to init, still serving the port).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from recsmith.api.client import read_credentials
from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.server import PortInUseError, ensure_port_free, serve_campaign, stop_server, wait_ready
from recsmith.data.datasets import create_dataset_group
from recsmith.events.tracker import create_event_tracker
from recsmith.settings import Settings
from tests.conftest import _postgres_database
from tests.faults.scenarios import Key, hostile_bodies, kill_mid_stream, poison_round, stored_event_ids
from tests.serving.servers import TrainedGroup, free_port, trained_group

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HONEST_CLIENTS = 8
POISON_SECONDS = 6.0


@dataclass(frozen=True)
class Trained:
    setup: TrainedGroup
    campaign_arn: str
    other_tracking_id: str  # the tracker of a second dataset group (another tenant)
    root: Path


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    event_store_url: str
    tracking_ids: tuple[str, str]
    log: Path
    key: Key  # the admin key the server wrote to its home at start


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    root = tmp_path_factory.mktemp("faults")
    setup = trained_group(root, "shop", poll_seconds=1.0)
    create_dataset_group(setup.platform, "other")
    other = create_event_tracker(setup.platform, "other-tracker", "other").attributes["trackingId"]
    campaign = create_campaign(setup.platform, "shop-live", solution_version=setup.trained.solution_version_arn)
    yield Trained(setup, campaign.arn, other, root)
    setup.platform.catalog.dispose()
    setup.platform.events.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, trained: Trained) -> Iterator[Server]:
    settings: Settings = trained.setup.platform.settings
    databases: Iterator[str] | None = None
    if request.param == "postgresql":
        base = os.environ.get("RECSMITH_TEST_POSTGRES_URL")
        if not base:
            pytest.skip("RECSMITH_TEST_POSTGRES_URL is unset (CI sets it; PostgreSQL tests run there)")
        databases = _postgres_database(base.replace("postgresql://", "postgresql+psycopg://", 1))
        settings = settings.model_copy(update={"event_store_url": next(databases)})
    log = trained.root / f"server-{request.param}.log"
    port = free_port()
    process = serve_campaign(settings, trained.campaign_arn, port, log_file=log)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, timeout=180, process=process)
        except Exception as exc:
            raise AssertionError(f"campaign server did not start:\n{log.read_text()[-4000:]}") from exc
        ids = (trained.setup.tracking_id, trained.other_tracking_id)
        key = read_credentials(settings.resolved_home / "credentials")
        yield Server(url, process, settings.resolved_event_store_url(), ids, log, key)
    finally:
        stop_server(process)
        if databases is not None:
            databases.close()  # drops the database


def test_a_poisoned_client_fails_no_honest_call_in_any_group(server: Server) -> None:
    stream, answers = poison_round(
        server.url, server.key, server.tracking_ids, POISON_SECONDS, honest_clients=HONEST_CLIENTS
    )
    assert stream.failures == [], f"{len(stream.failures)} of {stream.calls} honest calls failed: {stream.failures[:3]}"
    assert stream.calls >= 3 * HONEST_CLIENTS, stream.calls
    assert {what for what, _, _ in answers} == {what for what, _ in hostile_bodies("t")}  # each was sent
    wrong = [(what, status, code) for what, status, code in answers if (status, code) not in _REFUSALS[what]]
    assert wrong == [], wrong[:5]
    assert stream.acknowledged <= stored_event_ids(server.event_store_url)


_REFUSALS = {what: {(400, "InvalidInputException")} for what, _ in hostile_bodies("t")}
_REFUSALS["5 MB body"] = {(413, "InvalidInputException")}


def test_kill_9_mid_put_events_loses_no_acknowledged_event_and_leaves_no_process(server: Server) -> None:
    """Runs after the poison test of the same server: kill -9 of its worker mid-call, then (once the arbiter has
    started a new worker) of its whole process group."""
    result = kill_mid_stream(
        server.url,
        server.key,
        server.process.pid,
        server.tracking_ids,
        server.event_store_url,
        clients=6,
        kill_after=4.0,
    )
    for orphan in result.orphan_pids:  # end what this test started, whatever it asserts next
        with contextlib.suppress(psutil.Error):
            psutil.Process(orphan).kill()
    assert result.acknowledged > 0, result
    assert result.honest_failures_before_kill == 0, result
    assert result.respawned, result
    assert result.lost == 0, result
    assert result.orphans == [], f"server processes alive after kill -9 of the group: {result.orphans}"
    port = int(server.url.rsplit(":", 1)[1])
    ensure_port_free("127.0.0.1", port)  # nothing holds the port any more


def test_start_refuses_a_port_something_already_answers(trained: Trained) -> None:
    """A stale server on the port (here a plain HTTP server answering /readyz, as the orphan did): start-up fails
    with PortInUseError, and ``serve-campaign`` exits non-zero without printing an endpoint."""

    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    stale = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    port = stale.server_address[1]
    threading.Thread(target=stale.serve_forever, daemon=True).start()
    try:
        settings = trained.setup.platform.settings
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is in use"):
            serve_campaign(settings, trained.campaign_arn, port)
        env = {**os.environ, "RECSMITH_HOME": str(settings.resolved_home)}
        cli = subprocess.run(
            [sys.executable, "-m", "recsmith.cli", "serve-campaign", "--campaign", "shop-live", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
        )
        assert cli.returncode != 0
        assert "endpoint" not in cli.stdout, cli.stdout
        assert f"port {port} on 127.0.0.1 is in use" in cli.stderr, cli.stderr[-2000:]
    finally:
        stale.shutdown()
        stale.server_close()


def test_the_fuzz_signer_signs_as_boto3_does() -> None:
    """The fuzz can sign its requests (for ``recsmith serve``): SigV4 with the given key, region and service."""
    import requests

    from tests.faults.http_fuzz import sigv4_signer

    prepared = requests.Request("POST", "http://127.0.0.1:1/events", json={"a": 1}).prepare()
    sigv4_signer("AKIDEXAMPLE", "secret", "us-east-1", "personalize")(prepared)
    authorization = prepared.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/personalize/aws4_request" in authorization and "X-Amz-Date" in prepared.headers
