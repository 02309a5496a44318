"""GetRecommendations ``promotions``: a share of the list chosen by a promotion filter, spread through it.

Personalize's request shape: a list of at most one ``{name, percentPromotedItems, filterArn, filterValues}``.
``ceil(numResults * percentPromotedItems / 100)`` items come from the items the promotion's filter allows
(ranked by the model, backfilled by popularity), the rest from the model as usual, with no item twice. The
promoted items are spread evenly: with ``k`` of them in a list of ``n``, the list is cut into ``k`` equal
stretches and each promoted item sits in the middle of one. Each is marked with the promotion's name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from recsmith.errors import InvalidInputError

MAX_PROMOTIONS = 1
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
MAX_NAME = 63
MAX_FILTER_VALUES = 25

T = TypeVar("T")


@dataclass(frozen=True)
class Promotion:
    """One validated promotion of a request."""

    name: str
    percent: int
    filter_arn: str
    filter_values: Mapping[str, str]

    def count(self, num_results: int) -> int:
        """How many of ``num_results`` items the promotion takes."""
        return promoted_count(num_results, self.percent)


def _invalid(value: Any, where: str, constraint: str) -> InvalidInputError:
    """Personalize's (AWS's) validation message shape."""
    return InvalidInputError(
        f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: {constraint}"
    )


def parse_promotions(promotions: Sequence[Mapping[str, Any]] | None) -> Promotion | None:
    """The request's promotion (None without one), validated with Personalize's limits and messages."""
    if not promotions:
        return None
    if isinstance(promotions, Mapping) or not isinstance(promotions, Sequence):
        raise InvalidInputError("promotions must be a list of at most 1 promotion object")
    if len(promotions) > MAX_PROMOTIONS:
        raise _invalid(
            f"[{len(promotions)} promotions]",
            "promotions",
            f"Member must have length less than or equal to {MAX_PROMOTIONS}",
        )
    raw = promotions[0]
    where = "promotions.1.member"
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"{where}: a promotion is an object with name, percentPromotedItems, filterArn")
    unknown = sorted(set(raw) - {"name", "percentPromotedItems", "filterArn", "filterValues"})
    if unknown:
        raise InvalidInputError(f"{where}: unknown field {unknown[0]!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"{where}.name is required")
    if len(name) > MAX_NAME:
        raise _invalid(name, f"{where}.name", f"Member must have length less than or equal to {MAX_NAME}")
    if not NAME_PATTERN.match(name):
        raise _invalid(
            name, f"{where}.name", "Member must satisfy regular expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*"
        )
    percent = raw.get("percentPromotedItems")
    if percent is None:
        raise InvalidInputError(f"{where}.percentPromotedItems is required")
    if isinstance(percent, bool) or not isinstance(percent, int):
        raise InvalidInputError(f"{where}.percentPromotedItems must be an integer from 1 to 100, got {percent!r}")
    if percent < 1:
        raise _invalid(percent, f"{where}.percentPromotedItems", "Member must have value greater than or equal to 1")
    if percent > 100:
        raise _invalid(percent, f"{where}.percentPromotedItems", "Member must have value less than or equal to 100")
    filter_arn = raw.get("filterArn")
    if not isinstance(filter_arn, str) or not filter_arn:
        raise InvalidInputError(f"{where}.filterArn is required: the filter chooses the promoted items")
    values = raw.get("filterValues") or {}
    if not isinstance(values, Mapping) or not all(isinstance(v, str) for v in values.values()):
        raise InvalidInputError(f"{where}.filterValues must map parameter names to strings")
    if len(values) > MAX_FILTER_VALUES:
        raise _invalid(
            f"[{len(values)} values]",
            f"{where}.filterValues",
            f"Member must have length less than or equal to {MAX_FILTER_VALUES}",
        )
    return Promotion(name=name, percent=percent, filter_arn=filter_arn, filter_values=dict(values))


def promoted_count(num_results: int, percent: int) -> int:
    """``ceil(num_results * percent / 100)``, in integers so 100 items at 7% is exactly 7."""
    return -(-num_results * percent // 100)


def promotion_slots(length: int, promoted: int) -> list[int]:
    """Positions (0-based) of ``promoted`` items spread evenly through a list of ``length``.

    Each sits in the middle of its own stretch of ``length / promoted`` positions: 1 of 10 at 5, 2 of 10 at
    2 and 7, 10 of 10 everywhere.
    """
    promoted = min(promoted, length)
    if promoted <= 0:
        return []
    return [math.floor((2 * k + 1) * length / (2 * promoted)) for k in range(promoted)]


def interleave(promoted: Sequence[T], regular: Sequence[T], length: int) -> list[tuple[T, bool]]:
    """At most ``length`` entries, promoted ones at :func:`promotion_slots`, each flagged ``True`` if promoted.

    When one side runs short the other fills the remaining positions, so the list is as full as it can be.
    """
    total = min(length, len(promoted) + len(regular))
    slots = set(promotion_slots(total, len(promoted)))
    out: list[tuple[T, bool]] = []
    p = r = 0
    for position in range(total):
        if (position in slots and p < len(promoted)) or r >= len(regular):
            out.append((promoted[p], True))
            p += 1
        else:
            out.append((regular[r], False))
            r += 1
    return out
