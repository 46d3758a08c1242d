"""Webhook subscriptions and their delivery: signed posts, in order, retried with backoff."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from interlink.sandbox.collection import Change
from interlink.sandbox.errors import NotFoundError, ValidationFailed
from interlink.sandbox.signing import SIGNATURE_HEADER, sign
from interlink.sandbox.timestamps import Clock

logger = logging.getLogger(__name__)

RETRIES = 5  # after the first attempt, waiting base x 1, 2, 4, 8, 16
DELIVERY_TIMEOUT_SECONDS = 10.0


@dataclass
class Subscription:
    """Where to post changes, and the secret that signs them (never shown again)."""

    id: str
    url: str
    secret: str
    created_at: str
    delivered: int = 0
    failed: int = 0  # events given up after every retry
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue, repr=False)

    def public(self) -> dict[str, Any]:
        """What the API shows of it."""
        return {
            "id": self.id,
            "url": self.url,
            "created_at": self.created_at,
            "delivered": self.delivered,
            "failed": self.failed,
        }


class WebhookDispatcher:
    """Posts every change to every subscription, one worker task per subscription.

    One worker per subscription keeps its events in order (a later event waits while an
    earlier one is retried) without letting a slow receiver hold back the others.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        retry_base_seconds: float = 1.0,
        now: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clock = clock
        self._transport = transport  # None: the network; tests may pass a MockTransport
        self._retry_base = retry_base_seconds
        self._now = now
        self._subscriptions: dict[str, Subscription] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        self._last_number = 0

    async def start(self) -> None:
        """Opens the HTTP client; call from the running event loop."""
        # trust_env=False: a proxy from the environment must not swallow loopback posts.
        self._client = httpx.AsyncClient(
            timeout=DELIVERY_TIMEOUT_SECONDS, trust_env=False, transport=self._transport
        )

    async def aclose(self) -> None:
        """Stops every worker (undelivered events are dropped) and closes the client."""
        for subscription_id in list(self._workers):
            await self._stop_worker(subscription_id)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def subscribe(self, url: str, secret: str) -> Subscription:
        """A new subscription, receiving every change from now on."""
        if self._client is None:
            raise RuntimeError("the webhook dispatcher is not started")
        _check_url(url)
        if not secret:
            raise ValidationFailed("a webhook needs a non-empty 'secret'", field="secret")
        self._last_number += 1
        subscription = Subscription(
            id=f"wh_{self._last_number:06d}",
            url=url,
            secret=secret,
            created_at=self._clock.timestamp(),
        )
        self._subscriptions[subscription.id] = subscription
        self._workers[subscription.id] = asyncio.create_task(
            self._work(subscription), name=f"sandbox-webhook-{subscription.id}"
        )
        return subscription

    def subscriptions(self) -> list[Subscription]:
        """Every subscription, oldest first."""
        return list(self._subscriptions.values())

    def get(self, subscription_id: str) -> Subscription:
        """One subscription; 404 if unknown."""
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            raise NotFoundError(f"no webhook with id '{subscription_id}'")
        return subscription

    async def unsubscribe(self, subscription_id: str) -> None:
        """Removes a subscription; events still queued for it are dropped."""
        self.get(subscription_id)
        del self._subscriptions[subscription_id]
        await self._stop_worker(subscription_id)

    def publish(self, change: Change) -> None:
        """Queues one event per subscription; a store listener, so it must not block."""
        if not self._subscriptions:
            return
        event = {
            "id": f"evt_{uuid.uuid4().hex}",  # random: unique across sandbox restarts too
            "type": change.event_type,
            "occurred_at": change.occurred_at,
            "object": change.record,
        }
        for subscription in self._subscriptions.values():
            subscription.queue.put_nowait(event)

    async def _work(self, subscription: Subscription) -> None:
        while True:
            event = await subscription.queue.get()
            body = orjson.dumps(event)
            if await self._deliver(subscription, body):
                subscription.delivered += 1
            else:
                subscription.failed += 1
                logger.warning(
                    "sandbox webhook %s gave up on event %s after %d attempts",
                    subscription.id,
                    event["id"],
                    RETRIES + 1,
                )

    async def _deliver(self, subscription: Subscription, body: bytes) -> bool:
        for attempt in range(RETRIES + 1):
            if attempt:
                await asyncio.sleep(self._retry_base * 2 ** (attempt - 1))
            if await self._attempt(subscription, body):
                return True
        return False

    async def _attempt(self, subscription: Subscription, body: bytes) -> bool:
        assert self._client is not None  # started before any subscription exists
        # Signed afresh on every attempt, so the timestamp is always recent for the receiver.
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(subscription.secret, body, int(self._now())),
        }
        try:
            response = await self._client.post(subscription.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            logger.info("sandbox webhook %s: %s", subscription.id, type(error).__name__)
            return False
        return response.is_success

    async def _stop_worker(self, subscription_id: str) -> None:
        task = self._workers.pop(subscription_id)
        task.cancel()
        # wait() neither raises the worker's CancelledError nor hides a cancel of our own.
        await asyncio.wait([task])


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationFailed("'url' must be an absolute http or https URL", field="url")
