"""Valid CEQL parses into the expected tree."""

from __future__ import annotations

import pytest

from interlink.ceql import (
    And,
    Comparison,
    In,
    IsNull,
    Like,
    Not,
    Or,
    OrderBy,
    Predicate,
    Query,
    parse_query,
    parse_where,
)


def eq(field: str, value: str | int | float | bool) -> Comparison:
    return Comparison(field, "=", value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("select * from contacts", Query("contacts"), id="star"),
        pytest.param(
            "select id, email from contacts",
            Query("contacts", fields=("id", "email")),
            id="fields",
        ),
        pytest.param(
            "SELECT Email FROM Contacts WHERE Email = 'x' ORDER BY Email DESC LIMIT 5",
            Query(
                "Contacts",
                fields=("Email",),
                where=eq("Email", "x"),
                order_by=(OrderBy("Email", descending=True),),
                limit=5,
            ),
            id="keywords-any-case-names-kept",
        ),
        pytest.param(
            "sElEcT * fRoM contacts wHeRe a Is NoT nUlL",
            Query("contacts", where=IsNull("a", negated=True)),
            id="mixed-case-keywords",
        ),
        pytest.param(
            "select address.city, `address.zip`, `first name` from contacts",
            Query("contacts", fields=("address.city", "address.zip", "first name")),
            id="dotted-and-backquoted-select",
        ),
        pytest.param(
            "select email, email from contacts",
            Query("contacts", fields=("email",)),
            id="repeated-field-once",
        ),
        pytest.param(
            "select * from contacts order by last_name, created_at desc, id asc",
            Query(
                "contacts",
                order_by=(
                    OrderBy("last_name"),
                    OrderBy("created_at", descending=True),
                    OrderBy("id"),
                ),
            ),
            id="order-by",
        ),
        pytest.param(
            "select * from contacts order by x desc nulls last",
            Query("contacts", order_by=(OrderBy("x", descending=True),)),
            id="nulls-last-is-what-we-do",
        ),
        pytest.param("select * from contacts limit 0", Query("contacts", limit=0), id="limit-0"),
        pytest.param(
            "select * from contacts limit 100000",
            Query("contacts", limit=100000),
            id="limit-large",
        ),
        pytest.param(
            "select id, email from contacts where updated_at >= '2024-01-01T00:00:00Z' limit 1000",
            Query(
                "contacts",
                fields=("id", "email"),
                where=Comparison("updated_at", ">=", "2024-01-01T00:00:00Z"),
                limit=1000,
            ),
            id="spec-example",
        ),
        pytest.param("select * from `my objects`", Query("my objects"), id="backquoted-object"),
        pytest.param("select * from crm.contacts", Query("crm.contacts"), id="dotted-object"),
        pytest.param("select * from contacts;", Query("contacts"), id="one-trailing-semicolon"),
        pytest.param(
            "  select *\n  from contacts\n  where a = 1\n",
            Query("contacts", where=eq("a", 1)),
            id="multi-line",
        ),
        pytest.param(
            "select * from contacts -- all of them\n where a = 1 /* one */",
            Query("contacts", where=eq("a", 1)),
            id="comments",
        ),
    ],
)
def test_queries(text: str, expected: Query) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # operators
        ("a = 1", eq("a", 1)),
        ("a != 1", Comparison("a", "!=", 1)),
        ("a <> 1", Comparison("a", "!=", 1)),
        ("a < 1", Comparison("a", "<", 1)),
        ("a > 1", Comparison("a", ">", 1)),
        ("a <= 1", Comparison("a", "<=", 1)),
        ("a >= 1", Comparison("a", ">=", 1)),
        ("1 < a", Comparison("a", ">", 1)),
        ("'x' = a", eq("a", "x")),
        ("10 >= a", Comparison("a", "<=", 10)),
        ("a like 'x%'", Like("a", "x%")),
        ("a LIKE '_b\\%'", Like("a", "_b\\%")),
        ("a not like 'x%'", Not(Like("a", "x%"))),
        ("a in (1, 2, 3)", In("a", (1, 2, 3))),
        ("a in ('x')", In("a", ("x",))),
        ("a IN ('x', 2, true, -1.5)", In("a", ("x", 2, True, -1.5))),
        ("a not in (1, 2)", Not(In("a", (1, 2)))),
        ("a is null", IsNull("a")),
        ("a is not null", IsNull("a", negated=True)),
        ("not a is null", IsNull("a", negated=True)),
        ("not (a is null)", Not(IsNull("a"))),
        ("not a = 1", Not(eq("a", 1))),
        ("not (a = 1)", Not(eq("a", 1))),
        ("not not a = 1", Not(Not(eq("a", 1)))),
        # literals
        ("a = 'it''s'", eq("a", "it's")),
        ("a = ''", eq("a", "")),
        ("a = 'line\\nbreak'", eq("a", "line\nbreak")),
        ("a = 'back\\\\slash'", eq("a", "back\\slash")),
        ("a = 'ünïcödé ✓'", eq("a", "ünïcödé ✓")),
        ("a = 42", eq("a", 42)),
        ("a = -42", eq("a", -42)),
        ("a = 1.5", eq("a", 1.5)),
        ("a = -0.25", eq("a", -0.25)),
        ("a = 1e3", eq("a", 1000.0)),
        ("a = 12345678901234567890", eq("a", 12345678901234567890)),
        ("a = true", eq("a", True)),
        ("a = FALSE", eq("a", False)),
        # field names
        ("address.city = 'Paris'", eq("address.city", "Paris")),
        ("`address.city` = 'Paris'", eq("address.city", "Paris")),
        ("`address`.`city` = 'Paris'", eq("address.city", "Paris")),
        ("a.b.c.d.e = 1", eq("a.b.c.d.e", 1)),
        ("`first name` = 'Ada'", eq("first name", "Ada")),
        ("`key` = 1", eq("key", 1)),
        ("`we``ird` = 1", eq("we`ird", 1)),
        ("status = 'open' and type = 'lead'", And((eq("status", "open"), eq("type", "lead")))),
        # connectives, precedence and parentheses
        ("a = 1 and b = 2 and c = 3", And((eq("a", 1), eq("b", 2), eq("c", 3)))),
        ("a = 1 or b = 2 or c = 3", Or((eq("a", 1), eq("b", 2), eq("c", 3)))),
        (
            "a = 1 or b = 2 and c = 3",
            Or((eq("a", 1), And((eq("b", 2), eq("c", 3))))),
        ),
        (
            "a = 1 and b = 2 or c = 3",
            Or((And((eq("a", 1), eq("b", 2))), eq("c", 3))),
        ),
        (
            "(a = 1 or b = 2) and c = 3",
            And((Or((eq("a", 1), eq("b", 2))), eq("c", 3))),
        ),
        (
            "a = 1 and (b = 2 and c = 3)",
            And((eq("a", 1), And((eq("b", 2), eq("c", 3))))),
        ),
        ("((a = 1))", eq("a", 1)),
        (
            "((a = 1 or (b = 2 and (c = 3 or d is null))))",
            Or((eq("a", 1), And((eq("b", 2), Or((eq("c", 3), IsNull("d"))))))),
        ),
        (
            "not (a = 1 or b = 2) and c in (1)",
            And((Not(Or((eq("a", 1), eq("b", 2)))), In("c", (1,)))),
        ),
    ],
)
def test_conditions(text: str, expected: Predicate) -> None:
    parsed = parse_where(text)
    assert parsed == expected
    # dataclass equality says 1 == 1.0 == True; the kinds matter for evaluation.
    assert repr(parsed) == repr(expected)
    assert parse_query(f"select * from contacts where {text}").where == expected


def test_where_and_query_agree_on_the_spec_example() -> None:
    query = parse_query("select * from contacts where email like '%@example.com' limit 10")
    assert query.where == parse_where("email like '%@example.com'")
