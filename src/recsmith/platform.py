"""The handle every step function takes: settings plus the stores they open, built once per entry point."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from recsmith.arns import make_arn
from recsmith.catalog import Catalog, Resource, ResourceType, Status
from recsmith.settings import Settings, load_settings

if TYPE_CHECKING:
    from recsmith.campaigns.caches import CampaignCaches
    from recsmith.catalog.coordination import Coordination
    from recsmith.events.store import EventStore
    from recsmith.events.tracker import TrackerCache
    from recsmith.jobs import Executor


@dataclass
class Platform:
    """Settings, the catalog, the event store, MLflow configuration and the request-path caches of one recsmith
    installation."""

    settings: Settings

    @classmethod
    def from_env(cls) -> Platform:
        """The platform the ``RECSMITH_*`` environment describes; entry points call this once."""
        return cls(load_settings())

    @cached_property
    def catalog(self) -> Catalog:
        self.settings.resolved_home.mkdir(parents=True, exist_ok=True)
        return Catalog(self.settings.resolved_catalog_url())

    @cached_property
    def events(self) -> EventStore:
        from recsmith.events.store import EventStore

        self.settings.resolved_home.mkdir(parents=True, exist_ok=True)
        return EventStore(self.settings.resolved_event_store_url())

    @cached_property
    def jobs(self) -> Executor:
        """The job executor the settings choose (``RECSMITH_EXECUTOR``): ``submit`` and ``stop`` return at once.
        The local one runs jobs in the pool that ``recsmith serve`` or ``recsmith run-jobs`` starts."""
        from recsmith.jobs import make_executor

        return make_executor(self)

    @cached_property
    def coordination(self) -> Coordination:
        """The controller's lease and the serving workers' rows, in the catalog's database."""
        from recsmith.catalog.coordination import Coordination

        return Coordination(self.catalog)

    @cached_property
    def campaign_caches(self) -> CampaignCaches:
        """What the request path keeps in memory (filters, their tables and decisions, item metadata), one set
        per platform: an installation's data never answers for another's, and a test's platform starts empty."""
        from recsmith.campaigns.caches import CampaignCaches

        return CampaignCaches()

    @cached_property
    def trackers(self) -> TrackerCache:
        """Tracking id to dataset group, cached for PutEvents; this platform's own, never a module global."""
        from recsmith.events.tracker import TrackerCache

        return TrackerCache(self)

    def configure_mlflow(self) -> None:
        """Point the MLflow client of this process at the configured tracking store."""
        import mlflow

        mlflow.set_tracking_uri(self.settings.resolved_mlflow_tracking_uri())
        mlflow.set_registry_uri(self.settings.resolved_mlflow_tracking_uri())

    def create_resource(
        self,
        resource_type: ResourceType,
        name: str,
        *,
        arn_id: str | None = None,
        dataset_group_arn: str | None = None,
        status: Status = Status.ACTIVE,
        attributes: dict[str, Any] | None = None,
    ) -> Resource:
        """Add a resource to the catalog under its Personalize-shaped ARN (``arn_id`` defaults to ``name``)."""
        return self.catalog.create(
            Resource(
                arn=make_arn(self.settings, resource_type, arn_id or name),
                resource_type=resource_type,
                name=name,
                dataset_group_arn=dataset_group_arn,
                status=status,
                attributes=attributes or {},
            )
        )
