"""Generic format features first needed by Stripe: form-encoded bodies, last-id paging,
and extra parameters of a deleted-records endpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import ValidationError

from interlink.elements.definition import ElementDefinition, LastIdPagination, Request
from interlink.errors import InvalidInput
from interlink.vendor import PageRequest, PaginationError, VendorClient, make_paginator
from interlink.vendor.ratelimit import RateLimiterRegistry
from interlink.vendor.specs import encode_form, form_pairs

BASE = "https://api.example.com"
FIRST = PageRequest("/v1/things", {"status": "open"})


def answer(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body, request=httpx.Request("GET", f"{BASE}/v1/things"))


def test_last_id_pages_start_after_the_last_record_while_has_more() -> None:
    paginator = make_paginator(LastIdPagination(type="last_id", page_size=2), base_url=BASE)
    assert paginator.first_request_params({"status": "open"}) == {"status": "open", "limit": "2"}
    page = [{"id": "a"}, {"id": "b"}]
    paginator.update(answer({"has_more": True, "data": page}), page)
    assert paginator.has_next
    assert paginator.next_request(FIRST) == PageRequest(
        "/v1/things", {"status": "open", "starting_after": "b"}
    )
    state = json.loads(json.dumps(paginator.state()))
    resumed = make_paginator(LastIdPagination(type="last_id"), base_url=BASE, state=state)
    assert resumed.next_request(FIRST).params["starting_after"] == "b"
    paginator.update(answer({"has_more": False, "data": [{"id": "c"}]}), [{"id": "c"}])
    assert not paginator.has_next


def test_last_id_reads_a_dotted_id_and_its_own_parameter_names() -> None:
    config = LastIdPagination(
        type="last_id", cursor_param="after", id_path="meta.key", has_more_path="page.more"
    )
    paginator = make_paginator(config, base_url=BASE)
    page = [{"meta": {"key": 7}}]
    paginator.update(answer({"page": {"more": True}}), page)
    assert paginator.next_request(FIRST).params["after"] == "7"


@pytest.mark.parametrize(
    ("body", "records", "message"),
    [
        ({"data": []}, [{"id": "a"}], "no true/false"),
        ({"has_more": True}, [], "empty page"),
        ({"has_more": True}, [{"name": "x"}], "no id"),
    ],
)
def test_last_id_fails_loudly_where_it_cannot_go_on(
    body: dict[str, Any], records: list[dict[str, Any]], message: str
) -> None:
    paginator = make_paginator(LastIdPagination(type="last_id"), base_url=BASE)
    with pytest.raises(PaginationError, match=message):
        paginator.update(answer(body), records)


def test_last_id_coming_back_is_a_loop() -> None:
    paginator = make_paginator(LastIdPagination(type="last_id"), base_url=BASE)
    paginator.update(answer({"has_more": True}), [{"id": "a"}])
    with pytest.raises(PaginationError, match="same last id twice"):
        paginator.update(answer({"has_more": True}), [{"id": "a"}])


def test_form_pairs_nest_in_brackets() -> None:
    pairs = form_pairs(
        {
            "name": "Zoë & Co",
            "metadata": {"a": 1, "b": None},
            "items": [{"price": "p1", "quantity": 2}, {"price": "p2"}],
            "tags": [],
            "active": False,
            "ratio": 0.5,
        }
    )
    assert pairs == [
        ("name", "Zoë & Co"),
        ("metadata[a]", "1"),
        ("metadata[b]", ""),
        ("items[0][price]", "p1"),
        ("items[0][quantity]", "2"),
        ("items[1][price]", "p2"),
        ("tags", ""),
        ("active", "false"),
        ("ratio", "0.5"),
    ]
    assert parse_qsl(encode_form({"q": "a+b c"}).decode()) == [("q", "a+b c")]
    with pytest.raises(InvalidInput):
        form_pairs({"x": float("nan")})


def test_body_format_accepts_json_and_form_only() -> None:
    assert Request(path="/x").body_format == "json"
    with pytest.raises(ValidationError):
        Request(path="/x", body_format="xml")  # type: ignore[arg-type]


ELEMENT: dict[str, Any] = {
    "key": "formy",
    "name": "Formy",
    "base_url": "{config.base_url}",
    "config": [{"name": "base_url", "type": "url"}, {"name": "key", "secret": True}],
    "auth": {"type": "bearer", "token": "{config.key}"},
    "pagination": {"type": "last_id"},
    "objects": {
        "things": {
            "path": "/v1/things",
            "records_path": "data",
            "create": {"method": "POST", "path": "/v1/things", "body_format": "form"},
            "update": {"method": "POST", "path": "/v1/things/{id}", "body_format": "form"},
            "deletes": {
                "type": "endpoint",
                "path": "/v1/events",
                "params": {"type": "thing.deleted"},
                "since_param": "created[gte]",
                "since_format": "unix",
                "records_path": "data",
                "id_field": "data.object.id",
                "deleted_at_field": "created",
                "deleted_at_format": "unix",
            },
        },
        "plain": {"path": "/v1/plain", "records_path": "data"},
    },
}


async def test_the_client_sends_form_bodies_and_deleted_endpoint_params() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/events":
            event = {"id": "evt_1", "created": 1_700_000_000, "data": {"object": {"id": "t1"}}}
            return httpx.Response(200, json={"data": [event], "has_more": False})
        if request.method == "POST" and request.url.path.startswith("/v1/things"):
            fields = dict(parse_qsl(request.content.decode()))
            return httpx.Response(200, json={"id": "t1", **fields})
        return httpx.Response(200, json={"id": "p1", "echo": json.loads(request.content)})

    client = VendorClient(
        ElementDefinition.model_validate(ELEMENT),
        {"base_url": BASE, "key": "k"},
        transport=httpx.MockTransport(handler),
        limiters=RateLimiterRegistry(),
    )
    async with client:
        created = await client.create("things", {"name": "a b", "meta": {"x": True}})
        updated = await client.update("things", "t1", {"name": "c"})
        plain = await client.create("plain", {"name": "json"})
        deleted = await client.deleted_since("things", datetime(2023, 1, 1, tzinfo=UTC))

    assert created == {"id": "t1", "name": "a b", "meta[x]": "true"}
    assert updated["name"] == "c"
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen[1].url.path == "/v1/things/t1"
    assert seen[2].headers["content-type"] == "application/json"
    assert plain["echo"] == {"name": "json"}
    assert deleted.records == [{"id": "t1", "deleted_at": "2023-11-14T22:13:20.000Z"}]
    assert dict(seen[3].url.params) == {
        "type": "thing.deleted",
        "created[gte]": "1672531200",
        "limit": "100",
    }
