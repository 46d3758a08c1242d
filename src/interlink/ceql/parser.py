"""Parse CEQL text into the predicate tree, refusing whatever CEQL does not have."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

from sqlglot import TokenType, exp

from interlink.ceql.errors import CEQLError
from interlink.ceql.refusals import describe
from interlink.ceql.syntax import Source
from interlink.ceql.tree import (
    And,
    Comparison,
    In,
    IsNull,
    Like,
    Not,
    Operator,
    Or,
    OrderBy,
    Predicate,
    Query,
    Value,
)


def parse_query(text: str) -> Query:
    """A whole query: `select * | fields from OBJECT [where …] [order by …] [limit N]`.

    Raises CEQLError (with `field="q"`, the bulk API's parameter) saying where and why.
    """
    source = Source(text, field="q")
    return _Translator(source).query(source.statement())


def parse_where(text: str) -> Predicate:
    """Only a condition, as the records API takes it in `where=`.

    Raises CEQLError (with `field="where"`) saying where and why.
    """
    source = Source(text, field="where")
    return _Translator(source).predicate(source.statement(exp.Condition))


_OPERATORS: dict[type[exp.Expr], Operator] = {
    exp.EQ: "=",
    exp.NEQ: "!=",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
}

# `5 < age` reads as `age > 5`.
_MIRRORED: dict[Operator, Operator] = {
    "=": "=",
    "!=": "!=",
    "<": ">",
    ">": "<",
    "<=": ">=",
    ">=": "<=",
}

_SELECT_CLAUSES = frozenset({"expressions", "from_", "from", "where", "order", "limit"})
_CLAUSE_NAMES = {
    "with_": "WITH",
    "with": "WITH",
    "distinct": "DISTINCT",
    "joins": "JOIN",
    "group": "GROUP BY",
    "having": "HAVING",
    "offset": "OFFSET",
    "qualify": "QUALIFY",
    "windows": "WINDOW",
    "locks": "FOR UPDATE",
    "into": "INTO",
    "laterals": "LATERAL",
    "hint": "optimizer hints",
    "kind": "SELECT modifiers",
    "operation_modifiers": "SELECT modifiers",
}
# Clauses whose node carries no position of its own: point at their keyword instead.
_CLAUSE_TOKENS = {
    "distinct": frozenset({TokenType.DISTINCT}),
    "kind": frozenset({TokenType.SELECT}),
    "operation_modifiers": frozenset({TokenType.SELECT}),
    "locks": frozenset({TokenType.FOR}),
}
_SET_OPERATIONS = frozenset({TokenType.UNION, TokenType.INTERSECT, TokenType.EXCEPT})
_WHOLE_NUMBER = re.compile(r"\d+")


class _Translator:
    """Walks sqlglot's tree for one source, building CEQL's or blaming the text."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def query(self, statement: exp.Expr) -> Query:
        if isinstance(statement, exp.SetOperation):
            raise self.source.error(
                f"unsupported in CEQL: {statement.key.upper()}", token_types=_SET_OPERATIONS
            )
        if not isinstance(statement, exp.Select):
            raise self.source.error(
                "a CEQL query starts with select",
                token_types=frozenset({self.source.tokens[0].token_type}),
            )
        self._refuse_other_clauses(statement)
        where = statement.args.get("where")
        return Query(
            object=self._object(statement),
            fields=self._select_list(statement),
            where=self.predicate(where.this) if where is not None else None,
            order_by=self._order_by(statement.args.get("order")),
            limit=self._limit(statement.args.get("limit")),
        )

    def predicate(self, node: exp.Expr) -> Predicate:
        if isinstance(node, exp.Paren):
            return self.predicate(node.this)
        if isinstance(node, exp.And):
            return And(tuple(map(self.predicate, _chain(node, exp.And))))
        if isinstance(node, exp.Or):
            return Or(tuple(map(self.predicate, _chain(node, exp.Or))))
        if isinstance(node, exp.Not):
            # `a is not null` arrives as NOT (a IS NULL); keep it a single node.
            if isinstance(node.this, exp.Is):
                return IsNull(self._is_null(node.this).field, negated=True)
            return Not(self.predicate(node.this))
        if type(node) in _OPERATORS:
            return self._comparison(node)
        result: Predicate
        if isinstance(node, exp.In):
            result = self._in(node)
        elif isinstance(node, exp.Like):
            result = self._like(node)
        elif isinstance(node, exp.Is):
            result = self._is_null(node)
        elif _field_path(node) is not None:
            raise self.source.error(
                "a field alone is not a CEQL condition; compare it (e.g. active = true)", node
            )
        elif _is_value(node):
            raise self.source.error("a CEQL condition needs a field", node)
        else:
            raise self._unsupported(node)
        # `b not like 'x'` arrives as LIKE with negate set.
        return Not(result) if node.args.get("negate") else result

    # -- statement parts -------------------------------------------------------------------

    def _refuse_other_clauses(self, statement: exp.Select) -> None:
        for key, value in statement.args.items():
            if key in _SELECT_CLAUSES or value is None or value is False or value == []:
                continue
            name = _CLAUSE_NAMES.get(key, key.rstrip("_").upper())
            if key == "joins" and not self._has_token(TokenType.JOIN):
                name = "more than one object in FROM"
            node = value[0] if isinstance(value, list) else value
            raise self.source.error(
                f"unsupported in CEQL: {name}",
                node if isinstance(node, exp.Expr) else None,
                token_types=_CLAUSE_TOKENS.get(key, frozenset()),
            )

    def _object(self, statement: exp.Select) -> str:
        from_ = statement.args.get("from_") or statement.args.get("from")
        if from_ is None:
            raise self.source.error("a CEQL query needs from OBJECT")
        table = from_.this
        if not isinstance(table, exp.Table):
            raise self._unsupported(table, suffix=" in FROM")
        for key, value in table.args.items():
            if key not in {"this", "db", "catalog"} and value:
                what = "aliases" if key == "alias" else key.upper()
                raise self.source.error(f"unsupported in CEQL: {what}", table)
        name = _dotted([table.args.get("catalog"), table.args.get("db"), table.this])
        if name is None:
            raise self._unsupported(table.this, suffix=" in FROM")
        return self._nonempty(name, table)

    def _select_list(self, statement: exp.Select) -> tuple[str, ...] | None:
        items = statement.expressions
        if not items:
            raise self.source.error(
                "a CEQL query selects * or fields", token_types=frozenset({TokenType.SELECT})
            )
        stars = [item for item in items if isinstance(item, exp.Star)]
        if stars:
            if len(items) > 1:
                raise self.source.error("select either * or fields, not both", stars[0])
            return None
        fields: dict[str, None] = {}
        for item in items:
            path = _field_path(item)
            if path is None:
                if isinstance(item, exp.Column | exp.Literal | exp.Boolean | exp.Null):
                    raise self.source.error("CEQL selects fields, not values", item)
                raise self._unsupported(item, suffix=" in the select list")
            fields.setdefault(self._nonempty(path, item))
        return tuple(fields)

    def _order_by(self, order: exp.Order | None) -> tuple[OrderBy, ...]:
        if order is None:
            return ()
        self._refuse_nulls_first()
        keys = []
        for ordered in order.expressions:
            if ordered.args.get("with_fill"):
                raise self.source.error("unsupported in CEQL: WITH FILL", ordered)
            path = _field_path(ordered.this)
            if path is None:
                raise self.source.error("ORDER BY takes field names", ordered)
            keys.append(OrderBy(self._nonempty(path, ordered), bool(ordered.args.get("desc"))))
        return tuple(keys)

    def _refuse_nulls_first(self) -> None:
        # sqlglot folds NULLS FIRST/LAST into the same flag as each dialect's default, so
        # only the tokens tell whether the user asked; missing values always sort last here.
        tokens = self.source.tokens
        for token, following in itertools.pairwise(tokens):
            if (
                token.token_type == TokenType.VAR
                and token.text.upper() == "NULLS"
                and following.token_type == TokenType.FIRST
            ):
                raise self.source.error_between(
                    "unsupported in CEQL: NULLS FIRST (missing values sort last)",
                    token.start,
                    following.end,
                )

    def _limit(self, limit: exp.Limit | None) -> int | None:
        if limit is None:
            return None
        extra = [key for key, value in limit.args.items() if key != "expression" and value]
        count = limit.expression
        if extra or not (
            isinstance(count, exp.Literal)
            and not count.is_string
            and _WHOLE_NUMBER.fullmatch(str(count.this))
        ):
            raise self.source.error("LIMIT takes a whole number, 0 or more", limit)
        return int(str(count.this))

    # -- conditions ------------------------------------------------------------------------

    def _comparison(self, node: exp.Expr) -> Comparison:
        op = _OPERATORS[type(node)]
        left, right = node.this, node.expression
        field, other = _field_path(left), _field_path(right)
        if field is not None and other is not None:
            raise self.source.error("CEQL compares a field with a value, not two fields", node)
        if field is None and other is not None:
            left, right, field, op = right, left, other, _MIRRORED[op]
        if field is None:
            for side in (left, right):
                if not _is_value(side):
                    raise self._unsupported(side)
            raise self.source.error("a CEQL condition needs a field", node)
        return Comparison(self._nonempty(field, left), op, self._value(right, node))

    def _in(self, node: exp.In) -> In:
        query = node.args.get("query")
        if query is not None:
            raise self._unsupported(query)
        if node.args.get("unnest") or node.args.get("field"):
            raise self._unsupported(node)
        field = _field_path(node.this)
        if field is None:
            raise self.source.error("IN needs a field on its left", node)
        if not node.expressions:
            raise self.source.error("IN needs at least one value", node)
        values = tuple(self._value(value, node) for value in node.expressions)
        return In(self._nonempty(field, node), values)

    def _like(self, node: exp.Like) -> Like:
        field = _field_path(node.this)
        if field is None:
            raise self.source.error("LIKE needs a field on its left", node)
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise self.source.error("LIKE takes a quoted pattern", node)
        return Like(self._nonempty(field, node), str(pattern.this))

    def _is_null(self, node: exp.Is) -> IsNull:
        field = _field_path(node.this)
        if field is None:
            raise self.source.error("IS NULL needs a field on its left", node)
        if not isinstance(node.expression, exp.Null):
            raise self.source.error(
                "CEQL has only IS NULL and IS NOT NULL (compare booleans with = true)", node
            )
        return IsNull(self._nonempty(field, node))

    def _value(self, node: exp.Expr, context: exp.Expr) -> Value:
        if isinstance(node, exp.Null):
            raise self.source.error(
                "CEQL compares with null only as 'is null' or 'is not null'", context
            )
        if isinstance(node, exp.Boolean):
            return bool(node.this)
        if isinstance(node, exp.Literal):
            return str(node.this) if node.is_string else self._number(str(node.this), context)
        if (
            isinstance(node, exp.Neg)
            and isinstance(node.this, exp.Literal)
            and not node.this.is_string
        ):
            return -self._number(str(node.this.this), context)
        if _field_path(node) is not None:
            raise self.source.error("CEQL compares a field with a value, not two fields", context)
        raise self._unsupported(node)

    def _number(self, text: str, context: exp.Expr) -> int | float:
        if _WHOLE_NUMBER.fullmatch(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            raise self.source.error(f"not a number: {text}", context) from None
        if not math.isfinite(number):
            raise self.source.error(f"number out of range: {text}", context)
        return number

    # -- helpers ---------------------------------------------------------------------------

    def _has_token(self, kind: TokenType) -> bool:
        return any(token.token_type == kind for token in self.source.tokens)

    def _nonempty(self, path: str, node: exp.Expr) -> str:
        if not path:
            raise self.source.error("empty field name", node)
        return path

    def _unsupported(self, node: exp.Expr, *, suffix: str = "") -> CEQLError:
        return self.source.error(
            f"unsupported in CEQL: {describe(node, self.source.text)}{suffix}", node
        )


def _chain(node: exp.Expr, kind: type[exp.Connector]) -> list[exp.Expr]:
    """`a and b and c` as [a, b, c]; a parenthesised group stays one item."""
    items: list[exp.Expr] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, kind):
            stack.extend((current.expression, current.this))
        else:
            items.append(current)
    return items


def _field_path(node: exp.Expr | None) -> str | None:
    """`address.city`, `` `address.city` `` and `` address.`city` `` all name address.city."""
    if isinstance(node, exp.Column):
        if isinstance(node.this, exp.Star):
            return None
        return _dotted(node.parts)
    if isinstance(node, exp.Dot):
        left = _field_path(node.this)
        right = node.expression
        if left is None or not isinstance(right, exp.Identifier):
            return None
        return f"{left}.{right.name}"
    return None


def _dotted(parts: Sequence[exp.Expr | None]) -> str | None:
    names: list[str] = []
    for part in parts:
        if part is None:
            continue
        if isinstance(part, exp.Identifier):
            names.append(str(part.name))
        elif isinstance(part, exp.Dot):
            # sqlglot nests names past catalog.db.table as Dot(...) inside the last part.
            inner = _dotted([part.this, part.expression])
            if inner is None:
                return None
            names.append(inner)
        else:
            return None
    return ".".join(names)


def _is_value(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal | exp.Boolean | exp.Null) or (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)
    )
