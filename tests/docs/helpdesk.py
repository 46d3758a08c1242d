"""The "Helpdesk" API of docs/elements.md's tutorial: a REST API the catalog does not have.

Tickets are listed a page at a time (`page`, `per_page`, a `total` in the body), filtered
by `updated_since`, `status` and `priority`; a deleted ticket stays listed with
`deleted: true` (a tombstone), which is how the tutorial's element sees deletes.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from interlink.asgi_server import bind_socket, serving, url_of

API_KEY = "helpdesk-key-7f3a"


@dataclass
class Helpdesk:
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _clock: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def _now(self) -> str:
        # A second per change: the tutorial's polls see distinct update times.
        self._clock += timedelta(seconds=1)
        return self._clock.isoformat().replace("+00:00", "Z")

    def create(self, **values: Any) -> dict[str, Any]:
        now = self._now()
        ticket = {
            "id": str(next(self._ids)),
            "subject": "",
            "status": "open",
            "priority": "normal",
            "requester_email": None,
            **values,
            "created_at": now,
            "updated_at": now,
            "deleted": False,
        }
        self.tickets[ticket["id"]] = ticket
        return ticket

    def update(self, ticket_id: str, **values: Any) -> dict[str, Any]:
        ticket = self.tickets[ticket_id]
        ticket.update(values, updated_at=self._now())
        return ticket

    def delete(self, ticket_id: str) -> None:
        self.update(ticket_id, deleted=True)

    # --- HTTP ------------------------------------------------------------------------------

    async def list_tickets(self, request: Request) -> Response:
        query = request.query_params
        page, per_page = int(query.get("page", "1")), min(int(query.get("per_page", "25")), 100)
        chosen = sorted(self.tickets.values(), key=lambda t: (t["updated_at"], t["id"]))
        if "updated_since" not in query:
            chosen = [t for t in chosen if not t["deleted"]]  # tombstones only in changes
        else:
            since = query["updated_since"]
            chosen = [t for t in chosen if _time(t["updated_at"]) >= _time(since)]
        for name in ("status", "priority"):
            if name in query:
                chosen = [t for t in chosen if t[name] == query[name]]
        start = (page - 1) * per_page
        return JSONResponse({"tickets": chosen[start : start + per_page], "total": len(chosen)})

    async def get_ticket(self, request: Request) -> Response:
        ticket = self.tickets.get(request.path_params["id"])
        if ticket is None or ticket["deleted"]:
            return JSONResponse({"error": "ticket not found"}, status_code=404)
        return JSONResponse({"ticket": ticket})

    async def create_ticket(self, request: Request) -> Response:
        body = (await request.json()).get("ticket", {})
        if not body.get("subject"):
            return JSONResponse({"error": "subject is required"}, status_code=422)
        return JSONResponse({"ticket": self.create(**body)}, status_code=201)

    def app(self) -> Starlette:
        async def guarded(request: Request) -> Response:
            if request.headers.get("x-api-key") != API_KEY:
                return JSONResponse({"error": "invalid API key"}, status_code=401)
            handler = {
                ("GET", "list"): self.list_tickets,
                ("POST", "list"): self.create_ticket,
                ("GET", "one"): self.get_ticket,
            }[(request.method, "one" if "id" in request.path_params else "list")]
            return await handler(request)

        return Starlette(
            routes=[
                Route("/v2/tickets", guarded, methods=["GET", "POST"]),
                Route("/v2/tickets/{id}", guarded, methods=["GET"]),
            ]
        )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@asynccontextmanager
async def running_helpdesk() -> AsyncIterator[tuple[Helpdesk, str]]:
    helpdesk = Helpdesk()
    sock = bind_socket("127.0.0.1", 0)
    async with serving(helpdesk.app(), sock=sock):
        yield helpdesk, url_of(sock)
