"""Personalize's filter expressions: tokens, the AST, the parser and ``filterValues``.

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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.columns import EVENT_TYPE
from recsmith.errors import FilterExpressionError, InvalidInputError

MAX_EXPRESSION_LENGTH = 2500
MAX_DISTINCT_FIELDS = 10

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


def parse_filter_expression(source: str) -> FilterExpression:
    """The AST of a filter expression; FilterExpressionError names the position and what was expected.

    A pure function: the request path parses each expression once through the platform's evaluator
    (:meth:`~recsmith.campaigns.filters.evaluator.FilterEvaluator.parsed`), which remembers the result.
    """
    return _Parser(source).parse()


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
