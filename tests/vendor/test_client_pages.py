"""Paging through the vendor client: what a page's records look like, and the cookies a
vendor sets across pages."""

from __future__ import annotations

from typing import Any

import httpx

from interlink.elements.definition import ElementDefinition
from interlink.vendor import VendorClient
from interlink.vendor.ratelimit import RateLimiterRegistry

BASE = "https://api.example.com"

ELEMENT: dict[str, Any] = {
    "key": "pagey",
    "name": "Pagey",
    "base_url": "{config.base_url}",
    "config": [{"name": "base_url", "type": "url"}, {"name": "key", "secret": True}],
    "auth": {"type": "bearer", "token": "{config.key}"},
    "pagination": {"type": "cursor", "cursor_path": "next", "cursor_param": "after"},
    "objects": {
        "things": {"path": "/v1/things", "records_path": "data"},
        "numbered": {"path": "/v1/numbered", "records_path": "data"},
        "keyed": {"path": "/v1/keyed", "records_path": "data", "id_field": "key"},
    },
}

PAGES: dict[str | None, dict[str, Any]] = {
    None: {"data": [{"id": "a", "n": 1}, {"id": "b", "n": 2}], "next": "c1"},
    "c1": {"data": [{"id": "c", "n": 3}], "next": None},
}


def client_for(handler: Any) -> VendorClient:
    return VendorClient(
        ElementDefinition.model_validate(ELEMENT),
        {"base_url": BASE, "key": "k"},
        transport=httpx.MockTransport(handler),
        limiters=RateLimiterRegistry(),
    )


async def test_pages_hold_the_vendors_records_with_string_ids_on_top() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/numbered":
            return httpx.Response(200, json={"data": [{"n": 1, "id": 7}, {"id": "x"}]})
        if request.url.path == "/v1/keyed":
            return httpx.Response(200, json={"data": [{"id": "ignored", "key": 5, "v": 1}]})
        return httpx.Response(200, json=PAGES[request.url.params.get("after")])

    async with client_for(handler) as client:
        pages = [page async for page in client.iterate_pages("things")]
        numbered = await client.list_page("numbered")
        keyed = await client.list_page("keyed")

    assert [page.records for page in pages] == [PAGES[None]["data"], PAGES["c1"]["data"]]
    assert [page.next_state is None for page in pages] == [False, True]
    # Ids that are not strings yet (or not at `id`) are normalized as before: id first.
    assert numbered.records == [{"id": "7", "n": 1}, {"id": "x"}]
    assert list(numbered.records[0]) == ["id", "n"]
    assert keyed.records == [{"id": "5", "key": 5, "v": 1}]


async def test_a_cookie_the_vendor_sets_goes_back_on_the_next_pages() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        after = request.url.params.get("after")
        headers = {"set-cookie": "session=s1; Path=/"} if after is None else {}
        return httpx.Response(200, json=PAGES[after], headers=headers)

    async with client_for(handler) as client:
        pages = [page async for page in client.iterate_pages("things")]

    assert len(pages) == 2
    assert "cookie" not in seen[0].headers
    assert seen[1].headers["cookie"] == "session=s1"
