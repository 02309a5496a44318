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
    logger.info("promoted %s version %s to %s", name, version, alias)


def production_version(client: MlflowClient, name: str) -> str | None:
    """The version the ``production`` alias names, honouring a legacy stage transition made since."""
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    aliased = model.aliases.get(PRODUCTION)
    with _stages_allowed():
        staged = [v for v in client.get_latest_versions(name, stages=["Production"])]
    staged_version = staged[0].version if staged else None
    if staged_version and aliased and str(staged_version) != str(aliased):
        # someone moved a version to Production by stage: the newer of the two actions wins
        alias_version = client.get_model_version(name, aliased)
        staged_mv = client.get_model_version(name, staged_version)
        if (staged_mv.last_updated_timestamp or 0) > (alias_version.last_updated_timestamp or 0):
            client.set_registered_model_alias(name, PRODUCTION, staged_version)
            return str(staged_version)
    if aliased:
        return str(aliased)
    if staged_version:
        client.set_registered_model_alias(name, PRODUCTION, staged_version)
        return str(staged_version)
    return None
