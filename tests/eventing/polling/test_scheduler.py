"""The scheduler queues each due poll once; a poll that overruns delays the next."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from interlink.eventing.polling import run as poll_run
from interlink.eventing.polling import scheduler as poll_scheduler
from interlink.eventing.polling.scheduler import PollScheduler
from interlink.eventing.task_names import POLL_TASK
from interlink.hub import Hub
from interlink.sandbox import RunningSandbox
from interlink.storage.models import EventStream, Job
from interlink.storage.types import utcnow

from .support import VendorTap, change_events, eventually, make_instance, sqlite_only, stream_of


async def poll_jobs(hub: Hub) -> list[Job]:
    async with hub.database.transaction() as session:
        return list(
            await session.scalars(select(Job).where(Job.task_name == POLL_TASK).order_by(Job.id))
        )


async def make_due(hub: Hub) -> None:
    async with hub.database.transaction() as session:
        await session.execute(
            update(EventStream)
            .where(EventStream.next_poll_at.is_not(None))
            .values(next_poll_at=utcnow() - timedelta(seconds=1))
        )


async def test_due_streams_are_queued_once(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    watched = await make_instance(poll_hub, org_id, sandbox.url, objects=("contacts", "companies"))
    paused = await make_instance(poll_hub, org_id, sandbox.url)
    await change_events(poll_hub, paused, enabled=False)
    scheduler = PollScheduler(poll_hub)

    queued = await scheduler.tick()
    assert sorted(queued) == [(watched, "companies"), (watched, "contacts")]
    assert await scheduler.tick() == []  # leased while queued
    await make_due(poll_hub)
    assert len(await scheduler.tick()) == 2  # queued again: the waiting jobs do
    jobs = await poll_jobs(poll_hub)
    assert sorted((job.args["object_name"], job.status) for job in jobs) == [
        ("companies", "todo"),
        ("contacts", "todo"),
    ]
    assert {job.lock for job in jobs} == {f"poll:{watched}:companies", f"poll:{watched}:contacts"}

    await poll_hub.runtime.run_until_idle()

    assert [job.status for job in await poll_jobs(poll_hub)] == ["succeeded", "succeeded"]
    stream = await stream_of(poll_hub, watched)
    assert (stream.state, stream.last_poll_outcome) == ("live", "ok")
    assert stream.next_poll_at is not None
    assert stream.next_poll_at > utcnow() + timedelta(seconds=55)  # the 60 s interval
    assert await scheduler.tick() == []


@sqlite_only
async def test_the_scheduler_loop_runs_until_stopped(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox
) -> None:
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    scheduler = PollScheduler(poll_hub, tick_seconds=0.01)
    await scheduler.start()
    with pytest.raises(RuntimeError):
        await scheduler.start()
    try:

        async def queued() -> bool:
            return bool(await poll_jobs(poll_hub))

        await eventually(queued)
    finally:
        await scheduler.stop()
    await scheduler.stop()  # twice is fine
    assert [job.args for job in await poll_jobs(poll_hub)] == [
        {"instance_id": instance_id, "object_name": "contacts"}
    ]


@sqlite_only
async def test_an_overrunning_poll_delays_the_next_instead_of_stacking(
    poll_hub: Hub,
    org_id: str,
    sandbox: RunningSandbox,
    tap: VendorTap,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A lease far shorter than the poll: only its renewal keeps a second poll from queueing.
    monkeypatch.setattr(poll_run, "LEASE", timedelta(seconds=0.2))
    monkeypatch.setattr(poll_scheduler, "LEASE", timedelta(seconds=0.2))
    monkeypatch.setattr(poll_run, "LEASE_REFRESH_SECONDS", 0.05)
    instance_id = await make_instance(poll_hub, org_id, sandbox.url, poll_interval_seconds=1)
    active = peak = 0

    async def slow_vendor(number: int, request: httpx.Request) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            if number == 1:
                await asyncio.sleep(1.2)  # longer than the interval and the lease
        finally:
            active -= 1

    tap.on_list = slow_vendor
    scheduler = PollScheduler(poll_hub, tick_seconds=0.02)
    await poll_hub.runtime.start()
    await scheduler.start()
    try:

        async def polled() -> bool:
            return (await stream_of(poll_hub, instance_id)).last_poll_at is not None

        await eventually(polled)
        first = await stream_of(poll_hub, instance_id)
        jobs_after_first = await poll_jobs(poll_hub)
    finally:
        await scheduler.stop()
        await poll_hub.runtime.stop(timeout=5)

    assert len(jobs_after_first) == 1
    assert peak == 1
    assert first.last_poll_at is not None
    assert first.next_poll_at is not None
    # An interval after the slow poll ended, not after it was due.
    assert first.next_poll_at >= first.last_poll_at + timedelta(seconds=2.2)
