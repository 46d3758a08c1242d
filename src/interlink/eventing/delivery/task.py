"""The deliver job: drains one instance's delivery queue, one delivery at a time.

It reads a window of due deliveries from the head of the queue, with their bodies (encoded
when the deliveries were created: sending reads no events), sends them one after the other
(stopping at the first failure, which stays at the head), and records every attempt with
its delivery's new state. Recording a window and reading the one after the next happen in
one transaction, while the next window is sent. The POSTs happen outside any transaction.
A crash between sending and recording loses nothing: an attempt not recorded is made
again (same `webhook-id`, same body) — at least once.

A head that is not due yet ends the job with a timer (`DELIVER_TIMER_TASK`) that wakes the
queue when it is due. The timer is a job of its own, without the queue's lock, so that a
wake-up meanwhile (a retry asked through the API, delivery re-enabled) is not stuck
behind a job scheduled hours ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import httpx
from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.eventing.delivery.outcome import (
    UNFINISHED,
    DeliveryPolicy,
    apply_attempt,
    attempt_row,
    attempt_values,
)
from interlink.eventing.delivery.queue import QueuedDelivery, accepts_deliveries, head_of_queue
from interlink.eventing.delivery.sender import AttemptResult, delivery_transport, post_batch
from interlink.eventing.delivery.signing import Signer, secrets_in_force
from interlink.eventing.recorder import wake_delivery
from interlink.eventing.task_names import DELIVER_TASK, DELIVERY_QUEUE
from interlink.hub import Hub
from interlink.runtime import AlreadyQueued, JobContext, JobRuntime, RetryPolicy, TaskRegistry
from interlink.storage.models import Delivery, DeliveryAttempt, Instance
from interlink.storage.types import utcnow

# Stored in job rows: never rename.
DELIVER_TIMER_TASK = "eventing.deliver_timer"

# A run hands over to a fresh job after this much, so one busy instance cannot keep a
# worker from every other instance's deliveries.
MAX_ATTEMPTS_PER_RUN = 500
MAX_SECONDS_PER_RUN = 30.0
# Deliveries read (with their bodies) per transaction; their attempts are recorded
# together too, so a crash re-sends at most this many. Each transaction costs about as
# much as reading and recording a dozen deliveries on SQLite, in the thread that also
# sends: fewer, larger windows pay (100 rather than 50: +9% deliveries/s on loopback).
WINDOW = 100
# A window keeps the bodies it sends up to this size (always at least one), so the two
# windows held at once, the one being sent and the one read ahead, keep at most 2 × 8 MiB
# (100 batches of up to 256 KiB are 25 MiB, read and then cut). What is cut is read
# again for the next window.
WINDOW_BYTES = 8 * 1024 * 1024

# The handler only fails when the database does; the deliveries wait in their rows.
HANDLER_RETRY = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=300.0)

DELIVERIES = cast(Table, Delivery.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)


@dataclass(frozen=True)
class PlannedAttempt:
    delivery_id: str
    attempts_before: int  # to tell whether another run recorded this delivery meanwhile
    body: bytes


@dataclass(frozen=True)
class Window:
    """The next deliveries due, in queue order, with what sending them needs."""

    url: str
    signer: Signer
    attempts: list[PlannedAttempt]


Sent = tuple[PlannedAttempt, AttemptResult]


def register_delivery(registry: TaskRegistry, hub: Hub) -> None:
    """The deliver job (`DELIVER_TASK`, queued by `recorder.wake_delivery`) and its timer."""

    @registry.task(name=DELIVER_TASK, retry=HANDLER_RETRY, queue=DELIVERY_QUEUE)
    async def deliver(context: JobContext, instance_id: str) -> None:
        await drain_queue(hub, context, instance_id)

    @registry.task(name=DELIVER_TIMER_TASK, retry=HANDLER_RETRY, queue=DELIVERY_QUEUE)
    async def deliver_timer(context: JobContext, instance_id: str) -> None:
        await wake_delivery(None, instance_id, context.runtime)


async def drain_queue(hub: Hub, context: JobContext, instance_id: str) -> None:
    """Send due deliveries in order until the queue is empty, blocked, or the run's budget
    is spent. Sending stops at the first failure: the failed delivery stays at the head.

    While a window is sent, the previous window's attempts are recorded and the window
    after this one is read, in one transaction: as long as every delivery succeeds, the
    database works while the receiver answers. The window read ahead is sent only if this
    one went through completely, so nothing passes a failed delivery.
    """
    policy = DeliveryPolicy.from_settings(hub.settings)
    settings = hub.settings
    timeout = settings.delivery_timeout_seconds
    deadline = time.monotonic() + MAX_SECONDS_PER_RUN
    made = 0
    unrecorded: list[Sent] = []
    window: Window | None = None
    async with contextlib.AsyncExitStack() as stack:
        transport = None  # one for the whole run, so that its connections are kept
        while True:
            if window is None:
                async with hub.database.transaction() as session:
                    instance = await session.get(Instance, instance_id)
                    if instance is None:
                        return  # removed, and its deliveries with it
                    if unrecorded:
                        await record_attempts(session, instance, unrecorded, policy)
                    unrecorded = []
                    window = await plan_window(
                        session, hub, context.runtime, instance, _budget(made, deadline)
                    )
                if window is None:
                    return
            if transport is None:
                transport = await stack.enter_async_context(
                    delivery_transport(allow_private=settings.allow_private_networks)
                )
            after = _budget(made + len(window.attempts), deadline)
            ahead = asyncio.create_task(
                record_and_read_ahead(hub, instance_id, unrecorded, window, after, policy)
            )
            try:
                sent = await send_window(transport, window, timeout, context, instance_id, deadline)
            except BaseException:
                ahead.cancel()
                await asyncio.wait([ahead])
                raise
            next_window = await ahead  # `unrecorded` is recorded by now
            made += len(sent)
            unrecorded = sent
            went_through = len(sent) == len(window.attempts) and sent[-1][1].succeeded
            window = next_window if went_through else None


def _budget(made: int, deadline: float) -> int:
    return MAX_ATTEMPTS_PER_RUN - made if time.monotonic() < deadline else 0


async def record_and_read_ahead(
    hub: Hub,
    instance_id: str,
    unrecorded: list[Sent],
    sending: Window,
    budget: int,
    policy: DeliveryPolicy,
) -> Window | None:
    """Record attempts already made, and read the window after `sending`: None when
    anything but sending it would come next (the caller then plans as usual)."""
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        if instance is None:
            return None
        if unrecorded:
            await record_attempts(session, instance, unrecorded, policy)
        if budget <= 0 or not accepts_deliveries(instance):
            return None
        skipped = [planned.delivery_id for planned in sending.attempts]
        heads = await head_of_queue(
            session, instance.id, utcnow(), limit=min(WINDOW, budget), skipping=skipped
        )
        return _window(hub, instance, heads)


async def send_window(
    transport: httpx.AsyncBaseTransport,
    window: Window,
    timeout: float,  # noqa: ASYNC109 - each attempt's deadline
    context: JobContext,
    instance_id: str,
    deadline: float,
) -> list[Sent]:
    """POST the window's deliveries in order, up to and including the first failure, or
    until the run's time is up (a slow receiver does not keep the worker for a window)."""
    sent: list[Sent] = []
    for planned in window.attempts:
        if sent and time.monotonic() >= deadline:
            break  # the rest stays at the head of the queue, for the next run
        headers = window.signer.headers(planned.delivery_id, planned.body, utcnow())
        result = await post_batch(transport, window.url, planned.body, headers, timeout=timeout)
        sent.append((planned, result))
        _log_attempt(context, instance_id, planned, result)
        if not result.succeeded:
            break
    return sent


