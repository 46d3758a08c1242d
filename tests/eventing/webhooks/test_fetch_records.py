"""An element whose webhooks carry only ids: the records are fetched from the vendor after
the post is verified, before anything is stored. Signed HubSpot's way, over the public URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson
import pytest

from interlink.sandbox import RunningSandbox
from interlink.server import RunningHub

from .conftest import SANDBOX_KEY, stored_events, webhook_events
from .elements import hubspot_like

CLIENT_SECRET = "app-client-secret"
UNREACHABLE = "http://127.0.0.1:9"


def hubspot_signed(url: str, body: bytes, secret: str = CLIENT_SECRET) -> dict[str, str]:
    millis = str(int(time.time() * 1000))
    source = f"POST{url}".encode() + body + millis.encode()
    signature = base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest())
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature.decode(),
        "X-HubSpot-Request-Timestamp": millis,
    }


async def connect(api: httpx.AsyncClient, base_url: str, callback_url: str) -> dict[str, Any]:
    definition = {**hubspot_like(), "retry": {"max_attempts": 1}}
    assert (await api.post("/v1/elements", json=definition)).status_code == 201
    body = {
        "element": "acme-crm",
        "name": "acme",
        "config": {"base_url": base_url, "api_key": SANDBOX_KEY, "webhook_secret": CLIENT_SECRET},
        "events": webhook_events(callback_url),
    }
    response = await api.post("/v1/instances", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def post_of(*events: dict[str, Any]) -> bytes:
    return orjson.dumps(list(events))


async def test_records_are_fetched_for_id_only_events(
    wired: RunningHub,
    api: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    sandbox: RunningSandbox,
    vendor: httpx.AsyncClient,
    callback_url: str,
) -> None:
    instance = await connect(api, sandbox.url, callback_url)
    contact = (await vendor.post("/api/contacts", json={"email": "id@only.io"})).json()
    body = post_of(
        {
            "eventId": 1,
            "subscriptionType": "contact.creation",
            "objectId": contact["id"],
            "occurredAt": 1714564800000,
        },
        {"eventId": 2, "subscriptionType": "contact.propertyChange", "objectId": "c_gone"},
        {"eventId": 3, "subscriptionType": "contact.deletion", "objectId": "c_old"},
    )
    url = instance["webhook_url"]
    answer = await anonymous.post(url, content=body, headers=hubspot_signed(url, body))
    assert answer.status_code == 200, answer.text
    # The record of event 2 no longer exists at the vendor: its delete is still to come.
    assert answer.json() == {"received": 2, "duplicates": 0, "ignored": 1}
    created, deleted = await stored_events(wired, instance["id"])
    assert (created.change, created.record_id, created.record) == (
        "created",
        contact["id"],
        contact,
    )
    assert created.vendor_time == "2024-05-01T12:00:00.000Z"
    assert created.vendor_event_id == "1"
    assert (deleted.change, deleted.record_id, deleted.record) == ("deleted", "c_old", None)

    again = await anonymous.post(url, content=body, headers=hubspot_signed(url, body))
    assert again.json() == {"received": 0, "duplicates": 2, "ignored": 1}


async def test_the_signature_covers_the_public_url(
    wired: RunningHub,
    api: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    sandbox: RunningSandbox,
    callback_url: str,
) -> None:
    instance = await connect(api, sandbox.url, callback_url)
    body = post_of({"eventId": 1, "subscriptionType": "contact.deletion", "objectId": "c_1"})
    url = instance["webhook_url"]
    elsewhere = url.replace("127.0.0.1", "localhost")
    answer = await anonymous.post(url, content=body, headers=hubspot_signed(elsewhere, body))
    assert answer.status_code == 401
    assert await stored_events(wired, instance["id"]) == []


@pytest.mark.parametrize("secret", ["", "wrong"])
async def test_a_missing_or_wrong_config_secret_refuses_posts(
    wired: RunningHub,
    api: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    sandbox: RunningSandbox,
    callback_url: str,
    secret: str,
) -> None:
    instance = await connect(api, sandbox.url, callback_url)
    body = post_of({"eventId": 1, "subscriptionType": "contact.deletion", "objectId": "c_1"})
    url = instance["webhook_url"]
    headers = hubspot_signed(url, body, secret) if secret else {}
    answer = await anonymous.post(url, content=body, headers=headers)
    assert answer.status_code == 401


async def test_a_vendor_that_cannot_answer_gets_503_and_nothing_is_stored(
    wired: RunningHub, api: httpx.AsyncClient, anonymous: httpx.AsyncClient, callback_url: str
) -> None:
    instance = await connect(api, UNREACHABLE, callback_url)
    body = post_of({"eventId": 1, "subscriptionType": "contact.creation", "objectId": "c_1"})
    url = instance["webhook_url"]
    answer = await anonymous.post(url, content=body, headers=hubspot_signed(url, body))
    assert answer.status_code == 503, answer.text
    assert await stored_events(wired, instance["id"]) == []
