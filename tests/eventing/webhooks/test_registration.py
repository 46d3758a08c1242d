"""Subscriptions at the vendor: registered in the background with a generated secret,
removed on delete or when leaving webhook mode, retried when the vendor says wait."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.eventing.task_names import REGISTER_WEBHOOK_TASK
from interlink.eventing.webhooks.registration import REMOVE_WEBHOOK_TASK
from interlink.sandbox import RunningSandbox
from interlink.server import RunningHub
from interlink.storage.models import Job
from interlink.storage.types import utcnow

from .conftest import create_instance, credentials_of, webhook_events


async def vendor_webhooks(vendor: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await vendor.get("/api/webhooks")
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def jobs(hub: RunningHub, task_name: str) -> list[Job]:
    async with hub.hub.database.transaction() as session:
        rows = await session.scalars(select(Job).where(Job.task_name == task_name))
        return list(rows)


async def test_a_webhook_instance_registers_its_subscription_in_the_background(
    wired: RunningHub,
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    vendor: httpx.AsyncClient,
    callback_url: str,
) -> None:
    instance = await create_instance(api, sandbox.url, webhook_events(callback_url))
    # Answered before any call to the vendor; the secret is stored already.
    assert await vendor_webhooks(vendor) == []
    credentials = await credentials_of(wired, instance["id"])
    secret = credentials["webhook_secret"]
    assert len(secret) >= 43
    assert "webhook_id" not in credentials
    assert secret not in str(instance)

    await wired.hub.runtime.run_until_idle()

    [subscription] = await vendor_webhooks(vendor)
    assert subscription["url"] == instance["webhook_url"]
    assert instance["webhook_url"].startswith(f"{wired.url}/v1/hooks/{instance['id']}/")
    credentials = await credentials_of(wired, instance["id"])
    assert credentials["webhook_id"] == subscription["id"]
    assert credentials["webhook_secret"] == secret
    [job] = await jobs(wired, REGISTER_WEBHOOK_TASK)
    assert job.status == "succeeded"


async def test_changing_the_instance_does_not_register_twice(
    wired: RunningHub,
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    vendor: httpx.AsyncClient,
    callback_url: str,
) -> None:
    instance = await create_instance(api, sandbox.url, webhook_events(callback_url))
    await api.patch(f"/v1/instances/{instance['id']}", json={"name": "renamed"})
    await wired.hub.runtime.run_until_idle()
    await api.patch(f"/v1/instances/{instance['id']}", json={"events": {"enabled": False}})
    await wired.hub.runtime.run_until_idle()
    assert len(await vendor_webhooks(vendor)) == 1


async def test_a_polling_instance_registers_nothing(
    wired: RunningHub,
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    vendor: httpx.AsyncClient,
    callback_url: str,
) -> None:
    instance = await create_instance(api, sandbox.url, webhook_events(callback_url, mode="polling"))
    await wired.hub.runtime.run_until_idle()
    assert await vendor_webhooks(vendor) == []
    assert "webhook_secret" not in await credentials_of(wired, instance["id"])


async def test_deleting_the_instance_removes_its_subscription(
    wired: RunningHub,
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    vendor: httpx.AsyncClient,
    callback_url: str,
) -> None:
    instance = await create_instance(api, sandbox.url, webhook_events(callback_url))
    other = await create_instance(api, sandbox.url, webhook_events(callback_url), name="other")
    await wired.hub.runtime.run_until_idle()
    assert len(await vendor_webhooks(vendor)) == 2

    assert (await api.delete(f"/v1/instances/{instance['id']}")).status_code == 204
    await wired.hub.runtime.run_until_idle()

    [remaining] = await vendor_webhooks(vendor)
    assert remaining["url"] == other["webhook_url"]
    assert "webhook_id" not in await credentials_of(wired, instance["id"])
    [job] = await jobs(wired, REMOVE_WEBHOOK_TASK)
    assert job.status == "succeeded"


async def test_deleted_before_the_registration_ran_registers_nothing(
    wired: RunningHub,
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    vendor: httpx.AsyncClient,
    callback_url: str,
) -> None:
    instance = await create_instance(api, sandbox.url, webhook_events(callback_url))
    assert (await api.delete(f"/v1/instances/{instance['id']}")).status_code == 204
    await wired.hub.runtime.run_until_idle()
    assert await vendor_webhooks(vendor) == []


async def test_leaving_webhook_mode_removes_and_coming_back_registers_again(
    wired: RunningHub,
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    vendor: httpx.AsyncClient,
    callback_url: str,
) -> None:
    instance = await create_instance(api, sandbox.url, webhook_events(callback_url))
    await wired.hub.runtime.run_until_idle()
    first_secret = (await credentials_of(wired, instance["id"]))["webhook_secret"]

    path = f"/v1/instances/{instance['id']}"
    assert (await api.patch(path, json={"events": {"mode": "polling"}})).status_code == 200
    await wired.hub.runtime.run_until_idle()
    assert await vendor_webhooks(vendor) == []
    assert "webhook_secret" not in await credentials_of(wired, instance["id"])

    assert (await api.patch(path, json={"events": {"mode": "webhook"}})).status_code == 200
    await wired.hub.runtime.run_until_idle()
    [subscription] = await vendor_webhooks(vendor)
    credentials = await credentials_of(wired, instance["id"])
    assert credentials["webhook_id"] == subscription["id"]
    assert credentials["webhook_secret"] != first_secret


async def test_a_quick_change_of_mind_ends_registered_once(
    wired: RunningHub,
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    vendor: httpx.AsyncClient,
    callback_url: str,
) -> None:
    instance = await create_instance(api, sandbox.url, webhook_events(callback_url))
    path = f"/v1/instances/{instance['id']}"
    await api.patch(path, json={"events": {"mode": "polling"}})
    await api.patch(path, json={"events": {"mode": "webhook"}})
    await wired.hub.runtime.run_until_idle()
    [subscription] = await vendor_webhooks(vendor)
    assert (await credentials_of(wired, instance["id"]))["webhook_id"] == subscription["id"]


# --- a vendor that is not the sandbox -------------------------------------------------------


class FakeVendor:
    """Answers webhook registration with whatever the test sets."""

    def __init__(self) -> None:
        self.url = ""
        self.create: Response = JSONResponse({"hook": {"uid": 7}}, status_code=201)
        self.delete: Response = Response(status_code=204)
        self.seen: list[tuple[str, str, Any]] = []

    def app(self) -> Starlette:
        async def create(request: Request) -> Response:
            self.seen.append(("POST", request.url.path, await request.json()))
            return self.create

        async def delete(request: Request) -> Response:
            self.seen.append(("DELETE", request.url.path, None))
            return self.delete

        return Starlette(
            routes=[
                Route("/hooks", create, methods=["POST"]),
                Route("/hooks/{hook_id}", delete, methods=["DELETE"]),
            ]
        )


@pytest.fixture
async def fake_vendor() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor()
    async with serving(vendor.app()) as url:
        vendor.url = url
        yield vendor


def fake_element() -> dict[str, Any]:
    return {
        "key": "hooked",
        "name": "Hooked",
        "base_url": "{config.base_url}",
        "config": [{"name": "base_url", "type": "url"}],
        # One attempt: the job, not the client, decides when to come back.
        "retry": {"max_attempts": 1},
        "webhooks": {
            "signature": {"scheme": "standard_webhooks"},
            "events": {"objects": {"item": "items"}, "changes": {"created": "created"}},
            "registration": {
                "create": {"method": "POST", "path": "/hooks"},
                "url_key": "target",
                "secret_key": "signing_key",
                "id_path": "hook.uid",
                "delete": {"method": "DELETE", "path": "/hooks/{webhook_id}"},
            },
        },
        "objects": {"items": {"path": "/items"}},
    }


@pytest.fixture
async def fake_instance(
    wired: RunningHub, api: httpx.AsyncClient, fake_vendor: FakeVendor, callback_url: str
) -> dict[str, Any]:
    assert (await api.post("/v1/elements", json=fake_element())).status_code == 201
    body = {
        "element": "hooked",
        "name": "hooked",
        "config": {"base_url": fake_vendor.url},
        "events": webhook_events(callback_url, objects=["items"]),
    }
    response = await api.post("/v1/instances", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_the_definition_says_how_to_register_and_remove(
    wired: RunningHub,
    api: httpx.AsyncClient,
    fake_vendor: FakeVendor,
    fake_instance: dict[str, Any],
) -> None:
    await wired.hub.runtime.run_until_idle()
    secret = (await credentials_of(wired, fake_instance["id"]))["webhook_secret"]
    assert secret.startswith("whsec_")  # a Standard Webhooks element gets a secret of its kind
    assert fake_vendor.seen == [
        ("POST", "/hooks", {"target": fake_instance["webhook_url"], "signing_key": secret})
    ]
    assert (await credentials_of(wired, fake_instance["id"]))["webhook_id"] == "7"

    assert (await api.delete(f"/v1/instances/{fake_instance['id']}")).status_code == 204
    await wired.hub.runtime.run_until_idle()
    assert fake_vendor.seen[-1] == ("DELETE", "/hooks/7", None)


async def test_a_vendor_asking_to_wait_reschedules_the_registration(
    wired: RunningHub, fake_vendor: FakeVendor, fake_instance: dict[str, Any]
) -> None:
    fake_vendor.create = JSONResponse({}, status_code=429, headers={"Retry-After": "120"})
    await wired.hub.runtime.run_until_idle()
    [job] = await jobs(wired, REGISTER_WEBHOOK_TASK)
    assert job.status == "todo"
    assert job.attempts == 0  # asked to wait: no attempt used up
    assert utcnow() + timedelta(seconds=100) < job.scheduled_at < utcnow() + timedelta(seconds=130)
    assert "webhook_id" not in await credentials_of(wired, fake_instance["id"])


async def test_a_failing_vendor_retries_the_registration_with_backoff(
    wired: RunningHub, fake_vendor: FakeVendor, fake_instance: dict[str, Any]
) -> None:
    fake_vendor.create = JSONResponse({"message": "down"}, status_code=503)
    await wired.hub.runtime.run_until_idle()
    [job] = await jobs(wired, REGISTER_WEBHOOK_TASK)
    assert job.status == "todo"
    assert job.attempts == 1
    assert job.last_error is not None
    assert "503" in job.last_error
    assert job.scheduled_at > utcnow()


async def test_an_answer_without_a_webhook_id_fails_the_attempt(
    wired: RunningHub, fake_vendor: FakeVendor, fake_instance: dict[str, Any]
) -> None:
    fake_vendor.create = JSONResponse({"ok": True}, status_code=201)
    await wired.hub.runtime.run_until_idle()
    [job] = await jobs(wired, REGISTER_WEBHOOK_TASK)
    assert job.attempts == 1
    assert job.last_error is not None
    assert "hook.uid" in job.last_error


async def test_a_subscription_the_vendor_already_forgot_counts_as_removed(
    wired: RunningHub,
    api: httpx.AsyncClient,
    fake_vendor: FakeVendor,
    fake_instance: dict[str, Any],
) -> None:
    await wired.hub.runtime.run_until_idle()
    fake_vendor.delete = JSONResponse({"message": "no such hook"}, status_code=404)
    assert (await api.delete(f"/v1/instances/{fake_instance['id']}")).status_code == 204
    await wired.hub.runtime.run_until_idle()
    [job] = await jobs(wired, REMOVE_WEBHOOK_TASK)
    assert job.status == "succeeded"
    assert "webhook_id" not in await credentials_of(wired, fake_instance["id"])
