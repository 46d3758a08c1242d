"""Webhooks over loopback: a real receiver gets signed events, retried after a failure."""

from __future__ import annotations

import httpx
import orjson

from interlink.sandbox import SIGNATURE_HEADER, verify

from .helpers import Receiver


async def test_subscription_management(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/api/webhooks", json={"url": "http://127.0.0.1:9/hook", "secret": "s3cret"}
    )
    assert created.status_code == 201
    hook = created.json()
    assert hook["url"] == "http://127.0.0.1:9/hook"
    assert "secret" not in hook
    listed = (await client.get("/api/webhooks")).json()["results"]
    assert [entry["id"] for entry in listed] == [hook["id"]]
    assert (await client.delete(f"/api/webhooks/{hook['id']}")).status_code == 204
    assert (await client.get("/api/webhooks")).json()["results"] == []
    assert (await client.delete(f"/api/webhooks/{hook['id']}")).status_code == 404

    missing_secret = await client.post("/api/webhooks", json={"url": "http://127.0.0.1:9/"})
    assert missing_secret.status_code == 422
    bad_url = await client.post("/api/webhooks", json={"url": "nowhere", "secret": "s"})
    assert bad_url.json()["field"] == "url"


async def test_changes_reach_the_receiver_signed_in_order(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.fail_first = 1  # the first post fails: it must be retried before the rest
    hook = {"url": receiver.url, "secret": "s3cret"}
    assert (await client.post("/api/webhooks", json=hook)).status_code == 201

    record = (await client.post("/api/contacts", json={"email": "hook@example.com"})).json()
    await client.patch(f"/api/contacts/{record['id']}", json={"title": "CTO"})
    await client.delete(f"/api/contacts/{record['id']}")
    company = (await client.post("/api/companies", json={"name": "Hooked"})).json()

    await receiver.wait_for(lambda: len(receiver.accepted) == 4)
    events = [orjson.loads(body) for body in receiver.accepted]
    assert [event["type"] for event in events] == [
        "contact.created",
        "contact.updated",
        "contact.deleted",
        "company.created",
    ]
    assert events[0]["object"] == record
    assert events[1]["object"]["title"] == "CTO"
    assert events[2]["object"]["id"] == record["id"]
    assert events[3]["object"] == company
    assert all(event["occurred_at"].endswith("Z") for event in events)

    # Five posts: the failed first attempt, its retry (same event), then the three others.
    assert len(receiver.posts) == 5
    assert receiver.posts[0][0] == receiver.posts[1][0]
    for body, headers in receiver.posts:
        assert verify("s3cret", body, headers[SIGNATURE_HEADER.lower()])
        assert headers["content-type"] == "application/json"
