"""The events feed: recording order, paging with `after` without gaps, filters, one event,
and other organizations' ids."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from interlink.server import RunningHub
from tests.eventing.delivery.receiver import Receiver
from tests.eventing.delivery.support import change, make_instance, record
from tests.hub_fixtures import make_org


async def _feed(api: httpx.AsyncClient, instance_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every page, following next_cursor as `after`."""
    events: list[dict[str, Any]] = []
    after = None
    while True:
        query = {**params, **({"after": after} if after else {})}
        response = await api.get(f"/v1/instances/{instance_id}/events", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        events += body["data"]
        if body["next_cursor"] is None:
            return events
        assert body["next_cursor"] == body["data"][-1]["id"]
        after = body["next_cursor"]


async def test_the_feed_pages_forward_with_after_without_gaps(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    instance = await make_instance(api, receiver.url)
    first = await record(hub.hub, instance["id"], *[change(f"c{n}") for n in range(5)])
    paged = await _feed(api, instance["id"], limit=2)
    assert [event["id"] for event in paged] == [event.id for event in first]

    # Events recorded later are found by continuing after the last one seen.
    later = await record(hub.hub, instance["id"], change("c5"), change("c6", "deleted"))
    response = await api.get(
        f"/v1/instances/{instance['id']}/events", params={"after": paged[-1]["id"]}
    )
    assert [event["id"] for event in response.json()["data"]] == [event.id for event in later]
    assert [event["sequence"] for event in await _feed(api, instance["id"], limit=3)] == [
        1, 2, 3, 4, 5, 6, 7,
    ]  # fmt: skip


async def test_feed_events_are_cloudevents_with_when_and_how_they_were_recorded(
    hub: RunningHub, api: httpx.AsyncClient
) -> None:
    instance = await make_instance(api, None)
    [event] = await record(hub.hub, instance["id"], change("c1", "deleted"))
    [listed] = (await api.get(f"/v1/instances/{instance['id']}/events")).json()["data"]
    assert listed["id"] == event.id
    assert listed["type"] == "contacts.deleted"
    assert listed["source"] == f"/v1/instances/{instance['id']}"
    assert "record" not in listed["data"]
    assert listed["origin"] == "poll"
    assert listed["recorded_at"].endswith("Z")

    single = await api.get(f"/v1/events/{event.id}")
    assert single.status_code == 200
    assert single.json() == listed


async def test_the_feed_filters_by_object_and_type(hub: RunningHub, api: httpx.AsyncClient) -> None:
    instance = await make_instance(api, None)
    await record(
        hub.hub,
        instance["id"],
        change("c1", "created"),
        change("k1", "created", object_name="companies"),
        change("c1", "updated"),
        change("c2", "deleted"),
        change("k1", "deleted", object_name="companies"),
    )
    companies = await _feed(api, instance["id"], object="companies")
    assert [event["type"] for event in companies] == ["companies.created", "companies.deleted"]
    deleted = await _feed(api, instance["id"], type="contacts.deleted")
    assert [event["subject"] for event in deleted] == ["c2"]
    paged = await _feed(api, instance["id"], object="contacts", limit=1)
    assert [event["sequence"] for event in paged] == [1, 3, 4]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "contacts"}, "type"),
        ({"type": "contacts.renamed"}, "type"),
        ({"type": "contacts.updated", "object": "companies"}, "type"),
        ({"after": "evt_unknown"}, "after"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
    ],
)
async def test_bad_feed_parameters_answer_422_naming_the_field(
    api: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    instance = await make_instance(api, None)
    response = await api.get(f"/v1/instances/{instance['id']}/events", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


async def test_another_organizations_ids_answer_404(
    hub: RunningHub, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    instance = await make_instance(api, receiver.url)
    [event] = await record(hub.hub, instance["id"], change("c1"))
    await hub.hub.runtime.run_until_idle()
    delivery_id = receiver.received[0].webhook_id

    other = await make_org(hub, "Other")
    headers = {"Authorization": f"Bearer {other.key}"}
    async with httpx.AsyncClient(base_url=hub.url, headers=headers) as stranger:
        calls = [
            stranger.get(f"/v1/instances/{instance['id']}/events"),
            stranger.get(f"/v1/events/{event.id}"),
            stranger.get(f"/v1/instances/{instance['id']}/deliveries"),
            stranger.get(f"/v1/deliveries/{delivery_id}"),
            stranger.post(f"/v1/deliveries/{delivery_id}/retry"),
            stranger.post(
                f"/v1/instances/{instance['id']}/events/replay",
                json={"since": "2020-01-01T00:00:00Z"},
            ),
            stranger.post(f"/v1/instances/{instance['id']}/signing-secret"),
        ]
        for call in calls:
            response = await call
            assert response.status_code == 404, (response.request.url, response.text)
            assert instance["id"] not in response.text or "no instance" in response.text
        unauthenticated = await stranger.get(
            f"/v1/events/{event.id}", headers={"Authorization": "Bearer nope"}
        )
        assert unauthenticated.status_code == 401
    assert len(receiver.received) == 1  # the stranger's retry and replay did nothing
