"""The queue's SQL on both databases: reading events without the ORM gives the very body the
ORM mapping gives, and recording a window of attempts moves every delivery on."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from interlink.eventing.cloudevents import encode_batch
from interlink.eventing.delivery.outcome import DeliveryPolicy
from interlink.eventing.delivery.queue import encode, events_of, head_of_queue
from interlink.eventing.delivery.sender import AttemptResult
from interlink.eventing.delivery.task import PlannedAttempt, record_attempts
from interlink.eventing.recorder import record_events
from interlink.ids import new_id
from interlink.runtime.testing import InMemoryRuntime
from interlink.storage.database import Database
from interlink.storage.models import Delivery, DeliveryAttempt, Event, Instance, Organization
from interlink.storage.types import utcnow
from tests.eventing.delivery.support import change

POLICY = DeliveryPolicy(delays=(60.0,), disable_after=timedelta(days=5))


async def _instance(database: Database) -> str:
    async with database.transaction() as session:
        organization = Organization(id=new_id("org"), name="acme")
        session.add(organization)
        await session.flush()
        instance = Instance(
            id=new_id("inst"),
            organization_id=organization.id,
            element_key="sandbox",
            name="acme",
            config={},
            credentials="-",
            events={"callback_url": "https://example.com/hook"},
            signing_secret="-",
            hook_token="-",
        )
        session.add(instance)
    return instance.id


async def test_events_read_for_sending_encode_like_the_orm_events(database: Database) -> None:
    instance_id = await _instance(database)
    runtime = InMemoryRuntime()
    async with database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        await record_events(
            session,
            instance,
            [
                change("c1", "created", record={"id": "c1", "name": "Zoë ✓", "n": 1.5}),
                change("c2", "deleted"),
                change("c3", "updated", vendor_time=None),  # type: ignore[arg-type]
            ],
            runtime,
        )
        await record_events(session, instance, [change("c4")], runtime)

    async with database.transaction() as session:
        deliveries = await head_of_queue(session, instance_id, limit=10)
        stored = await events_of(session, deliveries)
        orm = list(await session.scalars(select(Event).order_by(Event.sequence)))
    assert [len(stored[d.id]) for d in deliveries] == [3, 1]
    assert encode(stored[deliveries[0].id], "sandbox") == encode_batch(orm[:3], "sandbox")
    assert encode(stored[deliveries[1].id], "sandbox") == encode_batch(orm[3:], "sandbox")


async def test_a_window_of_attempts_is_recorded_together(database: Database) -> None:
    instance_id = await _instance(database)
    runtime = InMemoryRuntime()
    async with database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        instance.delivery_failing_since = utcnow() - timedelta(hours=1)
        for n in range(3):
            await record_events(session, instance, [change(f"c{n}")], runtime)

    async with database.transaction() as session:
        first, second, third = await head_of_queue(session, instance_id, limit=10)
    now = utcnow()
    ok = AttemptResult(now, 200, 12)
    sent = [
        (PlannedAttempt(first.id, 0, []), ok),
        (PlannedAttempt(second.id, 0, []), ok),
        (PlannedAttempt(third.id, 0, []), AttemptResult(now, 503, 30, "HTTP 503", "busy")),
    ]
    async with database.transaction() as session:
        await record_attempts(session, instance_id, sent, POLICY)

    async with database.transaction() as session:
        rows = {d.id: d for d in await session.scalars(select(Delivery).order_by(Delivery.id))}
        attempts = list(await session.scalars(select(DeliveryAttempt)))
        instance = await session.get(Instance, instance_id)
    assert instance is not None
    assert [rows[d.id].status for d in (first, second, third)] == [
        "succeeded", "succeeded", "failed",
    ]  # fmt: skip
    assert [rows[d.id].attempts for d in (first, second, third)] == [1, 1, 1]
    assert rows[first.id].finished_at is not None
    assert rows[third.id].next_attempt_at is not None
    assert len(attempts) == 3
    assert {a.response_body for a in attempts} == {None, "busy"}
    # The successes closed the old failure window; the failure after them opened a new one.
    assert instance.delivery_failing_since == now

    # A window recorded again (a run taken over as stalled) only adds to the log.
    async with database.transaction() as session:
        await record_attempts(session, instance_id, sent[:1], POLICY)
    async with database.transaction() as session:
        again = await session.get(Delivery, first.id)
        count = len(list(await session.scalars(select(DeliveryAttempt))))
    assert again is not None
    assert (again.status, again.attempts, count) == ("succeeded", 1, 4)
