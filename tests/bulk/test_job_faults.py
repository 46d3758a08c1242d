"""Bulk jobs under faults: a run that dies mid-way, a vendor that is unavailable for a
while or refuses the credentials; then the completion callback and file retention."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlink.asgi_server import serving
from interlink.bulk.export import sink
from interlink.bulk.export.run import run_export
from interlink.bulk.retention import expire_bulk_files
from interlink.bulk.upload.run import run_upload
from interlink.runtime import RetryLater
from interlink.sandbox import RunningSandbox
from interlink.server import RunningHub

from .conftest import SEED, VendorTap


class SimulatedCrash(BaseException):
    """The process dying: nothing catches it, as nothing survives a kill -9."""


async def status(api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = (await api.get(f"/v1/bulk/{job_id}")).json()
    return job


async def ndjson(api: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    answer = await api.get(path)
    assert answer.status_code == 200, answer.text
    return [orjson.loads(line) for line in answer.content.splitlines()]


async def test_an_export_killed_mid_way_resumes_from_its_checkpoint(
    hub: RunningHub,
    api: httpx.AsyncClient,
    instance_id: str,
    sandbox: RunningSandbox,
    tap: VendorTap,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sink, "FLUSH_BYTES", 1)  # a checkpoint after every page

    async def die_on_the_third_page(number: int, request: httpx.Request) -> None:
        if number == 3:
            raise SimulatedCrash
        return None

    tap.on_request = die_on_the_third_page
    answer = await api.post(
        f"/v1/instances/{instance_id}/bulk/query",
        json={"q": "select id, email from contacts", "native": False},
    )
    job_id = answer.json()["id"]
    with pytest.raises(SimulatedCrash):
        await run_export(hub.hub, job_id)
    crashed = await status(api, job_id)
    assert crashed["status"] == "running"
    assert crashed["records"] in (100, 200)  # one or two pages committed, the rest not
    tap.on_request = None
    tap.requests.clear()
    await run_export(hub.hub, job_id)
    done = await status(api, job_id)
    assert done["status"] == "completed"
    assert "cursor=" in tap.requests[0]  # it went on from the checkpoint, not from the start
    records = await ndjson(api, f"/v1/bulk/{job_id}/file")
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)) == SEED
    assert done["records"] == SEED


async def test_an_upload_killed_after_sending_acts_on_no_row_twice(
    hub: RunningHub,
    api: httpx.AsyncClient,
    instance_id: str,
    sandbox: RunningSandbox,
    tap: VendorTap,
) -> None:
    """The second batch reaches the vendor, then the process dies before its outcome is
    written: on resume those creates come back as the vendor's duplicates, counted as
    created once (with the existing id), and nothing is created twice."""
    before = len(sandbox.store.contacts.snapshot())
    rows = [{"email": f"resume{n}@example.com", "first_name": f"N{n}"} for n in range(250)]
    body = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    answer = await api.post(
        f"/v1/instances/{instance_id}/bulk/contacts",
        files={"file": ("rows.ndjson", body), "metadata": (None, '{"action": "create"}')},
    )
    job_id = answer.json()["id"]
    batches = 0

    async def die_after_the_second_batch(
        number: int, request: httpx.Request
    ) -> httpx.Response | None:
        nonlocal batches
        if request.url.path.endswith("/batch"):
            batches += 1
            if batches == 2:
                await tap_through(request)
                raise SimulatedCrash
        return None

    async def tap_through(request: httpx.Request) -> None:
        async with httpx.AsyncClient() as client:
            forwarded = await client.send(request)
            assert forwarded.status_code == 200

    tap.on_request = die_after_the_second_batch
    with pytest.raises(SimulatedCrash):
        await run_upload(hub.hub, job_id)
    assert len(sandbox.store.contacts.snapshot()) == before + 200  # two batches went through
    tap.on_request = None
    await run_upload(hub.hub, job_id)
    done = await status(api, job_id)
    assert (done["status"], done["records"], done["failed"]) == ("completed", 250, 0)
    assert len(sandbox.store.contacts.snapshot()) == before + 250
    results = await ndjson(api, f"/v1/bulk/{job_id}/results")
    assert [result["row"] for result in results] == list(range(1, 251))
    by_email = {record["email"]: record["id"] for record in sandbox.store.contacts.snapshot()}
    assert [result["id"] for result in results] == [by_email[row["email"]] for row in rows]
    assert {result["outcome"] for result in results} == {"created"}
    assert await ndjson(api, f"/v1/bulk/{job_id}/errors") == []


async def test_a_vendor_unavailable_for_a_while_pauses_the_job(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str, tap: VendorTap
) -> None:
    unavailable = True

    async def busy(number: int, request: httpx.Request) -> httpx.Response | None:
        if unavailable and number >= 2:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "slow down"})
        return None

    tap.on_request = busy
    answer = await api.post(
        f"/v1/instances/{instance_id}/bulk/query",
        json={"q": "select id from contacts", "native": False},
    )
    job_id = answer.json()["id"]
    with pytest.raises(RetryLater):
        await run_export(hub.hub, job_id)
    paused = await status(api, job_id)
    assert paused["status"] == "running"
    assert paused["error"].startswith("retrying")
    unavailable = False
    await run_export(hub.hub, job_id)
    done = await status(api, job_id)
    assert done["status"] == "completed"
    ids = [record["id"] for record in await ndjson(api, f"/v1/bulk/{job_id}/file")]
    assert len(ids) == len(set(ids)) == SEED


async def test_transient_errors_are_retried_per_call(
    hub: RunningHub,
    api: httpx.AsyncClient,
    instance_id: str,
    sandbox: RunningSandbox,
    tap: VendorTap,
) -> None:
    failures = 0

    async def one_503_per_batch(number: int, request: httpx.Request) -> httpx.Response | None:
        nonlocal failures
        if request.url.path.endswith("/batch") and failures < 1:
            failures += 1
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "busy"})
        return None

    tap.on_request = one_503_per_batch
    csv_text = "email\n" + "".join(f"t{n}@example.com\n" for n in range(150))
    answer = await api.post(
        f"/v1/instances/{instance_id}/bulk/contacts",
        files={"file": ("rows.csv", csv_text.encode()), "metadata": (None, '{"action": "create"}')},
    )
    await hub.hub.runtime.run_until_idle()
    done = await status(api, answer.json()["id"])
    assert (done["status"], done["records"], done["failed"]) == ("completed", 150, 0)
    assert failures == 1


async def test_refused_credentials_fail_the_job(
    hub: RunningHub, api: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    created = await api.post(
        "/v1/instances",
        json={
            "element": "sandbox",
            "name": "bad",
            "config": {"base_url": sandbox.url, "api_key": "wrong"},
        },
    )
    answer = await api.post(
        f"/v1/instances/{created.json()['id']}/bulk/query", json={"q": "select * from contacts"}
    )
    await hub.hub.runtime.run_until_idle()
    done = await status(api, answer.json()["id"])
    assert done["status"] == "failed"
    assert "401" in done["error"] or "credentials" in done["error"].lower()


async def test_the_completion_callback_is_a_signed_cloudevent(
    hub: RunningHub, api: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def receive(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    async with serving(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        created = await api.post(
            "/v1/instances",
            json={
                "element": "sandbox",
                "name": "crm",
                "config": {"base_url": sandbox.url, "api_key": sandbox.config.api_key},
                "events": {"enabled": False, "callback_url": f"{url}/hook"},
            },
        )
        assert created.status_code == 201, created.text
        instance = created.json()
        answer = await api.post(
            f"/v1/instances/{instance['id']}/bulk/query",
            json={"q": "select id from contacts limit 3", "callback_url": f"{url}/hook"},
        )
        job_id = answer.json()["id"]
        await hub.hub.runtime.run_until_idle()
    assert len(received) == 1
    headers, body = received[0]
    assert headers["content-type"] == "application/cloudevents+json"
    Webhook(instance["events"]["signing_secret"]).verify(body, headers)
    event = json.loads(body)
    assert event["type"] == "bulk.completed"
    assert event["id"] == f"{job_id}.completed"
    assert event["data"]["id"] == job_id
    assert event["data"]["records"] == 3


async def test_files_expire_after_retention(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    answer = await api.post(
        f"/v1/instances/{instance_id}/bulk/query", json={"q": "select id from contacts"}
    )
    job_id = answer.json()["id"]
    await hub.hub.runtime.run_until_idle()
    assert (await api.get(f"/v1/bulk/{job_id}/file")).status_code == 200
    assert await expire_bulk_files(hub.hub, keep=timedelta(days=1)) == 0  # too young
    assert await expire_bulk_files(hub.hub, keep=timedelta(0)) == 1
    gone = await api.get(f"/v1/bulk/{job_id}/file")
    assert gone.status_code == 410
    assert (await status(api, job_id))["status"] == "completed"
    assert not await hub.hub.files.exists(f"bulk/{job_id}/data")
    assert await expire_bulk_files(hub.hub, keep=timedelta(0)) == 0
