"""A small CRM-shaped vendor for the client tests: every way of paging, and misbehaviour."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interlink.elements.definition import ElementDefinition

from .support import make_element

SLOW_SECONDS = 0.5  # longer than the clients' timeout in the timeout tests


def _contact(number: int) -> dict[str, Any]:
    return {
        "contact_id": number,
        "email": f"c{number}@example.com",
        "name": f"Contact {number}",
        "updated_at": f"2024-05-01T12:00:{number:02d}.000Z",
    }


@dataclass
class FakeVendor:
    contacts: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {n: _contact(n) for n in range(1, 24)}
    )
    calls: Counter[str] = field(default_factory=Counter)
    seen: list[Request] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"id": str(n), "deleted_at": f"2024-05-02T00:{n:02d}:00.000Z"} for n in range(30, 33)
        ]
    )
    other_origin: str = "http://127.0.0.1:9"
    base_url: str = ""
    # The most records a page holds whatever the client asks: many vendors cap silently.
    page_cap: int | None = None

    # --- helpers ------------------------------------------------------------------------

    def ordered(self, request: Request) -> list[dict[str, Any]]:
        records = sorted(self.contacts.values(), key=lambda r: r["contact_id"])
        if email := request.query_params.get("email"):
            records = [r for r in records if r["email"] == email]
        if since := request.query_params.get("updated_since"):
            records = [r for r in records if r["updated_at"] >= since]
        return records

    def page_size(self, request: Request, param: str) -> int:
        size = int(request.query_params.get(param, "10"))
        return min(size, self.page_cap) if self.page_cap else size

    def count(self, name: str, request: Request) -> int:
        self.calls[name] += 1
        self.seen.append(request)
        return self.calls[name]

    # --- paging -------------------------------------------------------------------------

    async def cursor_list(self, request: Request) -> Response:
        self.count("cursor", request)
        records = self.ordered(request)
        start = int(request.query_params.get("cursor", "0"))
        limit = int(request.query_params.get("limit", "10"))
        page = records[start : start + limit]
        following = start + limit if start + limit < len(records) else None
        return JSONResponse(
            {"results": page, "paging": {"next": None if following is None else str(following)}}
        )

    async def link_list(self, request: Request) -> Response:
        self.count("link", request)
        records = self.ordered(request)
        page_number = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("per_page", "10"))
        start = (page_number - 1) * size
        headers = {}
        if start + size < len(records):
            query = urlencode({"page": page_number + 1, "per_page": size})
            headers["Link"] = f'</link/contacts?{query}>; rel="next", </link/contacts>; rel="first"'
        return JSONResponse(records[start : start + size], headers=headers)

    async def page_list(self, request: Request) -> Response:
        self.count("pages", request)
        records = self.ordered(request)
        page_number = int(request.query_params.get("page", "1"))
        size = self.page_size(request, "size")
        start = (page_number - 1) * size
        return JSONResponse(
            {
                "items": records[start : start + size],
                "meta": {"has_more": start + size < len(records), "total": len(records)},
            }
        )

    async def offset_list(self, request: Request) -> Response:
        self.count("offset", request)
        records = self.ordered(request)
        offset = int(request.query_params.get("offset", "0"))
        limit = self.page_size(request, "limit")
        return JSONResponse(
            {
                "results": records[offset : offset + limit],
                "has_more": offset + limit < len(records),
                "total": str(len(records)),  # some vendors count in strings
            }
        )

    async def next_url_list(self, request: Request) -> Response:
        self.count("nexturl", request)
        records = self.ordered(request)
        after = int(request.query_params.get("after", "0"))
        page = [r for r in records if r["contact_id"] > after][:10]
        more = page and page[-1]["contact_id"] < records[-1]["contact_id"]
        following = (
            str(request.url.replace(query=f"after={page[-1]['contact_id']}")) if more else None
        )
        return JSONResponse({"data": page, "links": {"next": following}})

    async def loop_list(self, request: Request) -> Response:
        self.count("loop", request)
        return JSONResponse({"results": self.ordered(request)[:10], "next_cursor": "same"})

    async def evil_list(self, request: Request) -> Response:
        self.count("evil", request)
        return JSONResponse(
            {"data": self.ordered(request)[:10], "next": f"{self.other_origin}/steal?page=2"}
        )

    async def evil_link_list(self, request: Request) -> Response:
        self.count("evillink", request)
        link = f'<{self.other_origin}/steal?page=2>; rel="next"'
        return JSONResponse(self.ordered(request)[:10], headers={"Link": link})

    # --- single records -----------------------------------------------------------------

    async def get_contact(self, request: Request) -> Response:
        self.count("get", request)
        record = self.contacts.get(int(request.path_params["id"]))
        if record is None:
            return JSONResponse({"message": "no contact with that id"}, status_code=404)
        return JSONResponse(record)

    async def create_contact(self, request: Request) -> Response:
        self.count("create", request)
        body = await request.json()
        fields = body.get("contact", {})
        email = fields.get("email", "")
        if "@" not in email:
            return JSONResponse(
                {"message": "email must contain @", "field": "email"}, status_code=422
            )
        for record in self.contacts.values():
            if record["email"] == email:
                return JSONResponse(
                    {"message": "email already taken", "existing_id": str(record["contact_id"])},
                    status_code=409,
                )
        number = max(self.contacts) + 1
        self.contacts[number] = {**_contact(number), **fields, "contact_id": number}
        return JSONResponse({"contact": self.contacts[number]}, status_code=201)

    async def update_contact(self, request: Request) -> Response:
        self.count("update", request)
        record = self.contacts.get(int(request.path_params["id"]))
        if record is None:
            return JSONResponse({"message": "no contact with that id"}, status_code=404)
        record.update(await request.json())
        return Response(status_code=204)

    async def delete_contact(self, request: Request) -> Response:
        self.count("delete", request)
        if self.contacts.pop(int(request.path_params["id"]), None) is None:
            return JSONResponse({"message": "no contact with that id"}, status_code=404)
        return Response(status_code=204)

    async def deleted_list(self, request: Request) -> Response:
        self.count("deleted", request)
        start = int(request.query_params.get("cursor", "0"))
        page = self.deleted[start : start + 2]
        following = str(start + 2) if start + 2 < len(self.deleted) else None
        return JSONResponse({"results": page, "paging": {"next": following}})

    async def batch(self, request: Request) -> Response:
        self.count("batch", request)
        body = await request.json()
        results: list[dict[str, Any]] = []
        for index, item in enumerate(body["inputs"]):
            if "@" not in item.get("email", ""):
                results.append(
                    {"index": index, "status": 422, "error": "invalid", "message": "bad email"}
                )
            else:
                results.append({"index": index, "status": 201, "id": 1000 + index})
        # Answered out of order, and the last input left out, as real vendors do.
        return JSONResponse({"action": body["action"], "results": results[::-1][1:]})

    async def nested_batch(self, request: Request) -> Response:
        """Errors nested in a list, `"errors": []` on success, 202 for held inputs."""
        self.count("nestedbatch", request)
        body = await request.json()
        results: list[dict[str, Any]] = []
        for index, item in enumerate(body["inputs"]):
            email = item.get("email", "")
            if "@" not in email:
                error = {"code": "INVALID_EMAIL", "message": "email must contain @"}
                results.append({"index": index, "status": "400", "errors": [error]})
            elif email.endswith("@review.example"):
                results.append({"index": index, "status": "202", "errors": []})
            else:
                results.append({"index": index, "status": "201", "id": 500 + index, "errors": []})
        return JSONResponse({"results": results})

    async def echo(self, request: Request) -> Response:
        """The path exactly as it arrived, percent-encoding included."""
        self.count("echo", request)
        return JSONResponse({"raw_path": request.scope["raw_path"].decode("ascii")})

    # --- misbehaviour -------------------------------------------------------------------

    async def flaky(self, request: Request) -> Response:
        if self.count("flaky", request) <= 2:
            return JSONResponse({"message": "try again"}, status_code=503)
        return JSONResponse({"results": self.ordered(request)[:3]})

    async def throttled(self, request: Request) -> Response:
        if self.count("throttled", request) == 1:
            return JSONResponse(
                {"message": "slow down"}, status_code=429, headers={"Retry-After": "2"}
            )
        return JSONResponse({"results": self.ordered(request)[:3]})

    async def broken(self, request: Request) -> Response:
        self.count("broken", request)
        return JSONResponse({"error": {"message": "internal boom"}}, status_code=500)

    async def slow(self, request: Request) -> Response:
        self.count(f"slow {request.method}", request)
        await asyncio.sleep(SLOW_SECONDS)
        return JSONResponse({"results": [], "contact": _contact(1)}, status_code=200)

    async def busy(self, request: Request) -> Response:
        if self.count("busy", request) == 1:
            return JSONResponse(
                {"message": "maintenance"}, status_code=503, headers={"Retry-After": "1"}
            )
        return JSONResponse({"contact": _contact(99)}, status_code=201)

    async def bad_gateway(self, request: Request) -> Response:
        self.count("badgateway", request)
        return JSONResponse({"message": "upstream failed"}, status_code=502)

    async def revoked(self, request: Request) -> Response:
        self.count("revoked", request)
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        return JSONResponse({"message": f"API key {presented} was revoked"}, status_code=401)

    async def redirect(self, request: Request) -> Response:
        self.count("redirect", request)
        return Response(status_code=302, headers={"Location": f"{self.other_origin}/x"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/contacts", self.cursor_list),
                Route("/api/contacts", self.create_contact, methods=["POST"]),
                Route("/api/contacts/deleted", self.deleted_list),
                Route("/api/contacts/batch", self.batch, methods=["POST"]),
                Route("/api/contacts/batch-nested", self.nested_batch, methods=["POST"]),
                Route("/echo/{rest:path}", self.echo, methods=["GET", "DELETE"]),
                Route("/api/contacts/{id:int}", self.get_contact),
                Route("/api/contacts/{id:int}", self.update_contact, methods=["PATCH"]),
                Route("/api/contacts/{id:int}", self.delete_contact, methods=["DELETE"]),
                Route("/link/contacts", self.link_list),
                Route("/pages/contacts", self.page_list),
                Route("/offset/contacts", self.offset_list),
                Route("/nexturl/contacts", self.next_url_list),
                Route("/loop/contacts", self.loop_list),
                Route("/evil/contacts", self.evil_list),
                Route("/evil-link/contacts", self.evil_link_list),
                Route("/flaky/contacts", self.flaky),
                Route("/throttled/contacts", self.throttled),
                Route("/broken/contacts", self.broken),
                Route("/slow/contacts", self.slow, methods=["GET", "POST"]),
                Route("/busy/contacts", self.busy, methods=["POST"]),
                Route("/badgateway/contacts", self.bad_gateway, methods=["POST"]),
                Route("/revoked/contacts", self.revoked),
                Route("/redirect/contacts", self.redirect),
            ]
        )


def _simple(path: str, **extra: Any) -> dict[str, Any]:
    return {
        "path": path,
        "id_field": "contact_id",
        "records_path": "results",
        "pagination": {"type": "none"},
        "create": {
            "method": "POST",
            "path": path,
            "body_key": "contact",
            "records_path": "contact",
        },
        **extra,
    }


def vendor_element(contacts: dict[str, Any] | None = None, **overrides: Any) -> ElementDefinition:
    """The element describing `FakeVendor`: one object per behaviour under test.

    `contacts` replaces sections of the `contacts` object; `overrides`, whole top-level ones.
    """
    objects: dict[str, Any] = {
        "contacts": {
            "path": "/api/contacts",
            "id_field": "contact_id",
            "records_path": "results",
            "pagination": {"type": "cursor", "cursor_path": "paging.next", "page_size": 10},
            "create": {
                "method": "POST",
                "path": "/api/contacts",
                "body_key": "contact",
                "records_path": "contact",
            },
            "updated_field": {"name": "updated_at"},
            "changed_since": {"param": "updated_since"},
            "equality_filters": ["email"],
            "deletes": {
                "type": "endpoint",
                "path": "/api/contacts/deleted",
                "since_param": "since",
                "since_format": "unix",
                "pagination": {"type": "cursor", "cursor_path": "paging.next"},
            },
            "batch": {"path": "/api/contacts/batch", "max_size": 3, "actions": ["create"]},
            **(contacts or {}),
        },
        "linked": {
            "path": "/link/contacts",
            "id_field": "contact_id",
            "records_path": None,
            "pagination": {"type": "link_header", "limit_param": "per_page", "page_size": 10},
        },
        "paged": {
            "path": "/pages/contacts",
            "id_field": "contact_id",
            "records_path": "items",
            "pagination": {"type": "page_number", "limit_param": "size", "page_size": 10},
        },
        "offsets": {
            "path": "/offset/contacts",
            "id_field": "contact_id",
            "records_path": "results",
            "pagination": {"type": "offset", "page_size": 10},
        },
        "nexturl": {
            "path": "/nexturl/contacts",
            "id_field": "contact_id",
            "records_path": "data",
            "pagination": {"type": "next_url", "next_url_path": "links.next", "limit_param": None},
        },
        "loop": {
            "path": "/loop/contacts",
            "id_field": "contact_id",
            "records_path": "results",
            "pagination": {"type": "cursor"},
        },
        "evil": {
            "path": "/evil/contacts",
            "id_field": "contact_id",
            "records_path": "data",
            "pagination": {"type": "next_url"},
        },
        "evillink": {
            "path": "/evil-link/contacts",
            "id_field": "contact_id",
            "records_path": None,
            "pagination": {"type": "link_header"},
        },
        "flaky": _simple("/flaky/contacts"),
        "throttled": _simple("/throttled/contacts"),
        "broken": _simple("/broken/contacts"),
        "slow": _simple("/slow/contacts"),
        "busy": _simple("/busy/contacts"),
        "badgateway": _simple("/badgateway/contacts"),
        "revoked": _simple("/revoked/contacts"),
        "redirect": _simple("/redirect/contacts"),
    }
    return make_element(**{"objects": objects, **overrides})
