"""Records read and written at a real sandbox through a real hub, both on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from interlink.sandbox import RunningSandbox, SandboxConfig, running_sandbox

SANDBOX_KEY = "records-test-key"
SEEDED = 250


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(api_key=SANDBOX_KEY, seed=SEEDED)) as running:
        yield running


async def connect(api: httpx.AsyncClient, url: str, key: str = SANDBOX_KEY) -> str:
    response = await api.post(
        "/v1/instances",
        json={"element": "sandbox", "name": "crm", "config": {"base_url": url, "api_key": key}},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
async def contacts(api: httpx.AsyncClient, sandbox: RunningSandbox) -> str:
    return f"/v1/instances/{await connect(api, sandbox.url)}/objects/contacts"


async def read_all(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = await api.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return records
    raise AssertionError("paging did not end")


async def test_paging_to_the_end_returns_every_record_once(
    api: httpx.AsyncClient, contacts: str
) -> None:
    records = await read_all(api, contacts, limit=37)
    ids = [record["id"] for record in records]
    assert len(ids) == SEEDED
    assert len(set(ids)) == SEEDED
    assert all(isinstance(record["id"], str) for record in records)
    assert {"email", "created_at", "updated_at"} <= set(records[0])


async def test_where_pushes_equality_down_and_filters_the_rest_locally(
    api: httpx.AsyncClient, contacts: str, sandbox: RunningSandbox
) -> None:
    everything = await read_all(api, contacts, limit=100)
    stage = everything[0]["lifecycle_stage"]
    expected = {
        r["id"]
        for r in everything
        if r["lifecycle_stage"] == stage and str(r["first_name"]).startswith("A")
    }
    where = f"lifecycle_stage = '{stage}' and first_name like 'A%'"
    found = await read_all(api, contacts, limit=3, where=where)
    assert {r["id"] for r in found} == expected
    assert len(found) == len(expected)

    email = everything[5]["email"]
    exact = await read_all(api, contacts, where=f"email = '{email}'")
    assert [r["id"] for r in exact] == [everything[5]["id"]]

    nobody = await read_all(api, contacts, where="email = 'a@b.c' or email = 'd@e.f'")
    assert nobody == []


@pytest.mark.parametrize(
    ("where", "expect"),
    [
        ("email = ", "CEQL syntax error"),
        ("emial = 'x'", "unknown field"),
        ("lower(email) = 'x'", "function"),
    ],
)
async def test_bad_where_answers_400_saying_where_and_why(
    api: httpx.AsyncClient, contacts: str, where: str, expect: str
) -> None:
    response = await api.get(contacts, params={"where": where})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["title"] == "Invalid query"
    assert expect in body["detail"]
    assert body["field"] == "where"


async def test_create_read_update_delete(api: httpx.AsyncClient, contacts: str) -> None:
    created = await api.post(contacts, json={"email": "grace@example.com", "first_name": "Grace"})
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["id"]
    assert record["first_name"] == "Grace"
    path = f"{contacts}/{record['id']}"
    patched = await api.patch(path, json={"title": "Admiral"})
    assert patched.status_code == 200
    assert patched.json()["title"] == "Admiral"
    assert (await api.get(path)).json()["title"] == "Admiral"
    assert (await api.delete(path)).status_code == 204
    gone = await api.get(path)
    assert gone.status_code == 404
    assert gone.json()["title"] == "Record not found"


async def test_vendor_rejections_become_clear_problems(
    api: httpx.AsyncClient, contacts: str
) -> None:
    invalid = await api.post(contacts, json={"email": "no-at-sign"})
    assert invalid.status_code == 422
    assert "@" in invalid.json()["detail"]

    first = (await api.post(contacts, json={"email": "dup@example.com"})).json()
    duplicate = await api.post(contacts, json={"email": "dup@example.com"})
    assert duplicate.status_code == 409
    assert duplicate.json()["vendor_error"]["existing_id"] == first["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "x@example.com", "shoe_size": 44}, "shoe_size"),
        ({"email": "x@example.com", "id": "ct_1"}, "id"),
        ({"first_name": "No Email"}, "email"),
        ({"email": ["x@example.com"]}, "email"),
    ],
)
async def test_writes_are_checked_against_the_field_schema(
    api: httpx.AsyncClient, contacts: str, body: dict[str, Any], field: str
) -> None:
    response = await api.post(contacts, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_unknown_object_and_record(api: httpx.AsyncClient, contacts: str) -> None:
    deals = contacts.replace("/contacts", "/deals")
    assert (await api.get(deals)).status_code == 404
    assert (await api.get(f"{contacts}/ct_999999999999")).status_code == 404


async def test_tampered_cursor_is_refused(api: httpx.AsyncClient, contacts: str) -> None:
    assert (await api.get(contacts, params={"cursor": "bm90LWpzb24"})).status_code == 422
    forged = await api.get(contacts, params={"cursor": "WzFd"})  # [1]: JSON, not ours
    assert forged.status_code == 400


async def test_wrong_vendor_key_marks_auth_failed_with_the_vendors_message(
    api: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    instance = await connect(api, sandbox.url, key="wrong-key")
    checked = await api.post(f"/v1/instances/{instance}/check")
    assert checked.status_code == 200
    assert checked.json()["check"]["ok"] is False
    auth = checked.json()["status"]["auth"]
    assert auth["state"] == "failed"
    assert auth["message"]
    assert "wrong-key" not in checked.text

    listed = await api.get(f"/v1/instances/{instance}/objects/contacts")
    assert listed.status_code == 502
    assert listed.json()["title"] == "Vendor authentication failed"
    assert "wrong-key" not in listed.text

    fixed = await api.patch(f"/v1/instances/{instance}", json={"config": {"api_key": SANDBOX_KEY}})
    assert fixed.json()["status"]["auth"]["state"] == "unknown"
    rechecked = await api.post(f"/v1/instances/{instance}/check")
    assert rechecked.json()["status"]["auth"]["state"] == "ok"


async def test_vendor_failures_and_rate_limits_are_retried(api: httpx.AsyncClient) -> None:
    config = SandboxConfig(
        api_key=SANDBOX_KEY, seed=120, fail_rate=0.3, rate_limit=40, random_seed=7
    )
    async with running_sandbox(config) as flaky:
        path = f"/v1/instances/{await connect(api, flaky.url)}/objects/contacts"
        records = await read_all(api, path, limit=20)
    assert len({record["id"] for record in records}) == 120


async def test_idempotent_record_create_does_not_create_twice(
    api: httpx.AsyncClient, contacts: str
) -> None:
    headers = {"Idempotency-Key": "new-contact-1"}
    body = {"email": "once@example.com"}
    first = await api.post(contacts, json=body, headers=headers)
    second = await api.post(contacts, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    found = await read_all(api, contacts, where="email = 'once@example.com'")
    assert len(found) == 1