async def plan_window(
    session: AsyncSession, hub: Hub, runtime: JobRuntime, instance: Instance, budget: int
) -> Window | None:
    """The due deliveries at the head of the queue, up to `WINDOW` (and `budget`). None
    when nothing can be sent now, once what comes next is arranged: a timer for a head
    not due yet, a fresh job when the run's budget is spent."""
    if not accepts_deliveries(instance):
        return None
    now = utcnow()
    heads = await head_of_queue(session, instance.id, now, limit=min(WINDOW, max(budget, 1)))
    if not heads:
        return None
    if not heads[0].due:
        assert heads[0].next_attempt_at is not None
        await wake_at(session, runtime, instance.id, heads[0].next_attempt_at)
        return None
    if budget <= 0:
        await wake_delivery(session, instance.id, runtime)  # the rest in a fresh job
        return None
    return _window(hub, instance, heads)


def _window(hub: Hub, instance: Instance, heads: list[QueuedDelivery]) -> Window | None:
    """The due deliveries at the start of `heads`, up to WINDOW_BYTES of bodies, with
    what sending them needs."""
    planned: list[PlannedAttempt] = []
    size = 0
    for delivery in heads:  # up to the first one that is not due: nothing passes it
        if not delivery.due:
            break
        if delivery.payload is None:  # every delivery is created with its body
            raise RuntimeError(f"delivery {delivery.id} has no body to send")
        size += len(delivery.payload)
        if planned and size > WINDOW_BYTES:
            break
        planned.append(PlannedAttempt(delivery.id, delivery.attempts, delivery.payload))
    if not planned:
        return None
    return Window(
        url=instance.events["callback_url"],
        signer=Signer.of(secrets_in_force(hub.secrets, instance, utcnow())),
        attempts=planned,
    )


