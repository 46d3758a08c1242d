"""Render a predicate or query back to CEQL text that parses to the same tree."""

from __future__ import annotations

import math
import re
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from interlink.ceql.tree import (
    And,
    Comparison,
    In,
    IsNull,
    Like,
    Not,
    Or,
    Predicate,
    Query,
    Value,
)

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def to_ceql(target: Predicate | Query) -> str:
    """CEQL text for a predicate (a `where=` condition) or a whole query."""
    if isinstance(target, Query):
        return _query(target)
    return _predicate(target)


def _query(query: Query) -> str:
    fields = "*" if query.fields is None else ", ".join(map(field_name, query.fields))
    text = f"select {fields} from {_object_name(query.object)}"
    if query.where is not None:
        text += f" where {_predicate(query.where)}"
    if query.order_by:
        keys = (
            field_name(key.field) + (" desc" if key.descending else "") for key in query.order_by
        )
        text += " order by " + ", ".join(keys)
    if query.limit is not None:
        text += f" limit {query.limit}"
    return text


def _predicate(predicate: Predicate) -> str:
    match predicate:
        case Comparison(field, op, value):
            return f"{field_name(field)} {op} {literal(value)}"
        case In(field, values):
            return f"{field_name(field)} in ({', '.join(map(literal, values))})"
        case Like(field, pattern):
            return f"{field_name(field)} like {literal(pattern)}"
        case IsNull(field, negated):
            return f"{field_name(field)} is {'not ' if negated else ''}null"
        case Not(item):
            return f"not ({_predicate(item)})"
        case And(items):
            # A nested And keeps its parentheses so that the round trip gives the same tree.
            return " and ".join(_grouped(item, (And, Or)) for item in items)
        case Or(items):
            return " or ".join(_grouped(item, (And, Or)) for item in items)
    raise TypeError(f"not a CEQL predicate: {predicate!r}")


def _grouped(item: Predicate, kinds: tuple[type[And], type[Or]]) -> str:
    text = _predicate(item)
    return f"({text})" if isinstance(item, kinds) else text


def literal(value: Value) -> str:
    """A CEQL literal: 'quoted' strings (with '' and \\\\ escaped), numbers, true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"CEQL has no literal for {value!r}")
        return repr(value)
    # The MySQL dialect reads backslash escapes inside strings, so backslashes are doubled too.
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def field_name(field: str) -> str:
    """A field as CEQL spells it: plain when that reads back the same, else back-quoted."""
    return field if _plain_field_reads_back(field) else _backquoted(field)


def _object_name(name: str) -> str:
    return name if _plain_object_reads_back(name) else _backquoted(name)


def _backquoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# Which bare words the dialect reserves is its own business (`key` is, `status` is not, `all`
# only in a select list); rather than keep a list, try the plain spelling where it is used.


@lru_cache(maxsize=1024)
def _plain_field_reads_back(name: str) -> bool:
    tree = _probe(name, f"select {name} from t where {name} is null order by {name}")
    if tree is None:
        return False
    paths = [".".join(part.name for part in column.parts) for column in tree.find_all(exp.Column)]
    return paths == [name] * 3


@lru_cache(maxsize=256)
def _plain_object_reads_back(name: str) -> bool:
    tree = _probe(name, f"select * from {name}")
    table = tree.find(exp.Table) if tree is not None else None
    return table is not None and ".".join(part.name for part in table.parts) == name


def _probe(name: str, text: str) -> exp.Expr | None:
    if not _PLAIN_NAME.fullmatch(name):
        return None
    try:
        return sqlglot.parse_one(text, read="mysql")
    except SqlglotError:
        return None
