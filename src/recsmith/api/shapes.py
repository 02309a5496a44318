"""Responses shaped by the model, and List* pagination done once for every operation.

:func:`shape_output` keeps what an output shape declares and converts each value to the member's type (epoch
numbers for timestamps, strings for Personalize's string-typed numbers such as ``eventValueThreshold``), so a
``Describe*`` answer never carries a field name or type that botocore's model does not have, whatever the
catalog stores beside it.

:class:`Paginator` turns a full list into pages of ``maxResults`` (1-100, default 100) with an opaque
``nextToken``: the offset and the operation, signed with a server secret, so a token from another call or an
edited one is ``InvalidNextTokenException`` rather than a silent wrong page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
from collections.abc import Sequence
from typing import Any

import orjson
from botocore.model import Shape

from recsmith.errors import InvalidNextTokenError

logger = logging.getLogger(__name__)

DEFAULT_PAGE = 100


class _Dropped(Exception):
    """A value that cannot take the member's type (left out of the answer)."""


def _coerce(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _Dropped
        out = {}
        for name, member in shape.members.items():
            if value.get(name) is None:
                continue
            try:
                out[name] = _coerce(member, value[name])
            except _Dropped:
                logger.debug("left %s out of %s: %r is not a %s", name, shape.name, value[name], member.type_name)
        return out
    if kind == "list":
        if not isinstance(value, list | tuple):
            raise _Dropped
        items = []
        for item in value:
            try:
                items.append(_coerce(shape.member, item))
            except _Dropped:
                continue
        return items
    if kind == "map":
        if not isinstance(value, dict):
            raise _Dropped
        entries = {}
        for key, item in value.items():
            try:
                entries[str(key)] = _coerce(shape.value, item)
            except _Dropped:
                continue
        return entries
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, dict | list):
            return orjson.dumps(value).decode()
        raise _Dropped
    if kind in ("integer", "long"):
        if isinstance(value, bool):
            raise _Dropped
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _Dropped from None
    if kind in ("double", "float", "timestamp"):
        if isinstance(value, bool):
            raise _Dropped
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _Dropped from None
        if not math.isfinite(number):
            raise _Dropped
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _Dropped
    return value


def shape_output(shape: Shape | None, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` reduced to the members of ``shape``, each converted to its declared type."""
    if shape is None:
        return {}
    shaped = _coerce(shape, value)
    assert isinstance(shaped, dict)
    return shaped


class Paginator:
    """Pages of a list with signed ``nextToken``s."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest()[:32]

    def token(self, operation: str, offset: int) -> str:
        payload = f"{operation}:{offset}".encode()
        return base64.urlsafe_b64encode(payload + b"." + self._sign(payload).encode()).decode()

    def offset(self, operation: str, token: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token.encode())
            payload, _, signature = raw.rpartition(b".")
            name, _, offset = payload.decode().partition(":")
            valid = hmac.compare_digest(signature.decode(), self._sign(payload)) and name == operation
            number = int(offset)
        except (ValueError, UnicodeDecodeError):
            valid, number = False, 0
        if not valid or number < 0:
            raise InvalidNextTokenError(f"nextToken {token[:40]!r} was not issued by this server for {operation}")
        return number

    def page(self, operation: str, params: dict[str, Any], items: Sequence[Any]) -> tuple[list[Any], str | None]:
        """One page of ``items`` as ``params`` asks (``nextToken``, ``maxResults``) and the next page's token."""
        size = int(params.get("maxResults") or DEFAULT_PAGE)
        token = params.get("nextToken")
        start = self.offset(operation, token) if token else 0
        end = start + size
        return list(items[start:end]), (self.token(operation, end) if end < len(items) else None)
