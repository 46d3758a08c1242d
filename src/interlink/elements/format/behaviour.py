"""How a vendor behaves: rate limits, retryable statuses, error bodies, polling overlap."""

from __future__ import annotations

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


class RetryPolicy(Strict):
    statuses: list[int] = Field(default_factory=lambda: [408, 425, 429, 500, 502, 503, 504])
    max_attempts: int = Field(default=5, ge=1, le=20)
    base_delay_seconds: float = Field(default=0.5, ge=0)
    max_delay_seconds: float = Field(default=30.0, ge=0)
    max_retry_after_seconds: float = Field(default=3600.0, ge=0)


class ErrorMapping(Strict):
    message_paths: list[str] = Field(default_factory=lambda: ["message", "error.message", "error"])
    auth_statuses: list[int] = Field(default_factory=lambda: [401, 403])
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
