"""Bearer auth on every private route; API keys created once, listed, revoked at once."""

from __future__ import annotations

import httpx
import pytest

from interlink.server import RunningHub
from tests.hub_fixtures import Org


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic abc", "Bearer il_not_a_real_key", "bearer wrong"],
)
async def test_missing_or_wrong_keys_answer_401_problem(
    anonymous: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = await anonymous.get("/v1/instances", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"


async def test_public_routes_need_no_key(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/healthz")).json()["status"] == "ok"
    assert (await anonymous.get("/openapi.json")).json()["info"]["title"] == "Interlink"
    metrics = await anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert "interlink_http_requests_total" in metrics.text


async def test_new_key_works_is_listed_without_secret_and_revokes_at_once(
    api: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    created = await api.post("/v1/api-keys", json={"name": "ci"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("il_")

    as_new = {"Authorization": f"Bearer {key}"}
    assert (await anonymous.get("/v1/api-keys", headers=as_new)).status_code == 200

    listed = (await api.get("/v1/api-keys")).json()["data"]
    assert {row["name"] for row in listed} == {"default", "ci"}
    assert all("key" not in row for row in listed)
    assert key not in str(listed)

    revoked = await api.delete(f"/v1/api-keys/{created.json()['id']}")
    assert revoked.status_code == 204
    assert (await anonymous.get("/v1/api-keys", headers=as_new)).status_code == 401
    again = await api.delete(f"/v1/api-keys/{created.json()['id']}")
    assert again.status_code == 404


async def test_only_hashes_are_stored(hub: RunningHub, api: httpx.AsyncClient, org: Org) -> None:
    from sqlalchemy import text

    async with hub.hub.database.transaction() as session:
        rows = (await session.execute(text("SELECT key_hash, prefix FROM api_keys"))).all()
    assert rows
    assert all(org.key not in (key_hash + prefix) for key_hash, prefix in rows)


async def test_another_organizations_key_cannot_be_revoked(
    hub: RunningHub, api: httpx.AsyncClient
) -> None:
    from tests.hub_fixtures import make_org

    other = await make_org(hub, "Other")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {other.key}"}
    ) as client:
        theirs = (await client.get("/v1/api-keys")).json()["data"][0]["id"]
    response = await api.delete(f"/v1/api-keys/{theirs}")
    assert response.status_code == 404
