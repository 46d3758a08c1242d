"""Local evaluation follows SQL: typed comparisons, nulls unknown, anchored LIKE."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from interlink.ceql import like, matches, parse_where, truth

CONTACT: dict[str, Any] = {
    "id": "c1",
    "email": "ada@example.com",
    "first name": "Ada",
    "age": 36,
    "score": "12.5",
    "zip": "02134",
    "vip": True,
    "optin": "false",
    "nothing": None,
    "tags": ["a", "b"],
    "address": {"city": "London", "geo": {"lat": 51.5}},
    "address.city": "Paris",
    "company": {"name": "Analytical Engines", "address.zip": "NW1"},
    "updated_at": "2024-03-01T10:00:00.000Z",
    "created_at": "2023-12-31T23:30:00-01:00",
    "birthday": "1815-12-10",
    "name": "Ada_Lovelace%",
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # strings
        ("email = 'ada@example.com'", True),
        ("email = 'ADA@example.com'", False),
        ("email != 'bob@example.com'", True),
        ("email > 'a'", True),
        ("email < 'a'", False),
        ("`first name` = 'Ada'", True),
        # numbers, and numeric strings against number literals
        ("age = 36", True),
        ("age = 36.0", True),
        ("age > 35.5", True),
        ("age < 36", False),
        ("age <= 36", True),
        ("age >= 37", False),
        ("age != 36", False),
        ("score = 12.5", True),
        ("score > 9", True),
        ("score > '9'", False),  # two strings compare as strings
        ("zip = 2134", True),
        ("zip = '2134'", False),
        ("age = '36'", True),
        ("age = 'thirty-six'", False),
        ("age != 'thirty-six'", True),
        ("age > 'thirty-six'", False),
        ("email > 5", False),
        ("email != 5", True),
        # booleans
        ("vip = true", True),
        ("vip = false", False),
        ("vip != false", True),
        ("vip = 1", False),
        ("age = true", False),
        ("optin = false", True),
        ("optin = true", False),
        # timestamps compare as instants
        ("updated_at = '2024-03-01T10:00:00Z'", True),
        ("updated_at = '2024-03-01T10:00:00.000000Z'", True),
        ("updated_at = '2024-03-01T11:00:00+01:00'", True),
        ("updated_at = '2024-03-01 10:00:00'", True),
        ("updated_at >= '2024-01-01T00:00:00Z'", True),
        ("updated_at > '2024-03-01T10:00:00.001Z'", False),
        ("updated_at < '2024-03-01T10:00:00.000000001Z'", True),
        ("updated_at >= '2024-03-01'", True),
        ("updated_at < '2024-03-02'", True),
        ("created_at = '2024-01-01T00:30:00Z'", True),
        ("created_at > '2024-01-01'", True),
        ("birthday < '1900-01-01T00:00:00Z'", True),
        ("birthday = '1815-12-10'", True),
        # nulls and missing fields: comparisons unknown, `is null` true
        ("nothing = 1", False),
        ("nothing != 1", False),
        ("missing != 'x'", False),
        ("missing < 1", False),
        ("missing in (1, 2)", False),
        ("missing like '%'", False),
        ("nothing is null", True),
        ("missing is null", True),
        ("nothing is not null", False),
        ("email is null", False),
        ("email is not null", True),
        ("not (missing = 1)", False),
        ("not (missing != 1)", False),
        ("not (missing is null)", False),
        ("missing = 1 or email is not null", True),
        ("missing = 1 and email is not null", False),
        ("not (missing = 1 and email is null)", True),
        ("not (missing = 1 or email is null)", False),
        # in, by the same equality
        ("age in (1, 36)", True),
        ("age in ('36')", True),
        ("age in (35, 37)", False),
        ("age not in (35, 37)", True),
        ("email in ('x', 'ada@example.com')", True),
        ("updated_at in ('2024-03-01T10:00:00Z')", True),
        ("vip in (true)", True),
        # like
        ("email like '%@example.com'", True),
        ("email like 'ada@%'", True),
        ("email like '%example%'", True),
        ("email like 'ada'", False),
        ("email like 'ADA%'", False),
        ("email like 'a_a@example.com'", True),
        ("email like '_da@%.com'", True),
        ("email like '%.org'", False),
        ("email not like '%.org'", True),
        ("name like 'Ada\\_Lovelace\\%'", True),
        ("name like 'Ada\\_%'", True),
        ("email like 'ada\\_%'", False),
        ("age like '3%'", False),
        ("not (age like '3%')", False),
        # dotted paths: a flat key wins over nesting
        ("address.city = 'Paris'", True),
        ("`address.city` = 'Paris'", True),
        ("address.geo.lat > 51", True),
        ("company.name like 'Analytical%'", True),
        ("company.address.zip = 'NW1'", True),
        ("address.country is null", True),
        ("email.domain is null", True),
        # values of other kinds
        ("tags = 'a'", False),
        ("tags != 'a'", True),
        ("address = 'London'", False),
        # precedence
        ("age = 1 or age = 36 and vip = true", True),
        ("(age = 1 or age = 36) and vip = false", False),
    ],
)
def test_matches(condition: str, expected: bool) -> None:
    assert matches(parse_where(condition), CONTACT) is expected


def test_flat_key_wins_but_nesting_is_found_without_it() -> None:
    predicate = parse_where("address.city = 'London'")
    assert not matches(predicate, CONTACT)
    nested_only = {key: value for key, value in CONTACT.items() if key != "address.city"}
    assert matches(predicate, nested_only)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("missing = 1", None),
        ("not (missing = 1)", None),
        ("missing = 1 or age = 36", True),
        ("missing = 1 and age = 37", False),
        ("missing = 1 and age = 36", None),
        ("age > 'abc'", None),
        ("age = 'abc'", False),
        ("age != 'abc'", True),
    ],
)
def test_three_valued_truth(condition: str, expected: bool | None) -> None:
    assert truth(parse_where(condition), CONTACT) is expected


@pytest.mark.parametrize(
    ("value", "condition", "expected"),
    [
        (datetime(2024, 1, 1, tzinfo=UTC), "v = '2024-01-01T00:00:00Z'", True),
        (datetime(2024, 1, 1), "v = '2024-01-01T00:00:00Z'", True),
        (date(2024, 1, 1), "v < '2024-01-01T00:00:01Z'", True),
        (1.5, "v = '1.5'", True),
        (float("nan"), "v = 1", False),
        (float("nan"), "v != 1", True),
        (float("nan"), "v > 1", False),
        ("2024-02-30T00:00:00Z", "v > '2024-02-29T00:00:00Z'", True),  # not a date: strings
        ("20240101", "v = '2024-01-01'", False),  # basic format stays a string
        ("1e3", "v = 1000", True),
        ("0x10", "v = 16", False),
        ("NaN", "v = 1", False),
        (" 5", "v = 5", False),
    ],
)
def test_edge_values(value: object, condition: str, expected: bool) -> None:
    assert matches(parse_where(condition), {"v": value}) is expected


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("", "", True),
        ("", "%", True),
        ("", "_", False),
        ("abc", "abc", True),
        ("abc", "ab", False),
        ("abc", "a%", True),
        ("abc", "%c", True),
        ("abc", "%b%", True),
        ("abc", "a_c", True),
        ("abc", "a__c", False),
        ("abc", "%%%", True),
        ("a.c", "a.c", True),
        ("abc", "a.c", False),
        ("a+c", "a+c", True),
        ("(x)", "(x)", True),
        ("a\nb", "a%b", True),
        ("a\nb", "a_b", True),
        ("100%", "100\\%", True),
        ("1000", "100\\%", False),
        ("a_b", "a\\_b", True),
        ("axb", "a\\_b", False),
        ("a\\b", "a\\\\b", True),
        ("ab\\", "ab\\", True),
        ("mississippi", "m%iss%ppi", True),
        ("mississippi", "m%is%s_p%i", True),
        ("mississippi", "m%iss%ppx", False),
        ("aaa", "a%a%a%a", False),
    ],
)
def test_like(text: str, pattern: str, expected: bool) -> None:
    assert like(text, pattern) is expected


def test_like_does_not_backtrack_exponentially() -> None:
    # A regex built naively from this pattern takes minutes; the matcher is quadratic.
    assert not like("a" * 5000, "%a%a%a%a%a%a%a%a%a%a%b")
