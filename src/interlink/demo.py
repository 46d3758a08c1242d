"""`interlink demo`: a sandbox vendor and a hub on loopback, and a walk through the product."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from interlink.asgi_server import serving
from interlink.demo_bulk import walk_bulk
from interlink.demo_receiver import Receiver
from interlink.demo_run import DemoFailed, DemoRun
from interlink.sandbox.config import SandboxConfig
from interlink.sandbox.server import running_sandbox
from interlink.server import running_hub
from interlink.services.organizations import create_organization
from interlink.settings import Settings

SANDBOX_KEY = "demo-sandbox-key"
SEEDED_CONTACTS = 500


async def run_demo(console: Console) -> DemoRun:
    run = DemoRun(console)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="interlink-demo-") as folder:
        settings = Settings(
            data_dir=Path(folder),
            allow_private_networks=True,  # the demo's vendor and receiver are on loopback
        )
        sandbox_config = SandboxConfig(api_key=SANDBOX_KEY, seed=SEEDED_CONTACTS)
        receiver = Receiver()
        async with (
            running_sandbox(sandbox_config) as sandbox,
            running_hub(settings) as hub,
            serving(receiver.app()) as receiver_url,
        ):
            console.print(
                Panel.fit(
                    f"Sandbox CRM  {sandbox.url}  ({SEEDED_CONTACTS} contacts)\n"
                    f"Interlink    {hub.url}\n"
                    f"Receiver     {receiver_url}/hook\n"
                    f"Data folder  {folder}",
                    title="Interlink demo",
                )
            )
            async with hub.hub.database.transaction() as session:
                organization, api_key = await create_organization(session, "Demo Inc")
            console.print(f"Organization {organization.id} created with an API key\n")
            headers = {"Authorization": f"Bearer {api_key}"}
            async with httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=30) as client:
                instance_id = await walk(run, client, sandbox.url)
                vendor_headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
                async with httpx.AsyncClient(
                    base_url=sandbox.url, headers=vendor_headers, timeout=30
                ) as vendor:
                    await walk_events(run, client, vendor, receiver, f"{receiver_url}/hook")
                    await walk_bulk(run, client, vendor, instance_id)
    elapsed = time.monotonic() - started
    summarize(run, elapsed)
    return run


async def walk(run: DemoRun, client: httpx.AsyncClient, sandbox_url: str) -> str:
    """Catalog, connection, records: answers the instance's id."""
    elements = await run.call(client, "Catalog", "GET", "/v1/elements", expect=200)
    run.console.print(f"   elements: {', '.join(e['key'] for e in elements['data'])}")
    instance = await run.call(
        client,
        "Connect the sandbox",
        "POST",
        "/v1/instances",
        expect=201,
        json={
            "element": "sandbox",
            "name": "demo-crm",
            "config": {"base_url": sandbox_url, "api_key": SANDBOX_KEY},
        },
        headers={"Idempotency-Key": "demo-instance"},
    )
    base = f"/v1/instances/{instance['id']}"
    run.short_names[instance["id"]] = "{instance}"
    checked = await run.call(client, "Check the connection", "POST", f"{base}/check", expect=200)
    run.console.print(f"   auth: {checked['status']['auth']['state']}")

    contacts = f"{base}/objects/contacts"
    first = await run.call(
        client, "First page of contacts", "GET", contacts, expect=200, params={"limit": 5}
    )
    run.records_read += len(first["data"])
    table = Table("id", "email", "first_name", "updated_at")
    for record in first["data"]:
        table.add_row(
            record["id"], record.get("email"), record.get("first_name"), record["updated_at"]
        )
    run.console.print(table)

    pages, cursor, total = 0, None, 0
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(contacts, params=params)
        response.raise_for_status()
        body = response.json()
        pages += 1
        total += len(body["data"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    run.records_read += total
    run.console.print(f"✓ Paged through every contact: {total} records in {pages} pages")

    created = await run.call(
        client,
        "Create a contact",
        "POST",
        contacts,
        expect=201,
        json={"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
    )
    run.records_written += 1
    found = await run.call(
        client,
        "Find it with CEQL",
        "GET",
        contacts,
        expect=200,
        params={"where": "email = 'ada@example.com' and first_name like 'A%'"},
    )
    run.records_read += len(found["data"])
    run.console.print(f"   matched: {[r['id'] for r in found['data']]}")
    record = f"{contacts}/{created['id']}"
    run.short_names[created["id"]] = "{contact}"
    await run.call(client, "Update it", "PATCH", record, expect=200, json={"title": "Analyst"})
    run.records_written += 1
    fetched = await run.call(client, "Read it back", "GET", record, expect=200)
    run.console.print(f"   title is now {fetched['title']!r}")
    rejected = await run.call(
        client,
        "The vendor refuses a bad email",
        "POST",
        contacts,
        expect=422,
        json={"email": "not-an-email"},
    )
    run.console.print(f"   problem: {rejected['detail']}")
    await run.call(client, "Delete it", "DELETE", record, expect=204)
    run.records_written += 1
    await run.call(client, "Gone at the vendor", "GET", record, expect=404)
    return str(instance["id"])


async def walk_events(
    run: DemoRun,
    client: httpx.AsyncClient,
    vendor: httpx.AsyncClient,
    receiver: Receiver,
    callback_url: str,
) -> None:
    """Polling and webhook mode: changes at the vendor arrive, verified, at the receiver."""
    run.console.rule("Events")
    polling = await run.call(
        client,
        "Watch contacts by polling",
        "POST",
        "/v1/instances",
        expect=201,
        json={
            "element": "sandbox",
            "name": "demo-polling",
            "config": {"base_url": str(vendor.base_url).rstrip("/"), "api_key": SANDBOX_KEY},
            "events": {
                "enabled": True,
                "mode": "polling",
                "objects": ["contacts"],
                "poll_interval_seconds": 2,
                "callback_url": callback_url,
            },
        },
    )
    receiver.secrets[polling["id"]] = polling["events"]["signing_secret"]
    run.short_names[polling["id"]] = "{polling}"
    poll = f"/v1/instances/{polling['id']}/poll"
    baseline = await run.call(
        client, "Take the baseline", "POST", poll, expect=200, params={"wait": "true"}
    )
    run.console.print(f"   contacts: {baseline['objects']['contacts']['state']}")

    created = (await vendor.post("/api/contacts", json={"email": "grace@example.com"})).json()
    await vendor.patch(f"/api/contacts/{created['id']}", json={"title": "Rear Admiral"})
    seeded = (await vendor.get("/api/contacts", params={"limit": 2})).json()["results"]
    await vendor.patch(f"/api/contacts/{seeded[0]['id']}", json={"title": "Countess"})
    await vendor.delete(f"/api/contacts/{seeded[1]['id']}")
    run.console.print("   at the vendor: 1 contact created and updated, 1 updated, 1 deleted")
    await run.call(client, "Poll now", "POST", poll, expect=200, params={"wait": "true"})
    if not await receiver.wait_for(3, seconds=30):
        raise DemoFailed(f"expected 3 events from polling, got {len(receiver.events)}")

    webhooks = await run.call(
        client,
        "Watch contacts by vendor webhooks",
        "POST",
        "/v1/instances",
        expect=201,
        json={
            "element": "sandbox",
            "name": "demo-webhooks",
            "config": {"base_url": str(vendor.base_url).rstrip("/"), "api_key": SANDBOX_KEY},
            "events": {
                "enabled": True,
                "mode": "webhook",
                "objects": ["contacts"],
                "callback_url": callback_url,
            },
        },
    )
    receiver.secrets[webhooks["id"]] = webhooks["events"]["signing_secret"]
    run.short_names[webhooks["id"]] = "{webhooks}"
    await _wait_for_subscription(vendor)
    run.console.print("   the hub registered its webhook at the sandbox")
    await vendor.post("/api/contacts", json={"email": "katherine@example.com"})
    # The polling instance sees this creation too, on its next poll.
    if not await receiver.wait_for(5, seconds=30):
        raise DemoFailed(f"expected 5 events in all, got {len(receiver.events)}")

    table = Table("instance", "type", "subject", "sequence", "signature", title="Received")
    for event in receiver.events:
        name = run.short_names.get(event.instance_id, event.instance_id)
        table.add_row(name, event.type, event.subject, str(event.sequence), "verified")
    run.console.print(table)
    run.events_received = len(receiver.events)


async def _wait_for_subscription(vendor: httpx.AsyncClient) -> None:
    for _ in range(200):
        if (await vendor.get("/api/webhooks")).json().get("results"):
            return
        await asyncio.sleep(0.05)
    raise DemoFailed("the hub did not register its webhook at the sandbox")


def summarize(run: DemoRun, elapsed: float) -> None:
    table = Table("step", "call", "status", title="Summary")
    for step in run.steps:
        table.add_row(step.title, f"{step.method} {step.path}", str(step.status))
    run.console.print(table)
    run.console.print(
        f"[bold green]Demo complete[/bold green] in {elapsed:.1f}s: "
        f"{run.records_read} records read and {run.records_written} written through the hub, "
        f"{run.events_received} events received and verified, "
        f"{run.bulk_jobs} bulk jobs run."
    )
