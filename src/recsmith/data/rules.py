"""The input rules every face shares: names, ids, strings, numbers, timestamps, lists, JSON bodies.

One set of rules for imports (:mod:`recsmith.data.validation` uses the same limits and timestamp bounds, vectorised),
PutEvents, PutUsers and PutItems (:mod:`recsmith.events`), the campaign service and ``recsmith serve``: each face
calls these functions, and the core functions call them again, so nothing a rule refuses ever reaches a store,
whichever face it came through. Why it matters: one accepted ``sentAt`` of ``-inf`` once failed every later
training of its dataset group, and one over-long id failed the other callers of its group commit.

Every refusal is an :class:`~recsmith.errors.InvalidInputError` whose message starts with the field's path
(``eventList[2].sentAt``), so the HTTP faces answer a 400 in Personalize's error shape that names the field.
Limits are Personalize's (botocore's ``personalize-events`` service model: ids 1-256 characters, 1-10 events a
call, ``properties`` at most 1024 characters, ``recommendationId`` at most 40, 1-25 impressions) and its guide's
(10 KB per event); ``sentAt`` is what botocore's rest-json serialiser sends for a timestamp: a JSON number of epoch
seconds, whole or with a fraction.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from recsmith.errors import InvalidInputError

MAX_ID_CHARS = 256
MAX_EVENTS_PER_CALL = 10
MAX_RECORDS_PER_CALL = 10
MAX_EVENT_BYTES = 10 * 1024
MAX_EVENT_PROPERTIES_CHARS = 1024
MAX_RECOMMENDATION_ID_CHARS = 40
MAX_IMPRESSION_ITEMS = 25
MAX_ATTRIBUTION_SOURCE_CHARS = 1024
MAX_CATEGORICAL_CHARS = 1000
MAX_TEXTUAL_CHARS = 20_000
MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""The largest request body any face reads (413 beyond it): the largest valid Personalize call, ten PutItems records
of 32,000 characters each escaped as JSON inside JSON, fits with room to spare."""
MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a request body may have; Personalize's deepest request is 4 levels."""

# epoch seconds at or past these are surely milliseconds (year 5138) or microseconds
MILLISECONDS_FROM = 10**11
MICROSECONDS_FROM = 10**14
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
FLOAT_MAX = 3.4028234663852886e38
"""Largest finite 32-bit float: Personalize's ``float`` (``eventValue``, float schema fields) is 32-bit."""

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}")
# names PutEvents keeps for itself; properties may not use them (case-insensitive), as in Personalize
RESERVED_EVENT_PROPERTIES = frozenset(
    {"userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression"}
)
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7E]*[\x21-\x7E][\x20-\x7E]*")


def check_name(name: Any, what: str) -> str:
    """Personalize's resource name rule: 1-63 letters, digits, '-' or '_', starting with a letter or digit.

    The whole string must match: a trailing newline is refused (``re.match`` with ``$`` would accept one, and
    ``movies\\n`` once became a second dataset group beside ``movies``).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"invalid {what} name {_shown(name)}: use 1-63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def check_string(value: Any, field: str, *, max_chars: int = MAX_ID_CHARS, min_chars: int = 1) -> str:
    """A JSON string of ``min_chars`` to ``max_chars`` characters that every store can hold.

    Refused: other JSON types (an object is not silently stored as its Python text), a NUL character (PostgreSQL's
    text cannot hold it) and an unpaired surrogate (not encodable as UTF-8).
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{field}: expected a string, got {_kind(value)}")
    if not min_chars <= len(value) <= max_chars:
        raise InvalidInputError(f"{field}: must be a string of {min_chars} to {max_chars} characters, got {len(value)}")
    if "\x00" in value:
        raise InvalidInputError(f"{field}: holds a NUL character (\\u0000), which no store keeps")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{field}: holds an unpaired surrogate, which is not valid Unicode") from None
    return value


