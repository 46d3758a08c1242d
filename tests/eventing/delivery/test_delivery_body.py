"""What a receiver gets: CloudEvents batches as the SPEC shows them, signed, in order."""

from __future__ import annotations

import httpx

from interlink.eventing.cloudevents import BATCH_CONTENT_TYPE, MAX_BATCH_BYTES
from interlink.server import RunningHub
from tests.eventing.delivery.receiver import Receiver
from tests.eventing.delivery.support import (
    all_finished,
    change,
    deliveries_of,
    drive,
    make_instance,
    record,
)


async def test_a_batch_is_the_spec_shape_signed_with_the_instance_secret(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    instance = await make_instance(api, receiver.url)
    contact = {"id": "c1", "email": "a@example.com", "first_name": "Ada"}
    events = await record(
        hub.hub,
        instance["id"],
        change("c1", "created", record=contact, vendor_time="2024-05-01T10:00:00.000Z"),
        change("c1", "updated", record={**contact, "first_name": "Ad"}),
        change("c2", "deleted", record={"id": "c2", "email": "gone@example.com"}),
    )
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))

    [received] = receiver.received
    [delivery] = await deliveries_of(hub.hub, instance["id"])
    assert received.headers["content-type"] == BATCH_CONTENT_TYPE
    assert received.webhook_id == delivery.id
    created, updated, deleted = received.events
    assert created == {
        "specversion": "1.0",
        "id": events[0].id,
        "source": f"/v1/instances/{instance['id']}",
        "type": "contacts.created",
        "subject": "c1",
        "time": "2024-05-01T10:00:00.000Z",
        "datacontenttype": "application/json",
        "elementkey": "sandbox",
        "sequence": events[0].sequence,
        "data": {"object": "contacts", "id": "c1", "change": "created", "record": contact},
    }
    assert updated["type"] == "contacts.updated"
    assert updated["data"]["record"]["first_name"] == "Ad"
    assert deleted["type"] == "contacts.deleted"
    assert deleted["data"] == {"object": "contacts", "id": "c2", "change": "deleted"}
    assert [event["sequence"] for event in received.events] == [1, 2, 3]

    secret = instance["events"]["signing_secret"]
    assert received.verifies(secret)
    assert len(received.headers["webhook-signature"].split(" ")) == 1
    tampered = received.body.replace(b"Ada", b"Eve")
    assert tampered != received.body
    assert not received.verifies(secret, tampered)


async def test_batches_hold_at_most_100_events_and_256_kib_in_sequence_order(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], *[change(f"c{n}") for n in range(250)])
    big = {"id": "big", "notes": "x" * 60_000}
    await record(
        hub.hub,
        instance["id"],
        *[change(f"b{n}", record={**big, "id": f"b{n}"}) for n in range(10)],
    )
    huge = {"id": "huge", "notes": "y" * (MAX_BATCH_BYTES + 10)}
    await record(hub.hub, instance["id"], change("huge", record=huge), change("after"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))

    sizes = [len(received.events) for received in receiver.received]
    assert sizes[:3] == [100, 100, 50]
    for received in receiver.received:
        assert 1 <= len(received.events) <= 100
        if len(received.body) > MAX_BATCH_BYTES:
            assert [e["subject"] for e in received.events] == ["huge"]  # alone, as allowed
    assert [len(r.events) for r in receiver.received if r.events[0]["subject"] == "huge"] == [1]
    sequences = [event["sequence"] for received in receiver.received for event in received.events]
    assert sequences == list(range(1, 263))
    assert all(r.verifies(instance["events"]["signing_secret"]) for r in receiver.received)
