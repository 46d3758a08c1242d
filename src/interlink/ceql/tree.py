"""The CEQL predicate tree: what a query means, independent of how it was parsed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Value: TypeAlias = str | int | float | bool
"""A literal; null is not a value here, it only appears through `is null`."""

Operator: TypeAlias = Literal["=", "!=", "<", ">", "<=", ">="]


@dataclass(frozen=True, slots=True)
class Comparison:
    """`field op value`."""

    field: str
    op: Operator
    value: Value


@dataclass(frozen=True, slots=True)
class In:
    """`field in (v1, v2, …)`."""

    field: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("In needs at least one value")


@dataclass(frozen=True, slots=True)
class Like:
    """`field like 'pattern'` with `%` and `_` wildcards, `\\` escaping either."""

    field: str
    pattern: str


@dataclass(frozen=True, slots=True)
class IsNull:
    """`field is null`, or `field is not null` when negated."""

    field: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class And:
    """All of two or more predicates."""

    items: tuple[Predicate, ...]

    def __post_init__(self) -> None:
        if len(self.items) < 2:
            raise ValueError("And needs at least two items")


@dataclass(frozen=True, slots=True)
class Or:
    """Any of two or more predicates."""

    items: tuple[Predicate, ...]

    def __post_init__(self) -> None:
        if len(self.items) < 2:
            raise ValueError("Or needs at least two items")


@dataclass(frozen=True, slots=True)
class Not:
    """The negation of a predicate (SQL three-valued: not unknown is unknown)."""

    item: Predicate


Predicate: TypeAlias = Comparison | In | Like | IsNull | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One `order by` key; missing values sort last either way."""

    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A whole CEQL query; `fields` is None for `select *`."""

    object: str
    fields: tuple[str, ...] | None = None
    where: Predicate | None = None
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None


def fields_in_order(predicate: Predicate) -> list[str]:
    """The fields a predicate reads, first mention first, without repeats."""
    seen: dict[str, None] = {}
    stack: list[Predicate] = [predicate]
    while stack:
        node = stack.pop()
        match node:
            case And(items) | Or(items):
                stack.extend(reversed(items))
            case Not(item):
                stack.append(item)
            case Comparison(field) | In(field) | Like(field) | IsNull(field):
                seen.setdefault(field)
    return list(seen)


def fields_of(predicate: Predicate) -> set[str]:
    """The set of fields a predicate reads."""
    return set(fields_in_order(predicate))
