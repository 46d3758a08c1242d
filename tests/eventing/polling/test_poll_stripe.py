"""Polls of Stripe against its simulator: changes from the Events API, deletes too."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from interlink.eventing.polling.poll import run_poll
from interlink.eventing.polling.streams import sync_streams
from interlink.hub import Hub
from interlink.ids import new_id
from interlink.storage.models import Instance
from tests.simulators.stripe import RunningStripe, StripeStore, running_stripe

from .support import VendorTap, changes, events_of, stream_of

SECRET_KEY = f"sk_test_{secrets.token_hex(16)}"


@pytest.fixture
async def stripe() -> AsyncIterator[RunningStripe]:
    store = StripeStore()
    store.clock.advance(-120)  # seeded two minutes ago, by the vendor's clock as by ours
    async with running_stripe(SECRET_KEY, seed_count=4, store=store) as running:
        yield running


async def stripe_instance(hub: Hub, organization_id: str, url: str) -> str:
    async with hub.database.transaction() as session:
        instance = Instance(
            id=new_id("inst"),
            organization_id=organization_id,
            element_key="stripe",
            name="test",
            config={"base_url": url},
            credentials=hub.secrets.encrypt_json({"secret_key": SECRET_KEY}),
            events={
                "enabled": True,
                "mode": "polling",
                "objects": ["customers"],
                "poll_interval_seconds": 60,
                "callback_url": None,
                "initial": "baseline",
                "reconciliation_interval_seconds": None,
            },
            signing_secret=hub.secrets.encrypt("whsec_dGVzdA=="),
            hook_token="token",
        )
        session.add(instance)
        await session.flush()
        await sync_streams(session, hub, instance)
    return instance.id


async def test_changes_and_deletes_come_from_the_events_api(
    poll_hub: Hub, org_id: str, stripe: RunningStripe, tap: VendorTap
) -> None:
    store = stripe.store
    changed, removed, kept = (record["id"] for record in store.snapshot("customers")[:3])
    store.clock.advance(60)
    # Changed after the newest customer's creation, before the baseline: no news later.
    store.update("customers", kept, {"description": "Before the baseline"})
    instance_id = await stripe_instance(poll_hub, org_id, stripe.url)
    await run_poll(poll_hub, instance_id, "customers")
    assert await changes(poll_hub, instance_id) == []
    assert (await stream_of(poll_hub, instance_id, "customers")).state == "live"

    store.clock.advance(60)  # the vendor's clock is ours again; past the overlap window
    created = store.create("customers", {"email": "new@example.com", "name": "New"})["id"]
    store.clock.advance(1)
    store.update("customers", changed, {"description": "Changed"})
    store.clock.advance(1)
    store.delete("customers", removed)
    tap.requests.clear()
    await run_poll(poll_hub, instance_id, "customers")

    assert sorted(await changes(poll_hub, instance_id)) == sorted(
        [("created", created), ("updated", changed), ("deleted", removed)]
    )
    events = {event.record_id: event for event in await events_of(poll_hub, instance_id)}
    assert events[changed].record is not None
    assert events[changed].record["description"] == "Changed"
    assert events[removed].record is None
    assert kept not in events
    # The changes came from the events, not from a scan of the customers.
    assert any(request.startswith("GET /v1/events?") for request in tap.requests)
    assert not any(request.startswith("GET /v1/customers") for request in tap.requests)

    # Nothing changed since: polls re-reading the overlap window emit nothing new.
    await run_poll(poll_hub, instance_id, "customers")
    store.clock.advance(1)
    await run_poll(poll_hub, instance_id, "customers")
    assert len(await changes(poll_hub, instance_id)) == 3

    # A record changed twice between polls is one event, with its latest state.
    store.update("customers", changed, {"description": "Again"})
    store.clock.advance(1)
    store.update("customers", changed, {"description": "Once more"})
    await run_poll(poll_hub, instance_id, "customers")
    later = await events_of(poll_hub, instance_id)
    assert [(event.change, event.record_id) for event in later[3:]] == [("updated", changed)]
    assert later[3].record is not None
    assert later[3].record["description"] == "Once more"
