"""The catalog: every resource (dataset group, schema, dataset, import job, event tracker, solution, solution
version, campaign, batch inference job, filter) as one row keyed by its ARN, with Personalize's status lifecycle.
Jobs in flight (who runs them, the local executor's queue, the per-dataset in-progress locks) have their own
table (:mod:`recsmith.catalog.jobs`), changed in the same transactions as their resources' status.

One table of resources, rather than one per type, keeps the catalog small while the resource shapes are still
growing: the typed fields every resource has are columns, the rest is a JSON ``attributes`` document that the
owning module reads and writes. Campaign moves (who, when, from, to) have their own append-only table.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Engine, Float, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from recsmith.catalog.jobs import (
    JobQueue,
    JobRow,
    JobState,
    ProcessRef,
    begin_condition,
    create_job_tables,
    delete_job_row,
    new_job_row,
    owner_columns,
    rowcount,
)
from recsmith.db import make_engine
from recsmith.errors import ResourceAlreadyExistsError, ResourceInUseError, ResourceNotFoundError


class ResourceType(StrEnum):
    """Resource types, spelled as in their ARNs."""

    DATASET_GROUP = "dataset-group"
    SCHEMA = "schema"
    DATASET = "dataset"
    DATASET_IMPORT_JOB = "dataset-import-job"
    DATASET_EXPORT_JOB = "dataset-export-job"
    EVENT_TRACKER = "event-tracker"
    SOLUTION = "solution"
    SOLUTION_VERSION = "solution-version"
    CAMPAIGN = "campaign"
    BATCH_INFERENCE_JOB = "batch-inference-job"
    BATCH_SEGMENT_JOB = "batch-segment-job"
    FILTER = "filter"
    # Amazon Forecast's resources (recsmith.forecast). Their ARNs are Forecast's own
    # (arn:aws:forecast:{region}:{account}:dataset-group/{name}, ...); the "forecast-" prefix keeps Forecast's
    # dataset groups, datasets and import jobs apart from Personalize's in name lookups.
    FORECAST_DATASET_GROUP = "forecast-dataset-group"
    FORECAST_DATASET = "forecast-dataset"
    FORECAST_DATASET_IMPORT_JOB = "forecast-dataset-import-job"
    PREDICTOR = "predictor"
    FORECAST = "forecast"
    FORECAST_EXPORT_JOB = "forecast-export-job"


class Status(StrEnum):
    """Personalize's status lifecycle."""

    CREATE_PENDING = "CREATE PENDING"
    CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
    ACTIVE = "ACTIVE"
    CREATE_FAILED = "CREATE FAILED"
    CREATE_STOPPING = "CREATE STOPPING"
    CREATE_STOPPED = "CREATE STOPPED"
    DELETE_PENDING = "DELETE PENDING"


FINAL_STATUSES = frozenset({Status.ACTIVE, Status.CREATE_FAILED, Status.CREATE_STOPPED})
"""A job whose resource reaches one of these is over: its row in the jobs table goes in the same transaction."""


class _Base(DeclarativeBase):
    pass


