"""Who owns a stream: a poll reads it without a write lock and takes it at its first
commit; two polls that overlap (a stalled worker's and its replacement) never both
commit, and a live poll with nothing new is one write transaction."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import event

from interlink.eventing.polling.poll import run_poll
from interlink.hub import Hub
from interlink.sandbox import RunningSandbox

from .support import VendorClock, VendorTap, changes, make_instance, stream_of


async def test_of_two_overlapping_polls_the_one_that_commits_first_keeps_the_stream(
    poll_hub: Hub,
    org_id: str,
    sandbox: RunningSandbox,
    vendor_clock: VendorClock,
    tap: VendorTap,
) -> None:
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    await run_poll(poll_hub, instance_id, "contacts")  # the baseline
    vendor_clock.advance(60)
    created = [sandbox.store.contacts.create({"email": f"p{n}@example.com"})["id"] for n in (1, 2)]
    first_list = tap.lists + 1
    stalled, release = asyncio.Event(), asyncio.Event()

    async def stall_the_first_poll(number: int, request: httpx.Request) -> None:
        if number == first_list:
            stalled.set()
            await release.wait()

    tap.on_list = stall_the_first_poll
    slow = asyncio.create_task(run_poll(poll_hub, instance_id, "contacts"))
    async with asyncio.timeout(10):
        await stalled.wait()
    other = await run_poll(poll_hub, instance_id, "contacts")
    release.set()
    async with asyncio.timeout(10):
        stopped = await slow

    assert other is not None
    assert other.outcome == "ok"
    assert other.events == 2
    assert stopped is None  # it read the stream before the other took it: it stops quietly
    assert await changes(poll_hub, instance_id) == [("created", rid) for rid in created]
    stream = await stream_of(poll_hub, instance_id)
    assert stream.last_poll_outcome == "ok"
    assert stream.checkpoint is None or "run" not in stream.checkpoint


async def test_a_live_poll_with_nothing_new_is_one_write_transaction(
    poll_hub: Hub, org_id: str, sandbox: RunningSandbox, vendor_clock: VendorClock
) -> None:
    sandbox.store.contacts.create({"email": "known@example.com"})
    instance_id = await make_instance(poll_hub, org_id, sandbox.url)
    await run_poll(poll_hub, instance_id, "contacts")  # the baseline
    vendor_clock.advance(5)
    writes: list[bool] = []

    def on_begin(connection: Any) -> None:
        writes.append(not connection.get_execution_options().get("interlink_read_only"))

    engine = poll_hub.database.engine.sync_engine
    event.listen(engine, "begin", on_begin)
    try:
        result = await run_poll(poll_hub, instance_id, "contacts")
    finally:
        event.remove(engine, "begin", on_begin)

    assert result is not None
    assert result.outcome == "ok"
    assert result.pages == 2  # the changes since the mark, and the deleted-records feed
    assert writes.count(True) == 1  # both pages and the outcome, committed together
    assert await changes(poll_hub, instance_id) == []
