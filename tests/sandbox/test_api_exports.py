"""Native bulk export over loopback: start, poll, download the NDJSON."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from interlink.sandbox import RunningSandbox


async def until_complete(client: httpx.AsyncClient, export_id: str) -> dict[str, Any]:
    """The export's status once complete, polling as a client would (bounded)."""
    for _ in range(1000):
        status: dict[str, Any] = (await client.get(f"/api/exports/{export_id}")).json()
        if status["status"] != "processing":
            return status
        await asyncio.sleep(0.005)
    raise AssertionError("the export never completed")


async def test_export_lifecycle(sandbox: RunningSandbox, client: httpx.AsyncClient) -> None:
    started = await client.post("/api/exports", json={"object": "contacts"})
    assert started.status_code == 202
    assert started.json()["status"] == "processing"
    export_id = started.json()["id"]

    status = await until_complete(client, export_id)
    assert status["status"] == "complete"
    assert status["object"] == "contacts"
    assert status["record_count"] == 250
    assert status["created_at"].endswith("Z")

    download = await client.get(f"/api/exports/{export_id}/file")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/x-ndjson"
    records = [orjson.loads(line) for line in download.content.splitlines()]
    assert records == sandbox.store.contacts.snapshot()


async def test_export_with_updated_since(client: httpx.AsyncClient) -> None:
    record = (await client.post("/api/companies", json={"name": "Fresh"})).json()
    started = await client.post(
        "/api/exports", json={"object": "companies", "updated_since": record["updated_at"]}
    )
    status = await until_complete(client, started.json()["id"])
    assert status["record_count"] == 1
    download = await client.get(f"/api/exports/{status['id']}/file")
    assert [orjson.loads(line)["id"] for line in download.content.splitlines()] == [record["id"]]


async def test_export_errors(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/exports/ex_nope")).status_code == 404
    assert (await client.get("/api/exports/ex_nope/file")).status_code == 404
    assert (await client.post("/api/exports", json={"object": "deals"})).status_code == 404
    assert (await client.post("/api/exports", json={})).status_code == 400
    bad_time = await client.post(
        "/api/exports", json={"object": "contacts", "updated_since": "never"}
    )
    assert bad_time.status_code == 400
