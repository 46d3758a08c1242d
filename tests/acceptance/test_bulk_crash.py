"""kill -9 of `interlink serve` in the middle of a bulk job: a download and an upload.

After a restart on the same data folder the job resumes from its last checkpoint and
completes: a download holds every record exactly once; an upload acts on every row
exactly once (each new contact created once, the rows that were in flight checked before
they act again). The restarted process puts the killed one's jobs back at once (same
host, its pid gone); the waits still allow for heartbeat recovery (30 s) should that miss.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.crash_support import (
    Receiver,
    Rig,
    create_instance,
    rig,
    stored_bulk_job,
)

TEST_SECONDS = 200  # each test, everything included
MIDWAY_SECONDS = 60  # from the job's creation to the progress the kill waits for
RECOVERY_SECONDS = 120  # from the restart to the job's completion (~30-60 s)
POLL_SECONDS = 0.05

EXPORT_SEED = 20_000
# 10 ms a vendor call: 200 pages take a few seconds, several flushes (2 s or 1 MiB each).
EXPORT_LATENCY_MS = "10"

UPLOAD_ROWS = 5_000
UPLOAD_SEED = 100
UPLOAD_DOMAIN = "@bulk-crash.example"
# 25 ms a vendor call: 50 batches of 100 take a few seconds.
UPLOAD_LATENCY_MS = "25"
# The kill comes once the vendor holds this row: past the first outcome checkpoint (2,000
# rows) and the second in-flight mark (at row 2,100, up to 4,200), so that the rows a
# resumed run must check are partly sent (the vendor answers 409) and partly not.
KILL_AT_ROW = 2_500

Job = dict[str, Any]


# -- following a job ----------------------------------------------------------------------


async def job_status(hub: httpx.AsyncClient, job_id: str) -> Job:
    answer = await hub.get(f"/v1/bulk/{job_id}")
    assert answer.status_code == 200, answer.text
    job: Job = answer.json()
    return job


def midway(job: Job) -> bool:
    """Running, with at least one checkpoint committed (a flush of the download, a part
    of the upload's outcomes)."""
    assert job["status"] in ("queued", "running"), f"the job ended before the kill: {job}"
    return job["status"] == "running" and job["records"] > 0


def completed(job: Job) -> bool:
    assert job["status"] in ("queued", "running", "completed"), f"the job did not complete: {job}"
    return job["status"] == "completed"


async def wait_for_job(
    hub: httpx.AsyncClient, job_id: str, ready: Callable[[Job], bool], seconds: float, what: str
) -> Job:
    """The job's status once `ready` says so (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not ready(job := await job_status(hub, job_id)):
        assert loop.time() < deadline, f"waited {seconds:g} s in vain for {what}: {job}"
        await asyncio.sleep(POLL_SECONDS)
    return job


async def wait_for_job_and(
    hub: httpx.AsyncClient,
    job_id: str,
    ready: Callable[[Job], bool],
    also: Callable[[], Awaitable[bool]],
    seconds: float,
    what: str,
) -> Job:
    """The job's status once `ready` says so and then `also` holds too (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (ready(job := await job_status(hub, job_id)) and await also()):
        assert loop.time() < deadline, f"waited {seconds:g} s in vain for {what}: {job}"
        await asyncio.sleep(POLL_SECONDS)
    return job


async def ndjson(hub: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    answer = await hub.get(path, headers={"Accept": "application/x-ndjson"}, timeout=60)
    assert answer.status_code == 200, answer.text[:2000]
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def data_dir(run: Rig) -> Path:
    return Path(run.env["INTERLINK_DATA_DIR"])


# -- the download -------------------------------------------------------------------------


async def test_kill_during_an_export_resumes_and_writes_each_record_once(tmp_path: Path) -> None:
    sandbox_options = ("--seed", str(EXPORT_SEED), "--latency-ms", EXPORT_LATENCY_MS)
    async with asyncio.timeout(TEST_SECONDS), rig(tmp_path, Receiver(), *sandbox_options) as run:
        async with run.hub() as hub:
            instance = await create_instance(hub, run.sandbox.url)
            created = await hub.post(
                f"/v1/instances/{instance['id']}/bulk/query",
                json={"q": "select * from contacts", "native": False},
            )
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            seen = await wait_for_job(hub, job_id, midway, MIDWAY_SECONDS, "a first flush")
            await run.serve.kill()
        at_kill = stored_bulk_job(data_dir(run), job_id)
        point = at_kill["checkpoint"]
        shown = {**point, "position": {**point["position"], "pages": "…"}}
        print(f"killed with {point['records']} of {EXPORT_SEED} records written: {shown}")
        assert seen["records"] <= point["records"] < EXPORT_SEED, "meant to land mid-export"

        await run.restart()
        async with run.hub() as hub:
            done = await wait_for_job(hub, job_id, completed, RECOVERY_SECONDS, "completion")
            exported = await ndjson(hub, f"/v1/bulk/{job_id}/file")
        expected = await run.sandbox.contact_ids()

        print(f"completed: {done}")
        assert len(expected) == EXPORT_SEED
        counts = Counter(str(record["id"]) for record in exported)
        doubled = {record_id: n for record_id, n in counts.items() if n > 1}
        missing = set(expected) - counts.keys()
        unexpected = counts.keys() - set(expected)
        assert not doubled, f"{len(doubled)} records written twice, e.g. {list(doubled)[:5]}"
        assert not missing, f"{len(missing)} records missing, e.g. {sorted(missing)[:5]}"
        assert not unexpected, f"{len(unexpected)} unknown ids, e.g. {sorted(unexpected)[:5]}"
        assert len(exported) == EXPORT_SEED
        assert done["records"] == EXPORT_SEED
        assert done["error"] is None


# -- the upload ---------------------------------------------------------------------------


def upload_rows() -> list[dict[str, str]]:
    """New contacts, row n (from 1) with its own email."""
    return [
        {"email": f"row-{n}{UPLOAD_DOMAIN}", "first_name": "Bulk", "last_name": str(n)}
        for n in range(1, UPLOAD_ROWS + 1)
    ]


def row_of(email: str) -> int:
    return int(email.removeprefix("row-").removesuffix(UPLOAD_DOMAIN))


async def vendor_has(run: Rig, email: str) -> bool:
    sandbox = run.sandbox
    answer = await sandbox.client.get(
        f"{sandbox.url}/api/contacts", params={"email": email}, headers=sandbox.headers
    )
    answer.raise_for_status()
    return bool(answer.json()["results"])


async def uploaded_at_vendor(run: Rig) -> dict[str, list[str]]:
    """The sandbox's ids of each uploaded email (a list: a doubled row shows as two)."""
    ids: dict[str, list[str]] = {}
    for record in await run.sandbox.contacts():
        if str(record["email"]).endswith(UPLOAD_DOMAIN):
            ids.setdefault(record["email"], []).append(str(record["id"]))
    return ids


@pytest.mark.parametrize("identifier", [None, "email"], ids=["no-identifier", "by-email"])
async def test_kill_during_an_upload_acts_on_each_row_once(
    tmp_path: Path, identifier: str | None
) -> None:
    """Without an identifier, an uncertain create counts the sandbox's 409 `existing_id`
    as its own earlier success; with `identifier: email` it looks the email up first."""
    rows = upload_rows()
    content = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    metadata = {"action": "create", **({"identifier": identifier} if identifier else {})}
    sandbox_options = ("--seed", str(UPLOAD_SEED), "--latency-ms", UPLOAD_LATENCY_MS)
    async with asyncio.timeout(TEST_SECONDS), rig(tmp_path, Receiver(), *sandbox_options) as run:
        async with run.hub() as hub:
            instance = await create_instance(hub, run.sandbox.url)
            created = await hub.post(
                f"/v1/instances/{instance['id']}/bulk/contacts",
                files={
                    "file": ("contacts.ndjson", content, "application/x-ndjson"),
                    "metadata": (None, json.dumps(metadata)),
                },
            )
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            seen = await wait_for_job_and(
                hub,
                job_id,
                midway,
                lambda: vendor_has(run, rows[KILL_AT_ROW - 1]["email"]),
                MIDWAY_SECONDS,
                f"row {KILL_AT_ROW} at the vendor",
            )
            await run.serve.kill()
        await asyncio.sleep(1.0)  # a batch the sandbox was still answering lands
        at_kill = stored_bulk_job(data_dir(run), job_id)
        point = at_kill["checkpoint"]
        sent = await uploaded_at_vendor(run)
        sent_rows = sorted(row_of(email) for email in sent)
        unrecorded = [row for row in sent_rows if row > point["rows"]]
        unsent = point["in_flight_end"] - point["rows"] - len(unrecorded)
        print(
            f"killed with {point['rows']} of {UPLOAD_ROWS} rows recorded, "
            f"{len(sent_rows)} at the vendor; of the rows to check, {len(unrecorded)} were "
            f"sent ({unrecorded[:1]}..{unrecorded[-1:]}) and {unsent} not; checkpoint {point}"
        )
        assert seen["records"] <= point["rows"] < UPLOAD_ROWS, "meant to land mid-upload"
        # What reached the vendor is within the in-flight mark: the rows a resumed run
        # checks before acting; the rows after it were certainly not sent.
        assert all(row <= point["in_flight_end"] for row in sent_rows), point

        await run.restart()
        async with run.hub() as hub:
            done = await wait_for_job(hub, job_id, completed, RECOVERY_SECONDS, "completion")
            results = await ndjson(hub, f"/v1/bulk/{job_id}/results")
            errors = await ndjson(hub, f"/v1/bulk/{job_id}/errors")
        at_vendor = await uploaded_at_vendor(run)
        everyone = await run.sandbox.contact_ids()

        print(f"completed: {done}")
        doubled = {email: ids for email, ids in at_vendor.items() if len(ids) > 1}
        assert not doubled, f"{len(doubled)} rows created twice, e.g. {list(doubled.items())[:3]}"
        assert set(at_vendor) == {row["email"] for row in rows}
        assert len(everyone) == UPLOAD_SEED + UPLOAD_ROWS
        assert not errors, f"{len(errors)} rows failed, e.g. {errors[:3]}"

        by_row = Counter(int(result["row"]) for result in results)
        assert sorted(by_row) == list(range(1, UPLOAD_ROWS + 1)), "rows missing or unknown"
        again = {row: n for row, n in by_row.items() if n > 1}
        assert not again, f"{len(again)} rows have several results, e.g. {list(again)[:5]}"
        wrong = [
            result
            for result in results
            if result["outcome"] != "created"
            or [result["id"]] != at_vendor[rows[result["row"] - 1]["email"]]
        ]
        assert not wrong, f"{len(wrong)} results do not name their contact, e.g. {wrong[:3]}"
        assert (done["records"], done["failed"], done["error"]) == (UPLOAD_ROWS, 0, None)
