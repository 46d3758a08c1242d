"""The delivery log, retry, replay and signing-secret rotation through the API."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from interlink.server import RunningHub
from interlink.storage.types import utcnow
from tests.eventing.delivery.receiver import Receiver, Reply
from tests.eventing.delivery.support import (
    all_finished,
    change,
    deliveries_of,
    drive,
    make_instance,
    record,
    update_instance,
)


def _rfc3339(offset_seconds: float = 0) -> str:
    return (utcnow() + timedelta(seconds=offset_seconds)).isoformat().replace("+00:00", "Z")


async def test_deliveries_are_listed_with_their_attempts_and_filtered_by_status(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(500), Reply(500), Reply(500))
    instance = await make_instance(api, receiver.url)
    [dead_event] = await record(hub.hub, instance["id"], change("c1"))
    await record(hub.hub, instance["id"], change("c2"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=2))

    url = f"/v1/instances/{instance['id']}/deliveries"
    everything = (await api.get(url)).json()
    assert everything["next_cursor"] is None
    assert [d["status"] for d in everything["data"]] == ["succeeded", "dead"]  # newest first
    dead = (await api.get(url, params={"status": "dead"})).json()["data"]
    [only] = dead
    assert only["event_ids"] == [dead_event.id]
    assert only["attempt_count"] == 3
    assert [a["status_code"] for a in only["attempts"]] == [500, 500, 500]
    assert set(only["attempts"][0]) == {
        "attempted_at", "status_code", "latency_ms", "error", "response_body",
    }  # fmt: skip
    assert only["attempts"][0]["error"] == "HTTP 500"
    assert (await api.get(url, params={"status": "pending"})).json()["data"] == []
    assert (await api.get(url, params={"status": "lost"})).status_code == 422

    paged = (await api.get(url, params={"limit": 1})).json()
    rest = (await api.get(url, params={"limit": 1, "cursor": paged["next_cursor"]})).json()
    assert [d["id"] for d in paged["data"] + rest["data"]] == [d["id"] for d in everything["data"]]
    single = await api.get(f"/v1/deliveries/{only['id']}")
    assert single.json() == only


async def test_retry_sends_a_dead_delivery_again_now(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(500), Reply(500), Reply(500))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))
    [dead] = await deliveries_of(hub.hub, instance["id"])
    assert dead.status == "dead"

    response = await api.post(f"/v1/deliveries/{dead.id}/retry")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))

    [retried] = await deliveries_of(hub.hub, instance["id"])
    assert (retried.status, retried.attempts) == ("succeeded", 4)
    assert receiver.webhook_ids == [dead.id] * 4
    again = await api.post(f"/v1/deliveries/{dead.id}/retry")
    assert again.status_code == 409  # succeeded: replay its events instead
    assert (await api.post("/v1/deliveries/msg_unknown/retry")).status_code == 404


async def test_retry_is_not_held_back_by_a_retry_scheduled_far_ahead(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(503, headers={"Retry-After": "3000"}))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await hub.hub.runtime.run_until_idle()
    [failed] = await deliveries_of(hub.hub, instance["id"])
    assert failed.status == "failed"

    response = await api.post(f"/v1/deliveries/{failed.id}/retry")
    assert response.status_code == 202, response.text
    await hub.hub.runtime.run_until_idle()

    [delivered] = await deliveries_of(hub.hub, instance["id"])
    assert delivered.status == "succeeded"
    assert receiver.webhook_ids == [failed.id, failed.id]


async def test_retry_answers_409_while_delivery_is_disabled(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply(Reply(410))
    instance = await make_instance(api, receiver.url)
    await record(hub.hub, instance["id"], change("c1"))
    await hub.hub.runtime.run_until_idle()
    [failed] = await deliveries_of(hub.hub, instance["id"])
    response = await api.post(f"/v1/deliveries/{failed.id}/retry")
    assert response.status_code == 409
    assert "re-enable" in response.json()["detail"]


async def test_replay_delivers_a_range_again_as_new_deliveries_with_the_same_event_ids(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    instance = await make_instance(api, receiver.url)
    since = _rfc3339(-1)
    events = await record(hub.hub, instance["id"], *[change(f"c{n}") for n in range(3)])
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))
    until = _rfc3339(1)

    body = {"since": since, "until": until}
    headers = {"Idempotency-Key": "replay-1"}
    url = f"/v1/instances/{instance['id']}/events/replay"
    response = await api.post(url, json=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["events"] == 3
    assert response.json()["deliveries"] == 1
    repeated = await api.post(url, json=body, headers=headers)
    assert repeated.status_code == 202
    assert repeated.json() == response.json()
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=2))

    original, replayed = await deliveries_of(hub.hub, instance["id"])
    assert (original.reason, replayed.reason) == (None, "replay")
    assert replayed.event_ids == original.event_ids == [event.id for event in events]
    assert [r.event_ids for r in receiver.received] == [original.event_ids] * 2
    assert receiver.webhook_ids == [original.id, replayed.id]
    listed = (await api.get(f"/v1/instances/{instance['id']}/deliveries")).json()["data"]
    assert [d["reason"] for d in listed] == ["replay", None]

    empty = await api.post(url, json={"since": until, "until": _rfc3339(2)})
    assert empty.json()["events"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"},
        {"since": "2024-05-01T00:00:00Z", "until": "2024-05-01T00:00:00Z"},
        {"since": "2024-05-01T00:00:00"},
        {"since": "yesterday"},
        {"until": "2024-05-01T00:00:00Z"},
        {"since": "2024-05-01T00:00:00Z", "extra": 1},
    ],
)
async def test_replay_of_a_bad_range_answers_422(
    api: httpx.AsyncClient, receiver: Receiver, body: dict[str, object]
) -> None:
    instance = await make_instance(api, receiver.url)
    response = await api.post(f"/v1/instances/{instance['id']}/events/replay", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_rotation_signs_with_both_secrets_for_a_day_then_only_the_new_one(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    instance = await make_instance(api, receiver.url)
    old = instance["events"]["signing_secret"]
    url = f"/v1/instances/{instance['id']}/signing-secret"
    response = await api.post(url, headers={"Idempotency-Key": "rotate-1"})
    assert response.status_code == 200, response.text
    new = response.json()["signing_secret"]
    assert new.startswith("whsec_")
    assert new != old
    assert response.json()["callback_url"] == receiver.url
    overlap_ends = datetime.fromisoformat(response.json()["previous_secret_expires_at"])
    assert abs((overlap_ends - utcnow()) - timedelta(hours=24)) < timedelta(minutes=1)
    repeated = await api.post(url, headers={"Idempotency-Key": "rotate-1"})
    assert repeated.json()["signing_secret"] == new  # the same answer, no second rotation
    described = (await api.get(f"/v1/instances/{instance['id']}")).json()
    assert described["events"]["signing_secret"] == new

    await record(hub.hub, instance["id"], change("c1"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"]))
    [during] = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verifies(new)
    assert during.verifies(old)

    await update_instance(
        hub.hub, instance["id"], previous_secret_expires_at=utcnow() - timedelta(seconds=1)
    )
    await record(hub.hub, instance["id"], change("c2"))
    await drive(hub.hub, all_finished(hub.hub, instance["id"], count=2))
    after = receiver.received[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert after.verifies(new)
    assert not after.verifies(old)
