"""docs/elements.md is true: its definition validates, registers, polls and exports.

The tutorial's YAML is read from the document itself, so an edit of the page that breaks
the element breaks this test.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from interlink.asgi_server import bind_socket, serving, url_of
from interlink.demo_receiver import Receiver
from interlink.elements.loading import InvalidDefinition, load_definition
from interlink.server import RunningHub, running_hub
from interlink.settings import Settings
from tests.docs.helpdesk import API_KEY, Helpdesk, running_helpdesk
from tests.hub_fixtures import make_org

TUTORIAL = Path(__file__).parents[2] / "docs" / "elements.md"
WAIT_SECONDS = 30


def tutorial() -> str:
    return TUTORIAL.read_text(encoding="utf-8")


def tutorial_yaml() -> str:
    found = re.search(r"## The definition\n\n```yaml\n(.*?)```", tutorial(), re.S)
    assert found, "docs/elements.md lost its definition block"
    return found.group(1)


def test_the_definition_validates() -> None:
    definition = load_definition(tutorial_yaml())
    assert definition.key == "helpdesk"
    assert list(definition.objects) == ["tickets"]


def test_the_error_the_page_shows_is_the_one_you_get() -> None:
    shown = re.search(
        r"the answer is\s+`(objects\.tickets\.changed_since\.param[^`]*)`", tutorial()
    )
    assert shown, "docs/elements.md lost its error example"
    broken = tutorial_yaml().replace("{param: updated_since, inclusive", "{inclusive")
    with pytest.raises(InvalidDefinition) as caught:
        load_definition(broken)
    assert str(caught.value) == shown.group(1)


@pytest.fixture
async def helpdesk() -> AsyncIterator[tuple[Helpdesk, str]]:
    async with running_helpdesk() as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    state = Receiver()
    sock = bind_socket("127.0.0.1", 0)
    async with serving(state.app(), sock=sock):
        yield state, f"{url_of(sock)}/hook"


@pytest.fixture
async def working_hub(hub_settings: Settings) -> AsyncIterator[RunningHub]:
    async with running_hub(hub_settings, workers=True) as running:
        yield running


async def test_register_poll_and_export_as_the_page_says(
    working_hub: RunningHub,
    helpdesk: tuple[Helpdesk, str],
    receiver: tuple[Receiver, str],
) -> None:
    desk, desk_url = helpdesk
    events, callback_url = receiver
    desk.create(subject="Printer on fire", priority="high")
    desk.create(subject="Password reset", priority="normal")
    org = await make_org(working_hub)
    headers = {"Authorization": f"Bearer {org.key}"}
    async with httpx.AsyncClient(base_url=working_hub.url, headers=headers, timeout=30) as api:
        registered = await api.post(
            "/v1/elements",
            content=tutorial_yaml(),
            headers={"content-type": "application/yaml"},
        )
        assert registered.status_code == 201, registered.text

        created = await api.post(
            "/v1/instances",
            json={
                "element": "helpdesk",
                "name": "acme support",
                "config": {"base_url": desk_url, "api_key": API_KEY},
                "events": {
                    "enabled": True,
                    "mode": "polling",
                    "objects": ["tickets"],
                    "poll_interval_seconds": 3600,
                    "callback_url": callback_url,
                },
            },
        )
        assert created.status_code == 201, created.text
        instance = created.json()
        events.secrets[instance["id"]] = instance["events"]["signing_secret"]

        await _poll_now(api, instance["id"])  # the baseline: existing tickets are no events
        new = desk.create(subject="VPN down", priority="high")
        desk.update("1002", status="solved")
        desk.delete("1001")
        await _poll_now(api, instance["id"])

        assert await events.wait_for(3, seconds=WAIT_SECONDS)
        seen = sorted((event.type, event.subject) for event in events.events)
        assert seen == sorted(
            [
                ("tickets.created", new["id"]),
                ("tickets.updated", "1002"),
                ("tickets.deleted", "1001"),
            ]
        ), seen
        assert events.refused == 0

        query = "select id, subject, status from tickets where priority = 'high'"
        job = await api.post(f"/v1/instances/{instance['id']}/bulk/query", json={"q": query})
        assert job.status_code == 202, job.text
        status = await _finished(api, job.json()["id"])
        assert status["status"] == "completed", status
        download = await api.get(f"/v1/bulk/{status['id']}/file", headers={"accept": "text/csv"})
    assert download.status_code == 200
    assert download.text.splitlines() == ["id,subject,status", f"{new['id']},VPN down,open"]


async def _poll_now(api: httpx.AsyncClient, instance_id: str) -> None:
    answer = await api.post(f"/v1/instances/{instance_id}/poll", params={"wait": "true"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["objects"]["tickets"]["last_poll_outcome"] == "ok", answer.text


async def _finished(api: httpx.AsyncClient, job_id: str) -> dict[str, object]:
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            status: dict[str, object] = (await api.get(f"/v1/bulk/{job_id}")).json()
            if status["status"] in ("completed", "failed", "cancelled"):
                return status
            await asyncio.sleep(0.05)
