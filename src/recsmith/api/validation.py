"""Input checks derived from botocore's shapes: one walker instead of one hand-written check per field.

Every constraint a service model writes is enforced here: required members, JSON types, string length
(``min``/``max``), number range, ``pattern`` (Java regular expressions, matched whole, through :mod:`regex` for
``\\p{L}``-style classes), ``enum``, list and map sizes, and finite numbers. The message is AWS's own wording
(``1 validation error detected: Value 'x' at 'name' failed to satisfy constraint: Member must ...``), naming the
field by its path, so a user reads what Personalize would have told them. Members the model does not know are
ignored, as AWS's JSON services do.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import regex
from botocore.model import Shape

from recsmith.errors import InvalidInputError

MAX_ERRORS = 10

# Where recsmith deliberately accepts more than the model, by shape name: Personalize reads data only from S3,
# recsmith also from local paths (and any S3-compatible store), so an S3Location has no URL pattern here and may
# be as long as a path can be. Everything else is the model's word.
SHAPE_OVERRIDES: dict[str, dict[str, Any]] = {
    "S3Location": {"pattern": None, "max": 4096},
}


@functools.cache
def _pattern(source: str) -> regex.Pattern[str]:
    return regex.compile(source)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    text = value if isinstance(value, str) else repr(value)
    return f"'{text[:200]}'" + ("..." if len(text) > 200 else "")


class _Walker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        self.errors.append(f"Value {_show(value)} at '{path}' failed to satisfy constraint: Member must {constraint}")

    def walk(self, shape: Shape, value: Any, path: str) -> None:
        kind = shape.type_name
        check = getattr(self, f"_{kind}", None)
        if check is not None:
            check(shape, value, path)

    def _structure(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, path or "body", "be a JSON object")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(None, _join(path, name), "not be null")
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                self.walk(member, value[name], _join(path, name))

    def _list(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.fail(value, path, "be a list")
            return
        self._size(shape, len(value), value, path)
        for index, item in enumerate(value):
            if item is None:
                self.fail(None, f"{path}.{index + 1}.member", "not be null")
            else:
                self.walk(shape.member, item, f"{path}.{index + 1}.member")

    def _map(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, path, "be a JSON object")
            return
        self._size(shape, len(value), value, path)
        for key, item in value.items():
            self.walk(shape.key, key, f"{path}.key")
            if item is None:
                self.fail(None, f"{path}.{key}.value", "not be null")
            else:
                self.walk(shape.value, item, f"{path}.{key}.value")

    def _string(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.fail(value, path, "be a string")
            return
        self._size(shape, len(value), value, path)
        enum = shape.enum
        if enum and value not in enum:
            self.fail(value, path, f"satisfy enum value set: [{', '.join(enum)}]")
        pattern = _limit(shape, "pattern")
        if pattern and not _pattern(pattern).fullmatch(value):
            self.fail(value, path, f"satisfy regular expression pattern: {pattern}")

    def _number(self, shape: Shape, value: Any, path: str, integral: bool) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(value, path, "be an integer" if integral else "be a number")
            return
        if integral and not isinstance(value, int):
            self.fail(value, path, "be an integer")
            return
        if not math.isfinite(value):
            self.fail(value, path, "be a finite number")
            return
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.fail(value, path, f"have value greater than or equal to {low}")
        if high is not None and value > high:
            self.fail(value, path, f"have value less than or equal to {high}")

    def _integer(self, shape: Shape, value: Any, path: str) -> None:
        self._number(shape, value, path, integral=True)

    def _long(self, shape: Shape, value: Any, path: str) -> None:
        self._number(shape, value, path, integral=True)

    def _double(self, shape: Shape, value: Any, path: str) -> None:
        self._number(shape, value, path, integral=False)

    def _float(self, shape: Shape, value: Any, path: str) -> None:
        self._number(shape, value, path, integral=False)

    def _timestamp(self, shape: Shape, value: Any, path: str) -> None:
        # botocore's JSON protocols send timestamps as epoch seconds
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(value, path, "be a timestamp in epoch seconds")

    def _boolean(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.fail(value, path, "be a boolean")

    def _blob(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.fail(value, path, "be base64-encoded text")

    def _size(self, shape: Shape, size: int, value: Any, path: str) -> None:
        low, high = _limit(shape, "min"), _limit(shape, "max")
        noun = "length" if shape.type_name in ("string", "list", "map") else "size"
        if low is not None and size < low:
            self.fail(value, path, f"have {noun} greater than or equal to {low}")
        if high is not None and size > high:
            self.fail(value, path, f"have {noun} less than or equal to {high}")


def _limit(shape: Shape, name: str) -> Any:
    override = SHAPE_OVERRIDES.get(shape.name)
    if override is not None and name in override:
        return override[name]
    return shape.metadata.get(name)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validation_errors(shape: Shape | None, params: Any) -> list[str]:
    """Every constraint of ``shape`` that ``params`` breaks, in AWS's words (empty when it conforms)."""
    if shape is None:
        return []
    walker = _Walker()
    walker.walk(shape, params, "")
    return walker.errors


def check_input(shape: Shape | None, params: Any) -> None:
    """Raise :class:`InvalidInputError` with AWS's validation message when ``params`` breaks ``shape``."""
    errors = validation_errors(shape, params)
    if errors:
        count = len(errors)
        shown = "; ".join(errors[:MAX_ERRORS])
        noun = "error" if count == 1 else "errors"
        raise InvalidInputError(f"{count} validation {noun} detected: {shown}")
