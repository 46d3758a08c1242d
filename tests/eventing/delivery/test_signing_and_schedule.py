"""Units: Standard Webhooks signatures, the retry schedule with jitter, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from interlink.eventing.delivery.schedule import (
    RETRY_AFTER_CAP_SECONDS,
    parse_retry_after,
    retry_delay,
)
from interlink.eventing.delivery.signing import Signer, new_signing_secret

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_signer_headers_verify_with_every_secret_in_force() -> None:
    new, old = new_signing_secret(), new_signing_secret()
    body = b'[{"id":"evt_1"}]'
    now = datetime.now(UTC)
    headers = Signer.of([new, old]).headers("msg_1", body, now)

    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert [part.split(",")[0] for part in headers["webhook-signature"].split(" ")] == ["v1", "v1"]
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_signing_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(b'[{"id":"evt_2"}]', headers)


def test_new_secrets_are_standard_webhooks_secrets() -> None:
    secret = new_signing_secret()
    assert secret.startswith("whsec_")
    assert secret != new_signing_secret()
    Webhook(secret)  # decodes


def test_retry_delays_follow_the_schedule_with_twenty_percent_jitter() -> None:
    rng = random.Random(7)
    delays = [5.0, 300.0]
    for _ in range(200):
        first = retry_delay(delays, 1, rng=rng)
        second = retry_delay(delays, 2, rng=rng)
        assert first is not None
        assert 4.0 <= first <= 6.0
        assert second is not None
        assert 240.0 <= second <= 360.0
    assert retry_delay(delays, 3) is None  # the schedule is over: dead
    assert retry_delay([], 1) is None


def test_retry_after_lengthens_the_wait_up_to_an_hour() -> None:
    assert retry_delay([0.01], 1, retry_after=30) == 30
    assert retry_delay([0.01], 1, retry_after=10**6) == RETRY_AFTER_CAP_SECONDS
    waited = retry_delay([100.0], 1, retry_after=0)
    assert waited is not None
    assert waited >= 80


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header, NOW) == seconds
