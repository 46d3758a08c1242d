"""What one attempt does to its delivery and to the instance's delivery state.

Pure state changes on loaded rows; the caller stores them with the attempt in one
transaction. Statuses: `pending` (never tried, or asked to be tried now), `failed`
(tried, another attempt is scheduled), `succeeded` and `dead` (finished).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from interlink.eventing.delivery.schedule import retry_delay
from interlink.eventing.delivery.sender import AttemptResult
from interlink.settings import Settings
from interlink.storage.models import Delivery, DeliveryAttempt, Instance

UNFINISHED = ("pending", "failed")

GONE_REASON = "the callback URL answered 410 Gone"


@dataclass(frozen=True)
class DeliveryPolicy:
    """The delivery settings an attempt's outcome depends on."""

    delays: Sequence[float]
    disable_after: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            delays=tuple(settings.retry_delays),
            disable_after=timedelta(seconds=settings.delivery_disable_after_seconds),
        )


def apply_attempt(
    delivery: Delivery,
    instance: Instance,
    result: AttemptResult,
    policy: DeliveryPolicy,
    *,
    now: datetime,
    rng: random.Random | None = None,
) -> DeliveryAttempt:
    """Count the attempt, move the delivery on, and say what it means for the instance."""
    delivery.attempts += 1
    attempt = attempt_row(delivery.id, result)
    if result.succeeded:
        finish(delivery, "succeeded", now)
        instance.delivery_failing_since = None
        return attempt

    if instance.delivery_failing_since is None:
        instance.delivery_failing_since = result.attempted_at
    if result.status_code == 410:
        # The receiver says the endpoint is gone for good: stop sending anything until a
        # person re-enables delivery; then this delivery is the first to go again.
        delivery.status, delivery.next_attempt_at = "failed", now
        disable(instance, GONE_REASON)
        return attempt

    delay = retry_delay(policy.delays, delivery.attempts, retry_after=result.retry_after, rng=rng)
    if delay is None:
        finish(delivery, "dead", now)
    else:
        delivery.status, delivery.next_attempt_at = "failed", now + timedelta(seconds=delay)

    failing_for = now - instance.delivery_failing_since
    if failing_for >= policy.disable_after:
        disable(instance, f"only failures for {_duration(failing_for)}")
        if delivery.status == "failed":
            delivery.next_attempt_at = now  # goes first, at once, when re-enabled
    return attempt


def attempt_values(delivery_id: str, result: AttemptResult) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "attempted_at": result.attempted_at,
        "status_code": result.status_code,
        "latency_ms": result.latency_ms,
        "error": result.error,
        "response_body": result.response_body,
    }


def attempt_row(delivery_id: str, result: AttemptResult) -> DeliveryAttempt:
    return DeliveryAttempt(**attempt_values(delivery_id, result))


def finish(delivery: Delivery, status: str, now: datetime) -> None:
    delivery.status = status
    delivery.finished_at = now
    delivery.next_attempt_at = None
    if status == "succeeded":
        # Never sent again (a retry is refused, a replay makes new deliveries): the body
        # goes, and with it a copy of the events the database would keep for nothing.
        delivery.payload = None


def disable(instance: Instance, reason: str) -> None:
    instance.delivery_state = "disabled"
    instance.delivery_reason = reason


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} seconds"
