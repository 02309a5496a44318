"""The MLflow model registry side of recsmith: one registered model per solution, promotion by alias.

The ``production`` and ``staging`` aliases are the source of truth. MLflow 3 deprecates stages but still
honours them, so a promotion made by either means is kept in step: :func:`promote` sets the alias and moves
the legacy stage, and :func:`production_version` honours a version someone moved to the Production stage
(for example in the old UI) by pointing the alias at it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

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


def production_version(client: MlflowClient, name: str) -> str | None:
    """The version in production, after bringing the alias and the legacy stage in step.

    :func:`promote` moves both and notes the version in a tag. If only one of them moved since (an alias set
    in the new UI, or a stage transition in the old one), that one is the newer decision and wins.
    """
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    aliased = model.aliases.get(PRODUCTION)
    aliased = None if aliased is None else str(aliased)
    with _stages_allowed():
        staged_versions = client.get_latest_versions(name, stages=["Production"])
    staged = str(staged_versions[0].version) if staged_versions else None
    synced = model.tags.get(_SYNCED_TAG)
    if aliased is not None and aliased != synced:
        winner: str | None = aliased
    elif staged is not None and staged != synced:
        winner = staged
    else:
        winner = aliased or staged
    if winner is not None and (winner, winner, winner) != (aliased, staged, synced):
        promote(client, name, winner)
    return winner
