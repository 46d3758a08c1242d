"""Deletes without a deleted-records endpoint: full scans compared, tombstones read."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from interlink.eventing.polling.poll import run_poll
from interlink.hub import Hub
from interlink.sandbox import RunningSandbox
from interlink.storage.models import EventStream
from interlink.storage.types import utcnow

from .support import (
    VendorClock,
    add_element,
    changes,
    make_instance,
    sandbox_variant,
    sqlite_only,
    stream_of,
)

# No changed-since filter and no deletes: every poll is a full scan, compared with the last.
SCAN_ONLY = sandbox_variant(
    "sandbox-scan",
    pagination={"page_size": 7},
    changed_since=None,
    deletes={"type": "none"},
)
NO_DELETES = sandbox_variant("sandbox-nodeletes", deletes={"type": "none"})
TOMBSTONES = sandbox_variant(
    "sandbox-tombstones",
    deletes={"type": "tombstone", "field": "lifecycle_stage", "values": ["archived"]},
)


def contact(number: int) -> dict[str, str]:
    return {"email": f"person{number}@example.com"}


async def instance_of(hub: Hub, org_id: str, url: str, element: dict[str, object]) -> str:
    return await make_instance(hub, org_id, url, element=await add_element(hub, org_id, element))


async def test_full_scans_tell_created_updated_and_deleted_exactly(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    contacts = sandbox.store.contacts
    ids = [contacts.create(contact(number))["id"] for number in range(25)]
    instance_id = await instance_of(poll_hub, org_id, sandbox.url, SCAN_ONLY)
    await run_poll(poll_hub, instance_id, "contacts")
    assert await changes(poll_hub, instance_id) == []

    created = contacts.create(contact(100))["id"]
    contacts.update(ids[3], {"title": "new"})
    contacts.delete(ids[10])
    fleeting = contacts.create(contact(101))["id"]
    contacts.delete(fleeting)
    await run_poll(poll_hub, instance_id, "contacts")
    await run_poll(poll_hub, instance_id, "contacts")

    # Scanned in id order; deletes show once the scan is complete.
    assert await changes(poll_hub, instance_id) == [
        ("updated", ids[3]),
        ("created", created),
        ("deleted", ids[10]),
    ]
    assert (await stream_of(poll_hub, instance_id)).last_poll_outcome == "ok"


@sqlite_only
async def test_a_scan_missing_most_records_emits_no_deletes_and_reports_it(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    contacts = sandbox.store.contacts
    ids = [contacts.create(contact(number))["id"] for number in range(25)]
    instance_id = await instance_of(poll_hub, org_id, sandbox.url, SCAN_ONLY)
    await run_poll(poll_hub, instance_id, "contacts")

    for record_id in ids[:15]:
        contacts.delete(record_id)
    created = contacts.create(contact(100))["id"]
    result = await run_poll(poll_hub, instance_id, "contacts")

    assert result is not None
    assert result.outcome == "error"
    assert await changes(poll_hub, instance_id) == [("created", created)]
    stream = await stream_of(poll_hub, instance_id)
    assert stream.last_poll_outcome == "error"
    assert "missed 15 of 26 known records" in (stream.last_error or "")


@sqlite_only
async def test_a_few_known_records_may_all_go(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    contacts = sandbox.store.contacts
    ids = [contacts.create(contact(number))["id"] for number in range(5)]
    instance_id = await instance_of(poll_hub, org_id, sandbox.url, SCAN_ONLY)
    await run_poll(poll_hub, instance_id, "contacts")

    for record_id in ids[:4]:
        contacts.delete(record_id)
    await run_poll(poll_hub, instance_id, "contacts")

    assert await changes(poll_hub, instance_id) == [("deleted", rid) for rid in ids[:4]]


@sqlite_only
async def test_changed_since_without_deletes_scans_on_its_own_schedule(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock
) -> None:
    contacts = sandbox.store.contacts
    ids = [contacts.create(contact(number))["id"] for number in range(4)]
    instance_id = await instance_of(poll_hub, org_id, sandbox.url, NO_DELETES)
    await run_poll(poll_hub, instance_id, "contacts")
    stream = await stream_of(poll_hub, instance_id)
    assert stream.next_full_scan_at is not None
    assert stream.next_full_scan_at > utcnow() + timedelta(minutes=59)

    contacts.delete(ids[1])
    vendor_clock.advance(60)
    contacts.update(ids[2], {"title": "changed"})
    await run_poll(poll_hub, instance_id, "contacts")
    assert await changes(poll_hub, instance_id) == [("updated", ids[2])]  # no scan yet

    async with poll_hub.database.transaction() as session:
        await session.execute(
            update(EventStream)
            .where(EventStream.instance_id == instance_id)
            .values(next_full_scan_at=utcnow() - timedelta(seconds=1))
        )
    await run_poll(poll_hub, instance_id, "contacts")
    await run_poll(poll_hub, instance_id, "contacts")

    assert await changes(poll_hub, instance_id) == [("updated", ids[2]), ("deleted", ids[1])]
    stream = await stream_of(poll_hub, instance_id)
    assert stream.next_full_scan_at is not None
    assert stream.next_full_scan_at > utcnow() + timedelta(minutes=59)


@sqlite_only
async def test_a_tombstone_is_a_delete_of_a_known_record_only(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    contacts = sandbox.store.contacts
    ids = [contacts.create(contact(number))["id"] for number in range(3)]
    instance_id = await instance_of(poll_hub, org_id, sandbox.url, TOMBSTONES)
    await run_poll(poll_hub, instance_id, "contacts")

    contacts.update(ids[0], {"lifecycle_stage": "archived"})
    unknown = contacts.create({**contact(10), "lifecycle_stage": "archived"})["id"]
    await run_poll(poll_hub, instance_id, "contacts")
    contacts.update(ids[0], {"title": "still archived"})
    await run_poll(poll_hub, instance_id, "contacts")

    assert unknown
    assert await changes(poll_hub, instance_id) == [("deleted", ids[0])]
