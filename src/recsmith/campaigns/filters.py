"""Filters: Personalize's filter expressions, parsed once into an AST and evaluated per request.

Grammar (keywords are case-insensitive; expressions are chained with ``|``)::

    filter     := expression ("|" expression)*
    expression := (INCLUDE | EXCLUDE) ItemID WHERE where [IF user]
    where      := condition ((AND | OR) condition)*       -- one dataset: Items or Interactions; AND binds tighter
    user       := CurrentUser.<field> op value (AND CurrentUser.<field> op value)*
    condition  := Items.<field> op value | Interactions.EVENT_TYPE (IN | NOT IN) list
    op         := IN | NOT IN | = | != | < | <= | > | >=
    value      := "(" ("s1", "s2", ... | $PARAM | CurrentItem.<field>) ")"      -- after IN / NOT IN
                | number | $PARAM | CurrentItem.<field> | "(" one of these ")"  -- after a comparison
                | "s"                                                          -- after = or != only

Refused as Personalize refuses them, with the reason: UserID/ActionID targets, Users/Actions datasets in WHERE,
datasets mixed in one expression, Interactions fields other than EVENT_TYPE, more than 10 distinct fields, and
(checked against the group's schemas when the filter is created) unknown, textual or boolean fields and
<, <=, >, >= on a string field.

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
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.columns import EVENT_TYPE, ITEM_ID, USER_ID
from recsmith.arns import make_arn, validate_name
from recsmith.catalog import Resource, ResourceType
from recsmith.errors import FilterExpressionError, InvalidInputError
from recsmith.platform import Platform

MAX_EXPRESSION_LENGTH = 2500
MAX_DISTINCT_FIELDS = 10
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

# ------------------------------------------------------------------ tokens
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"[^"]*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<param>\$[A-Za-z_][A-Za-z0-9_]*)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<punct>[(),.|])
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, param, ident, op, punct, end
    text: str
    position: int  # 0-based character offset

    def describe(self) -> str:
        return "end of expression" if self.kind == "end" else repr(self.text)


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while True:
        while position < len(source) and source[position].isspace():
            position += 1
        if position >= len(source):
            break
        match = _TOKEN.match(source, position)
        if match is None or match.lastgroup is None:
            raise FilterExpressionError(
                f"filter expression: position {position}: unexpected character {source[position]!r}"
            )
        kind = match.lastgroup
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


# --------------------------------------------------------------------- AST
@dataclass(frozen=True)
class Value:
    """The right-hand side of a condition."""

    kind: str  # "list" (literal strings), "number", "param", "current_item"
    values: tuple[str, ...] = ()
    name: str = ""  # the parameter (without "$") or the CurrentItem field


@dataclass(frozen=True)
class Condition:
    dataset: str  # "Items", "Interactions" or "CurrentUser"
    field: str
    op: str  # "IN", "NOT IN" or a comparison
    value: Value


@dataclass(frozen=True)
class Expression:
    """One INCLUDE/EXCLUDE expression; ``where`` is an OR of AND-groups of conditions on one dataset."""

    action: str  # "INCLUDE" or "EXCLUDE"
    dataset: str
    where: tuple[tuple[Condition, ...], ...]
    condition_if: tuple[Condition, ...] = ()

    @property
    def params(self) -> tuple[str, ...]:
        conditions = [c for group in self.where for c in group] + list(self.condition_if)
        return tuple(dict.fromkeys(c.value.name for c in conditions if c.value.kind == "param"))

    @property
    def uses_current_item(self) -> bool:
        conditions = [c for group in self.where for c in group] + list(self.condition_if)
        return any(c.value.kind == "current_item" for c in conditions)


@dataclass(frozen=True)
class FilterExpression:
    """A parsed filter: one or more expressions chained with ``|``."""

    source: str
    expressions: tuple[Expression, ...]

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for e in self.expressions for p in e.params))

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """Every ``(dataset, field)`` the filter reads, CurrentItem fields as Items, in order of appearance."""
        found: dict[tuple[str, str], None] = {}
        for e in self.expressions:
            for c in [c for group in e.where for c in group] + list(e.condition_if):
                found[(c.dataset, c.field)] = None
                if c.value.kind == "current_item":
                    found[("Items", c.value.name)] = None
        return tuple(found)

    @property
    def items_only(self) -> bool:
        """True when the result depends only on item metadata and filterValues (not on the user or item asked)."""
        return all(e.dataset == "Items" and not e.condition_if and not e.uses_current_item for e in self.expressions)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.index = 0

    # helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def _error(self, expected: str, token: _Token | None = None, why: str = "") -> FilterExpressionError:
        token = token or self.token
        return FilterExpressionError(
            f"filter expression: position {token.position}: expected {expected}, got {token.describe()}"
            + (f" ({why})" if why else "")
        )

    def _is_keyword(self, *words: str) -> bool:
        return self.token.kind == "ident" and self.token.text.upper() in words

    def _keyword(self, *words: str) -> str:
        if not self._is_keyword(*words):
            raise self._error(" or ".join(words))
        word = self.token.text.upper()
        self.index += 1
        return word

    def _punct(self, text: str) -> None:
        if self.token.text != text or self.token.kind not in ("punct", "op"):
            raise self._error(f"'{text}'")
        self.index += 1

    def _field(self) -> str:
        self._punct(".")
        if self.token.kind != "ident":
            raise self._error("a field name")
        name = self.token.text
        self.index += 1
        return name

    # grammar
    def parse(self) -> FilterExpression:
        if not self.source.strip():
            raise self._error("INCLUDE or EXCLUDE")
        if len(self.source) > MAX_EXPRESSION_LENGTH:
            raise FilterExpressionError(
                f"filter expression: {len(self.source)} characters; at most {MAX_EXPRESSION_LENGTH} are allowed"
            )
        expressions = [self._expression()]
        while self.token.text == "|" and self.token.kind == "punct":
            self.index += 1
            expressions.append(self._expression())
        if self.token.kind != "end":
            raise self._error("AND, OR, IF, '|' or end of expression")
        parsed = FilterExpression(self.source, tuple(expressions))
        if len(parsed.fields) > MAX_DISTINCT_FIELDS:
            raise FilterExpressionError(
                f"filter expression uses {len(parsed.fields)} distinct fields; Personalize allows at most "
                f"{MAX_DISTINCT_FIELDS}: {', '.join(f'{d}.{f}' for d, f in parsed.fields)}"
            )
        return parsed

    def _expression(self) -> Expression:
        action = self._keyword("INCLUDE", "EXCLUDE")
        if self._is_keyword("USERID", "ACTIONID"):
            raise self._error(
                "ItemID",
                why="UserID and ActionID filters serve user segments and action recommendations, "
                "which recsmith does not offer",
            )
        if not self._is_keyword("ITEMID"):
            raise self._error("ItemID")
        self.index += 1
        self._keyword("WHERE")
        dataset = self._dataset()
        groups: list[list[Condition]] = [[self._condition(dataset)]]
        while self._is_keyword("AND", "OR"):
            joiner = self._keyword("AND", "OR")
            at = self.token
            other = self._dataset()
            if other != dataset:
                raise FilterExpressionError(
                    f"filter expression: position {at.position}: expected {dataset} (datasets cannot be mixed "
                    f"within one expression; chain expressions with '|'), got {at.describe()}"
                )
            condition = self._condition(dataset)
            if joiner == "AND":
                groups[-1].append(condition)
            else:
                groups.append([condition])
        condition_if: list[Condition] = []
        if self._is_keyword("IF"):
            self.index += 1
            condition_if.append(self._user_condition())
            while self._is_keyword("AND"):
                self.index += 1
                condition_if.append(self._user_condition())
        return Expression(action, dataset, tuple(tuple(g) for g in groups), tuple(condition_if))

    def _dataset(self) -> str:
        if self._is_keyword("ITEMS"):
            self.index += 1
            return "Items"
        if self._is_keyword("INTERACTIONS"):
            self.index += 1
            return "Interactions"
        if self._is_keyword("USERS", "ACTIONS", "ACTION_INTERACTIONS"):
            raise self._error(
                "Items or Interactions",
                why="an item filter's WHERE reads Items or Interactions; user metadata goes after IF, "
                "as CurrentUser.<field>",
            )
        raise self._error("Items or Interactions")

    def _condition(self, dataset: str) -> Condition:
        at = self.token
        name = self._field()
        if dataset == "Interactions" and name.upper() != EVENT_TYPE:
            raise self._error(EVENT_TYPE, self.tokens[self.index - 1])
        op = self._operator()
        if dataset == "Interactions" and op not in ("IN", "NOT IN"):
            raise FilterExpressionError(
                f"filter expression: position {at.position}: expected IN or NOT IN after Interactions.EVENT_TYPE"
            )
        return Condition(dataset, name.upper() if dataset == "Interactions" else name, op, self._value(op))

    def _user_condition(self) -> Condition:
        if not self._is_keyword("CURRENTUSER"):
            raise self._error("CurrentUser")
        self.index += 1
        name = self._field()
        op = self._operator()
        return Condition("CurrentUser", name, op, self._value(op))

    def _operator(self) -> str:
        if self._is_keyword("IN"):
            self.index += 1
            return "IN"
        if self._is_keyword("NOT"):
            self.index += 1
            self._keyword("IN")
            return "NOT IN"
        if self.token.kind == "op":
            op = self.token.text
            self.index += 1
            return op
        raise self._error("IN, NOT IN, =, !=, <, <=, > or >=")

    def _value(self, op: str) -> Value:
        if op in ("IN", "NOT IN"):
            self._punct("(")
            if self.token.kind == "param":
                value = Value("param", name=self.token.text[1:])
                self.index += 1
            elif self._is_keyword("CURRENTITEM"):
                self.index += 1
                value = Value("current_item", name=self._field())
            else:
                values = [self._literal()]
                while self.token.text == ",":
                    self.index += 1
                    values.append(self._literal())
                value = Value("list", tuple(values))
            self._punct(")")
            return value
        if self.token.text == "(" and self.token.kind == "punct":  # Personalize also writes "> ($VALUE)"
            self.index += 1
            value = self._value(op)
            self._punct(")")
            return value
        if self.token.kind == "number":
            value = Value("number", (self.token.text,))
            self.index += 1
            return value
        if self.token.kind == "string" and op in ("=", "!="):  # equality with a string value
            return Value("list", (self._literal(),))
        if self.token.kind == "param":
            value = Value("param", name=self.token.text[1:])
            self.index += 1
            return value
        if self._is_keyword("CURRENTITEM"):
            self.index += 1
            return Value("current_item", name=self._field())
        raise self._error("a number, $PARAM or CurrentItem.<field>")

    def _literal(self) -> str:
        if self.token.kind == "string":
            text = self.token.text[1:-1]
        elif self.token.kind == "number":
            text = self.token.text
        else:
            raise self._error('a quoted value ("...")')
        self.index += 1
        return text


_PARSED: dict[str, FilterExpression] = {}
_PARSED_LOCK = threading.Lock()


def parse_filter_expression(source: str) -> FilterExpression:
    """The AST of a filter expression (memoised); FilterExpressionError names the position and what was expected."""
    with _PARSED_LOCK:
        parsed = _PARSED.get(source)
    if parsed is None:
        parsed = _Parser(source).parse()
        with _PARSED_LOCK:
            _PARSED[source] = parsed
    return parsed


# --------------------------------------------------------------- resources
def create_filter(platform: Platform, name: str, dataset_group: str, filter_expression: str) -> Resource:
    """A filter of a dataset group; the expression is parsed (and rejected) now, as Personalize does."""
    validate_name(name, "filter")
    group = platform.catalog.get(ResourceType.DATASET_GROUP, dataset_group)
    check_filter_fields(platform, group.arn, parse_filter_expression(filter_expression))
    return platform.create_resource(
        ResourceType.FILTER,
        name,
        dataset_group_arn=group.arn,
        attributes={"filterExpression": filter_expression},
    )


def check_filter_fields(platform: Platform, group_arn: str, parsed: FilterExpression) -> None:
    """Refuse what Personalize refuses about fields: unknown ones, textual or boolean ones, and <, <=, >, >= on
    a field that is not numeric. Datasets not created yet are checked when the filter is applied."""
    from recsmith.data.datasets import dataset_schema, find_dataset
    from recsmith.data.schemas import DatasetType

    schemas = {}
    for dataset, kind in (("Items", DatasetType.ITEMS), ("CurrentUser", DatasetType.USERS)):
        found = find_dataset(platform, group_arn, kind)
        if found is not None:
            schemas[dataset] = (kind, dataset_schema(platform, found))
    comparisons = {
        (c.dataset, c.field): c.op
        for e in parsed.expressions
        for c in [c for group in e.where for c in group] + list(e.condition_if)
        if c.op in ("<", "<=", ">", ">=")
    }
    for dataset, name in parsed.fields:
        if dataset not in schemas:
            continue
        kind, schema = schemas[dataset]
        field = next((f for f in schema.fields if f.name.upper() == name.upper()), None)
        where = f"filter expression: {dataset}.{name}"
        if field is None:
            raise FilterExpressionError(
                f"{where}: the {kind.value} schema {schema.name!r} has no such field "
                f"(its fields: {', '.join(schema.field_names)})"
            )
        if field.textual:
            raise FilterExpressionError(f"{where}: textual fields cannot be filtered on (as in Personalize)")
        if field.type == "boolean":
            raise FilterExpressionError(
                f'{where}: boolean fields cannot be filtered on (as in Personalize); use a string field with "True" '
                'and "False"'
            )
        op = comparisons.get((dataset, name))
        if op is not None and field.type == "string":
            raise FilterExpressionError(f"{where}: {op} needs a numeric field; {field.name} is a string")


def delete_filter(platform: Platform, filter_arn: str) -> Resource:
    return platform.catalog.delete(ResourceType.FILTER, filter_arn)


# ------------------------------------------------------------ filterValues
_QUOTED = re.compile(r'\s*"([^"]*)"\s*(?:,|$)')


def parse_filter_value(name: str, raw: str) -> tuple[str, ...]:
    """Personalize's filterValues entry: ``"a","b"`` (quoted, comma-separated); a bare number is allowed."""
    if not isinstance(raw, str):
        raise InvalidInputError(f"filterValues[{name!r}] must be a string, got {type(raw).__name__}")
    text = raw.strip()
    if not text.startswith('"'):
        if re.fullmatch(r"-?\d+(?:\.\d+)?", text):
            return (text,)
        raise InvalidInputError(
            f'filterValues[{name!r}] must be comma-separated double-quoted values such as "\\"a\\",\\"b\\"", '
            f"got {raw!r}"
        )
    values: list[str] = []
    position = 0
    while position < len(text):
        match = _QUOTED.match(text, position)
        if match is None:
            raise InvalidInputError(
                f"filterValues[{name!r}]: position {position}: expected a double-quoted value, got {raw!r}"
            )
        values.append(match.group(1))
        position = match.end()
    return tuple(values)