async def record_attempts(
    session: AsyncSession, instance: Instance, sent: list[Sent], policy: DeliveryPolicy
) -> None:
    """Store the attempts and what they do to their deliveries and the instance.

    Only the last attempt of a window can have failed; the successes before it, the bulk
    of the work, are written with one statement each for all of them.
    """
    now = utcnow()
    succeeded = [(planned, result) for planned, result in sent if result.succeeded]
    if succeeded:
        await _record_successes(session, instance, succeeded, now)
    for planned, result in sent:
        if not result.succeeded:
            await _record_failure(session, instance, planned, result, policy, now)


async def _record_successes(
    session: AsyncSession, instance: Instance, succeeded: list[Sent], now: datetime
) -> None:
    attempts = [attempt_values(planned.delivery_id, result) for planned, result in succeeded]
    await session.execute(insert(ATTEMPTS), attempts)
    # A delivery another run recorded meanwhile (this one was taken over as stalled) keeps
    # its state; this run's attempt stays in the log all the same.
    await session.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id == bindparam("delivery_id"),
            DELIVERIES.c.attempts == bindparam("attempts_before"),
            # Not IN (…): executemany cannot expand a list.
            or_(*(DELIVERIES.c.status == status for status in UNFINISHED)),
        )
        .values(
            status="succeeded",
            attempts=DELIVERIES.c.attempts + 1,
            finished_at=now,
            next_attempt_at=None,
            payload=None,  # see outcome.finish
        ),
        [
            {"delivery_id": planned.delivery_id, "attempts_before": planned.attempts_before}
            for planned, _ in succeeded
        ],
    )
    # Read in this transaction: written (by the flush) only when a failure window closes.
    if instance.delivery_failing_since is not None:
        instance.delivery_failing_since = None


async def _record_failure(
    session: AsyncSession,
    instance: Instance,
    planned: PlannedAttempt,
    result: AttemptResult,
    policy: DeliveryPolicy,
    now: datetime,
) -> None:
    delivery = await session.get(Delivery, planned.delivery_id, with_for_update=True)
    if delivery is None:
        return  # removed meanwhile (retention): nothing left to record it on
    if delivery.status in UNFINISHED and delivery.attempts == planned.attempts_before:
        session.add(apply_attempt(delivery, instance, result, policy, now=now))
    else:
        session.add(attempt_row(delivery.id, result))
    await session.flush()


def _log_attempt(
    context: JobContext, instance_id: str, planned: PlannedAttempt, result: AttemptResult
) -> None:
    context.log.info(
        "delivery attempt: %s",
        result.status_code if result.error is None else result.error,
        extra={
            "instance_id": instance_id,
            "delivery_id": planned.delivery_id,
            "action": "deliver",
            "status_code": result.status_code,
            "latency_ms": result.latency_ms,
        },
    )


async def wake_at(
    session: AsyncSession, runtime: JobRuntime, instance_id: str, when: datetime
) -> None:
    """A timer that wakes the instance's queue at `when` (one per instance and time)."""
    with contextlib.suppress(AlreadyQueued):
        await runtime.defer(
            DELIVER_TIMER_TASK,
            {"instance_id": instance_id},
            queueing_lock=f"deliver-at:{instance_id}:{round(when.timestamp() * 1000)}",
            schedule_at=when,
            session=session,
        )


async def wake_due_deliveries(session: AsyncSession, runtime: JobRuntime) -> int:
    """Wake every instance with unfinished deliveries; for a periodic sweep (maintenance).

    Belt and braces: a deliver job that failed for good (the database away for a long
    time) leaves its deliveries in their rows, and this picks them up again.
    """
    instance_ids = await session.scalars(
        select(Delivery.instance_id)
        .join(Instance, Instance.id == Delivery.instance_id)
        .where(
            Delivery.status.in_(UNFINISHED),
            Instance.deleted_at.is_(None),
            Instance.delivery_state == "enabled",
        )
        .distinct()
    )
    woken = 0
    for instance_id in list(instance_ids):
        await wake_delivery(session, instance_id, runtime)
        woken += 1
    return woken
