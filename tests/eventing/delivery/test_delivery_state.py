"""The instance's delivery state: 410 and long failure disable it, PATCH re-enables it;
deleted instances and private callback URLs get nothing."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from interlink.eventing.delivery import wake_due_deliveries
from interlink.eventing.delivery.task import DELIVER_TIMER_TASK
from interlink.eventing.recorder import wake_delivery
from interlink.eventing.task_names import DELIVER_TASK, DELIVERY_QUEUE, POLL_TASK
from interlink.runtime import DEFAULT_QUEUE, EmbeddedRuntime
from interlink.server import RunningHub
from interlink.storage.models import Job
from interlink.storage.types import utcnow
from tests.eventing.delivery.receiver import Receiver, Reply
from tests.eventing.delivery.support import (
    all_finished,
    attempts_of,
    change,
    deliveries_of,
    drive,
    instance_row,
    make_instance,
    record,
    update_instance,
)


async def test_410_disables_delivery_until_it_is_re_enabled(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(410))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await hub.hub.runtime.run_until_idle()

    described = (await api.get(f"/v1/instances/{instance['id']}")).json()
    assert described["status"]["delivery"]["state"] == "disabled"
    assert "410" in described["status"]["delivery"]["reason"]
    [gone] = await deliveries_of(hub.hub, instance["id"])
    assert gone.status == "failed"

    await record(hub.hub, instance["id"], change("c2"))
    await hub.hub.runtime.run_until_idle()
    assert len(receiver.received) == 1  # nothing more while disabled

    patched = await api.patch(
        f"/v1/instances/{instance['id']}", json={"delivery": {"state": "enabled"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"]["delivery"]["state"] == "enabled"
    await wake_delivery(None, instance["id"], hub.hub.runtime)  # what PATCH's re-enable does
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=2))

    first, second = await deliveries_of(hub.hub, instance["id"])
    assert receiver.webhook_ids == [first.id, first.id, second.id]
    assert (first.status, second.status) == ("succeeded", "succeeded")


async def test_delivery_is_disabled_after_the_failure_window(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(500))
    instance = await make_instance(api, receiver.url)
    await update_instance(
        hub.hub, instance["id"], delivery_failing_since=utcnow() - timedelta(days=6)
    )
    await record(hub.hub, instance["id"], change("c1"))
    await hub.hub.runtime.run_until_idle()

    row = await instance_row(hub.hub, instance["id"])
    assert row.delivery_state == "disabled"
    assert row.delivery_reason == "only failures for 6.0 days"
    [delivery] = await deliveries_of(hub.hub, instance["id"])
    assert delivery.status == "failed"
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at <= utcnow()  # first in line once re-enabled
    assert len(receiver.received) == 1


async def test_failures_start_the_window_and_a_success_closes_it(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    settings = hub.hub.settings
    hub.hub.settings = settings.model_copy(update={"retry_schedule": "60"})  # one try, here
    receiver.reply(Reply(500))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await hub.hub.runtime.run_until_idle()

    failing = await instance_row(hub.hub, instance["id"])
    [delivery] = await deliveries_of(hub.hub, instance["id"])
    [attempt] = await attempts_of(hub.hub, delivery.id)
    assert failing.delivery_failing_since == attempt.attempted_at
    assert failing.delivery_state == "enabled"  # one failure is far from five days

    assert (await api.post(f"/v1/deliveries/{delivery.id}/retry")).status_code == 202
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))
    assert (await instance_row(hub.hub, instance["id"])).delivery_failing_since is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
async def test_a_private_callback_url_is_refused_at_connect_time(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver, host: str
) -> None:
    port = receiver.url.split(":")[-1].split("/")[0]
    instance = await make_instance(api, f"http://{host}:{port}/hook")  # allowed when given…
    hub.hub.settings = hub.hub.settings.model_copy(update={"allow_private_networks": False})
    await record(hub.hub, instance["id"], change("c1"))  # …but no longer when connecting
    await hub.hub.runtime.run_until_idle()

    assert receiver.received == []
    [delivery] = await deliveries_of(hub.hub, instance["id"])
    attempts = await attempts_of(hub.hub, delivery.id)
    assert attempts
    for attempt in attempts:
        assert attempt.status_code is None
        assert "only public addresses are allowed" in (attempt.error or "")


async def test_nothing_is_delivered_for_a_deleted_instance_or_without_a_callback_url(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await update_instance(hub.hub, instance["id"], deleted_at=utcnow())
    await hub.hub.runtime.run_until_idle()

    other = await make_instance(api, receiver.url)
    await record(hub.hub, other["id"], change("c1"))
    row = await instance_row(hub.hub, other["id"])
    await update_instance(hub.hub, other["id"], events={**row.events, "callback_url": None})
    await hub.hub.runtime.run_until_idle()

    assert receiver.received == []
    assert [d.status for d in await deliveries_of(hub.hub, instance["id"])] == ["pending"]
    assert [d.status for d in await deliveries_of(hub.hub, other["id"])] == ["pending"]


async def test_a_sweep_wakes_queues_whose_job_failed_for_good(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    async with hub.hub.database.transaction() as session:  # as if the job had given up
        await session.execute(update(Job).values(status="failed"))
    await hub.hub.runtime.run_until_idle()
    assert receiver.received == []

    async with hub.hub.database.transaction() as session:
        assert await wake_due_deliveries(session, hub.hub.runtime) == 1
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))
    assert len(receiver.received) == 1


async def test_deliveries_run_in_slots_of_their_own(hub: RunningHub) -> None:
    # A burst of deliveries must not hold up polls and exports, nor they deliveries: the
    # runtime's behaviour is in tests/runtime; this is the hub's wiring of it.
    runtime = hub.hub.runtime
    assert isinstance(runtime, EmbeddedRuntime)
    assert runtime.queue_concurrency == {DELIVERY_QUEUE: hub.hub.settings.delivery_concurrency}
    queues = {name: runtime.registry.queue_of(name) for name in (DELIVER_TASK, DELIVER_TIMER_TASK)}
    assert set(queues.values()) == {DELIVERY_QUEUE}
    assert runtime.registry.queue_of(POLL_TASK) == DEFAULT_QUEUE