def check_id(value: Any, field: str) -> str:
    """A Personalize id (user, item, event, session, tracking): a string of 1 to 256 characters."""
    return check_string(value, field, max_chars=MAX_ID_CHARS)


def optional(check: Callable[..., Any], value: Any, field: str, **limits: Any) -> Any:
    """``None`` when ``value`` is absent (``None``), else what ``check`` makes of it."""
    return None if value is None else check(value, field, **limits)


def check_number(value: Any, field: str, *, largest: float = FLOAT_MAX) -> float:
    """A finite JSON number (not a boolean, not a string) with magnitude at most ``largest``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{field}: expected a number, got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer literal with hundreds of digits
        raise InvalidInputError(f"{field}: number out of range (its magnitude must be at most {largest:g})") from None
    if not math.isfinite(number):
        raise InvalidInputError(f"{field}: expected a finite number, got {number}")
    if abs(number) > largest:
        raise InvalidInputError(f"{field}: number out of range (its magnitude must be at most {largest:g})")
    return number


def check_integer(value: Any, field: str, *, bounds: tuple[int, int] = LONG_RANGE) -> int:
    """A whole JSON number within ``bounds`` (a 32-bit ``int`` or 64-bit ``long`` field)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{field}: expected an integer, got {_kind(value)}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidInputError(f"{field}: expected an integer, got {value}")
    whole = int(value)
    if not bounds[0] <= whole <= bounds[1]:
        raise InvalidInputError(f"{field}: integer out of range ({bounds[0]} to {bounds[1]})")
    return whole


def latest_timestamp(now: float, future_tolerance_seconds: int) -> int:
    """The latest epoch second a timestamp may hold: ``now`` plus the tolerance, for imports and events alike."""
    return int(now) + future_tolerance_seconds


def check_epoch_seconds(value: Any, field: str, *, latest: int) -> float:
    """A point in time as epoch seconds: finite, not negative, no later than ``latest`` (see :func:`latest_timestamp`).

    Takes a JSON number (what botocore sends for a timestamp in rest-json) or, from Python callers, a timezone-aware
    :class:`~datetime.datetime`. Milliseconds and microseconds are refused with that diagnosis.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInputError(f"{field}: a datetime needs a timezone (UTC) to be a point in time")
        seconds = value.timestamp()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{field}: expected epoch seconds as a number, got {_kind(value)}")
    else:
        try:
            seconds = float(value)
        except OverflowError:
            raise InvalidInputError(f"{field}: {_shown(value)} is not a time in epoch seconds") from None
    if not math.isfinite(seconds):
        raise InvalidInputError(f"{field}: expected a finite number of epoch seconds, got {seconds}")
    if seconds < 0:
        raise InvalidInputError(f"{field}: timestamp is negative ({seconds:g}); send epoch seconds since 1970")
    if seconds >= MICROSECONDS_FROM:
        raise InvalidInputError(f"{field}: {_shown(value)} looks like microseconds; send epoch seconds")
    if seconds >= MILLISECONDS_FROM:
        raise InvalidInputError(f"{field}: {_shown(value)} looks like milliseconds; send epoch seconds")
    if seconds > latest:
        raise InvalidInputError(
            f"{field}: timestamp {seconds:.0f} is in the future "
            f"(later than {latest}, now plus the configured tolerance)"
        )
    return seconds


def check_list(value: Any, field: str, *, min_items: int, max_items: int, noun: str = "members") -> list[Any]:
    """A JSON array of ``min_items`` to ``max_items`` members (``noun`` names them in the message)."""
    if not isinstance(value, list | tuple):
        raise InvalidInputError(f"{field}: expected a list, got {_kind(value)}")
    if not min_items <= len(value) <= max_items:
        raise InvalidInputError(f"{field} must hold {min_items} to {max_items} {noun}, got {len(value)}")
    return list(value)


def check_object(value: Any, field: str) -> Mapping[str, Any]:
    """A JSON object."""
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{field}: expected an object, got {_kind(value)}")
    return value


def check_json_object_text(value: Any, field: str, *, max_chars: int) -> str:
    """A JSON object sent as a string (botocore sends ``properties`` so), or from Python a dict: its JSON text.

    The text must parse (no ``NaN``/``Infinity``), be an object, and hold at most ``max_chars`` characters.
    """
    if isinstance(value, Mapping):
        try:
            text = json.dumps(value, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidInputError(f"{field}: not representable as a JSON object ({exc})") from None
    else:
        text = check_string(value, field, max_chars=max_chars)
        parsed = parse_json(text, field)
        if not isinstance(parsed, dict):
            raise InvalidInputError(f'{field}: must be a JSON object like {{"device": "phone"}}, got {_kind(parsed)}')
    if len(text) > max_chars:
        raise InvalidInputError(f"{field}: {len(text)} characters; the limit is {max_chars}")
    return check_string(text, field, max_chars=max_chars)


def check_printable_ascii(value: Any, field: str, *, max_chars: int) -> str:
    """Printable ASCII with at least one visible character (``eventAttributionSource``'s pattern)."""
    text = check_string(value, field, max_chars=max_chars)
    if not _PRINTABLE_ASCII.fullmatch(text):
        raise InvalidInputError(f"{field}: must be printable ASCII with at least one visible character")
    return text


def json_size(value: Any, field: str) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON: what "10 KB per event, counting every field" counts."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{field}: not representable as JSON ({exc})") from None
    return len(text.encode("utf-8", errors="surrogatepass"))


