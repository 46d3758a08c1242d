"""Vendor errors, classified where they enter: retryable, fatal, auth, or one record's."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from interlink.elements.definition import ElementDefinition
from interlink.errors import InterlinkError
from interlink.vendor.paths import lookup
from interlink.vendor.redaction import scrub_json

MAX_MESSAGE_CHARS = 300


class VendorError(InterlinkError):
    """A vendor call that did not succeed.

    `vendor_message` is the vendor's own words (from the element's `message_paths`, else
    the start of the body); `body` the decoded JSON answer, when there was one;
    `retry_after` the seconds the vendor asked us to wait.
    """

    def __init__(
        self,
        summary: str,
        *,
        status: int | None = None,
        vendor_message: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.summary = summary
        self.status = status
        self.vendor_message = vendor_message
        self.body = body
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        return f"{self.summary}: {self.vendor_message}" if self.vendor_message else self.summary

    def __str__(self) -> str:
        return self._describe()

    def redact(self, scrub: Callable[[str], str]) -> None:
        """Pass every text the error carries through `scrub` (vendors echo credentials)."""
        self.summary = scrub(self.summary)
        if self.vendor_message is not None:
            self.vendor_message = scrub(self.vendor_message)
        self.body = scrub_json(self.body, scrub)
        self.args = (self._describe(),)


class RetryableVendorError(VendorError):
    """Worth trying again later: 429, the element's retry statuses, timeouts, lost connections.

    `safe_to_resend` is true only when the vendor certainly did not act on the request
    (429, 503 with Retry-After, no connection): the only case where a POST may go again.
    """

    def __init__(self, summary: str, *, safe_to_resend: bool = False, **details: Any) -> None:
        super().__init__(summary, **details)
        self.safe_to_resend = safe_to_resend


class FatalVendorError(VendorError):
    """Trying again will not help: other 4xx and 5xx answers, answers we cannot read."""


class VendorAuthError(FatalVendorError):
    """The vendor refused the credentials; the instance's auth state becomes failed."""


class PaginationError(FatalVendorError):
    """The vendor's paging went wrong: a loop, or a next page on another origin."""


class RecordRejected(VendorError):
    """The vendor refused one record (a write, or a single-record read); `body` says why."""


class RecordNotFound(RecordRejected):
    """The single record asked for does not exist at the vendor."""


def classify(
    response: httpx.Response, element: ElementDefinition, *, per_record: bool
) -> VendorError | None:
    """The one mapping from a vendor's answer to an error, or `None` for a success.

    `per_record` says the call concerned one record (a write, or a get): then the
    element's record statuses reject that record instead of failing the whole job.
    The response must have been read.
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    mapping = element.errors
    body = json_body(response)
    details: dict[str, Any] = {
        "status": status,
        "vendor_message": vendor_message(response, mapping.message_paths, body),
        "body": body,
        "retry_after": retry_after_seconds(response),
    }
    summary = (
        f"{element.key}: {response.request.method} {response.request.url.path} answered {status}"
    )
    if 300 <= status < 400:
        # Redirects are not followed: the credentials would go along to wherever they point.
        return FatalVendorError(f"{summary} (a redirect, not followed)", **details)
    if status in element.rate_limit.limited_statuses:
        wait = rate_limit_wait(response, element, details["retry_after"])
        if wait is not None:
            # Checked before auth: GitHub answers its rate limits with 403 as well.
            details["retry_after"] = wait
            return RetryableVendorError(summary, safe_to_resend=True, **details)
    if status in mapping.auth_statuses:
        return VendorAuthError(summary, **details)
    if per_record and status in mapping.not_found_statuses:
        return RecordNotFound(summary, **details)
    if per_record and status in mapping.record_statuses:
        return RecordRejected(summary, **details)
    if status == 429 or status in element.retry.statuses:
        told_to_wait = details["retry_after"] is not None
        safe = status == 429 or (status == 503 and told_to_wait)
        return RetryableVendorError(summary, safe_to_resend=safe, **details)
    return FatalVendorError(summary, **details)


def rate_limit_wait(
    response: httpx.Response, element: ElementDefinition, retry_after: float | None
) -> float | None:
    """Seconds to wait when the answer says the vendor's rate limit was hit, else `None`:
    its `Retry-After`, or, with the element's `remaining_header` at 0, the time until its
    `reset_header` (measured against the answer's Date header, as clocks disagree)."""
    if retry_after is not None:
        return retry_after
    limits = element.rate_limit
    if limits.remaining_header is None:
        return None
    remaining = response.headers.get(limits.remaining_header, "").strip()
    if remaining != "0":
        return None
    reset = response.headers.get(limits.reset_header, "") if limits.reset_header else ""
    try:
        value = float(reset.strip())
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    if limits.reset_format == "seconds":
        return max(value, 0.0)
    now = datetime.now(UTC)
    date_header = response.headers.get("date")
    if date_header:
        with contextlib.suppress(TypeError, ValueError):
            now = parsedate_to_datetime(date_header)
    return max(value - now.timestamp(), 0.0)


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON answer, or `None` when it is empty or not JSON."""
    if not response.content:
        return None
    try:
        return decode_json(response.content)
    except ValueError:
        return None


def decode_json(data: bytes) -> Any:
    """JSON from a vendor, or ValueError. orjson is several times faster on the pages and
    export lines read by the million; the standard module takes what orjson refuses
    (NaN, integers past 64 bits), so a record decodes the same whichever way it came."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def vendor_message(
    response: httpx.Response, message_paths: list[str], body: Any = None
) -> str | None:
    """The vendor's explanation: the first text at a message path, else the start of the body."""
    body = json_body(response) if body is None else body
    for path in message_paths:
        found = lookup(body, path)
        if isinstance(found, str) and found.strip():
            return _truncate(found)
    # No text at any path: messages per field (`{"errors": {"email": ["is invalid"]}}`,
    # as Rails-style APIs such as Shopify's answer a 422) or a list of texts.
    for path in message_paths:
        rendered = _field_messages(lookup(body, path))
        if rendered:
            return _truncate(rendered)
    text = response.text.strip() if response.content else ""
    return _truncate(text) if text else (response.reason_phrase or None)


def _field_messages(found: Any) -> str | None:
    """`email is invalid; phone has already been taken` from `{field: text | [texts]}`, or
    the texts of a list joined; `None` for any other shape (its body text is shown then)."""

    def texts(value: Any) -> list[str] | None:
        if isinstance(value, str):
            return [value] if value.strip() else []
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return [item for item in value if item.strip()]
        return None

    if isinstance(found, list):
        listed = texts(found)
        return "; ".join(listed) if listed else None
    if not isinstance(found, dict) or not found:
        return None
    parts: list[str] = []
    for field, value in found.items():
        messages = texts(value)
        if messages is None:
            return None
        # Rails' "base" errors concern the whole record: no field name before them.
        parts += [message if field == "base" else f"{field} {message}" for message in messages]
    return "; ".join(parts) or None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (delta or HTTP date); `None` when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until_date(value, response.headers.get("date"))
    return None if math.isnan(seconds) else max(seconds, 0.0)


def _seconds_until_date(value: str, date_header: str | None) -> float | None:
    try:
        target = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # Measured against the vendor's own Date header where it sent one: clocks disagree.
    now = datetime.now(UTC)
    if date_header:
        with contextlib.suppress(TypeError, ValueError):
            now = parsedate_to_datetime(date_header)
    if target.tzinfo is None or now.tzinfo is None:
        return None
    return max((target - now).total_seconds(), 0.0)


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
