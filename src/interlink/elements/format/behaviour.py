"""How a vendor behaves: rate limits, retryable statuses, error bodies, polling overlap."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from interlink.elements.format.base import (
    Strict,
)

# --- behaviour at the vendor ------------------------------------------------------------


class RateLimit(Strict):
    requests: int = Field(default=10, ge=1)
    per_seconds: float = Field(default=1.0, gt=0)
    concurrency: int = Field(default=4, ge=1, le=256)
    limited_statuses: list[int] = Field(
        default_factory=lambda: [429],
        description=(
            "statuses that mean 'rate limited' when the answer also says how long to wait "
            "(a Retry-After, or remaining_header at 0 with reset_header): such an answer is "
            "retried after that wait, even where the status is also an auth status (GitHub "
            "answers its limits with 403 or 429)"
        ),
    )
    remaining_header: str | None = Field(
        default=None, description="the header counting the calls left (x-ratelimit-remaining)"
    )
    reset_header: str | None = Field(
        default=None,
        description="the header saying when the calls left are refilled (x-ratelimit-reset)",
    )
    reset_format: Literal["unix", "seconds"] = Field(
        default="unix",
        description="reset_header as a unix time (GitHub) or as seconds from now",
    )
    bucket_header: str | None = Field(
        default=None,
        description=(
            "the header saying how full the vendor's leaky bucket is, as `used/size` "
            "(Shopify's X-Shopify-Shop-Api-Call-Limit: 32/40): when an answer's bucket has "
            "fewer than bucket_headroom calls free, every caller sharing the budget pauses "
            "until it has leaked back to that; a malformed value is ignored"
        ),
    )
    leak_per_second: float | None = Field(
        default=None,
        gt=0,
        description="how many calls the bucket_header's bucket leaks a second "
        "(default: requests / per_seconds)",
    )
    bucket_headroom: int = Field(
        default=4,
        ge=0,
        description="calls kept free in the bucket_header's bucket; at least concurrency, "
        "as that many calls may be on their way when the pause starts",
    )


class RetryPolicy(Strict):
    statuses: list[int] = Field(default_factory=lambda: [408, 425, 429, 500, 502, 503, 504])
    max_attempts: int = Field(default=5, ge=1, le=20)
    base_delay_seconds: float = Field(default=0.5, ge=0)
    max_delay_seconds: float = Field(default=30.0, ge=0)
    max_retry_after_seconds: float = Field(default=3600.0, ge=0)


class ErrorMapping(Strict):
    message_paths: list[str] = Field(default_factory=lambda: ["message", "error.message", "error"])
    auth_statuses: list[int] = Field(default_factory=lambda: [401, 403])
    not_found_statuses: list[int] = Field(
        default_factory=lambda: [404],
        description="statuses of a one-record call that mean the record does not exist "
        "(GitHub answers 410 for a deleted issue)",
    )
    record_statuses: list[int] = Field(
        default_factory=lambda: [400, 404, 409, 422], description="a rejection of one record"
    )
    duplicate_id_paths: list[str] = Field(
        default_factory=list,
        description=(
            "where a create refused as a duplicate names the record that already exists "
            "(e.g. existing_id): a bulk upload resuming after a crash counts such a row as "
            "created by its first attempt instead of failing it"
        ),
    )


class Polling(Strict):
    overlap_seconds: float = Field(default=60.0, ge=0)
    full_scan_interval_seconds: int = Field(default=3600, ge=60)
