"""Upload jobs through a vendor's native bulk ingest: the `salesforce` element's Bulk API
2.0 ingest on the Salesforce simulator, whose results come in a shuffled order. Every row
gets one outcome with its own row number; a run that dies after its ingest job was
created follows that job on resume instead of ingesting the chunk again."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from interlink.bulk.upload import ingest as ingest_module
from interlink.bulk.upload.run import run_upload
from interlink.elements.catalog import builtin_elements
from interlink.server import RunningHub
from tests.simulators.salesforce import RunningSalesforce, running_salesforce

from .conftest import VendorTap

CLIENT_ID = "3MVG9-ingest"
CLIENT_SECRET = secrets.token_hex(16)
REFRESH_TOKEN = f"5Aep861{secrets.token_hex(16)}"


class SimulatedCrash(BaseException):
    """The process dying: nothing catches it, as nothing survives a kill -9."""


async def _no_sleep(seconds: float) -> None:
    return None


def small_ingest(monkeypatch: pytest.MonkeyPatch, *, min_rows: int, max_rows: int) -> None:
    """The built-in element with a small threshold and small ingest jobs."""
    elements = builtin_elements()
    element = elements["salesforce"]
    objects = {}
    for name, obj in element.objects.items():
        assert obj.bulk_ingest is not None
        spec = obj.bulk_ingest.model_copy(update={"min_rows": min_rows, "max_rows": max_rows})
        objects[name] = obj.model_copy(update={"bulk_ingest": spec})
    monkeypatch.setitem(elements, "salesforce", element.model_copy(update={"objects": objects}))
    monkeypatch.setattr(ingest_module, "sleep", _no_sleep)


@pytest.fixture
async def salesforce() -> AsyncIterator[RunningSalesforce]:
    async with running_salesforce(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN, seed_count=3
    ) as running:
        yield running


@pytest.fixture
async def sf_instance(api: httpx.AsyncClient, salesforce: RunningSalesforce) -> str:
    answer = await api.post(
        "/v1/instances",
        json={
            "element": "salesforce",
            "name": "org",
            "config": {
                "instance_url": salesforce.url,
                "login_url": salesforce.url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "refresh_token": REFRESH_TOKEN,
            },
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def upload(
    api: httpx.AsyncClient, instance_id: str, content: bytes, metadata: dict[str, Any]
) -> str:
    answer = await api.post(
        f"/v1/instances/{instance_id}/bulk/contacts",
        files={"file": ("rows.csv", content), "metadata": (None, json.dumps(metadata))},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


async def lines(api: httpx.AsyncClient, job_id: str, which: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/v1/bulk/{job_id}/{which}")
    assert answer.status_code == 200, answer.text
    return [orjson.loads(line) for line in answer.content.splitlines()]


async def status(api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = (await api.get(f"/v1/bulk/{job_id}")).json()
    return job


def contact(salesforce: RunningSalesforce, email: str) -> dict[str, Any]:
    (found,) = [r for r in salesforce.store.records["Contact"].values() if r["Email"] == email]
    return found


async def test_an_upsert_through_ingest_jobs_reports_every_row_by_its_number(
    hub: RunningHub,
    api: httpx.AsyncClient,
    sf_instance: str,
    salesforce: RunningSalesforce,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_ingest(monkeypatch, min_rows=1, max_rows=4)
    existing = salesforce.store.create("Contact", {"LastName": "Old", "Email": "kept@example.com"})
    csv_text = (
        "Email,FirstName,LastName,Title\n"
        "new1@example.com,Ada,Lovelace,\n"  # 1 created
        "kept@example.com,Kept,Updated,#null\n"  # 2 updated (Title set to null)
        "new2@example.com,No,,CEO\n"  # 3 created without a LastName: refused
        "new3@example.com,Grace,Hopper,\n"  # 4 created
        "new1@example.com,Ada,Byron,\n"  # 5 the same Email again: updates row 1's record
        "new4@example.com,Alan,Turing,Engineer\n"  # 6 created
        "bad-email,Bad,Row,\n"  # 7 refused by the vendor
    )
    job_id = await upload(
        api, sf_instance, csv_text.encode(), {"action": "upsert", "identifier": "Email"}
    )
    await hub.hub.runtime.run_until_idle()
    done = await status(api, job_id)
    assert (done["status"], done["records"], done["failed"], done["native"]) == (
        "completed",
        5,
        2,
        True,
    )
    results = {r["row"]: r for r in await lines(api, job_id, "results")}
    errors = {e["row"]: e for e in await lines(api, job_id, "errors")}
    assert sorted(results) == [1, 2, 4, 5, 6]
    assert sorted(errors) == [3, 7]
    assert {row: r["outcome"] for row, r in results.items()} == {
        1: "created",
        2: "updated",
        4: "created",
        5: "updated",
        6: "created",
    }
    assert results[2]["id"] == existing["Id"]
    assert results[1]["id"] == results[5]["id"] == contact(salesforce, "new1@example.com")["Id"]
    assert results[4]["id"] == contact(salesforce, "new3@example.com")["Id"]
    assert results[6]["id"] == contact(salesforce, "new4@example.com")["Id"]
    assert contact(salesforce, "new1@example.com")["LastName"] == "Byron"  # file order
    assert contact(salesforce, "kept@example.com")["Title"] is None
    assert errors[3]["record"]["Email"] == "new2@example.com"
    assert errors[3]["error"].startswith("REQUIRED_FIELD_MISSING")
    assert errors[7]["error"].startswith("INVALID_EMAIL_ADDRESS")
    jobs = salesforce.simulator.ingest_jobs.values()
    # Cut at 4 rows and where an Email repeats: rows 1-4, then 5-7.
    assert [len(job.successful) + len(job.failed) for job in jobs] == [4, 3]
    assert {job.operation for job in jobs} == {"upsert"}
    assert {job.external_id for job in jobs} == {"Email"}
    assert not any("/composite/sobjects" in url for _, url, _ in salesforce.simulator.requests)


async def test_identical_rows_of_a_create_each_get_a_record(
    hub: RunningHub,
    api: httpx.AsyncClient,
    sf_instance: str,
    salesforce: RunningSalesforce,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_ingest(monkeypatch, min_rows=1, max_rows=100)
    before = len(salesforce.store.records["Contact"])
    rows = [f"Same,Twin{n % 3}" for n in range(30)]
    job_id = await upload(
        api,
        sf_instance,
        ("FirstName,LastName\n" + "\n".join(rows) + "\n").encode(),
        {"action": "create"},
    )
    await hub.hub.runtime.run_until_idle()
    done = await status(api, job_id)
    assert (done["status"], done["records"], done["failed"]) == ("completed", 30, 0)
    results = await lines(api, job_id, "results")
    assert [r["row"] for r in results] == list(range(1, 31))
    assert len({r["id"] for r in results}) == 30
    stored = salesforce.store.records["Contact"]
    assert len(stored) == before + 30
    for result in results:
        assert stored[result["id"]]["LastName"] == f"Twin{(result['row'] - 1) % 3}"


async def test_a_small_upload_stays_on_the_batch_endpoint(
    hub: RunningHub,
    api: httpx.AsyncClient,
    sf_instance: str,
    salesforce: RunningSalesforce,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small_ingest(monkeypatch, min_rows=10, max_rows=100)
    rows = "".join(f"Small{n}\n" for n in range(9))
    job_id = await upload(api, sf_instance, ("LastName\n" + rows).encode(), {"action": "create"})
    await hub.hub.runtime.run_until_idle()
    done = await status(api, job_id)
    assert (done["status"], done["records"]) == ("completed", 9)
    assert salesforce.simulator.ingest_jobs == {}


@pytest.mark.parametrize("dies_at", ["status", "upload"])
async def test_a_run_killed_after_its_ingest_job_was_created_ingests_no_row_twice(
    hub: RunningHub,
    api: httpx.AsyncClient,
    sf_instance: str,
    salesforce: RunningSalesforce,
    tap: VendorTap,
    monkeypatch: pytest.MonkeyPatch,
    dies_at: str,
) -> None:
    """Dying at the first look at the closed job's state, the resumed run reads that job's
    results (no second job); dying before its data went up, the open job (which has
    processed nothing) is aborted and the chunk gets a new one. Either way: each row once."""
    small_ingest(monkeypatch, min_rows=1, max_rows=10)
    before = len(salesforce.store.records["Contact"])
    rows = "".join(f"Crash,Row{n},crash{n}@example.com\n" for n in range(1, 26))
    job_id = await upload(
        api, sf_instance, ("FirstName,LastName,Email\n" + rows).encode(), {"action": "create"}
    )
    ingest_jobs = salesforce.simulator.ingest_jobs

    async def die(number: int, request: httpx.Request) -> None:
        path = request.url.path
        if len(ingest_jobs) == 2 and "/jobs/ingest/" in path:
            if dies_at == "status" and request.method == "GET" and path.count("/") == 6:
                raise SimulatedCrash
            if dies_at == "upload" and request.method == "PUT":
                raise SimulatedCrash
        return None

    tap.on_request = die
    with pytest.raises(SimulatedCrash):
        await run_upload(hub.hub, job_id)
    crashed = await status(api, job_id)
    assert (crashed["status"], crashed["records"]) == ("running", 10)
    tap.on_request = None
    await run_upload(hub.hub, job_id)
    done = await status(api, job_id)
    assert (done["status"], done["records"], done["failed"]) == ("completed", 25, 0)
    assert len(salesforce.store.records["Contact"]) == before + 25
    results = await lines(api, job_id, "results")
    assert [r["row"] for r in results] == list(range(1, 26))
    for result in results:
        assert result["id"] == contact(salesforce, f"crash{result['row']}@example.com")["Id"]
    jobs = list(ingest_jobs.values())
    if dies_at == "status":
        assert [job.state for job in jobs] == ["JobComplete"] * 3
    else:
        assert [job.state for job in jobs] == [
            "JobComplete",
            "Aborted",
            "JobComplete",
            "JobComplete",
        ]
    assert sum(len(job.successful) for job in jobs) == 25


async def test_a_close_refused_after_it_took_effect_still_reads_the_results(
    hub: RunningHub,
    api: httpx.AsyncClient,
    sf_instance: str,
    salesforce: RunningSalesforce,
    tap: VendorTap,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first answer of the close was lost and its retry refused: the job is not open
    any more, so its rows were processed: their results are read, not reported failed."""
    small_ingest(monkeypatch, min_rows=1, max_rows=100)

    async def refuse_after_closing(number: int, request: httpx.Request) -> httpx.Response | None:
        if request.method == "PATCH" and "/jobs/ingest/" in request.url.path:
            async with httpx.AsyncClient() as client:
                assert (await client.send(request)).status_code == 200
            return httpx.Response(
                400,
                json=[{"message": "the job is UploadComplete", "errorCode": "INVALIDJOBSTATE"}],
            )
        return None

    tap.on_request = refuse_after_closing
    rows = "".join(f"Closed{n}\n" for n in range(5))
    job_id = await upload(api, sf_instance, ("LastName\n" + rows).encode(), {"action": "create"})
    await hub.hub.runtime.run_until_idle()
    done = await status(api, job_id)
    assert (done["status"], done["records"], done["failed"]) == ("completed", 5, 0)
    results = await lines(api, job_id, "results")
    stored = salesforce.store.records["Contact"]
    assert [stored[r["id"]]["LastName"] for r in results] == [f"Closed{n}" for n in range(5)]
    assert [job.state for job in salesforce.simulator.ingest_jobs.values()] == ["JobComplete"]
