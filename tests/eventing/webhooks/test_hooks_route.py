"""`POST /v1/hooks/{instance_id}/{token}` end to end: a real sandbox posts its signed
webhooks to a real hub, both on loopback."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest

from interlink.eventing.fingerprints import content_hash
from interlink.eventing.webhooks.receiver import MAX_BODY_BYTES
from interlink.sandbox import RunningSandbox
from interlink.server import RunningHub
from interlink.storage.models import Fingerprint

from .conftest import (
    create_instance,
    credentials_of,
    sandbox_signed,
    stored_events,
    until,
    webhook_events,
)


@pytest.fixture
async def instance(
    wired: RunningHub, api: httpx.AsyncClient, sandbox: RunningSandbox, callback_url: str
) -> dict[str, Any]:
    """A webhook-mode instance whose subscription the sandbox already holds."""
    created = await create_instance(api, sandbox.url, webhook_events(callback_url))
    await wired.hub.runtime.run_until_idle()
    return created


async def secret_of(hub: RunningHub, instance: dict[str, Any]) -> str:
    secret = (await credentials_of(hub, instance["id"]))["webhook_secret"]
    assert isinstance(secret, str)
    return secret


def hook_path(instance: dict[str, Any]) -> str:
    return str(httpx.URL(instance["webhook_url"]).path)


def event_body(event_id: str = "evt_test_1", **overrides: Any) -> bytes:
    event: dict[str, Any] = {
        "id": event_id,
        "type": "contact.updated",
        "occurred_at": "2024-05-01T12:00:00.000Z",
        "object": {"id": "c_000042", "email": "x@y.z", "updated_at": "2024-05-01T12:00:00.000Z"},
    }
    event.update(overrides)
    return orjson.dumps(event)


async def post_signed(
    anonymous: httpx.AsyncClient, hub: RunningHub, instance: dict[str, Any], body: bytes
) -> httpx.Response:
    headers = sandbox_signed(await secret_of(hub, instance), body)
    return await anonymous.post(hook_path(instance), content=body, headers=headers)


async def test_changes_at_the_sandbox_arrive_as_stored_events(
    wired: RunningHub, instance: dict[str, Any], vendor: httpx.AsyncClient
) -> None:
    created = (await vendor.post("/api/contacts", json={"email": "ada@example.com"})).json()
    contact_id = created["id"]
    updated = (await vendor.patch(f"/api/contacts/{contact_id}", json={"title": "CTO"})).json()
    assert (await vendor.delete(f"/api/contacts/{contact_id}")).status_code == 204
    # A company changes too: the instance does not watch companies, so nothing is stored.
    assert (await vendor.post("/api/companies", json={"name": "Acme"})).status_code == 201

    async def three() -> bool:
        return len(await stored_events(wired, instance["id"])) >= 3

    await until(three)
    await asyncio.sleep(0.2)  # room for anything that should not come
    events = await stored_events(wired, instance["id"])
    assert [(e.object_name, e.record_id, e.change) for e in events] == [
        ("contacts", contact_id, "created"),
        ("contacts", contact_id, "updated"),
        ("contacts", contact_id, "deleted"),
    ]
    assert events[0].record == created
    assert events[1].record == updated
    assert events[2].record is None
    assert all(e.source == "webhook" for e in events)
    assert all(e.vendor_event_id and e.vendor_event_id.startswith("evt_") for e in events)
    assert len({e.vendor_event_id for e in events}) == 3
    assert events[1].vendor_time == updated["updated_at"]
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)


async def test_fingerprints_follow_the_webhooks(
    wired: RunningHub, instance: dict[str, Any], vendor: httpx.AsyncClient
) -> None:
    created = (await vendor.post("/api/contacts", json={"email": "fp@example.com"})).json()

    async def fingerprint() -> Fingerprint | None:
        async with wired.hub.database.transaction() as session:
            return await session.get(Fingerprint, (instance["id"], "contacts", created["id"]))

    async def remembered() -> bool:
        return await fingerprint() is not None

    await until(remembered)
    seen = await fingerprint()
    assert seen is not None
    assert seen.vendor_updated == created["updated_at"]
    assert seen.content_hash == content_hash(created)
    assert not seen.deleted

    await vendor.delete(f"/api/contacts/{created['id']}")

    async def deleted() -> bool:
        current = await fingerprint()
        return current is not None and current.deleted

    await until(deleted)


async def test_a_late_older_update_is_stored_but_does_not_move_the_fingerprint_back(
    wired: RunningHub, instance: dict[str, Any], anonymous: httpx.AsyncClient
) -> None:
    def update(event_id: str, updated_at: str) -> bytes:
        record = {"id": "c_000007", "email": "late@y.z", "updated_at": updated_at}
        return event_body(event_id, object=record, occurred_at=updated_at)

    newer, older = "2024-05-01T12:00:05.000Z", "2024-05-01T12:00:01.000Z"
    for body in (update("evt_newer", newer), update("evt_older", older)):
        assert (await post_signed(anonymous, wired, instance, body)).status_code == 200
    assert len(await stored_events(wired, instance["id"])) == 2
    async with wired.hub.database.transaction() as session:
        seen = await session.get(Fingerprint, (instance["id"], "contacts", "c_000007"))
    assert seen is not None
    assert seen.vendor_updated == newer


async def test_the_same_vendor_event_is_stored_once(
    wired: RunningHub, instance: dict[str, Any], anonymous: httpx.AsyncClient
) -> None:
    body = event_body("evt_twice")
    first = await post_signed(anonymous, wired, instance, body)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 1, "duplicates": 0, "ignored": 0}
    again = await post_signed(anonymous, wired, instance, body)
    assert again.status_code == 200, again.text
    assert again.json() == {"received": 0, "duplicates": 1, "ignored": 0}
    assert len(await stored_events(wired, instance["id"])) == 1


async def test_concurrent_posts_of_one_event_store_it_once(
    wired: RunningHub, instance: dict[str, Any], anonymous: httpx.AsyncClient
) -> None:
    body = event_body("evt_race")
    answers = await asyncio.gather(
        *(post_signed(anonymous, wired, instance, body) for _ in range(6))
    )
    assert [a.status_code for a in answers] == [200] * 6
    assert sum(a.json()["received"] for a in answers) == 1
    assert sum(a.json()["duplicates"] for a in answers) == 5
    assert len(await stored_events(wired, instance["id"])) == 1


async def test_an_array_of_events_and_repeats_inside_it(
    wired: RunningHub, instance: dict[str, Any], anonymous: httpx.AsyncClient
) -> None:
    one = orjson.loads(event_body("evt_a"))
    two = orjson.loads(event_body("evt_b", type="contact.created"))
    other = orjson.loads(event_body("evt_c", type="invoice.paid"))
    body = orjson.dumps([one, two, one, other])
    answer = await post_signed(anonymous, wired, instance, body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 2, "duplicates": 1, "ignored": 1}
    events = await stored_events(wired, instance["id"])
    assert [(e.vendor_event_id, e.change) for e in events] == [
        ("evt_a", "updated"),
        ("evt_b", "created"),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-Sandbox-Signature": "t=1,v1=00"}, id="garbled"),
        pytest.param("forged", id="forged"),
        pytest.param("stale", id="stale"),
        pytest.param("wrong-secret", id="wrong-secret"),
    ],
)
async def test_bad_signatures_answer_401_and_store_nothing(
    wired: RunningHub,
    instance: dict[str, Any],
    anonymous: httpx.AsyncClient,
    headers: dict[str, str] | str,
) -> None:
    body = event_body()
    secret = await secret_of(wired, instance)
    if headers == "forged":
        sent = sandbox_signed(secret, body)
        body = body.replace(b"x@y.z", b"evil@y.z")
    elif headers == "stale":
        sent = sandbox_signed(secret, body, at=time.time() - 301)
    elif headers == "wrong-secret":
        sent = sandbox_signed("not-the-secret", body)
    else:
        assert isinstance(headers, dict)
        sent = headers
    answer = await anonymous.post(hook_path(instance), content=body, headers=sent)
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == 401
    assert problem["detail"]
    assert secret not in answer.text
    assert await stored_events(wired, instance["id"]) == []


async def test_unknown_instance_and_wrong_token_answer_the_same_404(
    wired: RunningHub, instance: dict[str, Any], anonymous: httpx.AsyncClient
) -> None:
    body = event_body()
    headers = sandbox_signed(await secret_of(wired, instance), body)
    token = hook_path(instance).rsplit("/", 1)[1]
    # Always differs from the real token (a fixed "x" would match it one time in 64).
    wrong_token = token[:-1] + ("y" if token.endswith("x") else "x")
    unknown = await anonymous.post(f"/v1/hooks/inst_nope/{token}", content=body, headers=headers)
    wrong = await anonymous.post(
        f"/v1/hooks/{instance['id']}/{wrong_token}", content=body, headers=headers
    )
    non_ascii = await anonymous.post(
        f"/v1/hooks/{instance['id']}/t%C3%A9", content=body, headers=headers
    )
    assert unknown.status_code == wrong.status_code == non_ascii.status_code == 404
    assert unknown.json() == wrong.json() == non_ascii.json()
    assert await stored_events(wired, instance["id"]) == []


async def test_no_bearer_key_is_needed_but_one_does_no_harm(
    wired: RunningHub, instance: dict[str, Any], api: httpx.AsyncClient
) -> None:
    body = event_body("evt_with_key")
    headers = sandbox_signed(await secret_of(wired, instance), body)
    answer = await api.post(hook_path(instance), content=body, headers=headers)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (orjson.dumps({"type": "contact.updated", "object": {"id": "c_1"}}), "body.id"),
        (orjson.dumps({"id": "evt_x", "object": {"id": "c_1"}}), "body.type"),
        (orjson.dumps({"id": "evt_x", "type": "contact.updated", "object": {}}), "body.object.id"),
        (orjson.dumps([orjson.loads(event_body("evt_ok")), {"id": "evt_bad"}]), "body[1].type"),
    ],
)
async def test_malformed_payloads_answer_400_and_store_nothing(
    wired: RunningHub,
    instance: dict[str, Any],
    anonymous: httpx.AsyncClient,
    body: bytes,
    field: str,
) -> None:
    answer = await post_signed(anonymous, wired, instance, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field
    assert await stored_events(wired, instance["id"]) == []


async def test_paused_events_are_acknowledged_with_202_and_not_stored(
    wired: RunningHub,
    instance: dict[str, Any],
    api: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
) -> None:
    paused = await api.patch(f"/v1/instances/{instance['id']}", json={"events": {"enabled": False}})
    assert paused.status_code == 200, paused.text
    answer = await post_signed(anonymous, wired, instance, event_body())
    assert answer.status_code == 202, answer.text
    assert await stored_events(wired, instance["id"]) == []
    # Paused is no excuse for a bad signature.
    forged = await anonymous.post(hook_path(instance), content=event_body())
    assert forged.status_code == 401


async def test_a_body_over_the_limit_answers_413(
    wired: RunningHub, instance: dict[str, Any], anonymous: httpx.AsyncClient
) -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    answer = await post_signed(anonymous, wired, instance, body)
    assert answer.status_code == 413, answer.text

    async def chunks() -> Any:
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    streamed = await anonymous.post(hook_path(instance), content=chunks())
    assert streamed.status_code == 413


async def test_a_polling_instance_takes_no_webhooks(
    wired: RunningHub,
    api: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    sandbox: RunningSandbox,
    callback_url: str,
) -> None:
    created = await create_instance(api, sandbox.url, webhook_events(callback_url, mode="polling"))
    from interlink.storage.models import Instance

    async with wired.hub.database.transaction() as session:
        row = await session.get(Instance, created["id"])
        assert row is not None
        token = row.hook_token
    answer = await anonymous.post(f"/v1/hooks/{created['id']}/{token}", content=event_body())
    assert answer.status_code == 409, answer.text
    assert await stored_events(wired, created["id"]) == []


async def test_a_deleted_instance_answers_404(
    wired: RunningHub,
    instance: dict[str, Any],
    api: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
) -> None:
    body = event_body()
    headers = sandbox_signed(await secret_of(wired, instance), body)
    assert (await api.delete(f"/v1/instances/{instance['id']}")).status_code == 204
    answer = await anonymous.post(hook_path(instance), content=body, headers=headers)
    assert answer.status_code == 404
    assert await stored_events(wired, instance["id"]) == []
