"""A property-based fuzz of HTTP routes, given a base URL and an OpenAPI document (and, optionally, a signer).

schemathesis generates requests from each operation of the document, both ones that fit it (positive) and ones
that break it (negative); every answer must be below 500, and every refusal (4xx) must be in Personalize's error
shape (``{"__type", "message"}`` with ``x-amzn-ErrorType`` naming the same code), which is what botocore turns
into a modeled exception. Bounded in examples and seconds, loopback only. No check raises inside the generator:
findings are collected and reported together, so a run does not spend its time shrinking one of them.

``openapi_from_botocore`` turns a botocore service model (``personalize-events``: rest-json with a path per
operation) into an OpenAPI document, so the routes that have no document of their own are fuzzed from the very
contract their clients are built from. ``sigv4_signer`` signs each request as boto3 would, for servers that
authenticate (``recsmith serve``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

Signer = Callable[[requests.PreparedRequest], None]
SERVER_ERROR = 500


@dataclass
class Finding:
    """One answer that broke a rule: what was sent, what came back, and which rule."""

    operation: str
    rule: str
    status: int | None
    request: str
    answer: str


@dataclass
class FuzzReport:
    """What a fuzz run sent and found, per operation."""

    sent: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    slowest: tuple[float, str] = (0.0, "")  # the longest answer: seconds, and what was sent

    def summary(self) -> str:
        statuses = dict(sorted(self.statuses.items()))
        lines = [f"{sum(self.sent.values())} requests in {self.seconds:.0f}s; statuses {statuses}"]
        lines.append(f"  slowest answer {self.slowest[0]:.2f}s: {self.slowest[1][:200]}")
        lines += [f"  {name}: {count}" for name, count in sorted(self.sent.items())]
        for finding in self.findings[:10]:
            lines.append(f"  FINDING {finding.operation} [{finding.rule}] {finding.status}: {finding.answer[:300]}")
            lines.append(f"    sent {finding.request[:500]}")
        return "\n".join(lines)


def fuzz(
    base_url: str,
    openapi: Mapping[str, Any],
    *,
    examples: int = 60,
    seconds: float = 60.0,
    signer: Signer | None = None,
    known_values: Mapping[str, str] | None = None,
    skip_paths: Iterable[str] = (),
    modes: Iterable[str] = ("positive", "negative", "mutated"),
) -> FuzzReport:
    """Send up to ``examples`` generated requests per operation and generation mode (fitting the document,
    breaking it, and :data:`MUTATED`), within ``seconds`` in all, shared fairly between them.

    ``known_values`` (field name to a value that exists, such as a real ``campaignArn`` or ``trackingId``; a key
    ``"POST /items datasetArn"`` holds for that operation only) is swapped into about half of the generated JSON
    bodies that have that field, so requests reach past the lookup of the resource they name.
    """
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_dict(dict(openapi))
    report = FuzzReport()
    started = time.monotonic()
    target = _Target(base_url, requests.Session(), signer, dict(known_values or {}), report, started + seconds)
    skipped = set(skip_paths)
    jobs = [
        (operation, mode)
        for operation in (result.ok() for result in schema.get_all_operations())
        if operation.path not in skipped
        for mode in (MUTATED if name == MUTATED else GenerationMode(name) for name in modes)
    ]
    for position, (operation, mode) in enumerate(jobs):  # each job gets a fair share of the time left
        left = started + seconds - time.monotonic()
        target.deadline = time.monotonic() + max(left, 0) / (len(jobs) - position)
        try:
            _fuzz_operation(target, operation, mode, examples)
        except Unsatisfiable:  # nothing to break in an operation without parameters (GET /healthz)
            continue
    report.seconds = time.monotonic() - started
    return report


MUTATED = "mutated"
"""A third generation mode: a request that fits the document and names real resources, with one value anywhere in
its body (an id, a timestamp, a member of a list) replaced by a hostile one, so type confusion deep inside a
request reaches the code behind the resource lookup."""

HOSTILE_VALUES = st.sampled_from(
    [None, True, 0, -1, 2**63, 10**30, 1e308, -1e308, "", "x" * 300, "\x00", "\ud800", "-inf", "NaN", "abc", "1e999"]
    + [[], [1], {}, {"a": {}}, "[]", "{}", '{"a": 1}', ["x" * 300]]
)


@dataclass
class _Target:
    base_url: str
    session: requests.Session
    signer: Signer | None
    known: dict[str, str]
    report: FuzzReport
    deadline: float


def _fuzz_operation(target: _Target, operation: Any, mode: Any, examples: int) -> None:
    from schemathesis.generation.modes import GenerationMode

    generation = GenerationMode.POSITIVE if mode == MUTATED else mode

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    # every example draws the same things in the same order, whatever it then uses (hypothesis insists)
    @given(
        operation.as_strategy(generation_mode=generation),
        st.booleans(),
        st.integers(min_value=0, max_value=2**16),
        HOSTILE_VALUES,
    )
    def send(case: Any, use_known: bool, place: int, hostile: Any) -> None:
        if time.monotonic() > target.deadline:
            return
        if (use_known or mode == MUTATED) and isinstance(case.body, dict):
            for key, value in target.known.items():
                label, _, name = key.rpartition(" ")
                if name in case.body and label in ("", operation.label):
                    case.body[name] = value
        if mode == MUTATED and isinstance(case.body, dict | list):
            places = _places(case.body)
            if places:  # one field's value, anywhere in the body
                _replace(case.body, places[place % len(places)], hostile)
        _send(target, operation.label, case)

    send()


def _places(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every object member inside a JSON value (``("eventList", 2, "sentAt")``)."""
    members = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found: list[tuple[Any, ...]] = []
    for key, member in members:
        if isinstance(value, dict):
            found.append((*prefix, key))
        found.extend(_places(member, (*prefix, key)))
    return found


