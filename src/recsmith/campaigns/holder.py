"""The model holder: a process's reference to its campaign's model, swapped without dropping a request.

BentoML does not hot-swap models, so each serving worker (and each batch or CLI caller) holds its campaign's
model here. A holder only loads, smoke-tests and swaps; it never decides what the campaign serves and never
records a move: it reads the campaign's record in the catalog (:func:`~recsmith.campaigns.campaigns.campaign_plan`),
which the campaign controller (:mod:`recsmith.campaigns.controller`) alone writes.

Requests read :attr:`ModelHolder.current` once and use that snapshot, so a request never sees half a swap.

A holder whose poller runs (:meth:`start`) is a *serving worker*: it writes a row in the catalog with a
heartbeat (:mod:`recsmith.catalog.coordination`) saying which version it serves and whether it has the
campaign's pending version ready (loaded and smoke-tested) or failed to load it. The controller commits the
update once every live worker has it ready, scheduling the switch a moment ahead (``activateAt``); each
worker learns of the commit at its next poll and swaps at that moment, on its next request (or poll). So no
client sees versions go backwards across workers, the old model serves until the new one has loaded, and a
version one worker cannot load is never committed. Liveness is the heartbeat's age, never a process id, so a
killed or restarted worker delays an update by at most ``campaign_worker_ttl_seconds`` and workers may run on
several hosts.

A holder without a poller (the CLI, batch jobs, tests) just loads what the campaign serves at
:meth:`refresh`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import NamedTuple

from models.base import Recipe
from recsmith.campaigns.campaigns import CampaignPlan, CampaignTarget, campaign_plan
from recsmith.catalog import ResourceType
from recsmith.catalog.coordination import WorkerReport
from recsmith.errors import RecsmithError
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

READY = "ready"
FAILED = "failed"


class ServedModel(NamedTuple):
    """The model a holder serves right now, and which registered version it is."""

    recipe: Recipe
    solution_version_arn: str
    model_version: str


class ModelLoadError(RecsmithError):
    """A campaign's target model version could not be loaded or failed its smoke query."""


def load_recipe(platform: Platform, model_uri: str) -> Recipe:
    """The recipe inside a registered pyfunc model (``models:/<name>/<version>``)."""
    import mlflow.pyfunc

    platform.configure_mlflow()
    wrapper = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    recipe = getattr(wrapper, "recipe", None)
    if not isinstance(recipe, Recipe):
        raise ModelLoadError(f"{model_uri} is not a recsmith recipe model (got {type(wrapper).__name__})")
    return recipe


def smoke_query(recipe: Recipe) -> None:
    """Ask the model the questions a campaign asks; raise when it cannot answer them."""
    popular = recipe.popular_items(1)
    if len(popular) != 1:
        raise ModelLoadError(f"smoke query failed: popular_items(1) returned {len(popular)} items")
    if len(recipe.user_ids_):
        answer = recipe.recommend([str(recipe.user_ids_[0])], 1)
        if len(answer) != 1 or len(answer[0]) != 1:
            raise ModelLoadError("smoke query failed: recommend() returned no item for a known user")


def load_and_check(platform: Platform, target: CampaignTarget) -> ServedModel:
    """Load ``target`` and smoke-query it; any failure is a :class:`ModelLoadError` naming the model URI."""
    try:
        recipe = load_recipe(platform, target.model_uri)
        smoke_query(recipe)
    except Exception as exc:  # whatever a broken model raises, the caller needs one error naming it
        raise ModelLoadError(f"cannot load {target.model_uri}: {exc}") from exc
    return ServedModel(recipe, target.solution_version_arn, target.model_version)


class _Scheduled(NamedTuple):
    model: ServedModel
    activate_at: float


