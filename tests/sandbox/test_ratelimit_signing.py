"""The token bucket behind --rate-limit, and the webhook signature."""

from __future__ import annotations

from interlink.sandbox.ratelimit import TokenBucket
from interlink.sandbox.signing import sign, verify

from .helpers import FakeTime


def test_bucket_allows_the_rate_then_says_how_long_to_wait() -> None:
    time = FakeTime()
    bucket = TokenBucket(3, now=time)
    assert [bucket.take() for _ in range(4)] == [None, None, None, 1]
    time.advance(0.34)  # a third of a second brings back one token
    assert bucket.take() is None
    assert bucket.take() == 1


def test_slow_rate_waits_whole_seconds() -> None:
    time = FakeTime()
    bucket = TokenBucket(0.25, now=time)
    assert bucket.take() is None
    assert bucket.take() == 4


def test_signature_verifies_and_rejects_tampering() -> None:
    body = b'{"id":"evt_1"}'
    header = sign("s3cret", body, 1_714_564_800)
    assert header.startswith("t=1714564800,v1=")
    assert verify("s3cret", body, header, now=1_714_564_810)
    assert not verify("other", body, header, now=1_714_564_810)
    assert not verify("s3cret", body + b" ", header, now=1_714_564_810)
    assert not verify("s3cret", body, header, now=1_714_564_800 + 3600)  # stale
    assert not verify("s3cret", body, "garbage", now=1_714_564_800)
    assert not verify("s3cret", body, None)
