"""Instances: created without calling the vendor, credentials sealed, tenants apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from interlink.server import RunningHub, running_hub
from interlink.settings import Settings
from tests.hub_fixtures import make_org

# Nothing listens there: creating an instance must not need the vendor.
UNREACHABLE = "http://127.0.0.1:9"
SECRET = "vendor-secret-do-not-leak"


def new_instance(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "element": "sandbox",
        "name": "acme",
        "config": {"base_url": UNREACHABLE, "api_key": SECRET},
        "events": {
            "enabled": True,
            "mode": "polling",
            "objects": ["contacts"],
            "poll_interval_seconds": 60,
            "callback_url": "http://127.0.0.1:9/hook",
        },
    }
    body.update(overrides)
    return body


async def test_create_answers_201_with_status_and_signing_secret(
    hub: RunningHub, api: httpx.AsyncClient
) -> None:
    response = await api.post("/v1/instances", json=new_instance())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("inst_")
    assert body["element"] == "sandbox"
    assert body["events"]["signing_secret"].startswith("whsec_")
    assert body["status"]["auth"]["state"] == "unknown"
    assert body["status"]["delivery"]["state"] == "enabled"
    assert body["status"]["objects"]["contacts"]["state"] == "baselining"
    assert body["config"] == {"base_url": UNREACHABLE}
    assert SECRET not in response.text
    assert "webhook_url" not in body

    fetched = await api.get(f"/v1/instances/{body['id']}")
    assert SECRET not in fetched.text
    async with hub.hub.database.transaction() as session:
        stored = (await session.execute(text("SELECT credentials FROM instances"))).scalar_one()
    assert SECRET not in stored


async def test_webhook_mode_names_the_url_vendors_post_to(
    hub: RunningHub, api: httpx.AsyncClient
) -> None:
    events = {"enabled": False, "mode": "webhook", "objects": ["contacts"]}
    body = (await api.post("/v1/instances", json=new_instance(events=events))).json()
    assert body["webhook_url"].startswith(f"{hub.url}/v1/hooks/{body['id']}/")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"element": "nope"}, None),
        ({"config": {"base_url": UNREACHABLE}}, "config.api_key"),
        ({"config": {"base_url": UNREACHABLE, "api_key": "k", "extra": 1}}, "config.extra"),
        ({"config": {"base_url": "ftp://x", "api_key": "k"}}, "config.base_url"),
        ({"config": {"base_url": UNREACHABLE, "api_key": 42}}, "config.api_key"),
        ({"events": {"objects": ["deals"]}}, "events.objects.0"),
        ({"events": {"mode": "carrier-pigeon"}}, "events.mode"),
        ({"events": {"enabled": True, "objects": ["contacts"]}}, "events.callback_url"),
        ({"events": {"poll_interval_seconds": 0}}, "events.poll_interval_seconds"),
        ({"events": {"surprise": True}}, "events.surprise"),
        ({"nickname": "x"}, "nickname"),
    ],
)
async def test_invalid_instances_name_the_field(
    api: httpx.AsyncClient, change: dict[str, Any], field: str | None
) -> None:
    response = await api.post("/v1/instances", json=new_instance(**change))
    if field is None:
        assert response.status_code == 404
        return
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_malformed_json_is_a_400_problem(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/instances",
        content=b'{"element": "sandbox",',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Malformed JSON"


@pytest.fixture
async def guarded_hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    settings = Settings(
        data_dir=tmp_path / "guarded",
        allow_private_networks=False,
        secret_key="test-secret-key-0123456789-abcdefghijklmnop",
    )
    async with running_hub(settings, workers=False) as running:
        yield running


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8100",
        "http://localhost",
        "http://[::1]/",
        "http://2130706433",
        "http://10.0.0.1",
    ],
)
async def test_urls_inside_the_network_are_refused_by_default(
    guarded_hub: RunningHub, url: str
) -> None:
    org = await make_org(guarded_hub)
    async with httpx.AsyncClient(
        base_url=guarded_hub.url, headers={"Authorization": f"Bearer {org.key}"}
    ) as client:
        vendor = await client.post(
            "/v1/instances",
            json=new_instance(config={"base_url": url, "api_key": "k"}, events={}),
        )
        assert vendor.status_code == 422
        assert vendor.json()["field"] == "config.base_url"
        callback = await client.post(
            "/v1/instances",
            json=new_instance(
                config={"base_url": "http://93.184.216.34", "api_key": "k"},
                events={"enabled": True, "objects": ["contacts"], "callback_url": url},
            ),
        )
        assert callback.status_code == 422
        assert callback.json()["field"] == "events.callback_url"


async def test_patch_pauses_events_and_a_new_base_url_needs_credentials(
    api: httpx.AsyncClient,
) -> None:
    instance = (await api.post("/v1/instances", json=new_instance())).json()
    path = f"/v1/instances/{instance['id']}"

    paused = await api.patch(path, json={"events": {"enabled": False}, "name": "renamed"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["events"]["enabled"] is False
    assert paused.json()["name"] == "renamed"
    assert paused.json()["events"]["signing_secret"] == instance["events"]["signing_secret"]

    moved = await api.patch(path, json={"config": {"base_url": "http://127.0.0.2:9"}})
    assert moved.status_code == 422
    assert moved.json()["field"] == "config.api_key"

    with_key = await api.patch(
        path, json={"config": {"base_url": "http://127.0.0.2:9", "api_key": "new"}}
    )
    assert with_key.status_code == 200
    assert with_key.json()["config"]["base_url"] == "http://127.0.0.2:9"

    resumed = await api.patch(path, json={"events": {"enabled": True}})
    assert resumed.json()["events"]["enabled"] is True
    bad = await api.patch(path, json={"events": {"objects": ["nope"]}})
    assert bad.status_code == 422


async def test_list_pages_with_cursor_and_bounds_the_limit(api: httpx.AsyncClient) -> None:
    ids = set()
    for index in range(5):
        created = await api.post("/v1/instances", json=new_instance(name=f"i{index}"))
        ids.add(created.json()["id"])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await api.get("/v1/instances", params=params)).json()
        seen += [row["id"] for row in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids)
    assert (await api.get("/v1/instances", params={"limit": 0})).status_code == 422
    assert (await api.get("/v1/instances", params={"limit": 101})).status_code == 422
    assert (await api.get("/v1/instances", params={"cursor": "%%%"})).status_code == 422


async def test_other_organizations_instances_are_404_everywhere(
    hub: RunningHub, api: httpx.AsyncClient
) -> None:
    instance = (await api.post("/v1/instances", json=new_instance())).json()
    other = await make_org(hub, "Other")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {other.key}"}
    ) as client:
        path = f"/v1/instances/{instance['id']}"
        assert (await client.get(path)).status_code == 404
        assert (await client.patch(path, json={"name": "x"})).status_code == 404
        assert (await client.delete(path)).status_code == 404
        assert (await client.post(f"{path}/check")).status_code == 404
        assert (await client.get(f"{path}/objects/contacts")).status_code == 404
        assert (await client.get("/v1/instances")).json()["data"] == []
    assert (await api.get(f"/v1/instances/{instance['id']}")).status_code == 200


async def test_delete_removes_the_instance(api: httpx.AsyncClient) -> None:
    instance = (await api.post("/v1/instances", json=new_instance())).json()
    path = f"/v1/instances/{instance['id']}"
    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404


async def test_idempotency_key_replays_the_first_answer(api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-acme-1"}
    first = await api.post("/v1/instances", json=new_instance(), headers=headers)
    second = await api.post("/v1/instances", json=new_instance(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert len((await api.get("/v1/instances")).json()["data"]) == 1

    different = await api.post("/v1/instances", json=new_instance(name="other"), headers=headers)
    assert different.status_code == 422
    assert different.json()["field"] == "Idempotency-Key"
