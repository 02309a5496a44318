"""Requests and answers checked against botocore's ``forecast``/``forecastquery`` service models: a request with
botocore's own parameter validator (what boto3 runs before sending), an answer member by member (botocore does
not validate what a service returns, so this walks the output shape)."""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.model import Shape
from botocore.validate import validate_parameters

_SESSION = botocore.session.get_session()
MODELS = {name: _SESSION.get_service_model(name) for name in ("forecast", "forecastquery")}
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "double": (int, float),
    "float": (int, float),
    "boolean": (bool,),
    "timestamp": (int, float),  # JSON protocol: epoch seconds
}


def check_request(service: str, operation: str, request: dict[str, Any]) -> None:
    shape = MODELS[service].operation_model(operation).input_shape
    validate_parameters(request, shape)  # raises ParamValidationError, as boto3 would before sending


def check_response(service: str, operation: str, response: dict[str, Any]) -> None:
    shape = MODELS[service].operation_model(operation).output_shape
    if shape is None:
        assert response == {}, f"{operation} has no output, got {response}"
        return
    _check(response, shape, operation)


def error_codes(service: str, operation: str) -> set[str]:
    return {error.name for error in MODELS[service].operation_model(operation).error_shapes}


def _check(value: Any, shape: Shape, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: expected an object, got {value!r}"
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{path}: {sorted(unknown)} are not members of {shape.name}"
        for name, member in value.items():
            _check(member, shape.members[name], f"{path}.{name}")
    elif kind == "list":
        assert isinstance(value, list), f"{path}: expected a list, got {value!r}"
        for position, item in enumerate(value):
            _check(item, shape.member, f"{path}[{position}]")
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: expected a map, got {value!r}"
        for key, item in value.items():
            _check(key, shape.key, f"{path} key")
            _check(item, shape.value, f"{path}[{key}]")
    else:
        assert isinstance(value, _TYPES[kind]) and not (kind != "boolean" and isinstance(value, bool)), (
            f"{path}: expected {kind}, got {value!r}"
        )
        if kind == "string" and shape.enum:
            assert value in shape.enum, f"{path}: {value!r} is not one of {shape.enum}"
