"""Refused CEQL says where (line, column, fragment) and why."""

from __future__ import annotations

import pytest

from interlink.ceql import CEQLError, parse_query, parse_where
from interlink.errors import InvalidInput

Q = "select * from contacts where "  # conditions below start at column 30


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        # syntax errors, placed from sqlglot's ParseError
        (
            "select * from contacts wher x = 1",
            "CEQL syntax error at line 1, column 24 near 'wher x': unexpected token",
            (1, 24),
        ),
        (
            "select * from contacts orderby x",
            "CEQL syntax error at line 1, column 24 near 'orderby x': unexpected token",
            (1, 24),
        ),
        (
            Q + "a = 1 )",
            "CEQL syntax error at line 1, column 36 near ')': unexpected token",
            (1, 36),
        ),
        (
            "select * from contacts limit 10 foo",
            "CEQL syntax error at line 1, column 33 near 'foo': unexpected token",
            (1, 33),
        ),
        (
            Q + "(a = 1",
            "CEQL syntax error at line 1, column 35 near '1': expected )",
            (1, 35),
        ),
        (
            "select * from contacts where",
            "CEQL syntax error at line 1, column 24 near 'where': incomplete WHERE",
            (1, 24),
        ),
        (
            "select *\nfrom contacts\nwhere a = 1\n  and b = = 2",
            "CEQL syntax error at line 4, column 11 near '=': incomplete expression",
            (4, 11),
        ),
        (
            "select key from contacts",
            "CEQL syntax error at line 1, column 8 near 'key': unexpected token"
            " (if key is a field, back-quote it: `key`)",
            (1, 8),
        ),
        (
            Q + "a = 'it is not closed",
            "CEQL syntax error at line 1, column 34 near ''it is not closed':"
            " unterminated string (missing ')",
            (1, 34),
        ),
        (
            Q + "`first name = 'x'",
            "CEQL syntax error at line 1, column 30 near '`first name = 'x'':"
            " unterminated back-quoted name (missing `)",
            (1, 30),
        ),
        # statements
        ("", "empty CEQL query", None),
        ("  \n ", "empty CEQL query", None),
        ("-- just a comment", "empty CEQL query", None),
        (
            Q + "a = 1; select * from companies",
            "CEQL takes a single statement at line 1, column 37 near 'select * from companies'",
            (1, 37),
        ),
        (
            "delete from contacts",
            "a CEQL query starts with select at line 1, column 1 near 'delete'",
            (1, 1),
        ),
        (
            "select * from a union select * from b",
            "unsupported in CEQL: UNION at line 1, column 17 near 'union'",
            (1, 17),
        ),
        (
            "with t as (select 1) select * from t",
            "unsupported in CEQL: WITH at line 1, column 1 near 'with t as (select 1)'",
            (1, 1),
        ),
        # from
        ("select * where a = 1", "a CEQL query needs from OBJECT", None),
        (
            "select * from a join b on a.id = b.a_id",
            "unsupported in CEQL: JOIN at line 1, column 17 near 'join b on a.id = b.a_id'",
            (1, 17),
        ),
        (
            "select * from a\n  left outer join b on a.id = b.a_id",
            "unsupported in CEQL: JOIN at line 2, column 3"
            " near 'left outer join b on a.id = b.a_id'",
            (2, 3),
        ),
        (
            "select * from contacts, companies",
            "unsupported in CEQL: more than one object in FROM at line 1, column 25"
            " near 'companies'",
            (1, 25),
        ),
        (
            "select * from (select * from contacts)",
            "unsupported in CEQL: subquery in FROM at line 1, column 16"
            " near 'select * from contacts'",
            (1, 16),
        ),
        (
            "select * from contacts c",
            "unsupported in CEQL: aliases at line 1, column 15 near 'contacts c'",
            (1, 15),
        ),
        # select list
        (
            "select from contacts",
            "a CEQL query selects * or fields at line 1, column 1 near 'select'",
            (1, 1),
        ),
        (
            "select *, email from contacts",
            "select either * or fields, not both at line 1, column 8 near '*'",
            (1, 8),
        ),
        (
            "select distinct email from contacts",
            "unsupported in CEQL: DISTINCT at line 1, column 8 near 'distinct'",
            (1, 8),
        ),
        (
            "select count(*) from contacts",
            "unsupported in CEQL: function count() in the select list at line 1, column 8"
            " near 'count(*)'",
            (1, 8),
        ),
        (
            "select id, score * 2 from contacts",
            "unsupported in CEQL: arithmetic in the select list at line 1, column 12"
            " near 'score * 2'",
            (1, 12),
        ),
        (
            "select email as e from contacts",
            "unsupported in CEQL: aliases in the select list at line 1, column 8 near 'email as e'",
            (1, 8),
        ),
        (
            "select 1 from contacts",
            "CEQL selects fields, not values at line 1, column 8 near '1'",
            (1, 8),
        ),
        # other clauses
        (
            "select email from contacts group by email",
            "unsupported in CEQL: GROUP BY at line 1, column 28 near 'group by email'",
            (1, 28),
        ),
        (
            "select email from contacts having email = 'x'",
            "unsupported in CEQL: HAVING at line 1, column 28 near 'having email = 'x''",
            (1, 28),
        ),
        (
            "select * from contacts limit 10 offset 20",
            "unsupported in CEQL: OFFSET at line 1, column 33 near 'offset 20'",
            (1, 33),
        ),
        (
            "select * from contacts order by 1",
            "ORDER BY takes field names at line 1, column 24 near 'order by 1'",
            (1, 24),
        ),
        (
            "select * from contacts order by lower(email)",
            "ORDER BY takes field names at line 1, column 24 near 'order by lower(email)'",
            (1, 24),
        ),
        (
            "select * from contacts order by x nulls first",
            "unsupported in CEQL: NULLS FIRST (missing values sort last) at line 1, column 35"
            " near 'nulls first'",
            (1, 35),
        ),
        # limit
        (
            "select * from contacts limit -1",
            "LIMIT takes a whole number, 0 or more at line 1, column 24 near 'limit -1'",
            (1, 24),
        ),
        (
            "select * from contacts limit 1.5",
            "LIMIT takes a whole number, 0 or more at line 1, column 24 near 'limit 1.5'",
            (1, 24),
        ),
        (
            "select * from contacts limit 1e3",
            "LIMIT takes a whole number, 0 or more at line 1, column 24 near 'limit 1e3'",
            (1, 24),
        ),
        (
            "select * from contacts limit '10'",
            "LIMIT takes a whole number, 0 or more at line 1, column 24 near 'limit '10''",
            (1, 24),
        ),
        # conditions
        (
            Q + "a = b",
            "CEQL compares a field with a value, not two fields at line 1, column 30 near 'a = b'",
            (1, 30),
        ),
        (
            Q + "a in (1, b)",
            "CEQL compares a field with a value, not two fields at line 1, column 30"
            " near 'a in (1, b)'",
            (1, 30),
        ),
        (
            Q + "lower(email) = 'x'",
            "unsupported in CEQL: function lower() at line 1, column 30 near 'lower(email)'",
            (1, 30),
        ),
        (
            Q + "a + 1 > 2",
            "unsupported in CEQL: arithmetic at line 1, column 30 near 'a + 1'",
            (1, 30),
        ),
        (
            Q + "a = b - 1",
            "unsupported in CEQL: arithmetic at line 1, column 34 near 'b - 1'",
            (1, 34),
        ),
        (
            Q + "a in (select id from companies)",
            "unsupported in CEQL: subquery at line 1, column 36 near 'select id from companies'",
            (1, 36),
        ),
        (
            Q + "a between 1 and 2",
            "unsupported in CEQL: BETWEEN at line 1, column 30 near 'a between 1 and 2'",
            (1, 30),
        ),
        (
            Q + "a like 'x!%' escape '!'",
            "unsupported in CEQL: LIKE … ESCAPE (use \\ before % or _ to match them literally)"
            " at line 1, column 30 near 'a like 'x!%' escape '!''",
            (1, 30),
        ),
        (
            Q + "a = date '2024-01-01'",
            "unsupported in CEQL: typed literals and CAST (write a timestamp as a plain string:"
            " '2024-01-01T00:00:00Z') at line 1, column 39 near ''2024-01-01''",
            (1, 39),
        ),
        (
            Q + "a = null",
            "CEQL compares with null only as 'is null' or 'is not null' at line 1, column 30"
            " near 'a = null'",
            (1, 30),
        ),
        (
            Q + "a in (1, null)",
            "CEQL compares with null only as 'is null' or 'is not null' at line 1, column 30"
            " near 'a in (1, null)'",
            (1, 30),
        ),
        (
            Q + "a is true",
            "CEQL has only IS NULL and IS NOT NULL (compare booleans with = true) at line 1,"
            " column 30 near 'a is true'",
            (1, 30),
        ),
        (
            Q + "active",
            "a field alone is not a CEQL condition; compare it (e.g. active = true) at line 1,"
            " column 30 near 'active'",
            (1, 30),
        ),
        (
            Q + "1 = 1",
            "a CEQL condition needs a field at line 1, column 30 near '1 = 1'",
            (1, 30),
        ),
        (
            Q + "a in ()",
            "IN needs at least one value at line 1, column 30 near 'a'",
            (1, 30),
        ),
        (
            Q + "a = 1 xor b = 2",
            "unsupported in CEQL: XOR at line 1, column 30 near 'a = 1 xor b = 2'",
            (1, 30),
        ),
        (
            Q + "a = 1e400",
            "number out of range: 1e400 at line 1, column 30 near 'a = 1e400'",
            (1, 30),
        ),
        (
            Q + "`` = 1",
            "empty field name at line 1, column 30 near '``'",
            (1, 30),
        ),
    ],
)
def test_refused_queries(text: str, message: str, position: tuple[int, int] | None) -> None:
    with pytest.raises(CEQLError) as caught:
        parse_query(text)
    assert str(caught.value) == message
    assert caught.value.detail == message
    assert caught.value.position == position
    assert caught.value.field == "q"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty CEQL query"),
        (
            "a = 1 order by a",
            "CEQL syntax error at line 1, column 7 near 'order by': unexpected token",
        ),
        (
            "select * from contacts",
            "CEQL syntax error at line 1, column 1 near 'select': unexpected token",
        ),
        ("a = 1; b = 2", "CEQL takes a single statement at line 1, column 8 near 'b = 2'"),
        ("a = 1 and", "CEQL syntax error at line 1, column 7 near 'and': incomplete expression"),
        (
            "a == b",
            "CEQL compares a field with a value, not two fields at line 1, column 1 near 'a == b'",
        ),
    ],
)
def test_refused_conditions(text: str, message: str) -> None:
    with pytest.raises(CEQLError) as caught:
        parse_where(text)
    assert str(caught.value) == message
    assert caught.value.field == "where"


def test_error_is_invalid_input_with_fragment() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query("select * from contacts where lower(email) = 'x'")
    assert isinstance(caught.value, CEQLError)
    assert caught.value.fragment == "lower(email)"
    assert caught.value.position == (1, 30)


def test_long_fragments_are_shortened() -> None:
    with pytest.raises(CEQLError) as caught:
        parse_where("a in (select " + ", ".join(f"f{i}" for i in range(40)) + " from x)")
    fragment = caught.value.fragment
    assert fragment is not None
    assert len(fragment) == 60
    assert fragment.endswith("…")


def test_deep_nesting_is_refused_not_crashed() -> None:
    with pytest.raises(CEQLError):
        parse_where("(" * 5000 + "a = 1" + ")" * 5000)
