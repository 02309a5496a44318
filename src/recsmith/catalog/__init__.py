"""The metadata store: resources with Personalize's lifecycle, in SQLite by default or PostgreSQL by URL."""

from recsmith.catalog.store import CampaignMove, Catalog, Resource, ResourceType, Status

__all__ = ["Catalog", "CampaignMove", "Resource", "ResourceType", "Status"]
