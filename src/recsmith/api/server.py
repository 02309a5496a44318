"""``recsmith serve``: uvicorn running the one app, with its first-start admin key and its job executor.

Start-up order: the admin key is ensured (``home/credentials``, profile ``recsmith``), the stores are created,
the campaign controller (:mod:`recsmith.campaigns.controller`) and the job executor's pool
(:mod:`recsmith.jobs.local`) start in this (the supervising) process, then uvicorn
serves ``create_app`` in ``workers`` processes (each builds its own app: its own campaign models, key cache and
store connections). uvicorn binds the port before forking, so a port something else holds fails the start
instead of answering for it; its workers are children of this process and die with its process group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn

from recsmith.api.auth import ensure_admin_credentials
from recsmith.settings import Settings

logger = logging.getLogger(__name__)


def start_campaign_controller(settings: Settings) -> Callable[[], None]:
    """Start the campaign controller (the one owner of campaign moves) in this (the supervising) process; returns
    what stops it. Every replica of ``recsmith serve`` and every ``serve-campaign`` runs one: the lease in the
    catalog makes exactly one act, and another takes over when it dies. The serving workers' holders only load,
    smoke-test and swap what the controller committed."""
    from recsmith.campaigns.controller import CampaignController
    from recsmith.platform import Platform

    controller = CampaignController(Platform(settings))
    controller.start()
    return controller.stop


def prepare_stores(settings: Settings) -> None:
    """Create the catalog, the event store and MLflow's tracking store once, before any worker or training child
    opens them: two first trainings that each migrate a new MLflow SQLite store at once fail ("duplicate column")."""
    from mlflow.tracking import MlflowClient

    from recsmith.platform import Platform

    platform = Platform(settings)
    platform.catalog.dispose()
    platform.events.dispose()
    platform.configure_mlflow()
    MlflowClient().search_experiments(max_results=1)


def start_job_pool(settings: Settings) -> Callable[[], None]:
    """Start the local executor's pool in this (the supervising) process; returns what stops it. The app's workers
    submit jobs to the catalog's queue and this pool claims and runs them (the Airflow executor needs no pool)."""
    from recsmith.jobs.local import LocalExecutor
    from recsmith.platform import Platform

    if settings.executor != "local":
        return lambda: None
    pool = LocalExecutor(Platform(settings)).start()
    return lambda: pool.stop()


def serve(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "warning"
) -> None:
    """Serve until interrupted."""
    key, path = ensure_admin_credentials(settings)
    logger.info("admin key %s is in %s (profile recsmith)", key.access_key_id, path)
    prepare_stores(settings)
    stop_controller = start_campaign_controller(settings)
    stop_jobs = start_job_pool(settings)
    try:
        uvicorn.run(
            "recsmith.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=10,
            # a worker answers the supervisor's ping from a thread; loading models (or a busy machine) can hold the
            # GIL for seconds, and a missed 5 s ping kills the worker with every campaign model it had loaded
            timeout_worker_healthcheck=30,
        )
    finally:
        stop_jobs()
        stop_controller()