class ModelHolder:
    """Per-process holder of a campaign's current model, with atomic swap and an optional poller thread."""

    def __init__(self, platform: Platform, campaign: str, *, poll_seconds: float | None = None) -> None:
        self.platform = platform
        resource = platform.catalog.get(ResourceType.CAMPAIGN, campaign)
        self.campaign_arn = resource.arn
        self.campaign_name = resource.name
        self.dataset_group_arn = resource.dataset_group_arn
        self.model_name: str = resource.attributes["modelName"]
        self.poll_seconds = platform.settings.campaign_poll_seconds if poll_seconds is None else poll_seconds
        self._served: ServedModel | None = None
        self._scheduled: _Scheduled | None = None  # committed: swap in at activate_at
        self._prepared: ServedModel | None = None  # loaded for the pending update, not committed yet
        self._swap_lock = threading.Lock()  # guards the references
        self._refresh_lock = threading.Lock()  # one load at a time
        self._attempt: tuple[str, str, str | None] | None = None  # (update id, "ready"/"failed", failure reason)
        self._worker_id: str | None = None
        self._started_at = 0.0
        self._reported_at = 0.0  # time.monotonic() of the last report
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------- reading
    @property
    def current(self) -> ServedModel:
        """The model serving now; a request should read this once and use that snapshot throughout."""
        scheduled = self._scheduled
        if scheduled is not None and time.time() >= scheduled.activate_at:
            self._activate(scheduled)
        served = self._served  # one reference read is atomic; swaps replace it whole
        if served is None:
            raise ModelLoadError(f"campaign {self.campaign_name!r} has no model loaded yet; call refresh()")
        return served

    @property
    def loaded(self) -> bool:
        return self._served is not None

    @property
    def worker_id(self) -> str | None:
        """This holder's worker row id while its poller runs (None otherwise)."""
        return self._worker_id

    # ------------------------------------------------------------ swapping
    def refresh(self) -> bool:
        """Catch up with the campaign's record; True when another model now serves.

        Loads what the campaign serves if this holder does not serve it yet (with nothing loaded a failure
        raises: there is nothing to fall back to). A serving worker also loads the version of an update under
        way and reports it ready or failed; a committed one is swapped in at its ``activateAt``.
        """
        with self._refresh_lock:
            campaign = self.platform.catalog.get(ResourceType.CAMPAIGN, self.campaign_arn)
            plan = campaign_plan(self.platform, campaign, time.time())
            before = self._served
            self._serve(plan)
            self._prepare(plan)
            self._report()
            return self._served is not before

    def _serve(self, plan: CampaignPlan) -> None:
        scheduled = self._scheduled
        if scheduled is not None and time.time() >= scheduled.activate_at:
            self._activate(scheduled)
        served = self._served
        if served is not None and served.model_version == plan.serve.model_version:
            return
        prepared = self._prepared
        if prepared is not None and prepared.model_version == plan.serve.model_version:
            new = prepared  # committed while this worker was not looking: it has the version already
        else:
            try:
                new = load_and_check(self.platform, plan.serve)
            except ModelLoadError as exc:
                if served is None:
                    raise ModelLoadError(f"campaign {self.campaign_name!r}: {exc}") from exc
                logger.error("campaign %s: %s; still serving version %s", self.campaign_name, exc, served.model_version)
                return
        with self._swap_lock:
            self._served = new
            self._prepared = None
            self._scheduled = None
        logger.info("campaign %s now serves %s", self.campaign_name, plan.serve.model_uri)

    def _prepare(self, plan: CampaignPlan) -> None:
        upcoming = plan.upcoming
        if upcoming is None or plan.update_id is None:
            self._prepared = None
            self._scheduled = None
            return
        prepared = self._prepared
        if prepared is None or prepared.model_version != upcoming.model_version:
            if plan.activate_at is None and self._worker_id is None:
                return  # only serving workers take part in an update that is not committed yet
            if self._attempt is not None and self._attempt[0] == plan.update_id and self._attempt[1] == FAILED:
                return  # tried once for this update; the controller has the failure
            try:
                prepared = load_and_check(self.platform, upcoming)
            except ModelLoadError as exc:
                logger.error("campaign %s: %s", self.campaign_name, exc)
                self._attempt = (plan.update_id, FAILED, str(exc))
                return
            self._prepared = prepared
        self._attempt = (plan.update_id, READY, None)
        if plan.activate_at is not None:
            scheduled = self._scheduled
            if scheduled is None or scheduled.model is not prepared or scheduled.activate_at != plan.activate_at:
                self._scheduled = _Scheduled(prepared, plan.activate_at)

    def _activate(self, scheduled: _Scheduled) -> None:
        with self._swap_lock:
            if self._scheduled is not scheduled:
                return  # another request or the poller swapped it in already
            self._served = scheduled.model
            self._scheduled = None
            self._prepared = None

    # ---------------------------------------------------------- reporting
    def _report(self) -> None:
        if self._worker_id is None:
            return
        served, attempt = self._served, self._attempt
        self._reported_at = time.monotonic()
        self.platform.coordination.heartbeat(
            WorkerReport(
                worker_id=self._worker_id,
                campaign_arn=self.campaign_arn,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=self._started_at,
                serving_version=served.model_version if served else None,
                update_id=attempt[0] if attempt else None,
                update_state=attempt[1] if attempt else None,
                failure_reason=attempt[2] if attempt else None,
            )
        )

    # -------------------------------------------------------------- poller
    def start(self) -> None:
        """Become a serving worker: report in the catalog and refresh every ``poll_seconds`` (idempotent)."""
        if self.running:
            return
        self._stop.clear()
        self._worker_id = uuid.uuid4().hex
        self._started_at = time.time()
        self._report()
        self._threads = [
            threading.Thread(target=self._poll, name=f"model-holder-{self.campaign_name}", daemon=True),
            threading.Thread(target=self._heartbeat, name=f"model-holder-beat-{self.campaign_name}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the poller (a load in progress finishes first) and take this worker's row away."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        worker, self._worker_id = self._worker_id, None
        if worker is not None:
            try:
                self.platform.coordination.remove_worker(worker)
            except Exception:  # a catalog that is down at shutdown: the row expires on its own
                logger.exception("campaign %s: could not remove worker row %s", self.campaign_name, worker)

    @property
    def running(self) -> bool:
        """Whether the poller thread is running."""
        return any(thread.is_alive() for thread in self._threads)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # the poller must outlive a bad poll (catalog or registry down)
                logger.exception("campaign %s: refresh failed", self.campaign_name)

    def _heartbeat(self) -> None:
        """Report at every poll interval even while a long load holds the poller, so a worker busy loading
        is not taken for dead; a due switch also happens here when no request arrives to make it."""
        while not self._stop.wait(self.poll_seconds):
            try:
                scheduled = self._scheduled
                if scheduled is not None and time.time() >= scheduled.activate_at:
                    self._activate(scheduled)
                if time.monotonic() - self._reported_at >= 0.9 * self.poll_seconds:
                    self._report()
            except Exception:  # a catalog hiccup must not end the heartbeat
                logger.exception("campaign %s: heartbeat failed", self.campaign_name)
