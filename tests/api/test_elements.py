"""The catalog, and organizations' own element definitions."""

from __future__ import annotations

import httpx
import yaml

from interlink.server import RunningHub
from tests.hub_fixtures import make_org

CUSTOM_YAML = """\
key: tickets
name: Ticket Desk
base_url: "{config.base_url}"
config:
  - {name: base_url, type: url}
  - {name: token, secret: true}
auth: {type: bearer, token: "{config.token}"}
pagination: {type: page_number, page_param: page, limit_param: per_page, page_size: 50}
objects:
  tickets:
    path: /tickets
    records_path: items
    updated_field: {name: modified, format: unix}
    changed_since: {param: modified_after, format: unix}
"""


async def test_catalog_lists_the_sandbox_with_capabilities(api: httpx.AsyncClient) -> None:
    body = (await api.get("/v1/elements")).json()
    assert body["next_cursor"] is None
    sandbox = next(e for e in body["data"] if e["key"] == "sandbox")
    assert sandbox["capabilities"]["events"] == ["polling", "webhook"]
    contacts = next(o for o in sandbox["objects"] if o["name"] == "contacts")
    assert contacts["capabilities"]["native_batch"] is True
    assert contacts["capabilities"]["native_bulk"] is True
    assert any(f["name"] == "email" for f in contacts["fields"])
    single = (await api.get("/v1/elements/sandbox")).json()
    assert single["key"] == "sandbox"


async def test_unknown_element_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/elements/nope")
    assert response.status_code == 404
    assert response.json()["title"] == "Not found"


async def test_register_yaml_then_replace_with_json_scoped_to_the_organization(
    hub: RunningHub, api: httpx.AsyncClient
) -> None:
    created = await api.post(
        "/v1/elements", content=CUSTOM_YAML, headers={"content-type": "application/yaml"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["custom"] is True
    keys = [e["key"] for e in (await api.get("/v1/elements")).json()["data"]]
    assert "tickets" in keys

    again = await api.post("/v1/elements", content=CUSTOM_YAML)
    assert again.status_code == 409

    document = yaml.safe_load(CUSTOM_YAML)
    document["name"] = "Ticket Desk v2"
    replaced = await api.put("/v1/elements/tickets", json=document)
    assert replaced.status_code == 200, replaced.text
    assert (await api.get("/v1/elements/tickets")).json()["name"] == "Ticket Desk v2"

    other = await make_org(hub, "Other")
    async with httpx.AsyncClient(
        base_url=hub.url, headers={"Authorization": f"Bearer {other.key}"}
    ) as client:
        assert (await client.get("/v1/elements/tickets")).status_code == 404
        assert "tickets" not in [
            e["key"] for e in (await client.get("/v1/elements")).json()["data"]
        ]
        assert (await client.put("/v1/elements/tickets", json=document)).status_code == 404


async def test_invalid_definitions_answer_422_naming_the_field(api: httpx.AsyncClient) -> None:
    cases = {
        CUSTOM_YAML.replace("page_size: 50", "page_size: 0"): "pagination.page_size",
        CUSTOM_YAML.replace(
            "records_path: items", "records_pth: items"
        ): "objects.tickets.records_pth",
        CUSTOM_YAML.replace("key: tickets", "key: Bad Key"): "key",
        CUSTOM_YAML.replace("key: tickets", "key: sandbox"): "key",
        CUSTOM_YAML + "hooks: interlink.elements.hooks\n": "hooks",
        CUSTOM_YAML.replace("{config.token}", "{config.missing}"): "definition",
    }
    for text, field in cases.items():
        response = await api.post("/v1/elements", content=text)
        assert response.status_code == 422, (field, response.text)
        body = response.json()
        assert body["field"] == field, body
        assert response.headers["content-type"] == "application/problem+json"


async def test_malformed_definition_documents(api: httpx.AsyncClient) -> None:
    broken = await api.post("/v1/elements", content="key: [unclosed")
    assert broken.status_code == 422
    assert "line" in broken.json()["detail"]
    assert (await api.post("/v1/elements", content="")).status_code == 400
    assert (await api.post("/v1/elements", content="- a list")).status_code == 422
    assert (await api.post("/v1/elements", content=b"\xff\xfe")).status_code == 400


async def test_built_in_elements_cannot_be_replaced(api: httpx.AsyncClient) -> None:
    response = await api.put(
        "/v1/elements/sandbox", content=CUSTOM_YAML.replace("tickets", "sandbox")
    )
    assert response.status_code == 422
    assert response.json()["field"] == "key"
