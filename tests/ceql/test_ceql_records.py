"""Dotted lookup, projection of a select list, and local ordering."""

from __future__ import annotations

from typing import Any

import pytest

from interlink.ceql import OrderBy, lookup, order, project, sort_key

RECORD: dict[str, Any] = {
    "id": "c1",
    "email": "ada@example.com",
    "nothing": None,
    "address": {"city": "London", "zip": "N1", "geo": {"lat": 51.5}},
    "billing.city": "Paris",
    "billing": {"city": "Lyon"},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("email", "ada@example.com"),
        ("address.city", "London"),
        ("address.geo.lat", 51.5),
        ("address.geo", {"lat": 51.5}),
        ("billing.city", "Paris"),
        ("nothing", None),
        ("missing", None),
        ("email.domain", None),
        ("address.country", None),
    ],
)
def test_lookup(path: str, expected: Any) -> None:
    assert lookup(RECORD, path) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (None, RECORD),
        (("email",), {"id": "c1", "email": "ada@example.com"}),
        (("email", "id"), {"email": "ada@example.com", "id": "c1"}),
        (("missing", "nothing"), {"id": "c1", "nothing": None}),
        (("address.city",), {"id": "c1", "address": {"city": "London"}}),
        (
            ("address.city", "address.geo.lat"),
            {"id": "c1", "address": {"city": "London", "geo": {"lat": 51.5}}},
        ),
        (
            ("address", "address.city"),
            {"id": "c1", "address": RECORD["address"]},
        ),
        (
            ("address.city", "address"),
            {"id": "c1", "address": RECORD["address"]},
        ),
        (("billing.city",), {"id": "c1", "billing.city": "Paris"}),
        (("email.domain",), {"id": "c1"}),
    ],
)
def test_project(fields: tuple[str, ...] | None, expected: dict[str, Any]) -> None:
    assert project(RECORD, fields) == expected


def test_project_never_changes_the_record() -> None:
    before = repr(RECORD)
    projected = project(RECORD, ("address.city", "address.geo.lat"))
    projected["address"]["city"] = "changed"
    assert repr(RECORD) == before


def test_project_without_id_in_the_record() -> None:
    assert project({"email": "x"}, ("email",)) == {"email": "x"}


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [record["id"] for record in records]


PEOPLE: list[dict[str, Any]] = [
    {"id": "1", "name": "b", "age": 30, "seen": "2024-01-01T00:00:00Z"},
    {"id": "2", "name": "a", "age": "4", "seen": "2024-01-01T00:00:00.500Z"},
    {"id": "3", "name": "c", "seen": "2023-12-31T23:59:59-01:00"},
    {"id": "4", "name": "a", "age": 30, "seen": None},
    {"id": "5", "name": None, "age": 100},
]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ((), ["1", "2", "3", "4", "5"]),
        ((OrderBy("name"),), ["2", "4", "1", "3", "5"]),
        ((OrderBy("name", descending=True),), ["3", "1", "2", "4", "5"]),
        ((OrderBy("age"),), ["2", "1", "4", "5", "3"]),
        ((OrderBy("age", descending=True),), ["5", "1", "4", "2", "3"]),
        ((OrderBy("name"), OrderBy("age", descending=True)), ["4", "2", "1", "3", "5"]),
        ((OrderBy("seen"),), ["1", "2", "3", "4", "5"]),
        ((OrderBy("seen", descending=True),), ["3", "2", "1", "4", "5"]),
    ],
)
def test_order(keys: tuple[OrderBy, ...], expected: list[str]) -> None:
    assert ids(order(PEOPLE, keys)) == expected


def test_order_returns_a_new_list() -> None:
    people = list(PEOPLE)
    assert order(people, (OrderBy("name"),)) is not people
    assert people == PEOPLE


def test_sort_key_ranks_kinds_apart() -> None:
    values = ["word", {"x": 1}, "2024-01-01", 10, "9", True, 2.5]
    assert sorted(values, key=sort_key) == [True, 2.5, "9", 10, "2024-01-01", "word", {"x": 1}]
