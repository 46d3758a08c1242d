"""Splitting a predicate into vendor-side filters and a local residual."""

from __future__ import annotations

from typing import Any

import pytest

from interlink.ceql import (
    Comparison,
    Predicate,
    conjuncts,
    matches,
    parse_where,
    split,
    to_ceql,
)


def equality_only(predicate: Predicate) -> bool:
    """An element whose vendor filters on `field = value` and nothing else."""
    return isinstance(predicate, Comparison) and predicate.op == "="


def anything(predicate: Predicate) -> bool:
    return True


def nothing(predicate: Predicate) -> bool:
    return False


def texts(predicates: list[Predicate]) -> list[str]:
    return [to_ceql(predicate) for predicate in predicates]


@pytest.mark.parametrize(
    ("condition", "pushed", "residual"),
    [
        ("a = 1", ["a = 1"], None),
        ("a > 1", [], "a > 1"),
        ("a = 1 and b = 2", ["a = 1", "b = 2"], None),
        ("a = 1 and b > 2", ["a = 1"], "b > 2"),
        ("a = 1 and b > 2 and c like 'x%'", ["a = 1"], "b > 2 and c like 'x%'"),
        ("a = 1 and (b = 2 and c > 3)", ["a = 1", "b = 2"], "c > 3"),
        ("a = 1 or b = 2", [], "a = 1 or b = 2"),
        ("a = 1 and (b = 2 or c = 3)", ["a = 1"], "b = 2 or c = 3"),
        ("not (a = 1) and b = 2", ["b = 2"], "not (a = 1)"),
    ],
)
def test_split_with_equality_only(condition: str, pushed: list[str], residual: str | None) -> None:
    got_pushed, got_residual = split(parse_where(condition), equality_only)
    assert texts(got_pushed) == pushed
    assert (to_ceql(got_residual) if got_residual else None) == residual


def test_split_nothing_to_split() -> None:
    assert split(None, anything) == ([], None)


def test_or_and_not_go_whole_when_accepted() -> None:
    predicate = parse_where("(a = 1 or b = 2) and not (c = 3)")
    assert split(predicate, anything) == (conjuncts(predicate), None)
    assert split(predicate, nothing) == ([], predicate)


def test_can_push_sees_whole_subtrees_only() -> None:
    seen: list[str] = []

    def record(predicate: Predicate) -> bool:
        seen.append(to_ceql(predicate))
        return False

    split(parse_where("a = 1 and (b = 2 or c = 3) and not (d = 4)"), record)
    assert seen == ["a = 1", "b = 2 or c = 3", "not (d = 4)"]


RECORDS: list[dict[str, Any]] = [
    {"a": a, "b": b, "c": c} for a in (1, 2, None) for b in (1, 2, None) for c in ("x", "y")
]


@pytest.mark.parametrize(
    "condition",
    [
        "a = 1 and b > 1",
        "a = 1 and (b = 2 or c = 'x')",
        "a = 1 and b = 2 and c like 'x%'",
        "not (a = 1) and b = 1",
        "a = 1 or b = 1",
    ],
)
def test_pushed_and_residual_together_mean_the_predicate(condition: str) -> None:
    predicate = parse_where(condition)
    pushed, residual = split(predicate, equality_only)
    for record in RECORDS:
        vendor_keeps = all(matches(part, record) for part in pushed)
        local_keeps = residual is None or matches(residual, record)
        assert (vendor_keeps and local_keeps) == matches(predicate, record), record
