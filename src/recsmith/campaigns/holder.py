"""The model holder: a process's reference to its campaign's model, swapped without dropping a request.

BentoML does not hot-swap models, so each serving worker (and each batch or CLI caller) holds its campaign's
model here. :meth:`ModelHolder.refresh` asks :func:`~recsmith.campaigns.campaigns.campaign_target` what the
campaign should serve; when the answer changed it loads the new version from MLflow, smoke-queries it, and
only then swaps the reference under a lock. Requests read :attr:`ModelHolder.current` once and use that
snapshot, so a request never sees half a swap. A version that fails to load or to answer keeps the old one
serving; the failure is logged and recorded on the campaign (``latestCampaignUpdate``), as Personalize records
a failed update. A successful move is recorded in the campaign's move history (actor ``controller``).

A background poller (:meth:`start`/:meth:`stop`) calls :meth:`refresh` every ``campaign_poll_seconds``.

Several workers of one server (``coordination_dir`` set) must not answer with the new version in one worker and
the old one in the next, or a client would see versions move backwards. So a worker that has loaded and
smoke-tested the target only *prepares* it and says so (``ready-<version>-<pid>``); once every live worker
(``worker-<pid>``) is ready, the commit file names the version and each worker adopts its prepared model on its
next request (one ``stat`` per request). A version one worker cannot load is never committed: all keep serving
the old one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import NamedTuple

from mlflow.tracking import MlflowClient

from models.base import Recipe
from recsmith.campaigns.campaigns import CampaignTarget, campaign_target
from recsmith.catalog import CampaignMove, Resource, ResourceType, Status
from recsmith.errors import RecsmithError
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

CONTROLLER = "controller"


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


class ModelHolder:
    """Per-process holder of a campaign's current model, with atomic swap and an optional poller thread."""

    def __init__(
        self,
        platform: Platform,
        campaign: str,
        *,
        poll_seconds: float | None = None,
        retry_failed_seconds: float = 60.0,
        actor: str = CONTROLLER,
        coordination_dir: Path | None = None,
    ) -> None:
        self.platform = platform
        resource = platform.catalog.get(ResourceType.CAMPAIGN, campaign)
        self.campaign_arn = resource.arn
        self.campaign_name = resource.name
        self.dataset_group_arn = resource.dataset_group_arn
        self.model_name: str = resource.attributes["modelName"]
        if poll_seconds is None:
            poll_seconds = platform.settings.campaign_poll_seconds
        self.poll_seconds = poll_seconds
        self.retry_failed_seconds = retry_failed_seconds
        self.actor = actor
        self._served: ServedModel | None = None
        self._swap_lock = threading.Lock()  # guards the reference
        self._refresh_lock = threading.Lock()  # one load at a time
        self._failed: tuple[str, float] | None = None  # (model uri, when) of the last failed load
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: MlflowClient | None = None
        self._prepared: ServedModel | None = None  # loaded and smoke-tested, waiting for the commit
        self._recorded: str | None = None  # the version whose success was last recorded
        self._commit_seen: tuple[int, int] | None = None  # (mtime_ns, size) of the commit file last read
        self._coord = coordination_dir
        if self._coord is not None:
            self._coord.mkdir(parents=True, exist_ok=True)
            (self._coord / f"worker-{os.getpid()}").touch()

    # ------------------------------------------------------------- reading
    @property
    def current(self) -> ServedModel:
        """The model serving now; a request should read this once and use that snapshot throughout."""
        if self._prepared is not None:
            self._adopt()
        served = self._served  # one reference read is atomic; swaps replace it whole
        if served is None:
            raise ModelLoadError(f"campaign {self.campaign_name!r} has no model loaded yet; call refresh()")
        return served

    @property
    def loaded(self) -> bool:
        return self._served is not None

    # ------------------------------------------------------------ swapping
    def refresh(self) -> bool:
        """Move to the campaign's target version if it changed; True when a new model now serves.

        With nothing loaded yet a failure raises (there is nothing to fall back to); afterwards a failure
        keeps the old model serving, is recorded on the campaign, and is retried after
        ``retry_failed_seconds``.
        """
        with self._refresh_lock:
            campaign = self.platform.catalog.get(ResourceType.CAMPAIGN, self.campaign_arn)
            target = campaign_target(self.platform, campaign, self._mlflow_client())
            served = self._served
            prepared = self._prepared
            if served is not None and served.model_version == target.model_version:
                self._prepared = None
                self._record_if_new(campaign, target, None)
                return False
            if prepared is not None and prepared.model_version == target.model_version:
                self._try_commit(target.model_version)
                return self._adopt_and_record(campaign, target, served)
            if self._failed is not None and served is not None:
                uri, when = self._failed
                if uri == target.model_uri and time.monotonic() - when < self.retry_failed_seconds:
                    return False
            try:
                recipe = load_recipe(self.platform, target.model_uri)
                smoke_query(recipe)
            except Exception as exc:  # any failure of a new model must leave the old one serving
                self._record_failure(campaign, target, exc)
                if served is None:
                    raise ModelLoadError(
                        f"campaign {self.campaign_name!r} cannot load {target.model_uri}: {exc}"
                    ) from exc
                return False
            new = ServedModel(recipe, target.solution_version_arn, target.model_version)
            self._failed = None
            if served is None or self._coord is None:  # nothing to stay consistent with: serve at once
                with self._swap_lock:
                    self._served = new
                    self._prepared = None
                self._record_if_new(campaign, target, served)
                return True
            self._prepared = new
            (self._coord / f"ready-{target.model_version}-{os.getpid()}").touch()
            self._try_commit(target.model_version)
            return self._adopt_and_record(campaign, target, served)

    # ------------------------------------------------- cross-worker commit
    def _live_workers(self) -> set[int]:
        assert self._coord is not None
        live = set()
        for path in self._coord.glob("worker-*"):
            pid = int(path.name.removeprefix("worker-"))
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                path.unlink(missing_ok=True)  # a worker that died; BentoML starts a new one with a new pid
                continue
            except PermissionError:
                pass
            live.add(pid)
        return live

    def _try_commit(self, model_version: str) -> None:
        """Name ``model_version`` in the commit file once every live worker has it loaded and tested."""
        assert self._coord is not None
        ready = {int(p.name.rsplit("-", 1)[1]) for p in self._coord.glob(f"ready-{model_version}-*")}
        if not self._live_workers() <= ready:
            return
        commit = self._coord / "commit"
        try:
            if commit.read_text() == model_version:
                return
        except FileNotFoundError:
            pass
        tmp = self._coord / f".commit-{os.getpid()}"
        tmp.write_text(model_version)
        os.replace(tmp, commit)

    def _adopt(self) -> None:
        """Serve the prepared model if the commit file names it (cheap: one stat while nothing changed)."""
        if self._coord is None:
            return
        try:
            stat = (self._coord / "commit").stat()
        except FileNotFoundError:
            return
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen == self._commit_seen:
            return
        with self._swap_lock:
            prepared = self._prepared
            if prepared is None:
                return
            try:
                committed = (self._coord / "commit").read_text()
            except FileNotFoundError:
                return
            self._commit_seen = seen
            if committed == prepared.model_version:
                self._served = prepared
                self._prepared = None

    def _adopt_and_record(self, campaign: Resource, target: CampaignTarget, previous: ServedModel | None) -> bool:
        self._adopt()
        if self._served is not None and self._served.model_version == target.model_version:
            self._record_if_new(campaign, target, previous)
            return True
        return False

    def _record_if_new(self, campaign: Resource, target: CampaignTarget, previous: ServedModel | None) -> None:
        if self._recorded != target.model_version:
            self._record_success(campaign, target, previous)
            self._recorded = target.model_version

    def _mlflow_client(self) -> MlflowClient:
        if self._client is None:
            self.platform.configure_mlflow()
            self._client = MlflowClient()
        return self._client

    def _record_failure(self, campaign: Resource, target: CampaignTarget, exc: Exception) -> None:
        self._failed = (target.model_uri, time.monotonic())
        served = self._served
        logger.error(
            "campaign %s: cannot switch to %s (%s); still serving %s",
            self.campaign_name,
            target.model_uri,
            exc,
            f"version {served.model_version}" if served else "nothing",
        )
        self.platform.catalog.update(
            campaign,
            attributes={
                "latestCampaignUpdate": {
                    "status": Status.CREATE_FAILED.value,
                    "failureReason": f"cannot load {target.model_uri}: {exc}",
                    "solutionVersionArn": target.solution_version_arn,
                    "modelVersion": target.model_version,
                    "lastUpdatedDateTime": time.time(),
                }
            },
        )

    def _record_success(self, campaign: Resource, target: CampaignTarget, previous: ServedModel | None) -> None:
        logger.info(
            "campaign %s now serves %s (%s)",
            self.campaign_name,
            target.model_uri,
            target.solution_version_arn,
        )
        update = campaign.attributes.get("latestCampaignUpdate") or {}
        if update.get("status") != Status.ACTIVE.value or update.get("modelVersion") != target.model_version:
            self.platform.catalog.update(
                campaign,
                attributes={
                    "latestCampaignUpdate": {
                        "status": Status.ACTIVE.value,
                        "solutionVersionArn": target.solution_version_arn,
                        "modelVersion": target.model_version,
                        "lastUpdatedDateTime": time.time(),
                    }
                },
            )
        # every worker of a campaign swaps; the first one to get here records the move
        moves = self.platform.catalog.campaign_moves(self.campaign_arn)
        last = moves[-1].to_version if moves else None
        if last != target.solution_version_arn:
            self.platform.catalog.record_campaign_move(
                CampaignMove(
                    campaign_arn=self.campaign_arn,
                    at=time.time(),
                    actor=self.actor,
                    from_version=previous.solution_version_arn if previous else last,
                    to_version=target.solution_version_arn,
                    reason=f"{campaign.attributes.get('updateMode', 'MANUAL')}: serving {target.model_uri}",
                )
            )

    # -------------------------------------------------------------- poller
    def start(self) -> None:
        """Refresh every ``poll_seconds`` in a daemon thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name=f"model-holder-{self.campaign_name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the poller and wait for it (a load in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        """Whether the poller thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # the poller must outlive a bad poll (catalog or registry down)
                logger.exception("campaign %s: refresh failed", self.campaign_name)
