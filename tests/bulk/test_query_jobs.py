"""Query jobs end to end: created over the API, run by the hub's runtime against a live
sandbox, downloaded in every format."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import orjson
import pytest

from interlink.bulk.export import ordering
from interlink.ceql import OrderBy, order
from interlink.sandbox import RunningSandbox
from interlink.server import RunningHub

from .conftest import SEED, VendorTap


async def start(api: httpx.AsyncClient, instance_id: str, q: str, **options: Any) -> dict[str, Any]:
    answer = await api.post(f"/v1/instances/{instance_id}/bulk/query", json={"q": q, **options})
    assert answer.status_code == 202, answer.text
    job: dict[str, Any] = answer.json()
    assert job["status"] == "queued"
    assert job["id"].startswith("bulk_")
    return job


async def finished(hub: RunningHub, api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    await hub.hub.runtime.run_until_idle()
    answer = await api.get(f"/v1/bulk/{job_id}")
    assert answer.status_code == 200
    job: dict[str, Any] = answer.json()
    return job


async def ndjson(api: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    answer = await api.get(f"/v1/bulk/{job_id}/file", headers={"Accept": "application/x-ndjson"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in answer.content.splitlines()]


def vendor_ids(sandbox: RunningSandbox, object_name: str = "contacts") -> list[str]:
    return sorted(record["id"] for record in sandbox.store.collection(object_name).snapshot())


@pytest.mark.parametrize("native", [False, True])
async def test_export_of_every_contact(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str, sandbox: RunningSandbox, native: bool
) -> None:
    job = await start(api, instance_id, "select * from contacts", native=native)
    done = await finished(hub, api, job["id"])
    assert done["status"] == "completed", done
    assert done["native"] is native
    assert done["records"] == SEED
    assert done["direction"] == "download"
    assert done["object"] == "contacts"
    assert done["started_at"]
    assert done["finished_at"]
    records = await ndjson(api, job["id"])
    assert sorted(record["id"] for record in records) == vendor_ids(sandbox)
    expected = {record["id"]: record for record in sandbox.store.contacts.snapshot()}
    assert all(record == dict(expected[record["id"]]) for record in records)


async def test_filter_projection_and_limit(
    hub: RunningHub,
    api: httpx.AsyncClient,
    instance_id: str,
    sandbox: RunningSandbox,
    tap: VendorTap,
) -> None:
    contacts = sandbox.store.contacts.snapshot()
    stage = contacts[0]["lifecycle_stage"]
    wanted = sorted(
        r["id"] for r in contacts if r["lifecycle_stage"] == stage and r["email"].endswith(".com")
    )
    job = await start(
        api,
        instance_id,
        f"select email from contacts where lifecycle_stage = '{stage}' and email like '%.com'",
        native=False,
    )
    done = await finished(hub, api, job["id"])
    assert done["status"] == "completed"
    records = await ndjson(api, job["id"])
    assert sorted(r["id"] for r in records) == wanted
    assert all(set(r) == {"id", "email"} for r in records)
    # The equality went to the vendor; `like` was evaluated here.
    assert all(f"lifecycle_stage={stage}" in request for request in tap.requests)

    limited = await start(api, instance_id, "select id from contacts limit 7", native=False)
    done = await finished(hub, api, limited["id"])
    assert done["records"] == 7
    assert len(await ndjson(api, limited["id"])) == 7


async def test_changed_since_is_pushed_down(
    hub: RunningHub,
    api: httpx.AsyncClient,
    instance_id: str,
    sandbox: RunningSandbox,
    tap: VendorTap,
) -> None:
    contacts = sorted(sandbox.store.contacts.snapshot(), key=lambda r: r["updated_at"])
    middle = contacts[len(contacts) // 2]["updated_at"]
    expected = sorted(r["id"] for r in contacts if r["updated_at"] >= middle)
    job = await start(
        api, instance_id, f"select id from contacts where updated_at >= '{middle}'", native=False
    )
    await finished(hub, api, job["id"])
    assert sorted(r["id"] for r in await ndjson(api, job["id"])) == expected
    assert "updated_since=" in tap.requests[0]


async def test_a_record_changed_while_paging_is_written_once(
    hub: RunningHub,
    api: httpx.AsyncClient,
    instance_id: str,
    sandbox: RunningSandbox,
    tap: VendorTap,
) -> None:
    """In (updated_at, id) order, a record updated mid-job moves behind the cursor and the
    vendor returns it a second time; the file holds it once (its first version)."""
    first_page: list[str] = []

    async def touch_after_first_page(number: int, request: httpx.Request) -> None:
        if number == 2:  # the first page has been read: change every record on it
            ordered = sorted(
                sandbox.store.contacts.snapshot(), key=lambda r: (r["updated_at"], r["id"])
            )
            for record in ordered[:100]:
                first_page.append(record["id"])
                sandbox.store.contacts.update(record["id"], {"title": "changed"})
        return None

    tap.on_request = touch_after_first_page
    job = await start(
        api,
        instance_id,
        "select id, title from contacts where updated_at >= '2000-01-01T00:00:00Z'",
        native=False,
    )
    done = await finished(hub, api, job["id"])
    ids = [r["id"] for r in await ndjson(api, job["id"])]
    assert len(first_page) == 100
    assert len(ids) == len(set(ids)) == SEED == done["records"]
    # The vendor did return them twice: more records were read than written.
    assert done["progress"]["pages"] > SEED // 100 + 1


async def test_downloads_by_accept(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str, sandbox: RunningSandbox
) -> None:
    job = await start(
        api, instance_id, "select email, first_name from contacts", format="csv", native=False
    )
    await finished(hub, api, job["id"])
    expected = sorted(vendor_ids(sandbox))

    default = await api.get(f"/v1/bulk/{job['id']}/file")
    assert default.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(default.text)))
    assert rows[0] == ["id", "email", "first_name"]
    assert sorted(row[0] for row in rows[1:]) == expected

    as_json = await api.get(
        f"/v1/bulk/{job['id']}/contacts", headers={"Accept": "application/json"}
    )
    assert as_json.headers["content-type"].startswith("application/json")
    assert sorted(r["id"] for r in json.loads(as_json.content)) == expected

    preferred = await api.get(
        f"/v1/bulk/{job['id']}/file", headers={"Accept": "text/csv;q=0.5, application/x-ndjson"}
    )
    assert preferred.headers["content-type"].startswith("application/x-ndjson")

    refused = await api.get(f"/v1/bulk/{job['id']}/file", headers={"Accept": "image/png"})
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"

    wrong_object = await api.get(f"/v1/bulk/{job['id']}/companies")
    assert wrong_object.status_code == 404


async def test_an_empty_result_downloads_as_empty_files(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    job = await start(api, instance_id, "select * from contacts where email = 'nobody@nowhere'")
    done = await finished(hub, api, job["id"])
    assert done["status"] == "completed"
    assert done["records"] == 0
    assert (await api.get(f"/v1/bulk/{job['id']}/file")).content == b""
    as_json = await api.get(f"/v1/bulk/{job['id']}/file", headers={"Accept": "application/json"})
    assert json.loads(as_json.content) == []
    as_csv = await api.get(f"/v1/bulk/{job['id']}/file", headers={"Accept": "text/csv"})
    assert as_csv.content == b""  # no record: no column is known, not even a header


@pytest.mark.parametrize(
    ("q", "says"),
    [
        ("select * form contacts", "line 1"),
        ("select * from deals", "unknown object 'deals'"),
        ("select nickname from contacts", "unknown field 'nickname'"),
        ("select * from contacts where emial = 'a'", "did you mean 'email'"),
    ],
)
async def test_bad_queries_are_400_saying_where(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str, q: str, says: str
) -> None:
    answer = await api.post(f"/v1/instances/{instance_id}/bulk/query", json={"q": q})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert says in answer.json()["detail"]
    assert answer.json()["field"] == "q"
    assert (await api.get("/v1/bulk")).json()["data"] == []


async def test_bad_requests(api: httpx.AsyncClient, instance_id: str) -> None:
    unknown_field = await api.post(
        f"/v1/instances/{instance_id}/bulk/query",
        json={"q": "select * from contacts", "fmt": "csv"},
    )
    assert unknown_field.status_code == 422
    bad_format = await api.post(
        f"/v1/instances/{instance_id}/bulk/query",
        json={"q": "select * from contacts", "format": "xml"},
    )
    assert bad_format.status_code == 422
    inside = await api.post(
        f"/v1/instances/{instance_id}/bulk/query",
        json={"q": "select * from contacts", "callback_url": "ftp://example.com/x"},
    )
    assert inside.status_code == 422
    assert inside.json()["field"] == "callback_url"
    malformed = await api.post(
        f"/v1/instances/{instance_id}/bulk/query",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code == 400
    missing = await api.post(
        "/v1/instances/inst_nope/bulk/query", json={"q": "select * from contacts"}
    )
    assert missing.status_code == 404


async def test_not_ready_cancel_and_other_organizations(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    from tests.hub_fixtures import make_org

    job = await start(api, instance_id, "select * from contacts")
    not_ready = await api.get(f"/v1/bulk/{job['id']}/file")
    assert not_ready.status_code == 409

    other = await make_org(hub, "Other")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {other.key}"}
    ) as stranger:
        for path in ("", "/file", "/contacts"):
            assert (await stranger.get(f"/v1/bulk/{job['id']}{path}")).status_code == 404
        assert (await stranger.post(f"/v1/bulk/{job['id']}/cancel")).status_code == 404
        assert (await stranger.get("/v1/bulk")).json()["data"] == []
        refused = await stranger.post(
            f"/v1/instances/{instance_id}/bulk/query", json={"q": "select * from contacts"}
        )
        assert refused.status_code == 404

    cancelled = await api.post(f"/v1/bulk/{job['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = await api.post(f"/v1/bulk/{job['id']}/cancel")
    assert again.status_code == 409
    done = await finished(hub, api, job["id"])
    assert done["status"] == "cancelled"
    assert done["records"] == 0
    assert (await api.get(f"/v1/bulk/{job['id']}/file")).status_code == 409

    completed = await start(api, instance_id, "select id from contacts limit 1")
    await finished(hub, api, completed["id"])
    late = await api.post(f"/v1/bulk/{completed['id']}/cancel")
    assert late.status_code == 409
    assert "completed" in late.json()["detail"]


async def test_cancel_while_running_stops_at_the_next_checkpoint(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str, tap: VendorTap
) -> None:
    job_id = ""

    async def cancel_on_second_page(number: int, request: httpx.Request) -> None:
        if number == 2:
            assert (await api.post(f"/v1/bulk/{job_id}/cancel")).status_code == 200
        return None

    tap.on_request = cancel_on_second_page
    job = await start(api, instance_id, "select * from contacts", native=False)
    job_id = job["id"]
    done = await finished(hub, api, job_id)
    assert done["status"] == "cancelled"
    assert tap.count <= 3  # it stopped paging at its next checkpoint, not at the end


async def test_list_filters_and_pages(
    hub: RunningHub, api: httpx.AsyncClient, instance_id: str
) -> None:
    ids = [
        (await start(api, instance_id, f"select id from contacts limit {n}"))["id"]
        for n in (1, 2, 3)
    ]
    await api.post(f"/v1/bulk/{ids[0]}/cancel")
    listed = (await api.get("/v1/bulk", params={"limit": 2})).json()
    assert [job["id"] for job in listed["data"]] == [ids[2], ids[1]]
    rest = (await api.get("/v1/bulk", params={"limit": 2, "cursor": listed["next_cursor"]})).json()
    assert [job["id"] for job in rest["data"]] == [ids[0]]
    assert rest["next_cursor"] is None
    cancelled = (await api.get("/v1/bulk", params={"status": "cancelled"})).json()["data"]
    assert [job["id"] for job in cancelled] == [ids[0]]
    assert (await api.get("/v1/bulk", params={"instance_id": "inst_other"})).json()["data"] == []
    assert (await api.get("/v1/bulk", params={"status": "bogus"})).status_code == 422
    assert (await api.get("/v1/bulk", params={"cursor": "!!"})).status_code == 422


async def test_idempotency_key_creates_one_job(api: httpx.AsyncClient, instance_id: str) -> None:
    body = {"q": "select * from contacts"}
    headers = {"Idempotency-Key": "export-1"}
    first = await api.post(f"/v1/instances/{instance_id}/bulk/query", json=body, headers=headers)
    second = await api.post(f"/v1/instances/{instance_id}/bulk/query", json=body, headers=headers)
    assert first.json()["id"] == second.json()["id"]
    assert len((await api.get("/v1/bulk")).json()["data"]) == 1


@pytest.mark.parametrize("native", [False, True])
async def test_order_by_sorts_the_whole_file_then_applies_the_limit(
    hub: RunningHub,
    api: httpx.AsyncClient,
    instance_id: str,
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    native: bool,
) -> None:
    monkeypatch.setattr(ordering, "RUN_RECORDS", 40)  # several runs to merge
    for record in sandbox.store.contacts.snapshot()[:5]:
        sandbox.store.contacts.update(record["id"], {"title": None})
    contacts = [dict(record) for record in sandbox.store.contacts.snapshot()]
    expected = [
        r["id"] for r in order(contacts, (OrderBy("title", descending=True), OrderBy("email")))
    ]
    job = await start(
        api, instance_id, "select id, title from contacts order by title desc, email", native=native
    )
    done = await finished(hub, api, job["id"])
    assert done["records"] == SEED
    records = await ndjson(api, job["id"])
    assert [r["id"] for r in records] == expected
    assert all(set(r) <= {"id", "title"} for r in records)  # sorted by email, not selected

    top = await start(
        api, instance_id, "select id from contacts order by email desc limit 7", native=native
    )
    done = await finished(hub, api, top["id"])
    best = sorted(contacts, key=lambda r: r["email"], reverse=True)[:7]
    assert done["records"] == 7
    assert [r["id"] for r in await ndjson(api, top["id"])] == [r["id"] for r in best]
