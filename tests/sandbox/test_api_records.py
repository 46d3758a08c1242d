"""The records API over loopback: auth, paging, updated_since, filters, writes, batch."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from interlink.sandbox import RunningSandbox

from .helpers import client_for

SINCE_EVER = "2000-01-01T00:00:00Z"


async def walk(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every result of a listing, following `next_cursor` to the end."""
    results: list[dict[str, Any]] = []
    for _ in range(1000):
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        results += page["results"]
        if page["next_cursor"] is None:
            return results
        params["cursor"] = page["next_cursor"]
    raise AssertionError("paging never ended")


@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_without_the_key_it_is_401(sandbox: RunningSandbox, key: str | None) -> None:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=sandbox.url, trust_env=False) as client:
        response = await client.get("/api/contacts", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["content-type"] == "application/json"


async def test_paging_to_the_end_returns_every_record_once(client: httpx.AsyncClient) -> None:
    records = await walk(client, "/api/contacts", limit=7)
    ids = [record["id"] for record in records]
    assert len(ids) == 250
    assert ids == sorted(set(ids))
    default = (await client.get("/api/contacts")).json()
    assert len(default["results"]) == 100  # the default and maximum page
    companies = await walk(client, "/api/companies", limit=100)
    assert len(companies) == 25


async def test_updated_since_in_updated_order(
    sandbox: RunningSandbox, client: httpx.AsyncClient
) -> None:
    everything = await walk(client, "/api/contacts", updated_since=SINCE_EVER, limit=33)
    keys = [(record["updated_at"], record["id"]) for record in everything]
    assert keys == sorted(keys)
    assert len(keys) == 250

    changed = everything[10]
    response = await client.patch(f"/api/contacts/{changed['id']}", json={"title": "Chief"})
    assert response.status_code == 200
    mark = response.json()["updated_at"]
    fresh = await walk(client, "/api/contacts", updated_since=mark)
    assert [record["id"] for record in fresh] == [changed["id"]]
    assert fresh[0]["title"] == "Chief"


async def test_filters(client: httpx.AsyncClient) -> None:
    first = (await client.get("/api/contacts", params={"limit": 1})).json()["results"][0]
    by_email = await client.get("/api/contacts", params={"email": first["email"]})
    assert by_email.json() == {"results": [first], "next_cursor": None}
    same_stage = await walk(
        client,
        "/api/contacts",
        lifecycle_stage=first["lifecycle_stage"],
        company_id=first["company_id"],
        limit=3,
    )
    assert first in same_stage
    assert all(
        (record["lifecycle_stage"], record["company_id"])
        == (first["lifecycle_stage"], first["company_id"])
        for record in same_stage
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "nonsense!"}, "cursor"),
        ({"updated_since": "last tuesday"}, "updated_since"),
        ({"shoe_size": "9"}, "shoe_size"),
    ],
)
async def test_bad_parameters_are_400(
    client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    response = await client.get("/api/contacts", params=params)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert message in response.json()["message"]


async def test_record_lifecycle(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/api/contacts", json={"email": "new@example.com", "first_name": "New"}
    )
    assert created.status_code == 201
    record = created.json()
    assert record["id"] > "ct_000000000250"
    assert record["created_at"].endswith("Z")

    fetched = await client.get(f"/api/contacts/{record['id']}")
    assert fetched.json() == record
    patched = await client.patch(f"/api/contacts/{record['id']}", json={"first_name": None})
    assert patched.json()["first_name"] is None
    assert patched.json()["email"] == "new@example.com"

    deleted = await client.delete(f"/api/contacts/{record['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await client.get(f"/api/contacts/{record['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"] == "not_found"

    feed = (await client.get("/api/contacts/deleted", params={"since": SINCE_EVER})).json()
    assert [entry["id"] for entry in feed["results"]] == [record["id"]]
    assert feed["results"][0]["deleted_at"] >= patched.json()["updated_at"]
    assert feed["next_cursor"] is None


async def test_validation_and_conflicts(client: httpx.AsyncClient) -> None:
    taken = (await client.get("/api/contacts", params={"limit": 1})).json()["results"][0]
    conflict = await client.post("/api/contacts", json={"email": taken["email"]})
    assert conflict.status_code == 409
    assert conflict.json()["existing_id"] == taken["id"]

    no_at = await client.post("/api/contacts", json={"email": "nobody"})
    assert no_at.status_code == 422
    assert "email" in no_at.json()["message"]
    unknown = await client.post("/api/contacts", json={"email": "a@b.c", "shoe_size": 9})
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "shoe_size"
    nameless = await client.post("/api/companies", json={"domain": "x.example"})
    assert nameless.status_code == 422
    not_json = await client.post("/api/contacts", content=b"{nope")
    assert not_json.status_code == 400


async def test_unknown_object_record_and_path_are_404(client: httpx.AsyncClient) -> None:
    for path in ("/api/deals", "/api/contacts/ct_999999999999", "/nowhere"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert set(response.json()) == {"error", "message"}


async def test_batch_upsert_by_email(client: httpx.AsyncClient) -> None:
    existing = (await client.get("/api/contacts", params={"limit": 1})).json()["results"][0]
    response = await client.post(
        "/api/contacts/batch",
        json={
            "action": "upsert",
            "id_property": "email",
            "inputs": [
                {"email": existing["email"], "title": "Updated"},
                {"email": "batch@example.com", "title": "Created"},
                {"email": "bad"},
            ],
        },
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(result["index"], result["status"]) for result in results] == [
        (0, 200),
        (1, 201),
        (2, 422),
    ]
    assert results[0]["id"] == existing["id"]
    assert "error" in results[2]
    created = await client.get("/api/contacts", params={"email": "batch@example.com"})
    assert created.json()["results"][0]["id"] == results[1]["id"]


async def test_batch_of_more_than_100_is_400(client: httpx.AsyncClient) -> None:
    inputs = [{"name": f"Company {n}"} for n in range(101)]
    response = await client.post(
        "/api/companies/batch", json={"action": "create", "inputs": inputs}
    )
    assert response.status_code == 400
    assert "100" in response.json()["message"]


async def test_health_needs_no_key(sandbox: RunningSandbox) -> None:
    async with client_for(sandbox, key="wrong") as client:
        response = await client.get("/healthz")
    assert response.json() == {"status": "ok", "counts": {"contacts": 250, "companies": 25}}
