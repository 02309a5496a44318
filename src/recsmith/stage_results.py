"""The typed results of the workflow's stages (:mod:`recsmith.workflow`): frozen pydantic models.

Kept in a module that imports nothing but pydantic, so that Airflow DAG files can allow them for XCom
deserialization while they are parsed (a DAG file is parsed every few seconds; the workflow itself imports MLflow
and pandas, which take seconds). Airflow passes them from task to task as they are; KFP gets their JSON.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ImportResult(BaseModel):
    """A finished import: the job, the dataset it filled and the data version it made."""

    model_config = _FROZEN

    dataset_group: str
    dataset_arn: str
    dataset_import_job_arn: str
    data_version: str


class TrainResult(BaseModel):
    """An ACTIVE solution version: its recipe, test metrics and registered model version."""

    model_config = _FROZEN

    solution_version_arn: str
    recipe: str
    metrics: dict[str, float]
    model_name: str
    model_version: str


class Evaluation(BaseModel):
    """A trained version against the version in production, on the solution's objective metric."""

    model_config = _FROZEN

    solution_version_arn: str
    model_name: str
    model_version: str
    objective: str
    value: float
    production_version: str | None = Field(
        default=None, description="The registered model version in production, if any."
    )
    production_value: float | None = Field(
        default=None, description="Its objective; None when nothing else is in production."
    )
    beats_production: bool


class Promotion(BaseModel):
    """What :func:`promote` decided on an :class:`Evaluation`, and why."""

    model_config = _FROZEN

    solution_version_arn: str
    model_name: str
    model_version: str
    promoted: bool
    reason: str


class Deployment(BaseModel):
    """The campaign after :func:`deploy`, and whether this call changed what it serves."""

    model_config = _FROZEN

    campaign_arn: str
    update_mode: str
    solution_version_arn: str
    moved: bool


class NewDataCheck(BaseModel):
    """Whether a solution has interactions that its newest version has not trained on, and why."""

    model_config = _FROZEN

    solution_arn: str
    new_data: bool
    reason: str
    data_version: str | None = Field(
        default=None, description="The INTERACTIONS data version now; None before any import."
    )
    events_count: int = Field(description="The group's PutEvents now.")
    last_version_arn: str | None = Field(default=None, description="The version compared with, if any.")


STAGE_RESULTS: tuple[type[BaseModel], ...] = (
    ImportResult,
    TrainResult,
    Evaluation,
    Promotion,
    Deployment,
    NewDataCheck,
)
"""Every result a stage returns: what an orchestrator allows to travel between its tasks."""
