"""The metadata store: resources with Personalize's lifecycle, in SQLite by default or PostgreSQL by URL."""

from recsmith.catalog.jobs import Job, JobQueue, JobState, Pool, ProcessRef
from recsmith.catalog.store import FINAL_STATUSES, CampaignMove, Catalog, Resource, ResourceType, Status

__all__ = [
    "FINAL_STATUSES",
    "Catalog",
    "CampaignMove",
    "Job",
    "JobQueue",
    "JobState",
    "Pool",
    "ProcessRef",
    "Resource",
    "ResourceType",
    "Status",
]
