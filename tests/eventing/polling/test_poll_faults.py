"""Polls that go wrong halfway: equal timestamps, changes during the poll, a process
killed mid-poll, vendors answering 429 or 5xx. Nothing is lost, nothing is emitted twice,
and the mark never jumps past a record not yet read."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
import pytest

from interlink.eventing.polling.poll import run_poll
from interlink.eventing.polling.progress import Progress
from interlink.hub import Hub
from interlink.sandbox import RunningSandbox, SandboxConfig
from interlink.storage.models import Instance
from interlink.storage.types import utcnow

from .support import (
    API_KEY,
    SimulatedCrash,
    VendorClock,
    VendorTap,
    add_element,
    changes,
    events_of,
    make_instance,
    sandbox_variant,
    sqlite_only,
    stream_of,
)

PAGED = sandbox_variant("sandbox-paged", pagination={"page_size": 2})
# Fails at the first error instead of retrying inside the client, so the poll sees it.
FRAGILE = sandbox_variant("sandbox-fragile", pagination={"page_size": 2}, retry={"max_attempts": 1})


def contact(number: int) -> dict[str, str]:
    return {"email": f"person{number}@example.com"}


async def paged_instance(hub: Hub, org_id: str, url: str, element: dict[str, object]) -> str:
    key = await add_element(hub, org_id, element)
    return await make_instance(hub, org_id, url, element=key)


async def test_equal_timestamps_across_pages_lose_and_repeat_nothing(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock
) -> None:
    vendor_clock.frozen = True  # every record written at the same millisecond
    contacts = sandbox.store.contacts
    for number in range(3):
        contacts.create(contact(number))
    instance_id = await paged_instance(poll_hub, org_id, sandbox.url, PAGED)
    await run_poll(poll_hub, instance_id, "contacts")

    created = [contacts.create(contact(number))["id"] for number in range(10, 15)]
    await run_poll(poll_hub, instance_id, "contacts")
    await run_poll(poll_hub, instance_id, "contacts")

    assert await changes(poll_hub, instance_id) == [("created", rid) for rid in created]


@sqlite_only
async def test_a_second_update_within_the_timestamp_precision_is_seen(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock
) -> None:
    vendor_clock.frozen = True
    record_id = sandbox.store.contacts.create(contact(1))["id"]
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    await run_poll(poll_hub, instance_id, "contacts")

    for title in ("first", "second"):
        sandbox.store.contacts.update(record_id, {"title": title})
        await run_poll(poll_hub, instance_id, "contacts")
    await run_poll(poll_hub, instance_id, "contacts")

    events = await events_of(poll_hub, instance_id)
    assert [(event.change, (event.record or {}).get("title")) for event in events] == [
        ("updated", "first"),
        ("updated", "second"),
    ]


@sqlite_only
async def test_a_record_updated_during_the_poll_is_not_lost(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock, tap: VendorTap
) -> None:
    contacts = sandbox.store.contacts
    ids = [contacts.create(contact(number))["id"] for number in range(6)]
    instance_id = await paged_instance(poll_hub, org_id, sandbox.url, PAGED)
    await run_poll(poll_hub, instance_id, "contacts")
    vendor_clock.advance(60)
    for record_id in ids:
        contacts.update(record_id, {"title": "v1"})
    polled = tap.lists

    async def update_first_again(number: int, request: httpx.Request) -> None:
        if number == polled + 2:  # the first page (holding ids[0]) is read and committed
            contacts.update(ids[0], {"title": "v2"})

    tap.on_list = update_first_again
    await run_poll(poll_hub, instance_id, "contacts")
    tap.on_list = None
    await run_poll(poll_hub, instance_id, "contacts")

    events = await events_of(poll_hub, instance_id)
    counts = Counter(event.record_id for event in events)
    assert all(event.change == "updated" for event in events)
    assert {record_id: counts[record_id] for record_id in ids[1:]} == dict.fromkeys(ids[1:], 1)
    latest = [event for event in events if event.record_id == ids[0]][-1]
    assert latest.record is not None
    assert latest.record["title"] == "v2"


@sqlite_only
async def test_a_record_updated_during_the_baseline_is_caught_next(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, tap: VendorTap
) -> None:
    contacts = sandbox.store.contacts
    ids = [contacts.create(contact(number))["id"] for number in range(6)]

    async def update_read_records(number: int, request: httpx.Request) -> None:
        if number == 2:  # the baseline (in id order) has read ids[0] and ids[1]
            contacts.update(ids[0], {"title": "during"})
            contacts.update(ids[5], {"title": "later, still unread"})

    tap.on_list = update_read_records
    instance_id = await paged_instance(poll_hub, org_id, sandbox.url, PAGED)
    await run_poll(poll_hub, instance_id, "contacts")
    tap.on_list = None
    await run_poll(poll_hub, instance_id, "contacts")

    assert await changes(poll_hub, instance_id) == [("updated", ids[0])]


@pytest.mark.parametrize("history", [False, True])
async def test_a_poll_killed_midway_resumes_without_gaps_or_repeats(
    poll_hub: Hub,
    org_id: str,
    sandbox: RunningSandbox,
    vendor_clock: VendorClock,
    tap: VendorTap,
    history: bool,
) -> None:
    contacts = sandbox.store.contacts
    before = [contacts.create(contact(number))["id"] for number in range(2)]
    key = await add_element(poll_hub, org_id, PAGED)
    initial = "history" if history else "baseline"
    instance_id = await make_instance(poll_hub, org_id, sandbox.url, element=key, initial=initial)
    await run_poll(poll_hub, instance_id, "contacts")
    vendor_clock.advance(60)
    created = [contacts.create(contact(number))["id"] for number in range(10, 17)]
    polled = tap.lists

    async def crash_on_the_third_page(number: int, request: httpx.Request) -> None:
        # Page 1 re-reads the overlap window (the two known records), page 2 brings the
        # first two new ones and is committed; then the process dies.
        if number == polled + 3:
            raise SimulatedCrash

    tap.on_list = crash_on_the_third_page
    with pytest.raises(SimulatedCrash):
        await run_poll(poll_hub, instance_id, "contacts")

    committed = [("created", rid) for rid in created[:2]]
    expected_before = [("created", rid) for rid in before] if history else []
    assert await changes(poll_hub, instance_id) == expected_before + committed
    checkpoint = Progress.from_json((await stream_of(poll_hub, instance_id)).checkpoint)
    assert checkpoint.in_flight
    assert checkpoint.page_state is not None

    tap.on_list = None
    result = await run_poll(poll_hub, instance_id, "contacts")
    await run_poll(poll_hub, instance_id, "contacts")

    assert result is not None
    assert result.outcome == "ok"
    assert await changes(poll_hub, instance_id) == expected_before + [
        ("created", rid) for rid in created
    ]


async def test_a_vendor_error_midway_keeps_the_mark_at_the_last_page_read(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock, tap: VendorTap
) -> None:
    contacts = sandbox.store.contacts
    contacts.create(contact(0))
    instance_id = await paged_instance(poll_hub, org_id, sandbox.url, FRAGILE)
    await run_poll(poll_hub, instance_id, "contacts")
    vendor_clock.advance(60)
    created = [contacts.create(contact(number)) for number in range(10, 17)]
    polled = tap.lists

    async def fail_the_third_page(number: int, request: httpx.Request) -> httpx.Response | None:
        if number == polled + 3:
            return httpx.Response(502, json={"message": "bad gateway"})
        return None

    tap.on_list = fail_the_third_page
    result = await run_poll(poll_hub, instance_id, "contacts")

    assert result is not None
    assert result.outcome == "error"
    stream = await stream_of(poll_hub, instance_id)
    assert stream.last_poll_outcome == "error"
    assert "502" in (stream.last_error or "")
    # Pages of two: the known record (at the mark, re-read through the overlap window) and
    # three new ones were read before the failure; the mark stands at the last of them.
    assert stream.high_water_mark == created[2]["updated_at"]
    assert await changes(poll_hub, instance_id) == [("created", r["id"]) for r in created[:3]]
    assert stream.next_poll_at is not None
    assert stream.next_poll_at > utcnow() + timedelta(seconds=50)  # as scheduled

    tap.on_list = None
    await run_poll(poll_hub, instance_id, "contacts")
    await run_poll(poll_hub, instance_id, "contacts")

    assert await changes(poll_hub, instance_id) == [("created", r["id"]) for r in created]
    stream = await stream_of(poll_hub, instance_id)
    assert stream.high_water_mark == created[-1]["updated_at"]
    assert stream.last_poll_outcome == "ok"
    assert stream.last_error is None


@sqlite_only
async def test_a_429_stops_the_poll_and_reschedules_it_when_the_vendor_said(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock, tap: VendorTap
) -> None:
    contacts = sandbox.store.contacts
    instance_id = await paged_instance(poll_hub, org_id, sandbox.url, FRAGILE)
    await run_poll(poll_hub, instance_id, "contacts")
    created = [contacts.create(contact(number))["id"] for number in range(5)]
    polled = tap.lists

    async def rate_limit_the_second_page(number: int, request: httpx.Request) -> httpx.Response:
        if number == polled + 2:
            return httpx.Response(429, headers={"Retry-After": "0.2"}, json={"message": "slow"})
        return None  # type: ignore[return-value]

    tap.on_list = rate_limit_the_second_page
    started = utcnow()
    await run_poll(poll_hub, instance_id, "contacts")

    stream = await stream_of(poll_hub, instance_id)
    assert stream.last_poll_outcome == "error"
    assert stream.next_poll_at is not None
    assert stream.next_poll_at < started + timedelta(seconds=5)  # not the 60 s interval
    assert Progress.from_json(stream.checkpoint).in_flight
    assert await changes(poll_hub, instance_id) == [("created", rid) for rid in created[:2]]

    tap.on_list = None
    await run_poll(poll_hub, instance_id, "contacts")
    assert await changes(poll_hub, instance_id) == [("created", rid) for rid in created]


@sqlite_only
@pytest.mark.parametrize(
    "sandbox_config",
    [
        SandboxConfig(api_key=API_KEY, rate_limit=6),
        SandboxConfig(api_key=API_KEY, fail_rate=0.3, random_seed=11),
    ],
    ids=["rate-limited", "failing"],
)
async def test_a_misbehaving_vendor_gets_every_change_exactly_once(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock
) -> None:
    contacts = sandbox.store.contacts
    kept = [contacts.create(contact(number))["id"] for number in range(6)]
    instance_id = await paged_instance(poll_hub, org_id, sandbox.url, FRAGILE)

    async def poll_until_ok() -> int:
        for attempt in range(1, 60):
            result = await run_poll(poll_hub, instance_id, "contacts")
            if result is not None and result.outcome == "ok":
                return attempt
        raise AssertionError("the poll never completed")

    await poll_until_ok()
    vendor_clock.advance(60)
    created = [contacts.create(contact(number))["id"] for number in range(10, 19)]
    for record_id in kept[:3]:
        contacts.update(record_id, {"title": "changed"})
    contacts.delete(kept[5])
    attempts = await poll_until_ok()
    await poll_until_ok()

    assert attempts > 1  # the vendor did get in the way
    assert await changes(poll_hub, instance_id) == [
        *(("created", rid) for rid in created),
        *(("updated", rid) for rid in kept[:3]),
        ("deleted", kept[5]),
    ]


@sqlite_only
async def test_refused_credentials_fail_the_poll_and_the_instance_auth(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    async with poll_hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        instance.credentials = poll_hub.secrets.encrypt_json({"api_key": "wrong"})

    result = await run_poll(poll_hub, instance_id, "contacts")

    assert result is not None
    assert result.outcome == "error"
    stream = await stream_of(poll_hub, instance_id)
    assert (stream.state, stream.last_poll_outcome) == ("baselining", "error")
    assert "wrong" not in (stream.last_error or "")
    async with poll_hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        assert instance.auth_state == "failed"
