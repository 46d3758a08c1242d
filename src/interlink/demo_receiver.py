"""The demo's webhook receiver: verifies every delivery like a customer would, and keeps it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class ReceivedEvent:
    instance_id: str
    type: str
    subject: str
    sequence: int
    event_id: str


@dataclass
class Receiver:
    """Secrets by instance id; events in arrival order; forged posts counted and refused."""

    secrets: dict[str, str] = field(default_factory=dict)
    events: list[ReceivedEvent] = field(default_factory=list)
    refused: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        batch: list[dict[str, Any]] = orjson.loads(body)
        instance_id = str(batch[0]["source"]).rsplit("/", 1)[-1] if batch else ""
        secret = self.secrets.get(instance_id)
        try:
            if secret is None:
                raise WebhookVerificationError("unknown instance")
            Webhook(secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.refused += 1
            return Response(status_code=401)
        for event in batch:
            self.events.append(
                ReceivedEvent(
                    instance_id, event["type"], event["subject"], event["sequence"], event["id"]
                )
            )
        self.arrived.set()
        return Response(status_code=204)

    async def wait_for(self, count: int, *, seconds: float) -> bool:
        """True once `count` events have arrived, False if the time runs out first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(self.events) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout=min(remaining, 0.5))
            except TimeoutError:
                continue
        return True
