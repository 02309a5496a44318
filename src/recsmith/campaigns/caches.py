"""What the request path keeps in memory, owned by one :class:`~recsmith.platform.Platform`.

A cache held by the platform object rather than by a module lives and dies with the installation it describes:
two platforms in one process (tests, a server of several homes) never share entries, and nothing needs keying
by home or URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recsmith.campaigns.filters.evaluator import FilterEvaluator
from recsmith.campaigns.item_metadata import ItemMetadataCache


@dataclass
class CampaignCaches:
    """Filters (records, parses, tables, decisions) and item metadata for ``metadataColumns``."""

    filters: FilterEvaluator = field(default_factory=FilterEvaluator)
    item_metadata: ItemMetadataCache = field(default_factory=ItemMetadataCache)
