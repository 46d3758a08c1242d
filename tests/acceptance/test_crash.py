"""kill -9 of `interlink serve` during a poll and during a delivery.

After a restart on the same data folder every change must arrive, under exactly one event
id, and nothing may arrive twice except as a redelivery (the same event id; the same
`webhook-id` for the same batch). The restarted process sees that the killed one (same
host, its pid gone) held jobs and puts them back at once; were that missed, heartbeat
recovery would take them after 30 s, so the waits allow about a minute.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from tests.acceptance.crash_support import (
    Receiver,
    check_nothing_lost_or_doubled,
    check_stored_match_received,
    create_live_instance,
    redelivered,
    rig,
    set_events_enabled,
    settled_events,
    wait_until,
)

TEST_SECONDS = 150  # each test, everything included
FIRST_POST_SECONDS = 30  # from the changes to the first delivery of their events
RECOVERY_SECONDS = 110  # from the restart to every change at the receiver (~50 s)


async def test_kill_during_a_poll_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    receiver = Receiver()
    # 30 ms a vendor call: the poll of 1 800 changes (19 pages and more) takes seconds.
    sandbox_options = ("--seed", "3000", "--latency-ms", "30")
    async with asyncio.timeout(TEST_SECONDS), rig(tmp_path, receiver, *sandbox_options) as run:
        async with run.hub() as hub:
            instance = await create_live_instance(hub, run.sandbox.url, run.callback_url)
            instance_id = instance["id"]
            receiver.secret = instance["events"]["signing_secret"]
            # Paused while the vendor changes, so that one poll finds every change at once.
            await set_events_enabled(hub, instance_id, False)
            expected = await run.sandbox.change_contacts(
                await run.sandbox.contact_ids(), updates=1500, deletes=150, creates=150, tag="p"
            )
            assert len(expected) == 1800
            await set_events_enabled(hub, instance_id, True)
            # The poll's first page is committed and its delivery is in flight: kill -9
            # with the rest of the poll to do.
            async with asyncio.timeout(FIRST_POST_SECONDS):
                await receiver.arrived.wait()
            await run.serve.kill()
            killed_at = datetime.now(UTC)

        await run.restart()
        async with run.hub() as hub:
            await wait_until(
                lambda: expected <= receiver.changes(), RECOVERY_SECONDS, "every change"
            )
            stored = await settled_events(hub, instance_id)

        # The hub's clock and ours are the same machine's.
        recorded = [datetime.fromisoformat(event["recorded_at"]) for event in stored]
        before_kill = sum(1 for moment in recorded if moment < killed_at)
        print(
            f"{before_kill} of {len(expected)} events recorded before the kill; "
            f"{redelivered(receiver.events)} events delivered more than once"
        )
        assert 0 < before_kill < len(expected), "the kill was meant to land mid-poll"
        check_nothing_lost_or_doubled(receiver.events, receiver.accepted(), expected)
        check_stored_match_received(stored, receiver.events, expected)
        assert receiver.refused == 0


async def test_kill_during_a_delivery_sends_the_same_batch_again(tmp_path: Path) -> None:
    # The first post is held unanswered: the delivery is in flight when serve dies.
    receiver = Receiver(hold_first=10.0)
    async with asyncio.timeout(TEST_SECONDS), rig(tmp_path, receiver, "--seed", "1000") as run:
        async with run.hub() as hub:
            instance = await create_live_instance(hub, run.sandbox.url, run.callback_url)
            instance_id = instance["id"]
            receiver.secret = instance["events"]["signing_secret"]
            expected = await run.sandbox.change_contacts(
                await run.sandbox.contact_ids(), updates=250, deletes=30, creates=30, tag="d"
            )
            async with asyncio.timeout(FIRST_POST_SECONDS):
                await receiver.holding.wait()
            await run.serve.kill()
        receiver.release.set()
        held = receiver.held
        assert held is not None
        assert not receiver.accepted(), "nothing may pass the delivery in flight"

        await run.restart()
        async with run.hub() as hub:
            await wait_until(
                lambda: bool(receiver.accepted()), RECOVERY_SECONDS, "the held batch again"
            )
            # The head of the queue goes first, as the same delivery with the same events.
            again = receiver.accepted()[0]
            assert again.webhook_id == held.webhook_id
            assert again.event_ids == held.event_ids
            await wait_until(
                lambda: expected <= receiver.changes(), RECOVERY_SECONDS, "every change"
            )
            stored = await settled_events(hub, instance_id)

        print(f"held a batch of {len(held.event_ids)} events; {len(receiver.posts)} posts")
        check_nothing_lost_or_doubled(receiver.events, receiver.accepted(), expected)
        check_stored_match_received(stored, receiver.events, expected)
        assert receiver.refused == 0
