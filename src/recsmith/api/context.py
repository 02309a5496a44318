"""What every operation handler receives: the platform, the caller's key, and the server's shared state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recsmith.catalog.access_keys import AccessKey
from recsmith.platform import Platform

if TYPE_CHECKING:
    from recsmith.api.runtime import CampaignPool
    from recsmith.api.shapes import Paginator


@dataclass(frozen=True)
class ServerState:
    """Owned by the app object of one worker process: one campaign pool, one paginator."""

    platform: Platform
    campaigns: CampaignPool
    paginator: Paginator


@dataclass(frozen=True)
class Call:
    """One operation call: who asked (``key``), on which server (``state``)."""

    state: ServerState
    key: AccessKey
    operation: str

    @property
    def platform(self) -> Platform:
        return self.state.platform


Handler = Callable[[Call, dict[str, Any]], dict[str, Any]]
"""A control-plane handler: runs on a thread, returns the response members."""

AsyncHandler = Callable[[Call, dict[str, Any]], Awaitable[dict[str, Any]]]
"""A runtime or events handler: runs in the event loop and awaits its own I/O."""

AnyHandler = Handler | AsyncHandler
