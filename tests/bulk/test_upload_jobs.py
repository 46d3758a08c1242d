"""Upload jobs end to end: a multipart upload over the API, applied to a live sandbox by the
hub's runtime, every row's outcome in `results` or `errors`."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from interlink.bulk.files import data_key
from interlink.bulk.jobs import new_job_id
from interlink.bulk.upload.receipts import ABANDONED_AFTER, open_receipt, sweep_abandoned_uploads
from interlink.elements.catalog import builtin_elements
from interlink.sandbox import RunningSandbox
from interlink.server import RunningHub
from interlink.storage.models import UploadReceipt
from interlink.storage.types import utcnow

from .conftest import API_KEY, VendorTap


async def upload(
    api: httpx.AsyncClient,
    instance_id: str,
    content: bytes,
    metadata: dict[str, Any],
    *,
    filename: str = "rows.csv",
    object_name: str = "contacts",
    expect: int = 202,
) -> dict[str, Any]:
    answer = await api.post(
        f"/v1/instances/{instance_id}/bulk/{object_name}",
        files={"file": (filename, content), "metadata": (None, json.dumps(metadata))},
    )
    assert answer.status_code == expect, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def run(hub: RunningHub, api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    await hub.hub.runtime.run_until_idle()
    job: dict[str, Any] = (await api.get(f"/v1/bulk/{job_id}")).json()
    return job


async def lines(api: httpx.AsyncClient, job_id: str, which: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/v1/bulk/{job_id}/{which}")
    assert answer.status_code == 200, answer.text
    return [orjson.loads(line) for line in answer.content.splitlines()]


async def receipts(hub: RunningHub) -> list[str]:
    async with hub.hub.database.reading() as session:
        return list(await session.scalars(select(UploadReceipt.job_id)))


def stored_files(hub: RunningHub) -> list[Path]:
    return [path for path in (hub.hub.settings.data_dir / "files").rglob("*") if path.is_file()]


def contacts_by_email(sandbox: RunningSandbox) -> dict[str, dict[str, Any]]:
    return {record["email"]: dict(record) for record in sandbox.store.contacts.snapshot()}


@pytest.fixture
async def unbatched_instance_id(api: httpx.AsyncClient, sandbox: RunningSandbox) -> str:
    """An instance of the sandbox element without its batch endpoint: record by record."""
    document = builtin_elements()["sandbox"].model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    document["key"] = "sandbox_unbatched"
    document.pop("webhooks", None)
    del document["objects"]["contacts"]["batch"]
    assert (await api.post("/v1/elements", json=document)).status_code == 201
    answer = await api.post(
        "/v1/instances",
        json={
            "element": "sandbox_unbatched",
            "name": "crm",
            "config": {"base_url": sandbox.url, "api_key": API_KEY},
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


@pytest.mark.parametrize("batch", [True, False], ids=["native-batch", "one-by-one"])
async def test_create_from_csv_with_per_row_outcomes(
    hub: RunningHub,
    api: httpx.AsyncClient,
    instance_id: str,
    unbatched_instance_id: str,
    sandbox: RunningSandbox,
    tap: VendorTap,
    batch: bool,
) -> None:
    target = instance_id if batch else unbatched_instance_id
    csv_text = (
        "email,first_name,last_name\n"
        "ada@example.com,Ada,Lovelace\n"
        "not-an-email,Bad,Row\n"
        '"grace@example.com","Grace","Hopper, Rear Admiral"\n'
        "alan@example.com,#null,Turing\n"
    )
    job = await upload(api, target, csv_text.encode(), {"action": "create"})
    assert job["direction"] == "upload"
    assert job["status"] == "queued"
    done = await run(hub, api, job["id"])
    assert done["status"] == "completed", done
    assert (done["records"], done["failed"]) == (3, 1)
    results = await lines(api, job["id"], "results")
    errors = await lines(api, job["id"], "errors")
    assert [r["row"] for r in results] == [1, 3, 4]
    assert {r["outcome"] for r in results} == {"created"}
    assert errors == [
        {
            "row": 2,
            "record": {"email": "not-an-email", "first_name": "Bad", "last_name": "Row"},
            "error": errors[0]["error"],
        }
    ]
    assert "@" in errors[0]["error"]
    stored = contacts_by_email(sandbox)
    assert stored["grace@example.com"]["last_name"] == "Hopper, Rear Admiral"
    assert stored["alan@example.com"].get("first_name") is None
    for result in results:
        assert sandbox.store.contacts.get(result["id"])["id"] == result["id"]
    assert done["native"] is batch
    batches = [r for r in tap.requests if r.startswith("POST /api/contacts/batch")]
    creates = [r for r in tap.requests if r.startswith("POST /api/contacts?")]
    assert (len(batches), len(creates)) == ((1, 0) if batch else (0, 4))


async def test_upsert_by_identifier_in_file_order(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str, sandbox: RunningSandbox
) -> None:
    existing = sandbox.store.contacts.snapshot()[0]
    rows = [
        {"email": existing["email"], "title": "first"},
        {"email": "new@example.com", "title": "one"},
        {"email": "new@example.com", "title": "two"},
        {"email": existing["email"], "title": "last"},
    ]
    body = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    job = await upload(
        api, instance_id, body, {"action": "upsert", "identifier": "email"}, filename="rows.ndjson"
    )
    done = await run(hub, api, job["id"])
    assert (done["records"], done["failed"]) == (4, 0)
    results = await lines(api, job["id"], "results")
    assert [r["outcome"] for r in results] == ["updated", "created", "updated", "updated"]
    stored = contacts_by_email(sandbox)
    assert stored[existing["email"]]["title"] == "last"
    assert stored["new@example.com"]["title"] == "two"
    assert results[1]["id"] == results[2]["id"] == stored["new@example.com"]["id"]


async def test_update_and_delete_by_id_from_a_json_array(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str, sandbox: RunningSandbox
) -> None:
    first, second = sandbox.store.contacts.snapshot()[:2]
    updates = [
        {"id": first["id"], "title": "Chief"},
        {"id": "c_nope", "title": "x"},
        {"title": "no id"},
    ]
    job = await upload(
        api, instance_id, orjson.dumps(updates), {"action": "update"}, filename="u.json"
    )
    done = await run(hub, api, job["id"])
    assert (done["records"], done["failed"]) == (1, 2)
    assert sandbox.store.contacts.get(first["id"])["title"] == "Chief"
    errors = await lines(api, job["id"], "errors")
    assert [e["row"] for e in errors] == [2, 3]
    assert "needs 'id'" in errors[1]["error"]

    deletes = orjson.dumps([{"id": second["id"]}])
    job = await upload(api, instance_id, deletes, {"action": "delete"}, filename="d.json")
    done = await run(hub, api, job["id"])
    assert done["records"] == 1
    assert (await lines(api, job["id"], "results"))[0] == {
        "row": 1,
        "id": second["id"],
        "outcome": "deleted",
    }
    assert second["id"] not in {r["id"] for r in sandbox.store.contacts.snapshot()}


async def test_malformed_rows_are_errors_and_the_job_goes_on(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str, sandbox: RunningSandbox
) -> None:
    csv_bytes = (
        b"email,first_name\n"
        b"ok1@example.com,One\n"
        b"ragged@example.com,Two,extra\n"
        b'"unterminated@example.com,Three\n'
    )
    job = await upload(api, instance_id, csv_bytes, {"action": "create"})
    done = await run(hub, api, job["id"])
    assert done["status"] == "completed"
    assert done["records"] == 1
    assert done["failed"] >= 1
    assert "ok1@example.com" in contacts_by_email(sandbox)
    errors = await lines(api, job["id"], "errors")
    assert errors[0]["row"] == 2

    latin1 = "email,first_name\nzoe@example.com,Zoë\n".encode("latin-1")
    job = await upload(api, instance_id, latin1, {"action": "create"})
    done = await run(hub, api, job["id"])
    assert done["failed"] == 1
    assert "UTF-8" in (await lines(api, job["id"], "errors"))[0]["error"]


async def test_unknown_and_read_only_fields_are_row_errors(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    body = (
        b'{"email": "a@example.com", "nickname": "x"}\n'
        b'{"email": "b@example.com", "created_at": "2024-01-01T00:00:00Z"}\n'
    )
    job = await upload(api, instance_id, body, {"action": "create"}, filename="x.ndjson")
    done = await run(hub, api, job["id"])
    assert done["failed"] == 2
    errors = await lines(api, job["id"], "errors")
    assert "unknown field 'nickname'" in errors[0]["error"]
    assert "read-only" in errors[1]["error"]


async def test_a_file_that_is_not_an_array_of_objects_fails_the_job(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    job = await upload(
        api,
        instance_id,
        b'{"email": "a@example.com"}',
        {"action": "create", "format": "json"},
        filename="x.json",
    )
    done = await run(hub, api, job["id"])
    assert done["status"] == "failed"
    assert "cannot be read" in done["error"]


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"action": "merge"}, "metadata.action"),
        ({}, "metadata.action"),
        ({"action": "create", "identifier": "nickname"}, "metadata.identifier"),
        ({"action": "upsert", "identifier": "title", "extra": 1}, "metadata.extra"),
        ({"action": "create", "callback_url": "gopher://x"}, "metadata.callback_url"),
    ],
)
async def test_bad_metadata_is_refused_and_leaves_no_file(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str, metadata: dict[str, Any], field: str
) -> None:
    answer = await api.post(
        f"/v1/instances/{instance_id}/bulk/contacts",
        files={
            "file": ("rows.csv", b"email\na@example.com\n"),
            "metadata": (None, json.dumps(metadata)),
        },
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert (await api.get("/v1/bulk")).json()["data"] == []
    assert stored_files(hub) == []


async def test_refusals_before_and_after_the_body(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    empty = await api.post(
        f"/v1/instances/{instance_id}/bulk/contacts",
        files={"file": ("rows.csv", b""), "metadata": (None, '{"action": "create"}')},
    )
    assert empty.status_code == 422
    assert empty.json()["field"] == "file"
    unknown_object = await api.post(
        f"/v1/instances/{instance_id}/bulk/deals",
        files={"file": ("rows.csv", b"a\n1\n"), "metadata": (None, '{"action": "create"}')},
    )
    assert unknown_object.status_code == 404
    not_multipart = await api.post(
        f"/v1/instances/{instance_id}/bulk/contacts", json={"action": "create"}
    )
    assert not_multipart.status_code in (400, 422)
    hub.hub.settings.max_upload_bytes = 1000
    too_big = await api.post(
        f"/v1/instances/{instance_id}/bulk/contacts",
        files={
            "file": ("rows.csv", b"email\n" + b"x@example.com\n" * 200),
            "metadata": (None, '{"action": "create"}'),
        },
    )
    assert too_big.status_code == 413
    assert (await api.get("/v1/bulk")).json()["data"] == []


async def test_results_of_a_download_and_file_of_an_upload_are_409(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    job = await upload(api, instance_id, b"email\nq@example.com\n", {"action": "create"})
    await run(hub, api, job["id"])
    assert (await api.get(f"/v1/bulk/{job['id']}/file")).status_code == 409
    export = await api.post(
        f"/v1/instances/{instance_id}/bulk/query", json={"q": "select id from contacts limit 1"}
    )
    assert (await api.get(f"/v1/bulk/{export.json()['id']}/results")).status_code == 409


async def test_upload_idempotency_key_replays_the_first_job(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    files = {
        "file": ("rows.csv", b"email\nidem@example.com\n"),
        "metadata": (None, '{"action": "create"}'),
    }
    headers = {"Idempotency-Key": "upload-1"}
    first = await api.post(
        f"/v1/instances/{instance_id}/bulk/contacts", files=files, headers=headers
    )
    second = await api.post(
        f"/v1/instances/{instance_id}/bulk/contacts", files=files, headers=headers
    )
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    assert len((await api.get("/v1/bulk")).json()["data"]) == 1


async def test_openapi_describes_the_multipart_upload(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    upload = document["paths"]["/v1/instances/{instance_id}/bulk/{object_name}"]["post"]
    schema = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]
    assert set(schema["properties"]) == {"file", "metadata"}


async def test_an_upload_leaves_no_receipt_whether_it_is_queued_or_refused(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    job = await upload(api, instance_id, b"email\nr@example.com\n", {"action": "create"})
    assert await receipts(hub) == []
    await upload(api, instance_id, b"email\nr@example.com\n", {"action": "nope"}, expect=422)
    assert await receipts(hub) == []
    assert [path.parent.name for path in stored_files(hub)] == ["data"]  # the queued one's
    assert job["status"] == "queued"


async def test_the_files_of_an_upload_cut_short_are_removed_once_it_cannot_be_running(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    # What a process killed mid-upload leaves: a receipt and part of the file, no job.
    cut_short, receiving = new_job_id(), new_job_id()
    for job_id in (cut_short, receiving):
        await open_receipt(hub.hub, job_id)
        await hub.hub.files.write_part(data_key(job_id), 1, b"email\nhalf@exa")
    queued = await upload(api, instance_id, b"email\ns@example.com\n", {"action": "create"})
    async with hub.hub.database.transaction() as session:
        await session.execute(
            update(UploadReceipt)
            .where(UploadReceipt.job_id == cut_short)
            .values(started_at=utcnow() - ABANDONED_AFTER - timedelta(minutes=1))
        )
    old = (utcnow() - ABANDONED_AFTER - timedelta(minutes=1)).timestamp()
    for path in stored_files(hub):
        if cut_short in str(path):
            os.utime(path, (old, old))

    assert await sweep_abandoned_uploads(hub.hub) == 1
    assert not await hub.hub.files.exists(data_key(cut_short))
    # An upload still arriving, and a queued job's file, are left alone.
    assert await hub.hub.files.exists(data_key(receiving))
    assert await hub.hub.files.exists(data_key(queued["id"]))
    assert await receipts(hub) == [receiving]
    assert await sweep_abandoned_uploads(hub.hub) == 0
