"""Attempts and retries: 5xx, Retry-After, timeouts, a receiver that is down, dead after the
schedule, strict order, bounded runs, and a crash between sending and recording."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from interlink.eventing.cloudevents import BATCH_CONTENT_TYPE
from interlink.eventing.delivery import task as delivery_task
from interlink.eventing.delivery.schedule import RETRY_AFTER_CAP_SECONDS
from interlink.eventing.delivery.sender import USER_AGENT
from interlink.eventing.task_names import DELIVER_TASK
from interlink.server import RunningHub
from interlink.storage.models import Delivery
from interlink.storage.types import utcnow
from tests.eventing.delivery.receiver import Receiver, Reply
from tests.eventing.delivery.support import (
    all_finished,
    attempts_of,
    change,
    deliveries_of,
    drive,
    jobs_named,
    make_instance,
    record,
)


async def test_5xx_is_retried_with_the_same_webhook_id_until_it_succeeds(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(500, body=b"E" * 5000), Reply(503))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"), change("c2"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))

    [delivery] = await deliveries_of(hub.hub, instance["id"])
    assert delivery.status == "succeeded"
    assert delivery.attempts == 3
    assert receiver.webhook_ids == [delivery.id] * 3
    assert len({tuple(received.event_ids) for received in receiver.received}) == 1
    attempts = await attempts_of(hub.hub, delivery.id)
    assert [a.status_code for a in attempts] == [500, 503, 204]
    assert [a.error for a in attempts] == ["HTTP 500", "HTTP 503", None]
    assert attempts[0].response_body == "E" * 1024  # kept, truncated to 1 KiB
    assert all(a.latency_ms is not None and a.latency_ms >= 0 for a in attempts)


@pytest.mark.parametrize(
    ("retry_after", "expected_seconds"),
    [
        (lambda: "2", 2.0),
        (lambda: "99999", RETRY_AFTER_CAP_SECONDS),
        (lambda: format_datetime(utcnow() + timedelta(seconds=120), usegmt=True), 120.0),
    ],
    ids=["seconds", "capped", "http-date"],
)
async def test_retry_after_is_honoured_up_to_an_hour(
    hub: RunningHub,
    api: httpx.AsyncClient,
    receiver: Receiver,
    retry_after: Callable[[], str],
    expected_seconds: float,
) -> None:
    receiver.reply(Reply(429, headers={"Retry-After": retry_after()}))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await hub.hub.runtime.run_until_idle()

    [delivery] = await deliveries_of(hub.hub, instance["id"])
    [attempt] = await attempts_of(hub.hub, delivery.id)
    assert delivery.status == "failed"
    assert attempt.status_code == 429
    assert delivery.next_attempt_at is not None
    waits = (delivery.next_attempt_at - attempt.attempted_at).total_seconds()
    assert expected_seconds - 2 <= waits <= expected_seconds + 2
    assert len(receiver.received) == 1  # not tried again before it is due
    # The queue sleeps on a timer job, not on a deliver job holding the queue's lock.
    [timer] = await jobs_named(hub.hub, delivery_task.DELIVER_TIMER_TASK)
    assert timer.status == "todo"
    assert timer.scheduled_at == delivery.next_attempt_at


async def test_a_slow_receiver_times_out_and_is_tried_again(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(200, delay=0.8))  # the hub's timeout is 0.5 s here
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))

    [delivery] = await deliveries_of(hub.hub, instance["id"])
    first, second = await attempts_of(hub.hub, delivery.id)
    assert first.status_code is None
    assert first.error == "no answer within 0.5 s"
    assert second.status_code == 204
    assert delivery.status == "succeeded"


async def test_a_receiver_that_is_down_is_an_attempt_with_the_error(
    hub: RunningHub, api: httpx.AsyncClient
) -> None:
    instance = await make_instance(api, "http://127.0.0.1:9/hook")  # nothing listens
    await record(hub.hub, instance["id"], change("c1"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))

    [delivery] = await deliveries_of(hub.hub, instance["id"])
    attempts = await attempts_of(hub.hub, delivery.id)
    assert delivery.status == "dead"
    assert len(attempts) == 3  # the first try and the schedule's two retries
    assert all(a.status_code is None and "could not connect" in (a.error or "") for a in attempts)


async def test_dead_after_the_last_attempt_then_the_next_delivery_goes_on(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(500), Reply(502), Reply(500))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await record(hub.hub, instance["id"], change("c1", vendor_time="2024-05-02T00:00:00Z"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=2))

    first, second = await deliveries_of(hub.hub, instance["id"])
    assert (first.status, first.attempts, first.next_attempt_at) == ("dead", 3, None)
    assert first.finished_at is not None
    assert (second.status, second.attempts) == ("succeeded", 1)
    assert receiver.webhook_ids == [first.id, first.id, first.id, second.id]


async def test_a_failing_delivery_holds_back_later_ones_until_it_succeeds(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(500), Reply(500))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1", "created"))
    await hub.hub.runtime.run_until_idle()  # first attempt fails
    await record(hub.hub, instance["id"], change("c1", "updated"))
    await record(hub.hub, instance["id"], change("c1", "deleted"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=3))

    first, second, third = await deliveries_of(hub.hub, instance["id"])
    assert receiver.webhook_ids == [first.id, first.id, first.id, second.id, third.id]
    types = [event["type"] for received in receiver.received[2:] for event in received.events]
    assert types == ["contacts.created", "contacts.updated", "contacts.deleted"]


async def test_a_run_hands_over_to_a_new_job_after_its_budget(
    hub: RunningHub,
    api: httpx.AsyncClient,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery_task, "MAX_ATTEMPTS_PER_RUN", 2)
    instance = await make_instance(api, receiver.url)
    for n in range(5):
        await record(hub.hub, instance["id"], change(f"c{n}"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=5))

    assert len(receiver.received) == 5
    runs = [job for job in await jobs_named(hub.hub, DELIVER_TASK) if job.status == "succeeded"]
    assert len(runs) >= 3


async def test_a_run_hands_over_when_its_time_is_up_even_inside_a_window(
    hub: RunningHub,
    api: httpx.AsyncClient,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery_task, "MAX_SECONDS_PER_RUN", 0.05)
    receiver.reply(*[Reply(204, delay=0.1)] * 3)  # each answer outlasts a run's time
    instance = await make_instance(api, receiver.url)
    for n in range(3):
        await record(hub.hub, instance["id"], change(f"c{n}"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=3))

    deliveries = await deliveries_of(hub.hub, instance["id"])
    assert receiver.webhook_ids == [d.id for d in deliveries]  # each once, in order
    runs = [job for job in await jobs_named(hub.hub, DELIVER_TASK) if job.status == "succeeded"]
    assert len(runs) >= 3  # one delivery per run, though one window held them all


async def test_a_crash_between_sending_and_recording_sends_the_same_delivery_again(
    hub: RunningHub,
    api: httpx.AsyncClient,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = delivery_task.record_attempts
    crashes: list[bool] = []

    async def crash_once(*args: object, **kwargs: object) -> None:
        if not crashes:
            crashes.append(True)
            raise RuntimeError("the process died right after the POST")
        await original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(delivery_task, "record_attempts", crash_once)
    instance = await make_instance(api, receiver.url)
    events = await record(hub.hub, instance["id"], change("c1"), change("c2"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))

    [delivery] = await deliveries_of(hub.hub, instance["id"])
    assert crashes
    assert receiver.webhook_ids == [delivery.id, delivery.id]
    assert [r.event_ids for r in receiver.received] == [[e.id for e in events]] * 2
    assert delivery.status == "succeeded"
    assert len(await attempts_of(hub.hub, delivery.id)) == 1  # the unrecorded one left no row


async def test_a_failure_inside_a_window_stops_it_and_keeps_the_successes_before(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(204), Reply(500))
    instance = await make_instance(api, receiver.url)
    for n in range(4):
        await record(hub.hub, instance["id"], change(f"c{n}"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=4))

    first, second, third, fourth = await deliveries_of(hub.hub, instance["id"])
    assert receiver.webhook_ids == [first.id, second.id, second.id, third.id, fourth.id]
    assert [d.attempts for d in (first, second, third, fourth)] == [1, 2, 1, 1]
    assert [a.status_code for a in await attempts_of(hub.hub, second.id)] == [500, 204]


async def test_redirects_are_not_followed(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(307, headers={"location": f"{receiver.url}?moved=1"}))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))

    [delivery] = await deliveries_of(hub.hub, instance["id"])
    assert [a.status_code for a in await attempts_of(hub.hub, delivery.id)] == [307, 204]
    assert len(receiver.received) == 2  # the 307 was an answer, not a detour


async def test_a_window_holds_bodies_up_to_its_byte_budget(
    hub: RunningHub,
    api: httpx.AsyncClient,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance = await make_instance(api, receiver.url)
    for n in range(5):
        await record(hub.hub, instance["id"], change(f"c{n}"))
    [first, *_] = await deliveries_of(hub.hub, instance["id"])
    async with hub.hub.database.reading() as session:
        body = await session.scalar(select(Delivery.payload).where(Delivery.id == first.id))
    assert body is not None
    # Room for two bodies of this size (all five are alike), not three.
    monkeypatch.setattr(delivery_task, "WINDOW_BYTES", len(body) * 2 + 10)
    windows: list[int] = []
    send_window = delivery_task.send_window

    async def counted(*args: Any) -> list[delivery_task.Sent]:
        windows.append(len(args[1].attempts))
        return await send_window(*args)

    monkeypatch.setattr(delivery_task, "send_window", counted)
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=5))

    assert windows == [2, 2, 1]
    ids = [delivery.id for delivery in await deliveries_of(hub.hub, instance["id"])]
    assert receiver.webhook_ids == ids


async def test_a_delivery_says_who_sends_it_and_keeps_no_cookies(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    # Deliveries go to the transport, not through a client: no cookie jar, and the
    # headers a client would add are the sender's to set.
    receiver.reply(Reply(204, headers={"set-cookie": "session=abc; Path=/"}))
    instance = await make_instance(api, receiver.url)
    for n in range(2):
        await record(hub.hub, instance["id"], change(f"c{n}"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=2))

    assert len(receiver.received) == 2
    for received in receiver.received:
        assert received.headers["user-agent"] == USER_AGENT
        assert received.headers["content-type"] == BATCH_CONTENT_TYPE
        assert "cookie" not in received.headers


async def test_an_encoded_answer_is_kept_decoded(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    message = b"receiver says no: " + b"x" * 2000
    receiver.reply(Reply(500, headers={"content-encoding": "gzip"}, body=gzip.compress(message)))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))

    [delivery] = await deliveries_of(hub.hub, instance["id"])
    failed, succeeded = await attempts_of(hub.hub, delivery.id)
    assert (failed.status_code, succeeded.status_code) == (500, 204)
    assert failed.response_body == message[:1024].decode()


async def test_a_window_read_ahead_waits_behind_a_failure_in_the_window_being_sent(
    hub: RunningHub,
    api: httpx.AsyncClient,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Windows of two: the third window is read while the second is sent, and the second
    # fails at its last delivery; nothing of the third may pass it.
    monkeypatch.setattr(delivery_task, "WINDOW", 2)
    receiver.reply(Reply(204), Reply(204), Reply(204), Reply(500))
    instance = await make_instance(api, receiver.url)
    for n in range(6):
        await record(hub.hub, instance["id"], change(f"c{n}"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=6))

    deliveries = await deliveries_of(hub.hub, instance["id"])
    ids = [delivery.id for delivery in deliveries]
    assert receiver.webhook_ids == [*ids[:4], ids[3], *ids[4:]]
    assert [delivery.attempts for delivery in deliveries] == [1, 1, 1, 2, 1, 1]
    assert all(delivery.status == "succeeded" for delivery in deliveries)
