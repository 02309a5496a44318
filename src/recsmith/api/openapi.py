"""The OpenAPI document and a small page of the operations ``recsmith serve`` answers, from the same models.

Rest-json operations are paths of their own; JSON 1.1 operations all share ``POST /`` and differ by the
``X-Amz-Target`` header, which OpenAPI cannot key paths on, so each gets a documentation path
``/#<Target>.<Operation>`` (the ``#`` keeps it off the wire) whose ``servers`` entry says to send it to ``/``.
Schemas are the models' shapes, with their lengths, ranges, patterns and enums, so a fuzzer (schemathesis)
generates what botocore could send and more.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from botocore.model import Shape

from recsmith.api.service_models import ServiceTable

_TYPES = {
    "string": "string",
    "blob": "string",
    "boolean": "boolean",
    "integer": "integer",
    "long": "integer",
    "double": "number",
    "float": "number",
    "timestamp": "number",
}


def _schema(shape: Shape, components: dict[str, Any], prefix: str) -> dict[str, Any]:
    kind = shape.type_name
    if kind == "structure":
        name = f"{prefix}.{shape.name}"
        if name not in components:
            components[name] = {}  # placeholder first: shapes may be recursive
            properties = {k: _schema(v, components, prefix) for k, v in shape.members.items()}
            body: dict[str, Any] = {"type": "object", "properties": properties}
            if shape.required_members:
                body["required"] = list(shape.required_members)
            components[name] = body
        return {"$ref": f"#/components/schemas/{name}"}
    out: dict[str, Any]
    if kind == "list":
        out = {"type": "array", "items": _schema(shape.member, components, prefix)}
        _bounds(shape, out, "minItems", "maxItems")
    elif kind == "map":
        out = {"type": "object", "additionalProperties": _schema(shape.value, components, prefix)}
        _bounds(shape, out, "minProperties", "maxProperties")
    else:
        out = {"type": _TYPES.get(kind, "string")}
        if kind == "string":
            _bounds(shape, out, "minLength", "maxLength")
            if shape.enum:
                out["enum"] = list(shape.enum)
            if shape.metadata.get("pattern"):
                out["pattern"] = shape.metadata["pattern"]
        elif kind in ("integer", "long", "double", "float"):
            _bounds(shape, out, "minimum", "maximum")
    if shape.documentation:
        out["description"] = html.unescape(shape.documentation)[:300]
    return out


def _bounds(shape: Shape, out: dict[str, Any], low: str, high: str) -> None:
    if shape.metadata.get("min") is not None:
        out[low] = shape.metadata["min"]
    if shape.metadata.get("max") is not None:
        out[high] = shape.metadata["max"]


def openapi_document(table: ServiceTable, claimed: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """OpenAPI 3.1 for every operation recsmith claims, with every request signed by SigV4."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for spec in table.services.values():
        for operation in sorted(claimed.get(spec.name, {})):
            model = spec.operation(operation)
            request: dict[str, Any] = {}
            if model.input_shape is not None:
                request = {
                    "required": True,
                    "content": {"application/json": {"schema": _schema(model.input_shape, components, spec.name)}},
                }
            responses: dict[str, Any] = {"200": {"description": "OK"}}
            if model.output_shape is not None:
                responses["200"]["content"] = {
                    "application/json": {"schema": _schema(model.output_shape, components, spec.name)}
                }
            responses["400"] = {"description": "InvalidInputException and other client errors, AWS's error shape"}
            responses["403"] = {"description": "a missing, wrong or expired SigV4 signature; another tenant's data"}
            entry: dict[str, Any] = {"operationId": f"{spec.name}.{operation}", "responses": responses}
            if request:
                entry["requestBody"] = request
            if spec.target_prefix:
                target = f"{spec.target_prefix}.{operation}"
                entry["parameters"] = [
                    {"name": "X-Amz-Target", "in": "header", "required": True, "schema": {"const": target}}
                ]
                paths[f"/#{target}"] = {"post": entry, "servers": [{"url": "/"}]}
            else:
                paths[model.http["requestUri"]] = {model.http["method"].lower(): entry}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "recsmith",
            "version": "1",
            "description": "Amazon Personalize's control plane, runtime and events API on one endpoint. Every "
            "request but /readyz and /livez is signed with AWS Signature Version 4.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"sigv4": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        },
        "security": [{"sigv4": []}],
    }


def docs_page(table: ServiceTable, claimed: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain list of the operations, by service, with a link to the OpenAPI document."""
    rows = []
    for spec in table.services.values():
        names = sorted(claimed.get(spec.name, {}))
        rows.append(f"<h2>{html.escape(spec.name)}</h2><p>{', '.join(html.escape(n) for n in names)}</p>")
    return (
        "<!doctype html><title>recsmith</title><h1>recsmith: Amazon Personalize's API</h1>"
        "<p>Point boto3 or the AWS CLI here with <code>endpoint_url</code>; the OpenAPI document is "
        '<a href="/openapi.json">/openapi.json</a>.</p>' + "".join(rows)
    )
