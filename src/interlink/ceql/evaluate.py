"""Evaluate a predicate against one record, with SQL's three-valued logic."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from interlink.ceql.like import like
from interlink.ceql.paths import lookup
from interlink.ceql.tree import And, Comparison, In, IsNull, Like, Not, Or, Predicate
from interlink.ceql.values import compare

_ORDERINGS: dict[str, Callable[[int], bool]] = {
    "<": lambda sign: sign < 0,
    ">": lambda sign: sign > 0,
    "<=": lambda sign: sign <= 0,
    ">=": lambda sign: sign >= 0,
}


def matches(predicate: Predicate, record: Mapping[str, Any]) -> bool:
    """Whether a record satisfies the predicate, as a SQL database would decide.

    A missing or null field makes every comparison, `in` and `like` unknown (so `!=` does
    not match either) and `is null` true; `not` of unknown stays unknown, so `not (a = 1)`
    and `a != 1` agree. Values of kinds that cannot be compared are unequal (`=` false,
    `!=` true) and unordered (`<` unknown). Only a definite true matches.
    """
    return truth(predicate, record) is True


def truth(predicate: Predicate, record: Mapping[str, Any]) -> bool | None:
    """True, False, or None for unknown."""
    match predicate:
        case Comparison(field, op, value):
            found = lookup(record, field)
            if found is None:
                return None
            sign = compare(found, value)
            if op == "=":
                return sign == 0
            if op == "!=":
                return sign != 0
            return None if sign is None else _ORDERINGS[op](sign)
        case In(field, values):
            found = lookup(record, field)
            if found is None:
                return None
            return any(compare(found, value) == 0 for value in values)
        case Like(field, pattern):
            found = lookup(record, field)
            # LIKE is a string operator; on a number or a list there is no answer.
            return like(found, pattern) if isinstance(found, str) else None
        case IsNull(field, negated):
            return (lookup(record, field) is None) != negated
        case Not(item):
            inner = truth(item, record)
            return None if inner is None else not inner
        case And(items):
            return _all(items, record)
        case Or(items):
            return _any(items, record)
    raise TypeError(f"not a CEQL predicate: {predicate!r}")


def _all(items: tuple[Predicate, ...], record: Mapping[str, Any]) -> bool | None:
    unknown = False
    for item in items:
        value = truth(item, record)
        if value is False:
            return False
        unknown = unknown or value is None
    return None if unknown else True


def _any(items: tuple[Predicate, ...], record: Mapping[str, Any]) -> bool | None:
    unknown = False
    for item in items:
        value = truth(item, record)
        if value is True:
            return True
        unknown = unknown or value is None
    return None if unknown else False