class ResourceRow(_Base):
    __tablename__ = "resources"

    arn: Mapped[str] = mapped_column(String(512), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    dataset_group_arn: Mapped[str | None] = mapped_column(String(512), index=True, nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    creation_time: Mapped[float] = mapped_column(Float)
    last_updated_time: Mapped[float] = mapped_column(Float)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)


class CampaignMoveRow(_Base):
    __tablename__ = "campaign_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_arn: Mapped[str] = mapped_column(String(512), index=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(256))
    from_version: Mapped[str | None] = mapped_column(String(512), nullable=True)
    to_version: Mapped[str] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(Text)


class Resource(BaseModel):
    """A catalog entry: the fields every resource has, plus its type-specific ``attributes``."""

    arn: str
    resource_type: ResourceType
    name: str
    dataset_group_arn: str | None = None
    status: Status = Status.ACTIVE
    failure_reason: str | None = None
    creation_time: float = Field(default_factory=time.time)
    last_updated_time: float = Field(default_factory=time.time)
    attributes: dict[str, Any] = Field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The resource as Personalize's Describe* calls show it (camelCase, ``<type>Arn``)."""
        key = _camel(self.resource_type.value)
        out: dict[str, Any] = {"name": self.name, f"{key}Arn": self.arn}
        if self.dataset_group_arn and self.resource_type is not ResourceType.DATASET_GROUP:
            out["datasetGroupArn"] = self.dataset_group_arn
        out.update(self.attributes)
        out["status"] = self.status.value
        if self.failure_reason:
            out["failureReason"] = self.failure_reason
        out["creationDateTime"] = self.creation_time
        out["lastUpdatedDateTime"] = self.last_updated_time
        return out


class CampaignMove(BaseModel):
    """One change of the model version a campaign serves."""

    campaign_arn: str
    at: float
    actor: str
    from_version: str | None
    to_version: str
    reason: str


def _camel(kebab: str) -> str:
    head, *rest = kebab.split("-")
    return head + "".join(part.capitalize() for part in rest)


class Catalog:
    """Create, read, update and delete catalog resources in one SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = make_engine(url)
        _Base.metadata.create_all(self._engine)
        create_job_tables(self._engine)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self.job_queue = JobQueue(self._sessions, self._engine.dialect.name)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @property
    def engine(self) -> Engine:
        """The catalog database's engine, for modules that keep tables of their own beside the resources
        (:mod:`recsmith.catalog.coordination`)."""
        return self._engine

    def dispose(self) -> None:
        """Close pooled connections (tests, and processes that fork)."""
        self._engine.dispose()

    def create(self, resource: Resource) -> Resource:
        """Insert ``resource``; a resource with the same ARN already there is an error."""
        try:
            with self._session() as session:
                session.add(ResourceRow(**_row_fields(resource)))
        except IntegrityError as exc:
            raise ResourceAlreadyExistsError(
                f"{resource.resource_type} {resource.name!r} already exists ({resource.arn})"
            ) from exc
        return resource

    def create_job(self, resource: Resource, *, owner: ProcessRef, exclusive_key: str | None = None) -> Resource:
        """Insert a job ``resource`` (CREATE PENDING) and its row in the jobs table, HELD by ``owner``, in one
        transaction. With ``exclusive_key``, the insert is refused with :class:`ResourceInUseError` while another
        job in flight holds the same key: the check and the record are one step."""
        try:
            with self._session() as session:
                session.add(ResourceRow(**_row_fields(resource)))
                try:
                    session.flush()
                except IntegrityError as exc:
                    raise ResourceAlreadyExistsError(
                        f"{resource.resource_type} {resource.name!r} already exists ({resource.arn})"
                    ) from exc
                session.add(
                    new_job_row(resource.arn, resource.resource_type.value, owner, exclusive_key, JobState.HELD)
                )
                session.flush()
        except IntegrityError as exc:
            holder = self.job_queue.holder(exclusive_key) if exclusive_key else None
            raise ResourceInUseError(
                f"{exclusive_key} is in use by {holder.resource_arn if holder else 'another job'}"
            ) from exc
        return resource

    def begin_job(self, resource_type: ResourceType, arn: str, owner: ProcessRef) -> Resource:
        """Turn a CREATE PENDING job CREATE IN_PROGRESS, run by ``owner``, in one step that only one process
        wins: the job must be HELD or RUNNING by ``owner`` (its creator, or the worker its pool named) or QUEUED
        (nobody claimed it yet). Anything else is :class:`ResourceInUseError`."""
        with self._session() as session:
            # a conditional UPDATE first: it takes SQLite's write lock, so what follows reads a settled state
            taken = session.execute(
                update(JobRow)
                .where(JobRow.resource_arn == arn, begin_condition(owner))
                .values(state=JobState.RUNNING.value, **owner_columns(owner))
            )
            if not rowcount(taken):
                if session.get(JobRow, arn) is not None:
                    raise ResourceInUseError(f"{resource_type} {arn} is being run by another process")
                # a job recorded before the jobs table existed
                session.add(new_job_row(arn, resource_type.value, owner, None, JobState.RUNNING))
                session.flush()
            begun = session.execute(
                update(ResourceRow)
                .where(
                    ResourceRow.arn == arn,
                    ResourceRow.resource_type == resource_type.value,
                    ResourceRow.status == Status.CREATE_PENDING.value,
                )
                .values(status=Status.CREATE_IN_PROGRESS.value, last_updated_time=time.time())
            )
            if not rowcount(begun):
                row = session.get(ResourceRow, arn)
                if row is None or row.resource_type != resource_type.value:
                    raise ResourceNotFoundError(f"no {resource_type} with ARN {arn!r}")
                raise ResourceInUseError(f"{resource_type} {arn} is {row.status}, not {Status.CREATE_PENDING}")
            row = session.get(ResourceRow, arn, populate_existing=True)
            assert row is not None
            return _to_resource(row)

    def set_status_if(
        self,
        resource_type: ResourceType,
        arn: str,
        status: Status,
        *,
        only_from: builtins.set[Status],
        failure_reason: str | None = None,
    ) -> Resource | None:
        """Set ``status`` only if the resource's status is one of ``only_from`` (one conditional UPDATE);
        ``None`` when it was not. A final status ends the job's row in the same transaction."""
        with self._session() as session:
            values: dict[str, Any] = {"status": status.value, "last_updated_time": time.time()}
            if failure_reason is not None:
                values["failure_reason"] = failure_reason
            changed = session.execute(
                update(ResourceRow)
                .where(
                    ResourceRow.arn == arn,
                    ResourceRow.resource_type == resource_type.value,
                    ResourceRow.status.in_([s.value for s in only_from]),
                )
                .values(**values)
            )
            if not rowcount(changed):
                return None
            if status in FINAL_STATUSES:
                delete_job_row(session, arn)
            row = session.get(ResourceRow, arn, populate_existing=True)
            assert row is not None
            return _to_resource(row)

    def get(self, resource_type: ResourceType, arn_or_name: str) -> Resource:
        """The resource with this ARN, or with this name where the name is unambiguous."""
        with self._session() as session:
            row = session.get(ResourceRow, arn_or_name)
            if row is None or row.resource_type != resource_type.value:
                rows = session.scalars(
                    select(ResourceRow).where(
                        ResourceRow.resource_type == resource_type.value, ResourceRow.name == arn_or_name
                    )
                ).all()
                if len(rows) > 1:
                    arns = ", ".join(r.arn for r in rows)
                    raise ResourceNotFoundError(
                        f"{resource_type} name {arn_or_name!r} is ambiguous; pass one of its ARNs: {arns}"
                    )
                row = rows[0] if rows else None
            if row is None:
                raise ResourceNotFoundError(f"no {resource_type} with ARN or name {arn_or_name!r}")
            return _to_resource(row)

    def find(self, resource_type: ResourceType, arn_or_name: str) -> Resource | None:
        """Like :meth:`get`, but ``None`` when there is no such resource."""
        try:
            return self.get(resource_type, arn_or_name)
        except ResourceNotFoundError:
            return None

    def list(
        self,
        resource_type: ResourceType,
        *,
        dataset_group_arn: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> list[Resource]:
        """Resources of a type, oldest first, optionally within one dataset group and matching attributes."""
        with self._session() as session:
            query = select(ResourceRow).where(ResourceRow.resource_type == resource_type.value)
            if dataset_group_arn is not None:
                query = query.where(ResourceRow.dataset_group_arn == dataset_group_arn)
            rows = session.scalars(query.order_by(ResourceRow.creation_time, ResourceRow.arn)).all()
            resources = [_to_resource(r) for r in rows]
        if where:
            resources = [r for r in resources if all(r.attributes.get(k) == v for k, v in where.items())]
        return resources

    def update(
        self,
        resource: Resource,
        *,
        status: Status | None = None,
        failure_reason: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Resource:
        """Store a new status, failure reason or attributes (merged) for ``resource``; returns the new state."""
        with self._session() as session:
            row = session.get(ResourceRow, resource.arn, with_for_update=True)
            if row is None:
                raise ResourceNotFoundError(f"no {resource.resource_type} with ARN {resource.arn!r}")
            if status is not None:
                row.status = status.value
                if status in FINAL_STATUSES:
                    delete_job_row(session, resource.arn)
            if failure_reason is not None:
                row.failure_reason = failure_reason
            if attributes:
                row.attributes = {**row.attributes, **attributes}
            row.last_updated_time = time.time()
            return _to_resource(row)

    def update_together(
        self, changes: Sequence[tuple[Resource, Status | None, Mapping[str, Any]]]
    ) -> builtins.list[Resource]:
        """Apply several ``(resource, status, attributes)`` updates in one transaction: all land or none does
        (an import job turning ACTIVE and its dataset moving to the new data version)."""
        with self._session() as session:
            out = []
            for resource, status, attributes in changes:
                row = session.get(ResourceRow, resource.arn, with_for_update=True)
                if row is None:
                    raise ResourceNotFoundError(f"no {resource.resource_type} with ARN {resource.arn!r}")
                if status is not None:
                    row.status = status.value
                    if status in FINAL_STATUSES:
                        delete_job_row(session, resource.arn)
                if attributes:
                    row.attributes = {**row.attributes, **attributes}
                row.last_updated_time = time.time()
                session.flush()
                out.append(_to_resource(row))
            return out

    def delete(self, resource_type: ResourceType, arn_or_name: str) -> Resource:
        """Remove a resource; returns what was removed."""
        resource = self.get(resource_type, arn_or_name)
        with self._session() as session:
            row = session.get(ResourceRow, resource.arn)
            if row is not None:
                session.delete(row)
            delete_job_row(session, resource.arn)
        return resource

    def record_campaign_move(self, move: CampaignMove) -> None:
        """Append one campaign move to its history."""
        with self._session() as session:
            session.add(CampaignMoveRow(**move.model_dump()))

    def campaign_moves(self, campaign_arn: str) -> builtins.list[CampaignMove]:
        """Every move of a campaign, oldest first."""
        with self._session() as session:
            rows = session.scalars(
                select(CampaignMoveRow)
                .where(CampaignMoveRow.campaign_arn == campaign_arn)
                .order_by(CampaignMoveRow.id)
            ).all()
            return [
                CampaignMove(
                    campaign_arn=r.campaign_arn,
                    at=r.at,
                    actor=r.actor,
                    from_version=r.from_version,
                    to_version=r.to_version,
                    reason=r.reason,
                )
                for r in rows
            ]


def _row_fields(resource: Resource) -> dict[str, Any]:
    fields = resource.model_dump()
    fields["resource_type"] = resource.resource_type.value
    fields["status"] = resource.status.value
    return fields


def _to_resource(row: ResourceRow) -> Resource:
    return Resource(
        arn=row.arn,
        resource_type=ResourceType(row.resource_type),
        name=row.name,
        dataset_group_arn=row.dataset_group_arn,
        status=Status(row.status),
        failure_reason=row.failure_reason,
        creation_time=row.creation_time,
        last_updated_time=row.last_updated_time,
        attributes=dict(row.attributes or {}),
    )
