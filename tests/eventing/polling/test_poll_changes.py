"""Polls against a live sandbox: the baseline, then exactly one event per change."""

from __future__ import annotations

from interlink.eventing.polling.poll import run_poll
from interlink.eventing.status import object_status
from interlink.hub import Hub
from interlink.sandbox import RunningSandbox
from interlink.storage.models import Instance

from .support import VendorClock, changes, events_of, make_instance, stream_of


def contact(number: int) -> dict[str, str]:
    return {"email": f"person{number}@example.com", "first_name": f"P{number}"}


async def test_baseline_emits_nothing_then_the_stream_is_live(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    contacts = sandbox.store.contacts
    newest = [contacts.create(contact(n)) for n in range(5)][-1]
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    assert (await stream_of(poll_hub, instance_id)).state == "baselining"

    result = await run_poll(poll_hub, instance_id, "contacts")

    assert result is not None
    assert result.outcome == "ok"
    assert await changes(poll_hub, instance_id) == []
    stream = await stream_of(poll_hub, instance_id)
    assert stream.state == "live"
    assert stream.high_water_mark == newest["updated_at"]
    assert stream.deletes_mark is not None
    assert stream.last_poll_outcome == "ok"
    assert stream.next_poll_at is not None
    assert stream.last_poll_at is not None
    assert stream.next_poll_at >= stream.last_poll_at
    async with poll_hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        status = await object_status(session, instance)
    assert status["contacts"]["state"] == "live"
    assert status["contacts"]["last_poll_outcome"] == "ok"


async def test_each_change_between_polls_is_one_event(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock
) -> None:
    contacts = sandbox.store.contacts
    kept, changed, removed = (contacts.create(contact(n))["id"] for n in range(3))
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    await run_poll(poll_hub, instance_id, "contacts")

    vendor_clock.advance(60)  # past the overlap window: the mark matters
    created = contacts.create(contact(10))["id"]
    contacts.update(changed, {"title": "CTO"})
    contacts.delete(removed)
    await run_poll(poll_hub, instance_id, "contacts")

    assert await changes(poll_hub, instance_id) == [
        ("created", created),
        ("updated", changed),
        ("deleted", removed),
    ]
    events = {event.record_id: event for event in await events_of(poll_hub, instance_id)}
    assert events[changed].record is not None
    assert events[changed].record["title"] == "CTO"
    assert events[changed].vendor_time == contacts.get(changed)["updated_at"]
    assert events[removed].record is None
    assert kept not in events

    # Nothing changed since: a poll re-reading the overlap window emits nothing new.
    await run_poll(poll_hub, instance_id, "contacts")
    vendor_clock.advance(1)
    await run_poll(poll_hub, instance_id, "contacts")
    assert len(await changes(poll_hub, instance_id)) == 3


async def test_changes_merge_between_polls(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock
) -> None:
    contacts = sandbox.store.contacts
    twice = contacts.create(contact(1))["id"]
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    await run_poll(poll_hub, instance_id, "contacts")

    fresh = contacts.create(contact(2))["id"]
    contacts.update(fresh, {"title": "latest"})
    contacts.update(twice, {"title": "first"})
    contacts.update(twice, {"title": "second"})
    fleeting = contacts.create(contact(3))["id"]
    contacts.delete(fleeting)
    await run_poll(poll_hub, instance_id, "contacts")

    events = await events_of(poll_hub, instance_id)
    assert [(event.change, event.record_id) for event in events] == [
        ("created", fresh),
        ("updated", twice),
    ]
    assert events[0].record is not None
    assert events[0].record["title"] == "latest"
    assert events[1].record is not None
    assert events[1].record["title"] == "second"


async def test_history_emits_existing_records_as_created(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    ids = [sandbox.store.contacts.create(contact(n))["id"] for n in range(3)]
    instance_id = await make_instance(poll_hub, org_id, sandbox.url, initial="history")

    await run_poll(poll_hub, instance_id, "contacts")
    await run_poll(poll_hub, instance_id, "contacts")

    assert await changes(poll_hub, instance_id) == [("created", record_id) for record_id in ids]
    assert (await stream_of(poll_hub, instance_id)).state == "live"
