"""The queue's SQL on both databases: each delivery keeps the very body `encode_batch` gives
for its events, the head of the queue is read in order with the bodies of the due ones only,
and recording a window of attempts moves every delivery on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, select, update

from interlink.eventing.cloudevents import MAX_BATCH_BYTES, encode_batch
from interlink.eventing.delivery.operations import replay_events
from interlink.eventing.delivery.outcome import UNFINISHED, DeliveryPolicy
from interlink.eventing.delivery.queue import head_of_queue
from interlink.eventing.delivery.sender import AttemptResult
from interlink.eventing.delivery.task import PlannedAttempt, record_attempts
from interlink.eventing.recorder import record_events
from interlink.ids import new_id
from interlink.runtime.testing import InMemoryRuntime
from interlink.storage.database import Database
from interlink.storage.migrate import migrate
from interlink.storage.models import (
    UNFINISHED_DELIVERY,
    Delivery,
    DeliveryAttempt,
    Event,
    Instance,
    Organization,
)
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


async def test_each_delivery_keeps_the_body_of_its_events(database: Database) -> None:
    instance_id = await _instance(database)
    runtime = InMemoryRuntime()
    big = {"id": "big", "notes": "x" * (MAX_BATCH_BYTES // 2)}
    async with database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        recorded = await record_events(
            session,
            instance,
            [
                change("c1", "created", record={"id": "c1", "name": "Zoë ✓", "n": 1.5}),
                change("c2", "deleted"),
                change("c3", "updated", vendor_time=None),  # type: ignore[arg-type]
                *[change(f"b{n}", record={**big, "id": f"b{n}"}) for n in range(3)],
            ],
            runtime,
        )
        recorded += await record_events(session, instance, [change("c4")], runtime)

    async with database.transaction() as session:
        deliveries = await head_of_queue(session, instance_id, utcnow(), limit=10)
        stored = list(await session.scalars(select(Event).order_by(Event.sequence)))
    # Cut by size as before (the second big event does not fit beside the first), in order.
    cuts = [(0, 4), (4, 5), (5, 6), (6, 7)]
    assert [delivery.payload for delivery in deliveries] == [
        encode_batch(recorded[low:high], "sandbox") for low, high in cuts
    ]
    # The same CloudEvents as the events read back (PostgreSQL's JSONB may order a record's
    # keys otherwise: the body keeps the vendor's order).
    for delivery, (low, high) in zip(deliveries, cuts, strict=True):
        assert delivery.payload is not None
        assert orjson.loads(delivery.payload) == orjson.loads(
            encode_batch(stored[low:high], "sandbox")
        )


async def test_a_replay_keeps_the_body_of_the_stored_events(database: Database) -> None:
    instance_id = await _instance(database)
    runtime = InMemoryRuntime()
    async with database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        started = utcnow()
        await record_events(session, instance, [change("c1"), change("c2", "deleted")], runtime)
        await session.execute(update(Delivery).values(status="succeeded"))
    async with database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        await replay_events(session, runtime, instance, started, utcnow() + timedelta(seconds=1))

    async with database.transaction() as session:
        [replayed] = await head_of_queue(session, instance_id, utcnow(), limit=10)
        stored = list(await session.scalars(select(Event).order_by(Event.sequence)))
    assert replayed.payload == encode_batch(stored, "sandbox")


async def test_the_head_of_the_queue_carries_the_bodies_of_due_deliveries_only(
    database: Database,
) -> None:
    instance_id = await _instance(database)
    runtime = InMemoryRuntime()
    async with database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        for n in range(4):
            await record_events(session, instance, [change(f"c{n}")], runtime)
    now = utcnow()
    async with database.transaction() as session:
        first, second, third, fourth = await head_of_queue(session, instance_id, now, limit=10)
        await session.execute(
            update(Delivery).where(Delivery.id == first.id).values(status="succeeded")
        )
        await session.execute(
            update(Delivery)
            .where(Delivery.id == second.id)
            .values(status="failed", next_attempt_at=now - timedelta(seconds=1))
        )
        await session.execute(
            update(Delivery)
            .where(Delivery.id == third.id)
            .values(status="failed", next_attempt_at=now + timedelta(hours=1))
        )

    async with database.transaction() as session:
        heads = await head_of_queue(session, instance_id, now, limit=10)
    assert [d.id for d in heads] == [second.id, third.id, fourth.id]
    assert [d.due for d in heads] == [True, False, True]
    assert heads[1].payload is None
    assert heads[0].payload == second.payload


def test_the_partial_index_spells_the_unfinished_statuses() -> None:
    spelt = ", ".join(f"'{status}'" for status in UNFINISHED)
    spelling = f"status IN ({spelt})"
    assert spelling == UNFINISHED_DELIVERY


async def test_sqlite_reads_the_head_from_the_partial_index_without_sorting(
    tmp_path: Path,
) -> None:
    # SQLite only: PostgreSQL's planner chooses by its statistics.
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'interlink.db'}")
    await migrate(database)
    instance_id = await _instance(database)
    statements: list[tuple[str, object]] = []

    def keep(_conn: object, _cursor: object, statement: str, parameters: object, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", keep)
    try:
        async with database.transaction() as session:
            await head_of_queue(session, instance_id, utcnow(), limit=20)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", keep)
    [(statement, parameters)] = [s for s in statements if "FROM deliveries" in s[0]]
    async with database.engine.connect() as connection:
        plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        details = " ".join(str(row[-1]) for row in plan)
    await database.dispose()
    assert "ix_deliveries_unfinished" in details
    assert "TEMP B-TREE" not in details


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
        first, second, third = await head_of_queue(session, instance_id, utcnow(), limit=10)
    now = utcnow()
    ok = AttemptResult(now, 200, 12)
    sent = [
        (PlannedAttempt(first.id, 0, b""), ok),
        (PlannedAttempt(second.id, 0, b""), ok),
        (PlannedAttempt(third.id, 0, b""), AttemptResult(now, 503, 30, "HTTP 503", "busy")),
    ]
    async with database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        await record_attempts(session, instance, sent, POLICY)

    async with database.transaction() as session:
        rows = {d.id: d for d in await session.scalars(select(Delivery).order_by(Delivery.id))}
        bodies = {
            row.id: row.payload
            for row in await session.execute(select(Delivery.id, Delivery.payload))
        }
        attempts = list(await session.scalars(select(DeliveryAttempt)))
        instance = await session.get(Instance, instance_id)
    assert instance is not None
    # A succeeded delivery is never sent again: its body goes; a failed one keeps it.
    assert [bodies[d.id] for d in (first, second, third)] == [None, None, third.payload]
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
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        await record_attempts(session, instance, sent[:1], POLICY)
    async with database.transaction() as session:
        again = await session.get(Delivery, first.id)
        count = len(list(await session.scalars(select(DeliveryAttempt))))
    assert again is not None
    assert (again.status, again.attempts, count) == ("succeeded", 1, 4)
