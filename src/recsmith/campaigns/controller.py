"""The campaign controller: the one owner of campaign moves.

Nothing else changes what a campaign serves. The controller turns the registry's ``production`` alias (AUTO
campaigns) or an ``UpdateCampaign`` request (MANUAL campaigns, :func:`~recsmith.campaigns.campaigns.update_campaign`)
into the campaign's target, rolls it out to the campaign's serving workers, records the move (who, when, from,
to, why) exactly once, and keeps ``DescribeCampaign`` true: ``solutionVersionArn`` is what is served, and
``latestCampaignUpdate`` shows the update CREATE IN_PROGRESS while workers load the version, then ACTIVE, or
CREATE FAILED with the reason while the old version keeps serving. (These are Personalize's statuses of a
``CampaignUpdateSummary``; its service model knows no "UPDATE IN_PROGRESS".)

One pass (:meth:`CampaignController.run_once`), for each ACTIVE campaign:

1. AUTO: read the registered model once (``get_registered_model``: aliases, tags and the latest version per
   legacy stage; one call per registered model per pass). A legacy stage transition made since the last
   promotion is honoured here, by bringing the alias in step (:func:`~recsmith.training.registry.sync_production`).
   A production version other than the one served starts an update (actor ``controller``).
   MANUAL: a CREATE PENDING update (an ``UpdateCampaign``) starts, with its caller as actor.
2. An update under way is committed once every live worker of the campaign reports the version ready (loaded
   and smoke-tested; :mod:`recsmith.campaigns.holder`), with the switch scheduled ``activation delay`` ahead so
   every worker has read the commit before the first one switches; the move is recorded in the same
   transaction. With no live worker the controller loads and smoke-tests the version itself first. A version
   a worker cannot load, or that workers do not load within ``campaign_update_timeout_seconds``, is never
   committed: the update is CREATE FAILED. An AUTO campaign tries that production version again after
   ``campaign_update_retry_seconds``.
3. After the switch, once every live worker serves the version, the update is ACTIVE and the campaign's
   ``solutionVersionArn`` names it.

Several processes may run a controller (API server workers, campaign servers, a CLI): a lease row in the
catalog makes exactly one of them act, and every write it makes is fenced by that lease and guarded against
concurrent changes (:mod:`recsmith.catalog.coordination`), so a move is recorded once whoever runs.

Run one in the background of a server (:meth:`~CampaignController.start` / :meth:`~CampaignController.stop`;
:meth:`~CampaignController.nudge` wakes it early, e.g. from an MLflow ``model_version_alias.created`` webhook),
or in the foreground with ``recsmith run-controller``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict, Field

from recsmith.campaigns.campaigns import (
    LATEST_UPDATE,
    CampaignTarget,
    CampaignUpdate,
    UpdateMode,
    new_update,
    served_target,
)
from recsmith.campaigns.holder import FAILED, READY, ModelLoadError, load_and_check
from recsmith.catalog import CampaignMove, Resource, ResourceType, Status
from recsmith.catalog.coordination import LeaseLostError, WorkerState
from recsmith.errors import RecsmithError
from recsmith.platform import Platform
from recsmith.training.registry import ProductionDecision, production_decision, sync_production

logger = logging.getLogger(__name__)

LEASE = "campaign-controller"
ACTOR = "controller"
SOLUTION_VERSION_TAG = "recsmith.solution_version_arn"
FORGET_WORKERS_AFTER_TTLS = 30  # a worker row this many time-to-lives old is deleted, not just ignored


class ControllerPass(BaseModel):
    """What one pass did: whether this controller led, and the campaigns (ARNs) at each step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    leader: bool
    started: list[str] = Field(default_factory=list, description="updates begun (CREATE IN_PROGRESS)")
    committed: list[str] = Field(default_factory=list, description="updates committed, with their move recorded")
    completed: list[str] = Field(default_factory=list, description="updates now ACTIVE")
    failed: list[str] = Field(default_factory=list, description="updates now CREATE FAILED")
    errors: list[str] = Field(default_factory=list, description="campaigns this pass could not handle, and why")


