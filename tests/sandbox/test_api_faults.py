"""Simulated vendor trouble over loopback: rate limit, random failures, latency."""

from __future__ import annotations

import random
import time

from interlink.sandbox import running_sandbox

from .helpers import client_for, make_config


async def test_rate_limit_answers_429_with_retry_after() -> None:
    async with (
        running_sandbox(make_config(rate_limit=3)) as sandbox,
        client_for(sandbox) as client,
    ):
        responses = [await client.get("/api/contacts") for _ in range(12)]
        unauthenticated = await client.get("/api/contacts", headers={"Authorization": "x"})
    statuses = [response.status_code for response in responses]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses
    limited = next(response for response in responses if response.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"] == "rate_limited"
    assert unauthenticated.status_code == 401  # refused before it could count


async def test_fail_rate_follows_the_seeded_random() -> None:
    config = make_config(fail_rate=0.5, random_seed=7)
    draws = random.Random(7)
    expected = [500 if draws.random() < 0.5 else 200 for _ in range(20)]
    async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
        responses = [await client.get("/api/contacts") for _ in range(20)]
    assert [response.status_code for response in responses] == expected
    failed = next(response for response in responses if response.status_code == 500)
    assert failed.json()["error"] == "internal_error"


async def test_fail_rate_changes_nothing() -> None:
    async with (
        running_sandbox(make_config(fail_rate=1.0)) as sandbox,
        client_for(sandbox) as client,
    ):
        response = await client.post("/api/companies", json={"name": "Never"})
    assert response.status_code == 500
    assert sandbox.store.counts()["companies"] == 0


async def test_latency_delays_every_answer() -> None:
    # A lower bound only: the delay is a sleep, so the answer cannot come sooner.
    async with (
        running_sandbox(make_config(latency_ms=150)) as sandbox,
        client_for(sandbox, key="wrong") as client,
    ):
        started = time.monotonic()
        response = await client.get("/api/contacts")
        elapsed = time.monotonic() - started
    assert response.status_code == 401
    assert elapsed >= 0.15
