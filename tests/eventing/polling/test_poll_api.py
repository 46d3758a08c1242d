"""`POST /v1/instances/{id}/poll`: poll now, optionally waiting for the outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from interlink.eventing.polling.tasks import register_polling
from interlink.eventing.task_names import POLL_TASK
from interlink.runtime import EmbeddedRuntime, TaskRegistry
from interlink.sandbox import RunningSandbox
from interlink.server import RunningHub
from interlink.storage.models import Job
from tests.hub_fixtures import Org
from tests.hub_fixtures import make_org as make_hub_org

from .support import change_events, make_instance

POLL_PATH = "/v1/instances/{instance_id}/poll"


@pytest.fixture
async def workers(hub: RunningHub) -> AsyncIterator[EmbeddedRuntime]:
    registry = TaskRegistry()
    register_polling(registry, hub.hub)
    runtime = EmbeddedRuntime(hub.hub.database, registry, poll_interval=0.02)
    await runtime.start()
    yield runtime
    await runtime.stop(timeout=5)


async def queued_polls(hub: RunningHub) -> list[Job]:
    async with hub.hub.database.transaction() as session:
        return list(
            await session.scalars(
                select(Job).where(Job.task_name == POLL_TASK, Job.status == "todo")
            )
        )


async def test_poll_now_queues_one_poll_per_object(
    hub: RunningHub, org: Org, api: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    instance_id = await make_instance(
        hub.hub, org.id, sandbox.url, objects=("contacts", "companies")
    )
    for _ in range(2):
        response = await api.post(f"/v1/instances/{instance_id}/poll")
        assert response.status_code == 202, response.text
        assert response.json() == {"queued": ["companies", "contacts"]}
    assert sorted(job.args["object_name"] for job in await queued_polls(hub)) == [
        "companies",
        "contacts",
    ]


async def test_poll_now_and_wait_answers_with_the_status(
    hub: RunningHub,
    org: Org,
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    workers: EmbeddedRuntime,
) -> None:
    sandbox.store.contacts.create({"email": "a@example.com"})
    instance_id = await make_instance(hub.hub, org.id, sandbox.url)

    response = await api.post(f"/v1/instances/{instance_id}/poll", params={"wait": "true"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["queued"] == ["contacts"]
    assert body["done"] is True
    contacts = body["objects"]["contacts"]
    assert (contacts["state"], contacts["last_poll_outcome"]) == ("live", "ok")
    assert contacts["high_water_mark"] is not None


async def test_another_organizations_instance_is_not_found(
    hub: RunningHub, org: Org, api: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    other = await make_hub_org(hub, "Other")
    theirs = await make_instance(hub.hub, other.id, "http://127.0.0.1:9")

    assert (await api.post(f"/v1/instances/{theirs}/poll")).status_code == 404
    assert (await api.post("/v1/instances/inst_nope/poll")).status_code == 404
    assert (await anonymous.post(f"/v1/instances/{theirs}/poll")).status_code == 401
    assert await queued_polls(hub) == []


async def test_an_instance_whose_events_are_off_has_nothing_to_poll(
    hub: RunningHub, org: Org, api: httpx.AsyncClient
) -> None:
    instance_id = await make_instance(hub.hub, org.id, "http://127.0.0.1:9")
    await change_events(hub.hub, instance_id, enabled=False)

    response = await api.post(f"/v1/instances/{instance_id}/poll")

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
