"""One poll of one instance object: what it works on, and the stream it owns.

A poll reads its stream in a read-only transaction and takes it at its first commit, if
the stream is still as it read it: that commit writes the poll's run token into the
checkpoint (later commits check the token is still theirs) and keeps the lease on the
stream (`next_poll_at` pushed forward, first by the scheduler that queued the poll), so
no second poll is queued while this one runs. Taking the stream optimistically keeps a
write transaction off every poll's path. The lease is kept alive until the poll ends,
however slow the vendor is.
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


@dataclass(frozen=True)
class Reading:
    """The stream as a poll read it, before taking it: whatever commits to the stream
    changes its checkpoint (a page, a claim) or its last poll time (an outcome)."""

    checkpoint: dict[str, Any] | None
    last_poll_at: datetime | None

    @classmethod
    def of(cls, stream: EventStream) -> Reading:
        return cls(stream.checkpoint, stream.last_poll_at)


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
    # Until the poll's first commit: the stream as read, and the checkpoint that takes it.
    reading: Reading | None = None
    taking: dict[str, Any] | None = None

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
    """Read what the poll needs; None when there is nothing to poll. The stream is taken
    by the poll's first commit (`owned_stream`), if no other poll got there first."""
    now = utcnow()
    async with hub.database.reading() as session:
        instance = await session.get(Instance, instance_id)
        if instance is None or not is_polled(instance, object_name):
            return None
        stream = await session.scalar(
            select(EventStream).where(
                EventStream.instance_id == instance_id, EventStream.object_name == object_name
            )
        )
        if stream is None or stream.next_poll_at is None:
            return None
        try:
            element = await find_element(session, instance.organization_id, instance.element_key)
        except NotFound:
            element = None
        obj = element.find_object(object_name) if element is not None else None
    if element is None or obj is None:
        await _cannot_poll(hub, instance, object_name, log)
        return None
    progress = Progress.from_json(stream.checkpoint)
    if not progress.in_flight:
        progress = Progress(
            steps=plan(stream, obj, now), lookback_seconds=progress.lookback_seconds
        )
    token = secrets.token_urlsafe(12)
    progress = replace(progress, run=token)
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
        reading=Reading.of(stream),
        taking=progress.to_json(),
    )
    return run, progress


async def _cannot_poll(hub: Hub, instance: Instance, object_name: str, log: PollLogger) -> None:
    """The element changed under the instance: nothing to poll until it is fixed."""
    now = utcnow()
    async with hub.database.transaction() as session:
        stream = await locked_stream(session, instance.id, object_name)
        if stream is None or stream.next_poll_at is None:
            return
        stream.last_poll_at, stream.last_poll_outcome = now, "error"
        stream.last_error = f"element {instance.element_key!r} has no object {object_name!r}"
        stream.next_poll_at = now + timedelta(seconds=poll_interval(instance) or 300)
        log.warning("cannot poll: %s", stream.last_error)


def take(run: PollRun, stream: EventStream) -> None:
    """In a transaction holding the stream: make sure it is this poll's, taking it if this
    is the poll's first commit; `StreamGone` if another poll has it."""
    if run.reading is not None:
        if Reading.of(stream) != run.reading:
            raise StreamGone("another poll took the stream over")
        stream.checkpoint = run.taking
    elif Progress.from_json(stream.checkpoint).run != run.token:
        raise StreamGone("another poll took the stream over")


def taken(run: PollRun) -> None:
    """The transaction that took the stream has committed."""
    run.reading = run.taking = None


@contextlib.asynccontextmanager
async def owned_stream(run: PollRun) -> AsyncIterator[tuple[AsyncSession, EventStream, Instance]]:
    """A transaction on the stream this poll owns (taking it on the poll's first commit);
    `StreamGone` otherwise.

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
            take(run, stream)
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
    taken(run)


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
