"""The poll scheduler: an in-process loop that queues the polls that are due.

Every process with workers runs one; there is no single scheduler to die. Each tick, in
one transaction, takes a bounded batch of due streams (skipping rows another process is
working on), queues a poll job for each — the queueing lock refuses a second waiting one —
and puts a lease on the stream so it is not queued again while the poll waits or runs.
The poll itself sets the next time, an interval after it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select

from interlink.eventing.polling.run import LEASE
from interlink.eventing.polling.streams import is_polled
from interlink.eventing.task_names import POLL_TASK, poll_lock
from interlink.hub import Hub
from interlink.runtime import AlreadyQueued
from interlink.storage.models import EventStream, Instance
from interlink.storage.types import utcnow

log = logging.getLogger("interlink.eventing.polling")


# A due poll waits for the next tick: a quarter of a second keeps "interval + 1 s" from
# change to event with room to spare, for one short indexed transaction per tick.
TICK_SECONDS = 0.25


class PollScheduler:
    def __init__(
        self, hub: Hub, *, tick_seconds: float = TICK_SECONDS, batch_size: int = 200
    ) -> None:
        if tick_seconds <= 0 or batch_size < 1:
            raise ValueError("tick_seconds must be positive and batch_size at least 1")
        self.hub = hub
        self.tick_seconds = tick_seconds
        self.batch_size = batch_size
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the poll scheduler is already started")
        self._task = asyncio.create_task(self._loop(), name="poll-scheduler")
        log.info("poll scheduler started", extra={"tick_seconds": self.tick_seconds})

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])
        log.info("poll scheduler stopped")

    async def tick(self) -> list[tuple[str, str]]:
        """Queue the polls due now (at most `batch_size`); the (instance, object) queued."""
        now = utcnow()
        queued: list[tuple[str, str]] = []
        async with self.hub.database.transaction() as session:
            rows = await session.execute(
                select(EventStream, Instance)
                .join(Instance, Instance.id == EventStream.instance_id)
                .where(EventStream.next_poll_at <= now, Instance.deleted_at.is_(None))
                .order_by(EventStream.next_poll_at)
                .limit(self.batch_size)
                .with_for_update(of=EventStream, skip_locked=True)
            )
            for stream, instance in rows:
                if not is_polled(instance, stream.object_name):
                    stream.next_poll_at = None  # out of step with its instance: pause it
                    continue
                key = poll_lock(instance.id, stream.object_name)
                with contextlib.suppress(AlreadyQueued):
                    await self.hub.runtime.defer(
                        POLL_TASK,
                        {"instance_id": instance.id, "object_name": stream.object_name},
                        lock=key,
                        queueing_lock=key,
                        session=session,
                    )
                stream.next_poll_at = now + LEASE
                queued.append((instance.id, stream.object_name))
        return queued

    async def _loop(self) -> None:
        while True:
            full = False
            try:
                full = len(await self.tick()) >= self.batch_size
            except Exception:
                # The database may be away for a moment; the loop must outlive that.
                log.exception("poll scheduler tick failed")
            # A full batch means more are due: go on at once, but let others run first.
            await asyncio.sleep(0 if full else self.tick_seconds)
