"""Helpers of the delivery tests: instances through the API, events through the recorder,
and the job runtime driven by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from interlink.eventing.recorder import NewEvent, record_events
from interlink.hub import Hub
from interlink.storage.models import Delivery, DeliveryAttempt, Event, Instance, Job

DRIVE_TIMEOUT = 10.0


async def make_instance(
    api: httpx.AsyncClient, callback_url: str | None, **events: Any
) -> dict[str, Any]:
    """A sandbox instance (its vendor is never called here) delivering to `callback_url`."""
    body = {
        "element": "sandbox",
        "name": "acme",
        "config": {"base_url": "http://127.0.0.1:9", "api_key": "vendor-key"},
        "events": {
            "enabled": False,
            "objects": ["contacts"],
            "callback_url": callback_url,
            **events,
        },
    }
    response = await api.post("/v1/instances", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def change(
    record_id: str,
    kind: str = "updated",
    *,
    object_name: str = "contacts",
    record: dict[str, Any] | None = None,
    vendor_time: str = "2024-05-01T10:00:00.000Z",
) -> NewEvent:
    if record is None and kind != "deleted":
        record = {"id": record_id, "email": f"{record_id}@example.com"}
    return NewEvent(
        object_name=object_name,
        record_id=record_id,
        change=kind,  # type: ignore[arg-type]
        record=record,
        vendor_time=vendor_time,
        source="poll",
    )


async def record(hub: Hub, instance_id: str, *changes: NewEvent) -> list[Event]:
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        return await record_events(session, instance, list(changes), hub.runtime)


async def drive(
    hub: Hub, until: Callable[[], Awaitable[bool]], *, within: float = DRIVE_TIMEOUT
) -> None:
    """Run due jobs until `until()` holds (retries are scheduled a few ms ahead)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        await hub.runtime.run_until_idle()
        if await until():
            return
        if loop.time() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.01)


async def deliveries_of(hub: Hub, instance_id: str) -> list[Delivery]:
    async with hub.database.transaction() as session:
        found = await session.scalars(
            select(Delivery)
            .where(Delivery.instance_id == instance_id)
            .order_by(Delivery.first_sequence, Delivery.id)
        )
        return list(found)


async def attempts_of(hub: Hub, delivery_id: str) -> list[DeliveryAttempt]:
    async with hub.database.transaction() as session:
        found = await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.id)
        )
        return list(found)


async def instance_row(hub: Hub, instance_id: str) -> Instance:
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        return instance


async def update_instance(hub: Hub, instance_id: str, **values: Any) -> None:
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        assert instance is not None
        for name, value in values.items():
            setattr(instance, name, value)


async def jobs_named(hub: Hub, task_name: str) -> list[Job]:
    async with hub.database.transaction() as session:
        return list(await session.scalars(select(Job).where(Job.task_name == task_name)))


def all_finished(
    hub: Hub, instance_id: str, count: int | None = None
) -> Callable[[], Awaitable[bool]]:
    """A `drive` condition: every delivery of the instance has succeeded or died."""

    async def check() -> bool:
        deliveries = await deliveries_of(hub, instance_id)
        if count is not None and len(deliveries) != count:
            return False
        return bool(deliveries) and all(d.status in ("succeeded", "dead") for d in deliveries)

    return check