# -------------------------------------------------------------- group data
def _split(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [part for part in str(value).split("|") if part != ""]


def _column(frame: pd.DataFrame, name: str, dataset: str) -> str:
    for column in frame.columns:
        if column.upper() == name.upper():
            return str(column)
    raise InvalidInputError(f"filter: the {dataset} dataset has no field {name!r}")


class ItemTable:
    """One ITEMS data version, indexed for filtering: categorical inverted indexes and numeric columns."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)
        self.ids = self.frame[ITEM_ID].astype(str).to_numpy()
        self.all_ids = frozenset(self.ids.tolist())
        self.row = {item: k for k, item in enumerate(self.ids.tolist())}
        self._categorical: dict[str, dict[str, set[str]]] = {}
        self._numeric: dict[str, np.ndarray] = {}

    def column(self, name: str) -> str:
        return _column(self.frame, name, "Items")

    def values_index(self, name: str) -> dict[str, set[str]]:
        column = self.column(name)
        index = self._categorical.get(column)
        if index is None:
            index = {}
            for item, value in zip(self.ids.tolist(), self.frame[column].tolist(), strict=True):
                for part in _split(value):
                    index.setdefault(part, set()).add(item)
            self._categorical[column] = index
        return index

    def numeric(self, name: str) -> np.ndarray:
        column = self.column(name)
        values = self._numeric.get(column)
        if values is None:
            values = pd.to_numeric(self.frame[column], errors="coerce").to_numpy(dtype=np.float64)
            self._numeric[column] = values
        return values

    def item_values(self, item_id: str, name: str) -> list[str]:
        k = self.row.get(item_id)
        return [] if k is None else _split(self.frame.at[k, self.column(name)])

    def with_records(self, records: Mapping[str, Mapping[str, Any]]) -> ItemTable:
        """A new table with these items' records (PutItems, keyed by item id) replacing or joining the old ones.

        The inverted indexes built so far are carried over and patched for the changed items, not rebuilt; the
        old table is left untouched, so a request still reading it is unaffected.
        """
        changed = list(records)
        put = pd.DataFrame([{ITEM_ID: item, **values} for item, values in records.items()], dtype=object)
        kept = self.frame[~self.frame[ITEM_ID].astype(str).isin(changed)]
        table = ItemTable(pd.concat([kept, put.reindex(columns=self.frame.columns)], ignore_index=True))
        for column, old_index in self._categorical.items():
            index = dict(old_index)
            copied: set[str] = set()

            def own(value: str, index: dict[str, set[str]] = index, copied: set[str] = copied) -> set[str]:
                if value not in copied:  # copy a value's set before the first change to it
                    index[value] = set(index.get(value, ()))
                    copied.add(value)
                return index[value]

            for item in changed:
                if item in self.row:
                    for value in _split(self.frame.at[self.row[item], column]):
                        own(value).discard(item)
                for value in _split(records[item].get(column)):
                    own(value).add(item)
            table._categorical[column] = index
        return table


class UserTable:
    """One USERS data version: each user's metadata values."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)
        self.row = {user: k for k, user in enumerate(self.frame[USER_ID].astype(str).tolist())}

    def values(self, user_id: str | None, name: str) -> list[str]:
        column = _column(self.frame, name, "Users")
        k = self.row.get(user_id) if user_id is not None else None
        return [] if k is None else _split(self.frame.at[k, column])


class InteractionTable:
    """One INTERACTIONS data version: each user's items and event types."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.items = frame[ITEM_ID].astype(str).to_numpy()
        types = frame[EVENT_TYPE] if EVENT_TYPE in frame.columns else pd.Series([""] * len(frame))
        self.types = types.fillna("").astype(str).str.lower().to_numpy()
        users = frame[USER_ID].astype(str).to_numpy()
        self.rows: dict[str, np.ndarray] = pd.Series(np.arange(len(frame))).groupby(users).indices

    def history(self, user_id: str) -> list[tuple[str, str]]:
        rows = self.rows.get(user_id)
        if rows is None:
            return []
        return list(zip(self.items[rows].tolist(), self.types[rows].tolist(), strict=True))


class FilterEvaluator:
    """Evaluates filters of any group; keeps each dataset's current records indexed in memory.

    A table is rebuilt only when its version changes: the dataset's data version (one catalog query per
    request, so a new import is seen at once; at most every :attr:`DATA_VERSION_SECONDS` where that is raised)
    or, for ITEMS and USERS, the newest PutItems/PutUsers record (one indexed query per request, so a put is
    seen at the next request).
    A filter that depends on nothing but item metadata and ``filterValues`` has its decision cached per table
    version, so a repeated request costs a dictionary lookup.
    """

    DATA_VERSION_SECONDS = 0.0  # 0: every request checks the catalog (one query); raise it to trade freshness
    MAX_DECISIONS = 512

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, tuple[tuple[str, int], Any]] = {}  # home|group|kind -> (version, table)
        self._versions: dict[str, tuple[str, float]] = {}  # home|group|kind -> (data version path, expiry)
        self._decisions: OrderedDict[tuple[Any, ...], FilterDecision] = OrderedDict()

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
            self._versions[key] = (path, now + self.DATA_VERSION_SECONDS)
        return path

    def _table(self, platform: Platform, group_arn: str, kind: str, build: Callable[[pd.DataFrame], Any]) -> Any:
        key = f"{platform.settings.resolved_home}|{group_arn}|{kind}"
        path = self._data_version(platform, group_arn, kind, key)
        puts = platform.events.put_version(kind, group_arn) if kind != "INTERACTIONS" else 0
        version = (path, puts)
        with self._lock:
            cached = self._tables.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
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
                version = self._tables[f"{platform.settings.resolved_home}|{group_arn}|ITEMS"][0]
            used = tuple((name, values.get(name)) for name in parsed.params)
            cache_key = (platform.settings.resolved_home, group_arn, parsed.source, version, used)
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
    """What a filter allows for one request: ``include`` (None: everything) minus ``exclude``."""

    include: frozenset[str] | None
    exclude: frozenset[str]
    _blocked: dict[int, tuple[np.ndarray, set[str]]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def blocked_among(self, item_ids: np.ndarray) -> set[str]:
        """The ids of a model's catalogue (``item_ids``) the filter removes, remembered per catalogue, so a
        cached decision costs nothing the second time. The set is shared between requests: read it only."""
        cached = self._blocked.get(id(item_ids))
        if cached is not None and cached[0] is item_ids:
            return cached[1]
        blocked = set(self.exclude)
        if self.include is not None:
            blocked.update(item_ids[~np.isin(item_ids, list(self.include))].tolist())
        self._blocked[id(item_ids)] = (item_ids, blocked)
        return blocked

    def allows(self, item_id: str) -> bool:
        return item_id not in self.exclude and (self.include is None or item_id in self.include)

    def blocked(self, item_ids: Iterable[str]) -> set[str]:
        """The ids among ``item_ids`` the filter removes."""
        return {i for i in item_ids if not self.allows(i)}


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


EVALUATOR = FilterEvaluator()
FILTER_CACHE_SECONDS = 2.0
_FILTERS: dict[tuple[str, str], tuple[Resource, float]] = {}
_FILTERS_LOCK = threading.Lock()


def _filter_resource(platform: Platform, filter_arn: str) -> Resource:
    """The filter's catalog record, remembered for 2 s (filters never change; a deleted one stops within 2 s)."""
    key = (platform.settings.resolved_catalog_url(), filter_arn)
    now = time.monotonic()
    with _FILTERS_LOCK:
        cached = _FILTERS.get(key)
    if cached is not None and cached[1] > now:
        return cached[0]
    resource = platform.catalog.get(ResourceType.FILTER, filter_arn)
    with _FILTERS_LOCK:
        _FILTERS[key] = (resource, now + FILTER_CACHE_SECONDS)
    return resource


def apply_filter(
    platform: Platform,
    filter_arn: str,
    filter_values: Mapping[str, str] | None,
    dataset_group_arn: str | None,
    *,
    user_id: str | None = None,
    current_item: str | None = None,
    evaluator: FilterEvaluator | None = None,
) -> FilterDecision:
    """What ``filter_arn`` allows for one request; a filter of another dataset group is InvalidInput."""
    resource = _filter_resource(platform, filter_arn)
    if dataset_group_arn is None or resource.dataset_group_arn != dataset_group_arn:
        raise InvalidInputError(
            f"filter {resource.arn} belongs to dataset group {resource.dataset_group_arn}, "
            f"not to this campaign's ({dataset_group_arn})"
        )
    parsed = parse_filter_expression(resource.attributes["filterExpression"])
    return (evaluator or EVALUATOR).evaluate(
        platform,
        parsed,
        dataset_group_arn,
        user_id=user_id,
        current_item=current_item,
        filter_values=filter_values,
    )
