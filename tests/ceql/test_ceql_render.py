"""`to_ceql` renders text that parses back to the same tree."""

from __future__ import annotations

import random

import pytest

from interlink.ceql import (
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
    parse_query,
    parse_where,
    to_ceql,
)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("a = 1", "a = 1"),
        ("A <> 'x'", "A != 'x'"),
        ("5 < age", "age > 5"),
        ("a = 1 or b = 2 and c = 3", "a = 1 or (b = 2 and c = 3)"),
        ("(a = 1 or b = 2) and c = 3", "(a = 1 or b = 2) and c = 3"),
        ("a = 1 and (b = 2 and c = 3)", "a = 1 and (b = 2 and c = 3)"),
        ("a is not null", "a is not null"),
        ("not a is null", "a is not null"),
        ("not (a is null)", "not (a is null)"),
        ("b not like 'x%'", "not (b like 'x%')"),
        ("c not in (1, 'two', true)", "not (c in (1, 'two', true))"),
        ("`address.city` = 'Paris'", "address.city = 'Paris'"),
        ("`first name` = 'Ada'", "`first name` = 'Ada'"),
        ("`key` = 1", "`key` = 1"),
        ("`we``ird` = 1", "`we``ird` = 1"),
        ("a = 'it''s'", "a = 'it''s'"),
        ("a = 'back\\\\slash'", "a = 'back\\\\slash'"),
        ("a like '100\\%'", "a like '100\\\\%'"),
        ("a = -1.5e-7", "a = -1.5e-07"),
        ("a = FALSE", "a = false"),
    ],
)
def test_rendering(text: str, rendered: str) -> None:
    predicate = parse_where(text)
    assert to_ceql(predicate) == rendered
    assert repr(parse_where(rendered)) == repr(predicate)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("SELECT * FROM contacts", "select * from contacts"),
        (
            "select id, `first name` from `my objects` where a = 1 order by b desc, c limit 5",
            "select id, `first name` from `my objects` where a = 1 order by b desc, c limit 5",
        ),
        ("select `all` from contacts", "select `all` from contacts"),
        ("select * from crm.contacts limit 0", "select * from crm.contacts limit 0"),
    ],
)
def test_query_rendering(text: str, rendered: str) -> None:
    query = parse_query(text)
    assert to_ceql(query) == rendered
    assert parse_query(rendered) == query


def test_not_a_number_has_no_literal() -> None:
    with pytest.raises(ValueError, match="no literal"):
        to_ceql(Comparison("a", "=", float("inf")))


# A small hand-rolled generator (hypothesis is not a dependency): seeded, so failures repeat.
FIELDS = [
    "a",
    "email",
    "address.city",
    "a.b.c",
    "first name",
    "key",
    "order",
    "all",
    "we`ird",
    "1st",
    "über",
    "a..b",
    "x-y",
    "select",
]
STRINGS = [
    "",
    "plain",
    "it's",
    "''",
    "back\\slash",
    "\\",
    "\\%",
    "100%",
    "a_b",
    "line\nbreak\ttab",
    'double "quotes"',
    "ünïcödé ✓ 🎉",
    "2024-01-01T00:00:00Z",
    "--not a comment",
    "/* nor this */",
    "; select 1",
]
NUMBERS: list[Value] = [0, 1, -1, 42, 10**20, -(10**20), 0.5, -0.25, 1e16, 1.5e-07, 3.0, -0.0]
OPERATORS: list[Operator] = ["=", "!=", "<", ">", "<=", ">="]


def value(rng: random.Random) -> Value:
    kind = rng.randrange(3)
    if kind == 0:
        return rng.choice(STRINGS)
    if kind == 1:
        return rng.choice(NUMBERS)
    return rng.choice([True, False])


def predicate(rng: random.Random, depth: int) -> Predicate:
    field = rng.choice(FIELDS)
    kind = rng.randrange(8 if depth > 0 else 4)
    if kind == 0:
        return Comparison(field, rng.choice(OPERATORS), value(rng))
    if kind == 1:
        return In(field, tuple(value(rng) for _ in range(rng.randint(1, 4))))
    if kind == 2:
        return Like(field, rng.choice(STRINGS))
    if kind == 3:
        return IsNull(field, negated=rng.random() < 0.5)
    if kind == 4:
        return Not(predicate(rng, depth - 1))
    items = tuple(predicate(rng, depth - 1) for _ in range(rng.randint(2, 4)))
    return And(items) if kind in (5, 6) else Or(items)


@pytest.mark.parametrize("seed", range(300))
def test_generated_predicates_round_trip(seed: int) -> None:
    original = predicate(random.Random(seed), depth=3)
    text = to_ceql(original)
    # repr, not ==: dataclass equality would let 1, 1.0 and True stand for each other.
    assert repr(parse_where(text)) == repr(original), text


@pytest.mark.parametrize("seed", range(50))
def test_generated_queries_round_trip(seed: int) -> None:
    rng = random.Random(seed)
    original = Query(
        object=rng.choice(["contacts", "my objects", "crm.contacts", "select"]),
        fields=None if rng.random() < 0.3 else tuple(rng.sample(FIELDS, rng.randint(1, 4))),
        where=None if rng.random() < 0.2 else predicate(rng, depth=2),
        order_by=tuple(
            OrderBy(field, descending=rng.random() < 0.5)
            for field in rng.sample(FIELDS, rng.randint(0, 3))
        ),
        limit=None if rng.random() < 0.5 else rng.randint(0, 10**6),
    )
    text = to_ceql(original)
    assert repr(parse_query(text)) == repr(original), text
