"""What the tasks of ``dags/`` share: the platform from the environment, and fail-fast on permanent errors.

A task retries transient faults (its ``retries``), but a bad config, a missing file or a row that breaks its
schema will fail the same way every time, so :func:`stage` turns those into ``AirflowFailException`` and the
task fails at once, with the message that says what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airflow.sdk.exceptions import AirflowFailException
from pydantic import ValidationError

from orchestration.airflow_shared import AUTOML
from recsmith.errors import InvalidInputError, ResourceNotFoundError
from recsmith.platform import Platform
from recsmith.training.solutions import SolutionConfig
from recsmith.workflow import TrainConfig

PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    InvalidInputError,
    ResourceNotFoundError,
    ValidationError,
    FileNotFoundError,
)
"""Errors a retry cannot fix: the task fails without retrying."""


@contextmanager
def stage() -> Iterator[Platform]:
    """The platform the ``RECSMITH_*`` environment describes, for one task; permanent errors fail fast."""
    platform = Platform.from_env()
    try:
        yield platform
    except PERMANENT_ERRORS as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    finally:
        if "catalog" in platform.__dict__:
            platform.catalog.dispose()


def train_config(
    dataset_group: str,
    solution: str,
    recipe: str,
    perform_hpo: bool,
    solution_config: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The training config of the DAGs' params: ``recipe`` is a recipe id or ``automl``; an empty ``solution``
    names it ``<dataset_group>-<recipe>``; ``solution_config`` is Personalize's solutionConfig JSON (HPO budget,
    AutoML candidates and their hyperparameters)."""
    from recsmith.training.solutions import from_personalize_solution_config

    values: dict[str, Any] = {"perform_automl": True} if recipe == AUTOML else {"recipe": recipe}
    values.update(from_personalize_solution_config(solution_config or {}))
    return TrainConfig(
        dataset_group=dataset_group,
        solution=solution or f"{dataset_group}-{recipe}",
        solution_config=SolutionConfig(**values, perform_hpo=perform_hpo),
    )
