"""`make demo`: the whole recsmith workflow on a generated sample, on the embedded defaults.

1. generate a deterministic sample (interactions with sessions, items with genres, users with an age band);
2. run the end-to-end Airflow DAG ``recsmith_retrain`` with ``dag.test()`` (real Airflow, SQLite, no scheduler):
   import -> train (AutoML over the default candidate recipes, registered in MLflow) -> evaluate -> promote ->
   deploy a campaign;
3. start `recsmith serve` (one endpoint for Personalize's control plane, runtime and events) and, through boto3
   signed with the admin key the server wrote to ``$RECSMITH_HOME/credentials``, ask the campaign for
   recommendations for three users and for items related to one item (a campaign of a user recipe refuses that
   with a clear error), send a PutEvents for one user and show that user's answer change;
4. print where to look, then keep serving until Ctrl-C (``--no-serve`` exits after printing).

This script is an adapter like the CLI: every step is a recsmith function or the DAG.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.exceptions import ClientError

GROUP, SOLUTION, CAMPAIGN = "demo", "demo-auto", "demo-live"


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port on 127.0.0.1")


def _show(title: str, payload: Any) -> None:
    print(f"\n== {title}")
    # the DAG's results are the workflow's typed (pydantic) results
    text = json.dumps(payload, indent=2, default=lambda typed: typed.model_dump(mode="json"))
    print(text if not isinstance(payload, str) else payload, flush=True)


def _items(response: dict[str, Any]) -> list[str]:
    return [entry["itemId"] for entry in response["itemList"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--port", type=int, default=int(os.environ.get("RECSMITH_DEMO_PORT", "8000")))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    # the demo prints its own story; the components' logs stay quiet (the server's go to a file)
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    from orchestration.airflow_local import prepare_airflow, run_dag
    from recsmith.catalog import ResourceType
    from recsmith.data.sample import generate_sample
    from recsmith.events.tracker import create_event_tracker
    from recsmith.platform import Platform

    platform = Platform.from_env()
    home = platform.settings.resolved_home
    home.mkdir(parents=True, exist_ok=True)
    sample = generate_sample(home / "sample")
    _show("1. sample data", {k: str(v) for k, v in vars(sample).items() if k != "folder"})

    prepare_airflow(Path(os.environ.get("AIRFLOW_HOME", home / "airflow")))
    conf = {
        "dataset_group": GROUP,
        "data_location": str(sample.interactions),
        "schema_file": str(sample.interactions_schema),
        "solution": SOLUTION,
        "recipe": "automl",
        "perform_hpo": False,
        "campaign": CAMPAIGN,
        "update_mode": "AUTO",
    }
    started = time.time()
    state, results = run_dag("recsmith_retrain", conf)
    _show(f"2. Airflow DAG recsmith_retrain ran with dag.test(): {state} in {time.time() - started:.1f}s", results)
    if str(state) != "success":
        print("the DAG failed; see the task logs above", file=sys.stderr)
        return 1

    campaign = platform.catalog.get(ResourceType.CAMPAIGN, CAMPAIGN)
    trackers = platform.catalog.list(ResourceType.EVENT_TRACKER, dataset_group_arn=campaign.dataset_group_arn)
    tracker = trackers[0] if trackers else create_event_tracker(platform, f"{GROUP}-tracker", GROUP)
    tracking_id = tracker.attributes["trackingId"]

    # a SIGTERM (as from a supervisor) stops the server too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = _free_port(args.port)
    url = f"http://127.0.0.1:{port}"
    server_log = home / "logs" / "serve.log"
    server_log.parent.mkdir(parents=True, exist_ok=True)
    server = _start_serve(port, server_log)
    try:
        _wait_ready(url, server)
        # what a user's code needs: the credentials file `recsmith serve` wrote at its first start, and the URL
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "credentials")
        os.environ["AWS_PROFILE"] = "recsmith"
        session = boto3.Session()
        runtime = session.client("personalize-runtime", endpoint_url=url)
        events = session.client("personalize-events", endpoint_url=url)
        personalize = session.client("personalize", endpoint_url=url)

        def ask(**request: Any) -> dict[str, Any]:
            return dict(runtime.get_recommendations(campaignArn=campaign.arn, **request))

        users = ["u0001", "u0002", "u0003"]
        answers = {user: ask(userId=user, numResults=5) for user in users}
        described = personalize.describe_campaign(campaignArn=campaign.arn)["campaign"]
        _show(
            f"3. live recommendations from the campaign through boto3 at {url}",
            {user: _items(a) for user, a in answers.items()}
            | {"campaign": described["campaignArn"], "status": described["status"]},
        )
        # related items need a RELATED_ITEMS recipe (sims); AutoML may pick a user recipe such as
        # next_item_knn, whose campaign refuses itemId requests with InvalidInputException, as Personalize's does
        try:
            _show("4. items related to i0010", _items(ask(itemId="i0010", numResults=5)))
        except ClientError as exc:
            _show(
                f"4. items related to i0010: the campaign answers {exc.response['Error']['Code']}",
                f"{exc.response['Error']['Message']}\n(related items come from a campaign of a `sims` solution:"
                " create_solution(recipeArn='arn:aws:personalize:::recipe/aws-sims', ...))",
            )

        before = _items(answers["u0001"])
        clicked = ["i0100", "i0108"]
        events.put_events(
            trackingId=tracking_id,
            userId="u0001",
            sessionId="demo",
            eventList=[
                {"eventId": f"demo-{time.time_ns()}-{i}", "eventType": "click", "itemId": item, "sentAt": time.time()}
                for i, item in enumerate(clicked)
            ],
        )
        after = _items(ask(userId="u0001", numResults=5))
        _show(
            "5. PutEvents: u0001 clicked " + ", ".join(clicked),
            {"before": before, "after": after, "changed": before != after},
        )
        mlflow_db = home / "mlflow.db"
        _show(
            "6. where to look",
            "\n".join(
                [
                    f"endpoint          : {url}  (boto3 personalize, personalize-runtime, personalize-events;"
                    " aws personalize --endpoint-url)",
                    f"credentials       : AWS_SHARED_CREDENTIALS_FILE={home / 'credentials'} AWS_PROFILE=recsmith",
                    f"operations        : {url}/docs (signed, like every route but /readyz and /livez)",
                    f"server log        : {server_log}",
                    f"MLflow UI         : make mlflow-ui   (mlflow ui --backend-store-uri sqlite:///{mlflow_db})",
                    "Airflow UI        : make airflow-ui  (airflow standalone on dags/)",
                    f"CLI               : RECSMITH_HOME={home} .venv/bin/recsmith describe-campaign "
                    f"--campaign {CAMPAIGN}",
                ]
            ),
        )
        if args.serve:
            print(f"\nServing at {url} until Ctrl-C ...", flush=True)
            server.wait()
    except KeyboardInterrupt:
        print("\nstopping the server")
    finally:
        _stop(server)
    return 0


def _start_serve(port: int, log: Path) -> subprocess.Popen[bytes]:
    """`recsmith serve` in its own process group, its output in ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "recsmith.cli", "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"recsmith serve exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"recsmith serve at {url} was not ready after {timeout:.0f}s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
