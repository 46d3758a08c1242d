"""Rate-limit answers an element describes (statuses, remaining and reset headers), static
headers, not-found statuses, changed-since parameters and objects the vendor cannot delete."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from interlink.elements.definition import ElementDefinition
from interlink.errors import InvalidInput
from interlink.vendor import (
    RateLimiterRegistry,
    RecordNotFound,
    RecordRejected,
    RetryableVendorError,
    VendorAuthError,
    VendorClient,
    classify,
)
from interlink.vendor.errors import rate_limit_wait

from .support import BASE_ELEMENT, make_element

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
GITHUB_LIKE = make_element(
    rate_limit={
        "limited_statuses": [403, 429],
        "remaining_header": "x-ratelimit-remaining",
        "reset_header": "x-ratelimit-reset",
    },
    errors={"message_paths": ["message"], "not_found_statuses": [404, 410]},
)


def answer(status: int, headers: dict[str, str] | None = None, body: Any = None) -> httpx.Response:
    request = httpx.Request("GET", "https://api.example.com/api/contacts")
    return httpx.Response(status, json=body or {"message": "no"}, headers=headers, request=request)


def limited(remaining: str, reset_in: float, status: int = 403) -> httpx.Response:
    return answer(
        status,
        {
            "x-ratelimit-remaining": remaining,
            "x-ratelimit-reset": str(int(NOW.timestamp() + reset_in)),
            "date": format_datetime(NOW, usegmt=True),
        },
    )


@pytest.mark.parametrize("status", [403, 429])
def test_remaining_zero_is_a_retryable_wait_until_the_reset(status: int) -> None:
    error = classify(limited("0", 42, status), GITHUB_LIKE, per_record=True)

    assert isinstance(error, RetryableVendorError)
    assert error.safe_to_resend
    assert error.retry_after == pytest.approx(42)


def test_retry_after_on_a_limited_status_wins_over_auth() -> None:
    error = classify(answer(403, {"retry-after": "7"}), GITHUB_LIKE, per_record=False)

    assert isinstance(error, RetryableVendorError)
    assert error.retry_after == 7


def test_a_403_with_calls_left_is_still_an_auth_error() -> None:
    assert isinstance(classify(limited("12", 42), GITHUB_LIKE, per_record=False), VendorAuthError)
    assert isinstance(classify(answer(403), GITHUB_LIKE, per_record=False), VendorAuthError)


def test_without_the_headers_declared_a_403_stays_auth() -> None:
    element = make_element(rate_limit={"limited_statuses": [403, 429]})
    assert isinstance(classify(limited("0", 42), element, per_record=False), VendorAuthError)
    default = make_element()
    assert isinstance(
        classify(answer(403, {"retry-after": "3"}), default, per_record=False), VendorAuthError
    )


def test_reset_in_the_past_or_unreadable() -> None:
    assert rate_limit_wait(limited("0", -30), GITHUB_LIKE, None) == 0
    unreadable = answer(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "soon"})
    assert rate_limit_wait(unreadable, GITHUB_LIKE, None) is None


def test_reset_as_seconds_from_now() -> None:
    element = make_element(
        rate_limit={
            "remaining_header": "x-rate-remaining",
            "reset_header": "x-rate-reset",
            "reset_format": "seconds",
        }
    )
    response = answer(429, {"x-rate-remaining": "0", "x-rate-reset": "5"})

    error = classify(response, element, per_record=False)

    assert isinstance(error, RetryableVendorError)
    assert error.retry_after == 5


def test_not_found_statuses_of_one_record() -> None:
    gone = classify(answer(410), GITHUB_LIKE, per_record=True)
    assert isinstance(gone, RecordNotFound)
    # Elsewhere, 410 is what it always was.
    assert not isinstance(classify(answer(410), make_element(), per_record=True), RecordRejected)


def test_static_headers_are_validated_and_reserved_ones_refused() -> None:
    element = make_element(headers={"X-Api-Version": "2024-01-01"})
    assert element.headers == {"X-Api-Version": "2024-01-01"}
    for name in ("Authorization", "host", "Content-Length"):
        with pytest.raises(ValidationError, match="set by Interlink"):
            make_element(headers={name: "x"})
    with pytest.raises(ValidationError, match="not declared"):
        make_element(headers={"X-Tenant": "{config.tenant}"})


def test_action_path_needs_a_type_header() -> None:
    webhooks = {
        "signature": {"scheme": "github"},
        "events": {
            "objects": {"issues": "contacts"},
            "changes": {"opened": "created"},
            "action_path": "action",
        },
    }
    with pytest.raises(ValidationError, match="type_header"):
        make_element(webhooks=webhooks)


def test_deletable_defaults_to_true() -> None:
    element = ElementDefinition.model_validate(BASE_ELEMENT)
    assert all(obj.deletable for obj in element.objects.values())


async def test_a_client_refuses_to_delete_what_the_vendor_cannot() -> None:
    element = make_element(objects={"contacts": {"path": "/api/contacts", "deletable": False}})
    async with VendorClient(
        element,
        {"base_url": "http://127.0.0.1:9", "api_key": "k"},
        transport=httpx.MockTransport(lambda request: httpx.Response(500)),
        limiters=RateLimiterRegistry(),
    ) as client:
        with pytest.raises(InvalidInput, match="cannot be deleted"):
            await client.delete("contacts", "1")