class _Outcome:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.committed: list[str] = []
        self.completed: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []

    def result(self, leader: bool) -> ControllerPass:
        return ControllerPass(
            leader=leader,
            started=self.started,
            committed=self.committed,
            completed=self.completed,
            failed=self.failed,
            errors=self.errors,
        )


class CampaignController:
    """Moves campaigns; one process at a time leads (see the module docstring)."""

    def __init__(
        self,
        platform: Platform,
        *,
        owner: str | None = None,
        poll_seconds: float | None = None,
        client: MlflowClient | None = None,
    ) -> None:
        settings = platform.settings
        self.platform = platform
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.poll_seconds = settings.campaign_poll_seconds if poll_seconds is None else poll_seconds
        self.lease_seconds = settings.controller_lease_seconds
        self.worker_ttl = settings.campaign_worker_ttl_seconds
        # workers read the commit at their next poll: give them two polls and a margin before anyone switches
        self.activation_delay = max(
            settings.campaign_activation_delay_seconds, 2 * settings.campaign_poll_seconds + 0.5
        )
        self.update_timeout = settings.campaign_update_timeout_seconds
        self.retry_seconds = settings.campaign_update_retry_seconds
        self._client = client
        self._solution_versions: dict[tuple[str, str], str | None] = {}
        self._leader = False
        self._forgot_at = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- pass
    @property
    def leader(self) -> bool:
        """Whether this controller led at its last pass."""
        return self._leader

    def run_once(self, campaigns: Sequence[str] | None = None) -> ControllerPass:
        """One pass over every ACTIVE campaign (or those named, by ARN or name), if this process leads."""
        coordination = self.platform.coordination
        if not coordination.acquire_lease(LEASE, self.owner, self.lease_seconds):
            self._leader = False
            return ControllerPass(leader=False)
        self._leader = True
        outcome = _Outcome()
        decisions: dict[str, ProductionDecision | None] = {}
        for campaign in self._campaigns(campaigns):
            try:
                self._advance(campaign, decisions, outcome)
            except LeaseLostError:
                logger.warning("controller %s lost its lease during a pass; another process leads", self.owner)
                self._leader = False
                return outcome.result(leader=False)
            except (RecsmithError, MlflowException, OSError) as exc:
                logger.exception("controller: campaign %s", campaign.arn)
                outcome.errors.append(f"{campaign.arn}: {exc}")
            # a pass that loaded a model took seconds: keep the lease fresh between campaigns
            if not coordination.acquire_lease(LEASE, self.owner, self.lease_seconds):
                self._leader = False
                return outcome.result(leader=False)
        self._forget_dead_workers()
        return outcome.result(leader=True)

    def _campaigns(self, names: Sequence[str] | None) -> list[Resource]:
        catalog = self.platform.catalog
        if names is not None:
            chosen = [catalog.get(ResourceType.CAMPAIGN, name) for name in names]
        else:
            chosen = catalog.list(ResourceType.CAMPAIGN)
        return [c for c in chosen if c.status is Status.ACTIVE]

    def _advance(self, campaign: Resource, decisions: dict[str, ProductionDecision | None], out: _Outcome) -> None:
        update = CampaignUpdate.of(campaign)
        if update is not None and update.committed:
            self._finish(campaign, update, out)
            return
        served = served_target(self.platform, campaign)
        mode = UpdateMode.parse(campaign.attributes.get("updateMode", UpdateMode.MANUAL))
        desired = self._production(served.model_name, decisions) if mode is UpdateMode.AUTO else None
        under_way = update is not None and update.status in (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS)
        if update is not None and under_way:
            if desired is not None and desired.model_version != update.model_version:
                # production moved again (or an AUTO campaign had a request pending): the newest decision wins
                self._begin(campaign, served, _auto_update(desired), out)
            elif update.status is Status.CREATE_PENDING:
                self._begin(campaign, served, update, out)
            else:
                self._roll_out(campaign, served, update, out)
            return
        if desired is None or desired.model_version == served.model_version:
            return
        if (
            update is not None
            and update.status is Status.CREATE_FAILED
            and update.model_version == desired.model_version
            and time.time() - update.last_updated_time < self.retry_seconds
        ):
            return  # that version failed a moment ago; try it again later, not at every pass
        self._begin(campaign, served, _auto_update(desired), out)

    # ---------------------------------------------------------- the steps
    def _begin(self, campaign: Resource, served: CampaignTarget, update: CampaignUpdate, out: _Outcome) -> None:
        now = time.time()
        if not update.solution_version_arn:
            failed = update.with_status(
                Status.CREATE_FAILED,
                now,
                failure_reason=f"model version {update.model_version} of {served.model_name} was not registered by "
                "recsmith (no solution version tag); it cannot be served",
            )
            if self._write(campaign, {LATEST_UPDATE: failed.attribute()}) is not None:
                out.failed.append(campaign.arn)
            return
        if update.model_version == served.model_version:  # asked for what already serves: nothing to roll out
            self._write(campaign, {LATEST_UPDATE: update.with_status(Status.ACTIVE, now).attribute()})
            return
        begun = update.with_status(Status.CREATE_IN_PROGRESS, now, activate_at=None)
        written = self._write(campaign, {LATEST_UPDATE: begun.attribute()})
        if written is None:
            return
        logger.info(
            "campaign %s: update %s to %s begun (%s)", campaign.name, begun.update_id, begun.model_version, begun.reason
        )
        out.started.append(campaign.arn)
        self._roll_out(written, served, begun, out)

    def _roll_out(self, campaign: Resource, served: CampaignTarget, update: CampaignUpdate, out: _Outcome) -> None:
        target = CampaignTarget(update.solution_version_arn, served.model_name, update.model_version)
        now = time.time()
        live = self._live_workers(campaign.arn, now)
        if not live:
            try:  # nobody serves it right now: the controller checks the version itself before committing
                load_and_check(self.platform, target)
            except ModelLoadError as exc:
                self._fail(campaign, update, f"{exc}", out)
                return
            committed = self._commit(campaign, served, update, time.time(), out)
            if committed is not None:
                self._finish(committed, CampaignUpdate.of(committed), out)  # type: ignore[arg-type]
            return
        failed = [w for w in live if w.update_id == update.update_id and w.update_state == FAILED]
        if failed:
            worker = failed[0]
            self._fail(campaign, update, f"worker {worker.host}:{worker.pid}: {worker.failure_reason}", out)
            return
        waiting = [w for w in live if not _has(w, update)]
        if not waiting:
            self._commit(campaign, served, update, now + self.activation_delay, out)
        elif now - update.creation_time > self.update_timeout:
            names = ", ".join(f"{w.host}:{w.pid}" for w in waiting)
            self._fail(
                campaign,
                update,
                f"workers {names} did not load {target.model_uri} within {self.update_timeout:.0f}s",
                out,
            )

    def _commit(
        self, campaign: Resource, served: CampaignTarget, update: CampaignUpdate, activate_at: float, out: _Outcome
    ) -> Resource | None:
        committed = update.with_status(Status.CREATE_IN_PROGRESS, time.time(), activate_at=activate_at)
        move = CampaignMove(
            campaign_arn=campaign.arn,
            at=activate_at,
            actor=update.actor,
            from_version=served.solution_version_arn,
            to_version=update.solution_version_arn,
            reason=f"{update.reason} (model version {served.model_version} -> {update.model_version})",
        )
        written = self._write(campaign, {LATEST_UPDATE: committed.attribute()}, move)
        if written is not None:
            logger.info(
                "campaign %s: %s -> %s committed, switching at %.3f",
                campaign.name,
                served.model_version,
                update.model_version,
                activate_at,
            )
            out.committed.append(campaign.arn)
        return written

    def _finish(self, campaign: Resource, update: CampaignUpdate, out: _Outcome) -> None:
        now = time.time()
        assert update.activate_at is not None
        if now < update.activate_at:
            return
        lagging = [w for w in self._live_workers(campaign.arn, now) if w.serving_version != update.model_version]
        if lagging and now < update.activate_at + self.worker_ttl:
            return  # they switch at their next request or poll; a worker that never does is dead by then
        done = update.with_status(Status.ACTIVE, now)
        written = self._write(
            campaign,
            {
                "solutionVersionArn": update.solution_version_arn,
                "modelVersion": update.model_version,
                LATEST_UPDATE: done.attribute(),
            },
        )
        if written is not None:
            logger.info("campaign %s now serves model version %s", campaign.name, update.model_version)
            out.completed.append(campaign.arn)

    def _fail(self, campaign: Resource, update: CampaignUpdate, reason: str, out: _Outcome) -> None:
        failed = update.with_status(Status.CREATE_FAILED, time.time(), failure_reason=reason)
        if self._write(campaign, {LATEST_UPDATE: failed.attribute()}) is not None:
            logger.error("campaign %s: update to %s failed: %s", campaign.name, update.model_version, reason)
            out.failed.append(campaign.arn)

    def _write(
        self, campaign: Resource, attributes: dict[str, object], move: CampaignMove | None = None
    ) -> Resource | None:
        written = self.platform.coordination.compare_and_update(
            campaign, attributes, lease=(LEASE, self.owner), move=move
        )
        if written is None:  # someone wrote the campaign since this pass read it: decide again next pass
            logger.info("campaign %s changed during the pass; it is handled at the next one", campaign.name)
        return written

    # ------------------------------------------------------------ reading
    def _live_workers(self, campaign_arn: str, now: float) -> list[WorkerState]:
        return self.platform.coordination.workers(campaign_arn, alive_within=self.worker_ttl, now=now)

    def _mlflow(self) -> MlflowClient:
        if self._client is None:
            self.platform.configure_mlflow()
            self._client = MlflowClient()
        return self._client

    def _production(self, model_name: str, decisions: dict[str, ProductionDecision | None]) -> CampaignTarget | None:
        """The registered model's production version as a target (None: nothing in production)."""
        if model_name not in decisions:
            client = self._mlflow()
            try:
                model = client.get_registered_model(model_name)
            except MlflowException:
                decisions[model_name] = None
            else:
                decision = production_decision(model)
                sync_production(client, decision)  # a legacy stage transition: the alias follows, here only
                decisions[model_name] = decision
        known = decisions[model_name]
        if known is None or known.version is None:
            return None
        return CampaignTarget(
            solution_version_arn=self._solution_version(model_name, known.version) or "",
            model_name=model_name,
            model_version=known.version,
        )

    def _solution_version(self, model_name: str, model_version: str) -> str | None:
        key = (model_name, model_version)
        if key not in self._solution_versions:
            tags = self._mlflow().get_model_version(model_name, model_version).tags
            arn = tags.get(SOLUTION_VERSION_TAG)
            if not arn:
                matches = self.platform.catalog.list(
                    ResourceType.SOLUTION_VERSION, where={"modelName": model_name, "modelVersion": model_version}
                )
                arn = matches[0].arn if matches else None
            self._solution_versions[key] = arn
        return self._solution_versions[key]

    def _forget_dead_workers(self) -> None:
        now = time.time()
        if now - self._forgot_at > 60:
            self._forgot_at = now
            self.platform.coordination.forget_dead_workers(FORGET_WORKERS_AFTER_TTLS * self.worker_ttl, now)

    # ------------------------------------------------------------- runner
    def start(self) -> None:
        """Run a pass every ``poll_seconds`` in a daemon thread (idempotent)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="campaign-controller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread (a pass in progress finishes first) and give the lease up at once."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.release()

    def nudge(self) -> None:
        """Run the next pass now rather than at the next poll (a registry webhook, an UpdateCampaign)."""
        self._wake.set()

    def release(self) -> None:
        """Give the lease up if this controller holds it, so another process leads without waiting."""
        try:
            self.platform.coordination.release_lease(LEASE, self.owner)
        except Exception:  # a catalog that is down at shutdown: the lease expires on its own
            logger.exception("controller %s: could not release its lease", self.owner)
        self._leader = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the controller must outlive a bad pass (catalog or registry down)
                logger.exception("controller %s: pass failed", self.owner)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()


def _auto_update(target: CampaignTarget) -> CampaignUpdate:
    return new_update(
        target,
        Status.CREATE_PENDING,
        ACTOR,
        f"AUTO: the registry's production alias of {target.model_name} names version {target.model_version}",
        time.time(),
    )


def _has(worker: WorkerState, update: CampaignUpdate) -> bool:
    """Whether ``worker`` serves the update's version or has it ready."""
    if worker.serving_version == update.model_version:
        return True
    return worker.update_id == update.update_id and worker.update_state == READY
