"""Fields are checked against an object's declared schema."""

from __future__ import annotations

import pytest

from interlink.ceql import CEQLError, check_fields, parse_query, parse_where

KNOWN = ["email", "first_name", "address", "updated_at", "billing.city"]


@pytest.mark.parametrize(
    "text",
    [
        "select * from contacts",
        "select id, email from contacts",
        "select address.city from contacts where address.geo.lat > 1",
        "select `billing.city` from contacts order by updated_at desc",
        "select * from contacts where id = 'c1' and first_name like 'A%'",
    ],
)
def test_known_fields_pass(text: str) -> None:
    check_fields(parse_query(text), KNOWN)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "select emial from contacts",
            "unknown field 'emial' of contacts; did you mean 'email'?",
        ),
        (
            "select email from contacts where firstname = 'Ada'",
            "unknown field 'firstname' of contacts; did you mean 'first_name'?",
        ),
        (
            "select * from contacts order by zzz",
            "unknown field 'zzz' of contacts",
        ),
        (
            "select * from contacts where billing.zip = '1'",
            "unknown field 'billing.zip' of contacts; did you mean 'billing.city'?",
        ),
    ],
)
def test_unknown_field_in_query(text: str, message: str) -> None:
    with pytest.raises(CEQLError) as caught:
        check_fields(parse_query(text), KNOWN)
    assert str(caught.value) == message
    assert caught.value.field == "q"


def test_unknown_field_in_condition_names_the_first() -> None:
    with pytest.raises(CEQLError) as caught:
        check_fields(parse_where("email = 'x' and (nope = 1 or never = 2)"), KNOWN)
    assert str(caught.value) == "unknown field 'nope'"
    assert caught.value.fragment == "nope"
    assert caught.value.field == "where"
