"""Webhooks and the reconciliation poll together: what a webhook brought is not emitted
again by the poll, and what the vendor never sent is caught by it."""

from __future__ import annotations

import httpx

from interlink.eventing.polling.poll import run_poll
from interlink.sandbox import RunningSandbox
from interlink.server import RunningHub

from .conftest import create_instance, stored_events, until, webhook_events


async def test_the_reconciliation_poll_emits_only_what_no_webhook_brought(
    wired: RunningHub,
    api: httpx.AsyncClient,
    sandbox: RunningSandbox,
    vendor: httpx.AsyncClient,
    callback_url: str,
) -> None:
    events = webhook_events(callback_url, reconciliation_interval_seconds=3600)
    instance = await create_instance(api, sandbox.url, events)
    await wired.hub.runtime.run_until_idle()
    baseline = await run_poll(wired.hub, instance["id"], "contacts")
    assert baseline is not None
    assert baseline.outcome == "ok"

    contact = (await vendor.post("/api/contacts", json={"email": "both@ways.io"})).json()
    await vendor.patch(f"/api/contacts/{contact['id']}", json={"title": "CEO"})

    async def two() -> bool:
        return len(await stored_events(wired, instance["id"])) == 2

    await until(two)
    assert (await run_poll(wired.hub, instance["id"], "contacts")) is not None
    assert len(await stored_events(wired, instance["id"])) == 2  # nothing twice

    # The vendor stops sending (a lost subscription); the poll is the backstop.
    [subscription] = (await vendor.get("/api/webhooks")).json()["results"]
    assert (await vendor.delete(f"/api/webhooks/{subscription['id']}")).status_code == 204
    await vendor.patch(f"/api/contacts/{contact['id']}", json={"title": "Chair"})
    await run_poll(wired.hub, instance["id"], "contacts")
    stored = await stored_events(wired, instance["id"])
    assert [(e.change, e.source) for e in stored] == [
        ("created", "webhook"),
        ("updated", "webhook"),
        ("updated", "poll"),
    ]
    assert stored[-1].record is not None
    assert stored[-1].record["title"] == "Chair"
