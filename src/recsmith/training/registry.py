"""The MLflow model registry side of recsmith: one registered model per solution, promotion by alias.

The ``production`` and ``staging`` aliases are the source of truth. MLflow 3 deprecates stages but still
honours them, so a promotion made by either means is kept in step: :func:`promote` sets the alias and moves
the legacy stage. Reads never write: :func:`production_version` and :func:`production_decision` only say which
version is in production (a stage transition made since the last :func:`promote`, for example in the old UI,
is the newer decision and wins). Bringing the alias in step with such a transition is a write, and only the
campaign controller does it (:func:`sync_production`), once, wherever the read happened.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mlflow.entities.model_registry import RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

PRODUCTION = "production"
STAGING = "staging"
_STAGE_OF_ALIAS = {PRODUCTION: "Production", STAGING: "Staging"}
# the version promote() last put in production by both means; tells which means moved since
_SYNCED_TAG = "recsmith.production_synced"


def registered_model_name(dataset_group: str, solution: str) -> str:
    """``<group>.<solution>``: the registered model of a solution."""
    return f"{dataset_group}.{solution}"


@contextmanager
def _stages_allowed() -> Iterator[None]:
    """Stage calls warn that stages are deprecated; we use them on purpose, to mirror the alias."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


def ensure_registered_model(client: MlflowClient, name: str, description: str) -> None:
    try:
        client.create_registered_model(name, description=description)
    except MlflowException as exc:
        if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(exc):
            raise


def promote(client: MlflowClient, name: str, version: str, alias: str = PRODUCTION) -> None:
    """Point ``alias`` at ``version`` and move the version to the matching legacy stage."""
    client.set_registered_model_alias(name, alias, version)
    stage = _STAGE_OF_ALIAS.get(alias)
    if stage:
        with _stages_allowed():
            client.transition_model_version_stage(name, version, stage, archive_existing_versions=True)
    if alias == PRODUCTION:
        client.set_registered_model_tag(name, _SYNCED_TAG, str(version))
    logger.info("promoted %s version %s to %s", name, version, alias)


@dataclass(frozen=True)
class ProductionDecision:
    """Which version a registered model has in production, by each means, and which one wins.

    ``alias`` is the ``production`` alias, ``stage`` the newest version in the legacy Production stage,
    ``synced`` the version :func:`promote` last moved by both means. If only one means moved since, it is the
    newer decision and wins; ``in_step`` says whether all three already agree (nothing to bring in step).
    """

    name: str
    alias: str | None
    stage: str | None
    synced: str | None

    @property
    def version(self) -> str | None:
        """The version in production (None: nothing is)."""
        if self.alias is not None and self.alias != self.synced:
            return self.alias
        if self.stage is not None and self.stage != self.synced:
            return self.stage
        return self.alias or self.stage

    @property
    def in_step(self) -> bool:
        winner = self.version
        return winner is None or (winner, winner, winner) == (self.alias, self.stage, self.synced)


def production_decision(model: RegisteredModel) -> ProductionDecision:
    """What ``model`` (one ``get_registered_model`` answer: aliases, tags, latest version per stage) has in
    production; a pure function of that one answer."""
    aliased = model.aliases.get(PRODUCTION)
    staged = [v for v in (model.latest_versions or []) if v.current_stage == "Production"]
    newest = max(staged, key=lambda v: int(v.version)) if staged else None
    return ProductionDecision(
        name=model.name,
        alias=None if aliased is None else str(aliased),
        stage=None if newest is None else str(newest.version),
        synced=model.tags.get(_SYNCED_TAG),
    )


def production_version(client: MlflowClient, name: str) -> str | None:
    """The version in production (None when nothing is, or the model does not exist). Writes nothing."""
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    return production_decision(model).version


def sync_production(client: MlflowClient, decision: ProductionDecision) -> bool:
    """Bring the alias, the legacy stage and the sync tag in step with ``decision``'s winner; True when it wrote.

    The campaign controller's job (one process, under its lease), never a reader's.
    """
    winner = decision.version
    if winner is None or decision.in_step:
        return False
    promote(client, decision.name, winner)
    logger.info(
        "%s: production brought in step at version %s (alias %s, stage %s)",
        decision.name,
        winner,
        decision.alias,
        decision.stage,
    )
    return True
