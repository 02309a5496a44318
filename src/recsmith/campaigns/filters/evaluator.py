"""Filter evaluation per request, and the caches that keep it well under a millisecond.

Evaluation (:func:`apply_filter`) reads the group's ITEMS and USERS data (current versions, cached by data
version), the user's full interaction history (bulk INTERACTIONS plus every PutEvents event; unlike
Personalize there is no 100-event cap) and ``filterValues`` in Personalize's format (each value a string of
comma-separated double-quoted values, ``"\\"comedy\\",\\"drama\\""``). Multi-valued categorical metadata
(``a|b``) matches when any of its values matches. Event types match ignoring case; ``"*"`` is any type.

As in Personalize: an INCLUDE expression's parameters must be given; an EXCLUDE expression whose parameters
are all missing is skipped. An expression whose ``IF`` does not hold is skipped. Several INCLUDEs give the
union of what they include; EXCLUDEs are then taken away.
"""

from __future__ import annotations

import json
import operator
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsmith.arns import make_arn
from recsmith.campaigns.filters.grammar import (
    Condition,
    Expression,
    FilterExpression,
    Value,
    parse_filter_expression,
    parse_filter_value,
)
from recsmith.campaigns.filters.tables import InteractionTable, ItemTable, UserTable
from recsmith.catalog import Resource, ResourceType
from recsmith.errors import InvalidInputError
from recsmith.platform import Platform

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class FilterEvaluator:
    """Evaluates filters of any group; keeps each dataset's current records indexed in memory.

    A table is rebuilt only when its version changes: the dataset's data version (read from the catalog at most
    every ``settings.filter_data_check_seconds``, 1 s by default, so a new import reaches filters within that;
    a catalog read per request cost a third of a filtered request's time in a served worker) or, for ITEMS and
    USERS, the newest PutItems/PutUsers record (one indexed query per request, so a put is seen at the next
    request).
    A filter that depends on nothing but item metadata and ``filterValues`` has its decision cached per table
    version, so a repeated request costs a dictionary lookup.

    A table is built by one thread at a time (one lock per table): a burst of requests arriving while a table is
    missing or out of date waits for that one build instead of each request building its own copy, which under
    load multiplied a 2-second build by the number of waiting requests. :func:`warm_filters` builds the tables
    a group's filters read before a server takes traffic.

    One evaluator belongs to one :class:`~recsmith.platform.Platform` (``platform.campaign_caches.filters``),
    so its caches are keyed by dataset group alone. It also remembers each filter's catalog record for
    ``FILTER_CACHE_SECONDS`` (filters never change; a deleted one stops within that) and each expression's
    parse.
    """

    MAX_DECISIONS = 512
    MAX_PARSED = 1024
    FILTER_CACHE_SECONDS = 2.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, tuple[tuple[str, int], Any]] = {}  # group|kind -> (version, table)
        self._versions: dict[str, tuple[str, float]] = {}  # group|kind -> (data version path, expiry)
        self._decisions: OrderedDict[tuple[Any, ...], FilterDecision] = OrderedDict()
        self._build_locks: dict[str, threading.Lock] = {}
        self._filters: dict[str, tuple[Resource, float]] = {}  # filter ARN or name -> (record, expiry)
        self._parsed: OrderedDict[str, FilterExpression] = OrderedDict()

    def filter_resource(self, platform: Platform, filter_arn: str) -> Resource:
        """The filter's catalog record, remembered for ``FILTER_CACHE_SECONDS``."""
        now = time.monotonic()
        with self._lock:
            cached = self._filters.get(filter_arn)
        if cached is not None and cached[1] > now:
            return cached[0]
        resource = platform.catalog.get(ResourceType.FILTER, filter_arn)
        with self._lock:
            self._filters[filter_arn] = (resource, now + self.FILTER_CACHE_SECONDS)
        return resource

    def parsed(self, source: str) -> FilterExpression:
        """The AST of a filter expression, parsed once per evaluator (the most recent ``MAX_PARSED`` kept)."""
        with self._lock:
            hit = self._parsed.get(source)
            if hit is not None:
                self._parsed.move_to_end(source)
                return hit
        parsed = parse_filter_expression(source)
        with self._lock:
            self._parsed[source] = parsed
            while len(self._parsed) > self.MAX_PARSED:
                self._parsed.popitem(last=False)
        return parsed

    def _data_version(self, platform: Platform, group_arn: str, kind: str, key: str) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._versions.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        # the dataset's ARN follows from the group's name: one catalog query, not two
        arn = make_arn(platform.settings, ResourceType.DATASET, f"{group_arn.rsplit('/', 1)[-1]}/{kind}")
        dataset = platform.catalog.find(ResourceType.DATASET, arn)
        version = dataset.attributes.get("dataVersion") if dataset else None
        path = str(version["path"]) if version else ""
        with self._lock:
            self._versions[key] = (path, now + platform.settings.filter_data_check_seconds)
        return path

    def _table(self, platform: Platform, group_arn: str, kind: str, build: Callable[[pd.DataFrame], Any]) -> Any:
        key = f"{group_arn}|{kind}"
        path = self._data_version(platform, group_arn, kind, key)
        puts = platform.events.put_version(kind, group_arn) if kind != "INTERACTIONS" else 0
        version = (path, puts)
        with self._lock:
            cached = self._tables.get(key)
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        if cached is not None and cached[0] == version:
            return cached[1]
        with build_lock:  # one build per table at a time; the others wait for it and take its result
            with self._lock:
                cached = self._tables.get(key)
            if cached is not None and cached[0] == version:
                return cached[1]
            return self._rebuild(platform, group_arn, kind, build, key, version, cached)

    def _rebuild(
        self,
        platform: Platform,
        group_arn: str,
        kind: str,
        build: Callable[[pd.DataFrame], Any],
        key: str,
        version: tuple[str, int],
        cached: tuple[tuple[str, int], Any] | None,
    ) -> Any:
        path = version[0]
        if kind == "ITEMS" and cached is not None and cached[1] is not None and cached[0][0] == path:
            # only PutItems records arrived since the table was built: patch it
            latest: dict[str, dict[str, Any]] = {}
            newest = cached[0][1]
            for row_id, item, properties, _ in platform.events.put_rows(kind, group_arn, after_id=newest):
                latest[item] = json.loads(properties)
                newest = max(newest, row_id)
            table = cached[1].with_records(latest) if latest else cached[1]
            with self._lock:
                self._tables[key] = ((path, newest), table)
            return table
        if kind == "INTERACTIONS":
            frame = pd.read_parquet(path) if path else None
        else:
            from recsmith.events.metadata import current_metadata

            frame = current_metadata(platform, group_arn, kind)
        table = build(frame) if frame is not None else None
        with self._lock:
            self._tables[key] = (version, table)
        return table

    def items(self, platform: Platform, group_arn: str) -> ItemTable | None:
        return self._table(platform, group_arn, "ITEMS", ItemTable)

    def users(self, platform: Platform, group_arn: str) -> UserTable | None:
        return self._table(platform, group_arn, "USERS", UserTable)

    def interactions(self, platform: Platform, group_arn: str) -> InteractionTable | None:
        return self._table(platform, group_arn, "INTERACTIONS", InteractionTable)

    def history(self, platform: Platform, group_arn: str, user_id: str) -> list[tuple[str, str]]:
        """The user's full history: bulk interactions, then every PutEvents event (item, lower-case type)."""
        table = self.interactions(platform, group_arn)
        bulk = table.history(user_id) if table is not None else []
        live = [(item, kind.lower()) for item, kind in platform.events.user_events(group_arn, user_id)]
        return bulk + live

    def evaluate(
        self,
        platform: Platform,
        parsed: FilterExpression,
        group_arn: str,
        *,
        user_id: str | None = None,
        current_item: str | None = None,
        filter_values: Mapping[str, str] | None = None,
    ) -> FilterDecision:
        values = {key.removeprefix("$"): raw for key, raw in (filter_values or {}).items()}
        cache_key: tuple[Any, ...] | None = None
        if parsed.items_only:
            self.items(platform, group_arn)
            with self._lock:
                version = self._tables[f"{group_arn}|ITEMS"][0]
            used = tuple((name, values.get(name)) for name in parsed.params)
            cache_key = (group_arn, parsed.source, version, used)
            with self._lock:
                hit = self._decisions.get(cache_key)
                if hit is not None:
                    self._decisions.move_to_end(cache_key)
                    return hit
        decision = self._evaluate(platform, parsed, group_arn, user_id, current_item, values)
        if cache_key is not None:
            with self._lock:
                self._decisions[cache_key] = decision
                while len(self._decisions) > self.MAX_DECISIONS:
                    self._decisions.popitem(last=False)
        return decision

    def _evaluate(
        self,
        platform: Platform,
        parsed: FilterExpression,
        group_arn: str,
        user_id: str | None,
        current_item: str | None,
        values: Mapping[str, str],
    ) -> FilterDecision:
        context = _Context(self, platform, group_arn, user_id, current_item, values)
        include: set[str] | None = None
        exclude: set[str] = set()
        for expression in parsed.expressions:
            if not context.applies(expression):
                continue
            matched = context.where(expression)
            if expression.action == "INCLUDE":
                include = matched if include is None else include | matched
            else:
                exclude |= matched
        return FilterDecision(None if include is None else frozenset(include), frozenset(exclude))


