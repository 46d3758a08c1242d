"""A webhook receiver on loopback for the delivery tests: it keeps what it was sent and
answers as told (2xx, 5xx, 429 with Retry-After, 410, or too slowly)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before answering: longer than the hub's timeout is "slow"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = orjson.loads(self.body)
        return events

    @property
    def event_ids(self) -> list[str]:
        return [event["id"] for event in self.events]

    def verifies(self, secret: str, body: bytes | None = None) -> bool:
        """Whether the signature holds for `secret` (and `body`, to try a tampered one)."""
        try:
            Webhook(secret).verify(self.body if body is None else body, self.headers)
        except WebhookVerificationError:
            return False
        return True


class Receiver:
    def __init__(self) -> None:
        self.url = ""  # set once served
        self.received: list[Received] = []
        self._replies: list[Reply] = []
        self.app = Starlette(routes=[Route("/hook", self._handle, methods=["POST"])])

    def reply(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order; then 204."""
        self._replies.extend(replies)

    @property
    def webhook_ids(self) -> list[str]:
        return [received.webhook_id for received in self.received]

    @property
    def event_ids(self) -> list[str]:
        return [event_id for received in self.received for event_id in received.event_ids]

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(Received(dict(request.headers), body))
        reply = self._replies.pop(0) if self._replies else Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return Response(reply.body, status_code=reply.status, headers=reply.headers)
