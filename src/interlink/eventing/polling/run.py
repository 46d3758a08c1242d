"""One poll of one instance object: what it works on, claimed in a short transaction.

Claiming writes a new run token into the stream's checkpoint and takes a lease on it
(`next_poll_at` pushed forward), so the scheduler does not queue a second poll while this
one runs; the lease is kept alive until the poll ends, however slow the vendor is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements.catalog import find_element
from interlink.elements.definition import (
    DeletedEndpoint,
    ElementDefinition,
    NoDeletes,
    ObjectDefinition,
)
from interlink.errors import NotFound
from interlink.eventing.polling.progress import BASELINE, CHANGES, DELETES, SCAN, Progress
from interlink.eventing.polling.streams import LIVE, is_polled, poll_interval
from interlink.hub import Hub
from interlink.storage.models import EventStream, Instance
from interlink.storage.types import utcnow

# While a poll is queued or running, its stream's next_poll_at sits this far ahead.
LEASE = timedelta(seconds=120)
LEASE_REFRESH_SECONDS = 30.0

PollLogger = logging.Logger | logging.LoggerAdapter[Any]


class StreamGone(Exception):
    """The poll must stop quietly: instance deleted or paused, object no longer watched,
    or another poll took the stream over. Nothing it has not committed is kept."""


@dataclass
class PollRun:
    hub: Hub
    instance: Instance  # detached: read-only here
    element: ElementDefinition
    obj: ObjectDefinition
    object_name: str
    token: str
    log: PollLogger
    started: datetime
    # The stream's marks as last committed by this poll.
    high_water_mark: str | None
    deletes_mark: str | None
    events: int = 0
    pages: int = 0
    problems: list[str] = field(default_factory=list)
    # Set when the last page's transaction also recorded the poll's outcome.
    outcome: str | None = None

    @property
    def history(self) -> bool:
        return (self.instance.events or {}).get("initial") == "history"

    def remember(self, stream: EventStream) -> None:
        self.high_water_mark = stream.high_water_mark
        self.deletes_mark = stream.deletes_mark


def plan(stream: EventStream, obj: ObjectDefinition, now: datetime) -> tuple[str, ...]:
    """The steps of a new poll."""
    if stream.state != LIVE:
        return (BASELINE,)
    steps: list[str] = []
    if obj.changed_since is not None:
        steps.append(CHANGES)
    if obj.changed_since is None or (
        needs_periodic_scan(obj)
        and (stream.next_full_scan_at is None or stream.next_full_scan_at <= now)
    ):
        steps.append(SCAN)
    if isinstance(obj.deletes, DeletedEndpoint):
        steps.append(DELETES)
    return tuple(steps)


def needs_periodic_scan(obj: ObjectDefinition) -> bool:
    """Changes come from the changed-since filter, but deletes only show by absence."""
    return obj.changed_since is not None and isinstance(obj.deletes, NoDeletes)


async def locked_stream(
    session: AsyncSession, instance_id: str, object_name: str
) -> EventStream | None:
    return await session.scalar(
        select(EventStream)
        .where(EventStream.instance_id == instance_id, EventStream.object_name == object_name)
        .with_for_update()
    )


async def claim(
    hub: Hub, instance_id: str, object_name: str, log: PollLogger
) -> tuple[PollRun, Progress] | None:
    """Load what the poll needs and take the stream; None when there is nothing to poll."""
    now = utcnow()
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        if instance is None or not is_polled(instance, object_name):
            return None
        stream = await locked_stream(session, instance_id, object_name)
        if stream is None or stream.next_poll_at is None:
            return None
        try:
            element = await find_element(session, instance.organization_id, instance.element_key)
        except NotFound:
            element = None
        obj = element.find_object(object_name) if element is not None else None
        if element is None or obj is None:
            # The element changed under the instance: nothing to poll until it is fixed.
            stream.last_poll_at, stream.last_poll_outcome = now, "error"
            stream.last_error = f"element {instance.element_key!r} has no object {object_name!r}"
            stream.next_poll_at = now + timedelta(seconds=poll_interval(instance) or 300)
            log.warning("cannot poll: %s", stream.last_error)
            return None
        progress = Progress.from_json(stream.checkpoint)
        if not progress.in_flight:
            progress = Progress(
                steps=plan(stream, obj, now), lookback_seconds=progress.lookback_seconds
            )
        token = secrets.token_urlsafe(12)
        progress = replace(progress, run=token)
        stream.checkpoint = progress.to_json()
        stream.next_poll_at = now + LEASE
        run = PollRun(
            hub=hub,
            instance=instance,
            element=element,
            obj=obj,
            object_name=object_name,
            token=token,
            log=log,
            started=now,
            high_water_mark=stream.high_water_mark,
            deletes_mark=stream.deletes_mark,
        )
    return run, progress


@contextlib.asynccontextmanager
async def owned_stream(run: PollRun) -> AsyncIterator[tuple[AsyncSession, EventStream, Instance]]:
    """A transaction on the stream this poll still owns; `StreamGone` otherwise.

    The instance row is locked before the stream's, the order an instance change takes
    (it writes the instance, then syncs its streams): the opposite order could deadlock.
    Recording events writes the instance row (its sequence) anyway.
    """
    outcome_before = run.outcome
    try:
        async with run.hub.database.transaction() as session:
            instance = await session.scalar(
                select(Instance).where(Instance.id == run.instance.id).with_for_update()
            )
            if instance is None or not is_polled(instance, run.object_name):
                raise StreamGone("the object is no longer polled")
            stream = await locked_stream(session, run.instance.id, run.object_name)
            if stream is None:
                raise StreamGone("the stream is gone")
            if Progress.from_json(stream.checkpoint).run != run.token:
                raise StreamGone("another poll took the stream over")
            if stream.next_poll_at is None:
                raise StreamGone("events are paused")
            yield session, stream, instance
            if run.outcome is None:  # the outcome set the next poll's time instead
                stream.next_poll_at = utcnow() + LEASE
            run.remember(stream)
    except BaseException:
        # Not committed: an outcome written in this transaction is still to be written.
        run.outcome = outcome_before
        raise


@contextlib.asynccontextmanager
async def lease_kept(run: PollRun) -> AsyncIterator[None]:
    """Keeps the stream's lease while the poll waits on its vendor."""

    async def refresh() -> None:
        while True:
            await asyncio.sleep(LEASE_REFRESH_SECONDS)
            try:
                async with owned_stream(run):
                    pass
            except StreamGone:
                return
            except Exception:
                run.log.warning("could not extend the poll's lease", exc_info=True)

    task = asyncio.create_task(refresh(), name=f"poll-lease-{run.instance.id}")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])  # unlike awaiting it, never swallows our own cancellation