@dataclass(frozen=True)
class FilterDecision:
    """What filters allow for one answer: only ``include`` (None: every item), minus ``exclude``.

    The one type for a filter's verdict, at serving and in batch jobs. Kept in this form rather than as the set
    of blocked items, because an INCLUDE filter usually allows few items and its complement grows with the
    catalogue: recipes take ``include`` as their candidate list and ``exclude`` as their filter, and
    :meth:`blocked` gives the blocked set for calls that take no candidate list.
    """

    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    _blocked: dict[int, tuple[np.ndarray, set[str]]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def allows(self, item_id: str) -> bool:
        return item_id not in self.exclude and (self.include is None or item_id in self.include)

    def without(self, items: Collection[str]) -> FilterDecision:
        """This decision with ``items`` excluded too (a promotion's items, kept out of the rest of the list)."""
        return FilterDecision(self.include, self.exclude | frozenset(items))

    def blocked(self, items: np.ndarray | Iterable[str]) -> set[str]:
        """The ids among ``items`` the filter removes.

        Given a model's catalogue (its ``item_ids_`` array) the answer is remembered per catalogue, so a cached
        decision costs nothing the second time; that set is shared between requests: read it only.
        """
        if not isinstance(items, np.ndarray):
            return {i for i in items if not self.allows(i)}
        cached = self._blocked.get(id(items))
        if cached is not None and cached[0] is items:
            return cached[1]
        blocked = set(self.exclude)
        if self.include is not None:
            blocked.update(items[~np.isin(items, list(self.include))].tolist())
        self._blocked[id(items)] = (items, blocked)
        return blocked


ALLOW_ALL = FilterDecision()
"""The decision when no filter applies."""


@dataclass
class _Context:
    evaluator: FilterEvaluator
    platform: Platform
    group_arn: str
    user_id: str | None
    current_item: str | None
    values: Mapping[str, str]
    _history: list[tuple[str, str]] | None = field(default=None)

    def applies(self, expression: Expression) -> bool:
        missing = [p for p in expression.params if p not in self.values]
        if missing:
            if expression.action == "INCLUDE" or len(missing) < len(expression.params):
                raise InvalidInputError(
                    f"filter parameter ${missing[0]} has no value: pass filterValues {{{missing[0]!r}: ...}}"
                )
            return False  # an EXCLUDE expression whose parameters were all omitted is skipped
        if expression.uses_current_item and not self.current_item:
            raise InvalidInputError("CurrentItem in a filter works only with related-items requests (itemId)")
        return all(self._user_condition(c) for c in expression.condition_if)

    def where(self, expression: Expression) -> set[str]:
        matched: set[str] = set()
        for group in expression.where:
            result: set[str] | None = None
            for condition in group:
                part = self._condition(condition)
                result = part if result is None else result & part
            matched |= result or set()
        return matched

    def _value(self, value: Value) -> tuple[str, ...]:
        if value.kind in ("list", "number"):
            return value.values
        if value.kind == "param":
            return parse_filter_value(value.name, self.values[value.name])
        items = self.evaluator.items(self.platform, self.group_arn)
        return tuple(items.item_values(str(self.current_item), value.name)) if items else ()

    def _condition(self, condition: Condition) -> set[str]:
        wanted = self._value(condition.value)
        if condition.dataset == "Interactions":
            if self._history is None:
                self._history = (
                    self.evaluator.history(self.platform, self.group_arn, self.user_id) if self.user_id else []
                )
            types = {w.lower() for w in wanted}
            hit = "*" in types
            if condition.op == "IN":
                return {item for item, kind in self._history if hit or kind in types}
            return {item for item, kind in self._history if not hit and kind not in types}
        items = self.evaluator.items(self.platform, self.group_arn)
        if items is None:
            raise InvalidInputError("filter uses Items fields but the dataset group has no ITEMS data imported")
        as_set = condition.op in ("=", "!=") and bool(wanted) and not _is_number(next(iter(wanted)))
        if condition.op in ("IN", "NOT IN") or as_set:
            index = items.values_index(condition.field)
            found: set[str] = set()
            for value in wanted:
                found |= index.get(value, set())
            return found if condition.op in ("IN", "=") else set(items.all_ids - found)
        number = _number(condition, wanted)
        if number is None:
            return set()
        with np.errstate(invalid="ignore"):
            mask = _COMPARISONS[condition.op](items.numeric(condition.field), number)
        return set(items.ids[mask].tolist())

    def _user_condition(self, condition: Condition) -> bool:
        users = self.evaluator.users(self.platform, self.group_arn)
        have = users.values(self.user_id, condition.field) if users is not None else []
        wanted = self._value(condition.value)
        if condition.op == "IN":
            return bool(set(have) & set(wanted))
        if condition.op == "NOT IN":
            return not set(have) & set(wanted)
        if condition.op in ("=", "!=") and wanted and not _is_number(next(iter(wanted))):
            equal = bool(set(have) & set(wanted))  # a string field compared with = or != (Personalize allows it)
            return equal if condition.op == "=" else not equal
        number = _number(condition, wanted)
        if number is None or not have:
            return False
        try:
            return bool(_COMPARISONS[condition.op](float(have[0]), number))
        except ValueError:
            return False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(condition: Condition, wanted: Collection[str]) -> float | None:
    if not wanted:
        return None
    text = next(iter(wanted))
    try:
        return float(text)
    except ValueError:
        raise InvalidInputError(
            f"filter: {condition.dataset}.{condition.field} {condition.op} needs a number, got {text!r}"
        ) from None


def apply_filter(
    platform: Platform,
    filter_arn: str,
    filter_values: Mapping[str, str] | None,
    dataset_group_arn: str | None,
    *,
    user_id: str | None = None,
    current_item: str | None = None,
) -> FilterDecision:
    """What ``filter_arn`` allows for one request; a filter of another dataset group is InvalidInput.

    Uses the platform's evaluator (``platform.campaign_caches.filters``) and its caches.
    """
    evaluator = platform.campaign_caches.filters
    resource = evaluator.filter_resource(platform, filter_arn)
    if dataset_group_arn is None or resource.dataset_group_arn != dataset_group_arn:
        raise InvalidInputError(
            f"filter {resource.arn} belongs to dataset group {resource.dataset_group_arn}, "
            f"not to this campaign's ({dataset_group_arn})"
        )
    parsed = evaluator.parsed(resource.attributes["filterExpression"])
    return evaluator.evaluate(
        platform,
        parsed,
        dataset_group_arn,
        user_id=user_id,
        current_item=current_item,
        filter_values=filter_values,
    )


def warm_filters(platform: Platform, dataset_group_arn: str) -> list[str]:
    """Build the tables the group's filters read (ITEMS, USERS, INTERACTIONS), before a server takes traffic.

    Without it the first filtered request of each worker pays for reading and indexing the group's data
    (seconds for millions of interactions) while requests queue behind it. Returns the kinds built; a filter
    created later is built at its first request, once per worker.
    """
    chosen = platform.campaign_caches.filters
    used: set[str] = set()
    for resource in platform.catalog.list(ResourceType.FILTER, dataset_group_arn=dataset_group_arn):
        parsed = chosen.parsed(resource.attributes["filterExpression"])
        for dataset, _ in parsed.fields:
            used.add({"Items": "ITEMS", "CurrentUser": "USERS", "Interactions": "INTERACTIONS"}.get(dataset, ""))
    builders: dict[str, Callable[[Platform, str], object]] = {
        "ITEMS": chosen.items,
        "USERS": chosen.users,
        "INTERACTIONS": chosen.interactions,
    }
    built = [kind for kind in builders if kind in used]
    for kind in built:
        builders[kind](platform, dataset_group_arn)
    return built
