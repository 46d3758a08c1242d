"""EventStream rows follow the instance: created, paused and resumed, parked, deleted."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from interlink.eventing.polling.poll import run_poll
from interlink.eventing.polling.streams import sync_streams
from interlink.hub import Hub
from interlink.sandbox import RunningSandbox
from interlink.storage.models import EventStream, Instance
from interlink.storage.types import utcnow

from .support import (
    VendorClock,
    VendorTap,
    add_element,
    change_events,
    changes,
    make_instance,
    sandbox_variant,
    sqlite_only,
    stream_of,
)

PAGED = sandbox_variant("sandbox-paged", pagination={"page_size": 2})


def contact(number: int) -> dict[str, str]:
    return {"email": f"person{number}@example.com"}


async def streams_of(hub: Hub, instance_id: str) -> dict[str, EventStream]:
    async with hub.database.transaction() as session:
        rows = await session.scalars(
            select(EventStream).where(EventStream.instance_id == instance_id)
        )
        return {row.object_name: row for row in rows}


@sqlite_only
async def test_a_new_instance_has_one_due_stream_per_object(poll_hub: Hub, org_id: str) -> None:
    before = utcnow()
    instance_id = await make_instance(
        poll_hub, org_id, "http://127.0.0.1:9", objects=("contacts", "companies")
    )
    streams = await streams_of(poll_hub, instance_id)
    assert sorted(streams) == ["companies", "contacts"]
    for stream in streams.values():
        assert stream.state == "baselining"
        assert stream.next_poll_at is not None
        assert before <= stream.next_poll_at <= utcnow()


async def test_pausing_keeps_the_marks_and_resuming_polls_on_from_them(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock
) -> None:
    contacts = sandbox.store.contacts
    record_id = contacts.create(contact(1))["id"]
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    await run_poll(poll_hub, instance_id, "contacts")
    mark = (await stream_of(poll_hub, instance_id)).high_water_mark

    await change_events(poll_hub, instance_id, enabled=False)
    paused = await stream_of(poll_hub, instance_id)
    assert paused.next_poll_at is None
    assert (paused.state, paused.high_water_mark) == ("live", mark)
    vendor_clock.advance(60)
    contacts.update(record_id, {"title": "while paused"})
    assert await run_poll(poll_hub, instance_id, "contacts") is None  # quietly nothing

    await change_events(poll_hub, instance_id, enabled=True)
    resumed = await stream_of(poll_hub, instance_id)
    assert resumed.next_poll_at is not None
    assert resumed.next_poll_at <= utcnow()
    assert (resumed.state, resumed.high_water_mark) == ("live", mark)
    await run_poll(poll_hub, instance_id, "contacts")

    assert await changes(poll_hub, instance_id) == [("updated", record_id)]


@sqlite_only
async def test_an_object_no_longer_watched_is_parked_and_starts_over(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    contacts = sandbox.store.contacts
    contacts.create(contact(1))
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    await run_poll(poll_hub, instance_id, "contacts")

    await change_events(poll_hub, instance_id, objects=["companies"])
    streams = await streams_of(poll_hub, instance_id)
    parked = streams["contacts"]
    assert parked.next_poll_at is None
    assert (parked.state, parked.high_water_mark, parked.checkpoint) == ("baselining", None, None)
    assert streams["companies"].next_poll_at is not None

    contacts.create(contact(2))
    await change_events(poll_hub, instance_id, objects=["companies", "contacts"])
    await run_poll(poll_hub, instance_id, "contacts")
    assert await changes(poll_hub, instance_id) == []  # a new baseline, not a catch-up
    assert (await stream_of(poll_hub, instance_id)).state == "live"


@sqlite_only
async def test_a_deleted_instance_is_never_polled_again(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    async with poll_hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        instance.deleted_at = utcnow()  # as the instances service deletes
        instance.events = {**instance.events, "enabled": False}
        await sync_streams(session, poll_hub, instance)

    assert (await stream_of(poll_hub, instance_id)).next_poll_at is None
    assert await run_poll(poll_hub, instance_id, "contacts") is None


@sqlite_only
async def test_webhook_mode_polls_only_for_reconciliation(poll_hub: Hub, org_id: str) -> None:
    instance_id = await make_instance(poll_hub, org_id, "http://127.0.0.1:9", mode="webhook")
    assert await streams_of(poll_hub, instance_id) == {}

    await change_events(poll_hub, instance_id, reconciliation_interval_seconds=3600)
    stream = await stream_of(poll_hub, instance_id)
    assert stream.next_poll_at is not None

    async with poll_hub.database.transaction() as session:
        row = await session.get(EventStream, (instance_id, "contacts"))
        assert row is not None
        row.next_poll_at = utcnow() + timedelta(hours=1)
    await change_events(poll_hub, instance_id, reconciliation_interval_seconds=600)
    shortened = await stream_of(poll_hub, instance_id)
    assert shortened.next_poll_at is not None
    assert shortened.next_poll_at <= utcnow() + timedelta(seconds=600)

    await change_events(poll_hub, instance_id, reconciliation_interval_seconds=None)
    assert (await stream_of(poll_hub, instance_id)).next_poll_at is None


async def test_a_pause_during_a_poll_stops_it_and_resuming_finishes_it(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock, tap: VendorTap
) -> None:
    contacts = sandbox.store.contacts
    instance_id = await make_instance(
        poll_hub, org_id, sandbox.url, element=await add_element(poll_hub, org_id, PAGED)
    )
    await run_poll(poll_hub, instance_id, "contacts")
    created = [contacts.create(contact(number))["id"] for number in range(6)]
    polled = tap.lists

    async def pause_after_the_first_page(number: int, request: httpx.Request) -> None:
        if number == polled + 2:
            await change_events(poll_hub, instance_id, enabled=False)

    tap.on_list = pause_after_the_first_page
    assert await run_poll(poll_hub, instance_id, "contacts") is None
    assert await changes(poll_hub, instance_id) == [("created", rid) for rid in created[:2]]

    tap.on_list = None
    await change_events(poll_hub, instance_id, enabled=True)
    await run_poll(poll_hub, instance_id, "contacts")
    assert await changes(poll_hub, instance_id) == [("created", rid) for rid in created]