def _replace(body: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        body = body[key]
    body[path[-1]] = value


def _send(target: _Target, label: str, case: Any) -> None:
    session, report = target.session, target.report
    kwargs = case.as_transport_kwargs(base_url=target.base_url)
    kwargs.pop("cookies", None)
    request = requests.Request(
        kwargs.pop("method"),
        kwargs.pop("url"),
        headers=kwargs.pop("headers", None),
        params=kwargs.pop("params", None),
        json=kwargs.pop("json", None),
        data=kwargs.pop("data", None),
    )
    prepared = session.prepare_request(request)
    if target.signer is not None:
        target.signer(prepared)
    shown = f"{prepared.method} {prepared.url} {(prepared.body or b'')[:400]!r}"
    report.sent[label] = report.sent.get(label, 0) + 1
    started = time.monotonic()
    try:
        answer = session.send(prepared, timeout=30)
    except requests.RequestException as exc:  # a reset connection is a finding, as a 500 is
        report.findings.append(Finding(label, "connection", None, shown, repr(exc)))
        return
    took = time.monotonic() - started
    if took > report.slowest[0]:
        report.slowest = (took, shown)
    report.statuses[answer.status_code] = report.statuses.get(answer.status_code, 0) + 1
    rule = refusal_problem(answer.status_code, answer.headers, answer.content)
    if rule is not None:
        report.findings.append(Finding(label, rule, answer.status_code, shown, answer.text))


def refusal_problem(status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """Why an answer breaks the rules (a server error, or a refusal not in Personalize's shape), or None."""
    if status >= SERVER_ERROR:
        return "server error"
    if status < 400:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return "refusal is not JSON"
    if not isinstance(parsed, dict) or not isinstance(parsed.get("__type"), str) or "message" not in parsed:
        return "refusal lacks __type and message"
    if headers.get("x-amzn-ErrorType") != parsed["__type"]:
        return "x-amzn-ErrorType differs from __type"
    return None


def openapi_from_botocore(service: str, operations: Iterable[str]) -> dict[str, Any]:
    """An OpenAPI 3.0 document of ``operations`` of a botocore rest-json service model, shapes as JSON Schema."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    paths: dict[str, Any] = {}
    for name in operations:
        operation = model.operation_model(name)
        http = operation.http
        paths[http["requestUri"]] = {
            http["method"].lower(): {
                "operationId": name,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _json_schema(operation.input_shape)}},
                },
                "responses": {"200": {"description": "OK"}, "400": {"description": "refused"}},
            }
        }
    return {"openapi": "3.0.2", "info": {"title": service, "version": model.api_version}, "paths": paths}


def _json_schema(shape: Any) -> dict[str, Any]:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: _json_schema(member) for name, member in shape.members.items()},
        }
        if shape.required_members:
            schema["required"] = list(shape.required_members)
        return schema
    if kind == "list":
        schema = {"type": "array", "items": _json_schema(shape.member)}
        _copy(meta, schema, {"min": "minItems", "max": "maxItems"})
        return schema
    if kind == "map":
        schema = {"type": "object", "additionalProperties": _json_schema(shape.value)}
        _copy(meta, schema, {"min": "minProperties", "max": "maxProperties"})
        return schema
    if kind == "string":
        schema = {"type": "string"}
        _copy(meta, schema, {"min": "minLength", "max": "maxLength", "pattern": "pattern"})
        return schema
    if kind == "timestamp":  # rest-json sends epoch seconds
        return {"type": "number", "minimum": 0, "maximum": time.time()}
    if kind in ("integer", "long"):
        return {"type": "integer"}
    if kind in ("float", "double"):
        return {"type": "number"}
    if kind == "boolean":
        return {"type": "boolean"}
    return {}


def _copy(meta: Mapping[str, Any], schema: dict[str, Any], names: Mapping[str, str]) -> None:
    for source, target in names.items():
        if source in meta:
            schema[target] = meta[source]


def sigv4_signer(access_key: str, secret_key: str, region: str, service: str) -> Signer:
    """Sign each request with AWS Signature Version 4, as boto3 signs it (for servers that authenticate)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = SigV4Auth(Credentials(access_key, secret_key), service, region)

    def sign(prepared: requests.PreparedRequest) -> None:
        aws = AWSRequest(method=prepared.method, url=prepared.url, data=prepared.body, headers=dict(prepared.headers))
        auth.add_auth(aws)
        prepared.headers.update(dict(aws.headers.items()))

    return sign
