"""The demo's bulk part: an export and an upload through the hub's API, with progress."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

import httpx

from interlink.cli.bulk.client import FINISHED
from interlink.cli.bulk.progress import JobDisplay
from interlink.demo_run import DemoFailed, DemoRun

UPLOADED_CONTACTS = 300
WAIT_SECONDS = 60.0


async def walk_bulk(
    run: DemoRun, client: httpx.AsyncClient, vendor: httpx.AsyncClient, instance_id: str
) -> None:
    run.console.rule("Bulk")
    for native in (False, True):
        job = await run.call(
            client,
            "Export contacts" + (" (the vendor's native export)" if native else " (paging)"),
            "POST",
            f"/v1/instances/{instance_id}/bulk/query",
            expect=202,
            json={
                "q": "select id, email, first_name from contacts",
                "format": "csv",
                "native": native,
            },
        )
        done = await follow(run, client, job)
        if done["status"] != "completed":
            raise DemoFailed(f"the export ended {done['status']}: {done.get('error')}")
        answer = await client.get(f"/v1/bulk/{job['id']}/contacts")  # CSV: the job's format
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        at_vendor = await _count(vendor)
        if len(rows) != at_vendor or len({row["id"] for row in rows}) != at_vendor:
            raise DemoFailed(f"the export holds {len(rows)} rows, the vendor {at_vendor} contacts")
        run.records_read += len(rows)
        run.console.print(
            f"   {len(rows)} contacts in the CSV, each once (native: {done['native']}); "
            f"header: {', '.join(rows[0]) if rows else '-'}"
        )

    lines = ["email,first_name,last_name"]
    lines += [f"bulk{n}@example.com,Bulk,Contact {n}" for n in range(1, UPLOADED_CONTACTS + 1)]
    lines.insert(42, "not-an-email,Bad,Row")
    upload = await run.call(
        client,
        "Upload contacts from a CSV",
        "POST",
        f"/v1/instances/{instance_id}/bulk/contacts",
        expect=202,
        files={
            "file": ("contacts.csv", ("\n".join(lines) + "\n").encode(), "text/csv"),
            "metadata": (None, json.dumps({"action": "upsert", "identifier": "email"})),
        },
    )
    done = await follow(run, client, upload)
    errors = [
        json.loads(line)
        for line in (await client.get(f"/v1/bulk/{upload['id']}/errors")).text.splitlines()
    ]
    results = (await client.get(f"/v1/bulk/{upload['id']}/results")).text.splitlines()
    if (done["records"], done["failed"]) != (UPLOADED_CONTACTS, 1) or len(
        results
    ) != UPLOADED_CONTACTS:
        raise DemoFailed(f"the upload gave {done['records']} ok and {done['failed']} failed")
    run.records_written += done["records"]
    run.console.print(
        f"   {done['records']} rows created at the vendor (native batch: {done['native']}), "
        f"{done['failed']} refused: row {errors[0]['row']}: {errors[0]['error']}"
    )


async def follow(run: DemoRun, client: httpx.AsyncClient, job: dict[str, Any]) -> dict[str, Any]:
    """The job's progress on screen until it finishes."""
    run.bulk_jobs += 1
    with JobDisplay(run.console, job) as display:
        for _ in range(int(WAIT_SECONDS / 0.2)):
            job = (await client.get(f"/v1/bulk/{job['id']}")).json()
            display.update(job)
            if job["status"] in FINISHED:
                return job
            await asyncio.sleep(0.2)
    raise DemoFailed(f"bulk job {job['id']} did not finish within {WAIT_SECONDS:g} s")


async def _count(vendor: httpx.AsyncClient) -> int:
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = (await vendor.get("/api/contacts", params=params)).json()
        total += len(body["results"])
        cursor = body["next_cursor"]
        if not cursor:
            return total