def parse_json(raw: bytes | str, field: str = "request body") -> Any:
    """Parse JSON strictly: no ``NaN``/``Infinity`` literals, nesting at most :data:`MAX_JSON_DEPTH` deep.

    Deep nesting is refused before the parser recurses into it (100,000 nested arrays once crashed a request
    with a RecursionError, a 500).
    """
    if _nesting(raw) > MAX_JSON_DEPTH:
        raise InvalidInputError(f"{field}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except _NonFinite as exc:
        raise InvalidInputError(f"{field}: {exc.args[0]} is not a JSON number; send a finite number") from None
    except RecursionError:
        raise InvalidInputError(f"{field}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{field}: not valid JSON ({exc})") from None


def parse_json_body(raw: bytes, *, max_bytes: int = MAX_REQUEST_BYTES) -> dict[str, Any]:
    """A request body as a JSON object, by the rules above; an empty body is ``{}``."""
    if len(raw) > max_bytes:
        raise RequestTooLargeError(len(raw), max_bytes)
    body = parse_json(raw or b"{}")
    if not isinstance(body, dict):
        raise InvalidInputError(f"request body: must be a JSON object, got {_kind(body)}")
    return body


class RequestTooLargeError(InvalidInputError):
    """A request body over the size limit: HTTP 413, still in Personalize's error shape."""

    http_status = 413

    def __init__(self, size: int | None, limit: int) -> None:
        shown = f"{size} bytes" if size is not None else "more bytes"
        super().__init__(f"request body: {shown}; the limit is {limit} bytes")


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(name)


def _nesting(raw: bytes | str) -> int:
    """The nesting depth of JSON text, at C speed (a Python loop over a 4 MB body would cost half a second).

    Counting opening brackets bounds the depth from above; only a body with more of them than the limit is
    measured: strings cut out by a regular expression (brackets inside them do not count), then a running sum.
    """
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    skeleton = np.frombuffer(_STRING.sub(b"", data), dtype=np.uint8)
    return int(np.cumsum(_BRACKET_STEP[skeleton], dtype=np.int64).max(initial=0))


_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*"', re.DOTALL)
_BRACKET_STEP = np.zeros(256, dtype=np.int8)  # +1 for each opening byte, -1 for each closing one
_BRACKET_STEP[np.frombuffer(b"[{", dtype=np.uint8)] = 1
_BRACKET_STEP[np.frombuffer(b"]}", dtype=np.uint8)] = -1


def _kind(value: Any) -> str:
    """A JSON-ish name of ``value``'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
