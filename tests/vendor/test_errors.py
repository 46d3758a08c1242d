"""The one mapping from vendor answers to errors, on hand-made responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from interlink.errors import InterlinkError
from interlink.vendor import (
    FatalVendorError,
    RecordNotFound,
    RecordRejected,
    RetryableVendorError,
    VendorAuthError,
    VendorError,
    classify,
)
from interlink.vendor.errors import MAX_MESSAGE_CHARS

from .support import make_element

ELEMENT = make_element()


def answer(
    status: int, body: Any = None, *, text: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("POST", "https://api.example.com/api/contacts?api_key=secret")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "per_record", "kind"),
    [
        (401, False, VendorAuthError),
        (403, True, VendorAuthError),
        (404, True, RecordNotFound),
        (404, False, FatalVendorError),
        (409, True, RecordRejected),
        (422, True, RecordRejected),
        (422, False, FatalVendorError),
        (418, True, FatalVendorError),
        (429, False, RetryableVendorError),
        (500, True, RetryableVendorError),
        (502, False, RetryableVendorError),
        (501, False, FatalVendorError),
        (302, False, FatalVendorError),
    ],
)
def test_statuses_map_to_their_kind(status: int, per_record: bool, kind: type[VendorError]) -> None:
    error = classify(answer(status, {"message": "no"}), ELEMENT, per_record=per_record)
    assert type(error) is kind
    assert isinstance(error, InterlinkError)
    assert error.status == status


def test_success_is_no_error() -> None:
    assert classify(answer(200, {}), ELEMENT, per_record=True) is None
    assert classify(answer(204), ELEMENT, per_record=False) is None


def test_the_elements_mapping_is_followed() -> None:
    element = make_element(
        errors={"auth_statuses": [401], "record_statuses": [400]}, retry={"statuses": [409]}
    )
    assert type(classify(answer(403), element, per_record=False)) is FatalVendorError
    assert type(classify(answer(400), element, per_record=True)) is RecordRejected
    assert type(classify(answer(409), element, per_record=False)) is RetryableVendorError


def test_the_vendor_message_comes_from_the_first_matching_path() -> None:
    nested = classify(answer(400, {"error": {"message": "bad field"}}), ELEMENT, per_record=False)
    assert nested is not None
    assert nested.vendor_message == "bad field"
    assert str(nested) == "acme: POST /api/contacts answered 400: bad field"


def test_messages_per_field_read_as_one_text() -> None:
    element = make_element(errors={"message_paths": ["message", "errors"]})

    def message(body: Any) -> str | None:
        error = classify(answer(422, body), element, per_record=True)
        assert error is not None
        return error.vendor_message

    # Rails-style (Shopify's 422): field → messages; "base" concerns the whole record.
    assert message({"errors": {"email": ["is invalid", "is too short"], "base": ["no name"]}}) == (
        "email is invalid; email is too short; no name"
    )
    assert message({"errors": {"title": "can't be blank"}}) == "title can't be blank"
    assert message({"errors": ["first", "second"]}) == "first; second"
    # A text at any path still comes first, whatever the order of the paths.
    assert message({"errors": {"email": ["is invalid"]}, "message": "refused"}) == "refused"
    # Other shapes are not guessed at: the body's text is the message, as before.
    assert message({"errors": {"code": 5}}) == '{"errors":{"code":5}}'


def test_without_a_json_message_the_text_is_truncated() -> None:
    error = classify(answer(500, text="<html>" + "x" * 1000), ELEMENT, per_record=False)
    assert error is not None
    assert len(error.vendor_message or "") == MAX_MESSAGE_CHARS
    assert error.body is None


def test_the_query_string_never_reaches_the_message() -> None:
    error = classify(answer(500, {}), ELEMENT, per_record=False)
    assert "secret" not in str(error)


def test_only_answers_where_the_vendor_did_not_act_are_safe_to_resend() -> None:
    def safe(status: int, headers: dict[str, str] | None = None) -> bool:
        error = classify(answer(status, headers=headers), ELEMENT, per_record=False)
        assert isinstance(error, RetryableVendorError)
        return error.safe_to_resend

    assert safe(429)
    assert safe(503, {"Retry-After": "5"})
    assert not safe(503)
    assert not safe(500, {"Retry-After": "5"})
    assert not safe(504)


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    dated = {"Retry-After": later, "Date": format_datetime(now, usegmt=True)}

    def retry_after(headers: dict[str, str]) -> float | None:
        error = classify(answer(429, headers=headers), ELEMENT, per_record=False)
        assert error is not None
        return error.retry_after

    assert retry_after({"Retry-After": "7"}) == 7
    assert retry_after(dated) == 90
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


def test_redact_scrubs_every_text_an_error_carries() -> None:
    error = RecordRejected(
        "acme: POST /x/sk_1234 answered 409",
        status=409,
        vendor_message="key sk_1234 taken",
        body={"items": [{"echo": "sk_1234"}], "n": 1},
    )
    error.redact(lambda text: text.replace("sk_1234", "[redacted]"))
    assert "sk_1234" not in str(error) + repr(error) + repr(error.body)
    assert error.body == {"items": [{"echo": "[redacted]"}], "n": 1}
