"""botocore's service models as the API's contract: routing, signing names and input shapes in one table.

The models ship with botocore (installed with boto3) and are read offline with :mod:`botocore.loaders`, so the
server answers exactly the operations, members, limits and patterns that the user's own boto3 sends. A service
is one :class:`ServiceSpec`: JSON 1.1 services are routed by ``X-Amz-Target: <targetPrefix>.<Operation>`` on
``POST /``, rest-json services by each operation's ``requestUri``. Adding a service (Forecast's ``forecast`` and
``forecastquery``) is one more entry in :data:`SERVICE_NAMES` plus its handlers.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

# botocore model name -> the services recsmith answers on one endpoint
SERVICE_NAMES: tuple[str, ...] = ("personalize", "personalize-runtime", "personalize-events")


@dataclass(frozen=True)
class ServiceSpec:
    """One botocore service model, indexed for routing."""

    name: str
    model: ServiceModel
    protocol: str
    target_prefix: str | None
    signing_names: frozenset[str]
    rest_routes: dict[tuple[str, str], str] = field(default_factory=dict)  # (method, path) -> operation

    def operation(self, name: str) -> OperationModel:
        return self.model.operation_model(name)

    @property
    def operation_names(self) -> list[str]:
        return list(self.model.operation_names)


@functools.cache
def _loader() -> Loader:
    return Loader()


@functools.cache
def load_service(name: str) -> ServiceSpec:
    """The newest botocore model of service ``name`` (no network: the files ship with botocore)."""
    raw = _loader().load_service_model(name, "service-2")
    model = ServiceModel(raw, service_name=name)
    metadata = model.metadata
    routes: dict[tuple[str, str], str] = {}
    if metadata["protocol"] == "rest-json":
        for operation in model.operation_names:
            http = model.operation_model(operation).http
            routes[(http["method"].upper(), http["requestUri"].split("?", 1)[0])] = operation
    # botocore signs with metadata.signingName; the endpoint prefix is the other name a client may scope to
    names = {metadata.get("signingName") or metadata["endpointPrefix"], metadata["endpointPrefix"], name}
    return ServiceSpec(
        name=name,
        model=model,
        protocol=metadata["protocol"],
        target_prefix=metadata.get("targetPrefix"),
        signing_names=frozenset(names),
        rest_routes=routes,
    )


@dataclass(frozen=True)
class Route:
    """Where one request goes: a service and one of its operations."""

    service: ServiceSpec
    operation: OperationModel


class ServiceTable:
    """Every service the endpoint answers, looked up by JSON target or by REST method and path."""

    def __init__(self, names: Iterable[str] = SERVICE_NAMES) -> None:
        self.services = {name: load_service(name) for name in names}
        self._targets = {s.target_prefix: s for s in self.services.values() if s.target_prefix}
        self._rest: dict[tuple[str, str], Route] = {}
        for spec in self.services.values():
            for key, operation in spec.rest_routes.items():
                self._rest[key] = Route(spec, spec.operation(operation))

    @property
    def signing_names(self) -> frozenset[str]:
        """Service names a credential scope may carry (``personalize``, ``personalize-runtime``, ...)."""
        return frozenset().union(*(s.signing_names for s in self.services.values()))

    def by_target(self, target: str) -> tuple[ServiceSpec | None, str]:
        """The service of ``X-Amz-Target: Prefix.Operation`` and the operation's name (unchecked)."""
        prefix, _, operation = target.rpartition(".")
        return self._targets.get(prefix), operation

    def by_path(self, method: str, path: str) -> Route | None:
        return self._rest.get((method.upper(), path))

    def rest_paths(self) -> list[str]:
        return sorted({path for _, path in self._rest})
