"""Receiving a vendor's post: find the instance by its hook URL, verify the signature,
read the events, fetch records where the element says so, and store them durably before
the vendor hears 2xx.

No database transaction is open while the vendor is called (the record fetches)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from interlink.elements.catalog import find_element
from interlink.elements.definition import ElementDefinition, Webhooks
from interlink.errors import Conflict, InterlinkError, NotFound
from interlink.eventing.webhooks.credentials import webhook_secret
from interlink.eventing.webhooks.normalize import (
    VendorEvent,
    needs_fetch,
    parse_post,
)
from interlink.eventing.webhooks.signatures import SignatureError, SignedRequest, verify_signature
from interlink.eventing.webhooks.store import InstanceGone, known_event_ids, store_post
from interlink.hub import Hub
from interlink.services.connections import vendor_client
from interlink.storage.models import Instance
from interlink.vendor import RecordNotFound, VendorClient, VendorError

log = logging.getLogger("interlink.eventing.webhooks")

MAX_BODY_BYTES = 1024 * 1024
# Compared against when no instance matches, so both answers take about as long.
_NO_TOKEN = b"\0" * 32


class HookNotFound(NotFound):
    """No live instance behind this hook URL: unknown, deleted, or the wrong token."""

    def __init__(self) -> None:
        super().__init__("no webhook endpoint at this URL")


class NotWebhookMode(Conflict):
    """The instance exists, but its events are not in webhook mode."""


class RecordUnavailable(InterlinkError):
    """A record the post names could not be fetched from the vendor; the vendor should post
    again later (nothing was stored)."""

    def __init__(self, detail: str, *, retry_after: float | None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Hook:
    """The instance a hook URL belongs to, and its element's webhook settings."""

    instance: Instance
    element: ElementDefinition
    webhooks: Webhooks


@dataclass(frozen=True)
class Receipt:
    received: int = 0
    duplicates: int = 0
    ignored: int = 0
    paused: bool = False


async def find_hook(hub: Hub, instance_id: str, token: str) -> Hook:
    """The live webhook-mode instance at `/v1/hooks/{instance_id}/{token}`."""
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        expected = instance.hook_token.encode() if instance is not None else _NO_TOKEN
        token_ok = hmac.compare_digest(expected, token.encode())
        if instance is None or instance.deleted_at is not None or not token_ok:
            raise HookNotFound()
        element = await find_element(session, instance.organization_id, instance.element_key)
    if instance.events.get("mode") != "webhook" or element.webhooks is None:
        raise NotWebhookMode(f"instance {instance_id} does not receive webhooks")
    return Hook(instance, element, element.webhooks)


def verify_post(hub: Hub, hook: Hook, request: SignedRequest, *, now: float | None = None) -> None:
    """Raises `SignatureError` unless the post carries the element's signature made with the
    instance's webhook secret."""
    secret = webhook_secret(hub, hook.instance)
    if secret is None:
        raise SignatureError("missing", "this instance has no webhook secret set up yet")
    verify_signature(hook.webhooks.signature, secret, request, now=now)


async def receive_post(
    hub: Hub, hook: Hook, body: bytes, headers: Mapping[str, str] | None = None
) -> Receipt:
    """Store the events of a verified post; `MalformedPayload` if it cannot be read.
    `headers` are the post's (some vendors name the event there)."""
    instance = hook.instance
    if not instance.events.get("enabled"):
        return Receipt(paused=True)
    parsed = parse_post(body, hook.element, instance.events.get("objects") or [], headers or {})
    events, gone = await _with_records(hub, hook, parsed.events)
    ignored = parsed.ignored + gone
    if not events:
        return Receipt(ignored=ignored)
    try:
        stored = await store_post(hub, instance.id, hook.element, events)
    except InstanceGone as exc:
        if exc.paused:
            return Receipt(paused=True)
        raise HookNotFound() from None
    log.info(
        "webhook post for instance %s: %d received, %d duplicates, %d ignored",
        instance.id,
        stored.received,
        stored.duplicates,
        ignored,
    )
    return Receipt(stored.received, stored.duplicates, ignored)


async def _with_records(
    hub: Hub, hook: Hook, events: list[VendorEvent]
) -> tuple[list[VendorEvent], int]:
    """The events with the records they lack fetched from the vendor, and how many were
    dropped because their record no longer exists (its delete event follows)."""
    wanted = [event for event in events if needs_fetch(hook.element, event)]
    if not wanted:
        return events, 0
    # Events stored before need no fetch: a vendor's retry must not cost a call per event.
    async with hub.database.transaction() as session:
        known = await known_event_ids(
            session, hook.instance.id, (event.vendor_event_id for event in wanted)
        )
    keys = list(
        dict.fromkeys(
            (event.object_name, event.record_id)
            for event in wanted
            if event.vendor_event_id not in known
        )
    )
    try:
        async with vendor_client(hub, hook.instance, hook.element) as client:
            # Every fetch ends before the client closes; the first failure is raised inside
            # the block, so an auth failure reaches the instance's status.
            outcomes = await asyncio.gather(
                *(_fetch(client, *key) for key in keys), return_exceptions=True
            )
            fetched = [_result(outcome) for outcome in outcomes]
    except VendorError as exc:
        log.warning(
            "webhook post for instance %s: fetching records failed: %s", hook.instance.id, exc
        )
        raise RecordUnavailable(
            "the vendor did not give the records this post names; post it again later",
            retry_after=exc.retry_after,
        ) from exc
    records = dict(zip(keys, fetched, strict=True))
    completed: list[VendorEvent] = []
    gone = 0
    for event in events:
        if not needs_fetch(hook.element, event) or event.vendor_event_id in known:
            completed.append(event)  # a duplicate is dropped when stored
            continue
        record = records[(event.object_name, event.record_id)]
        if record is None:
            gone += 1
        else:
            # The client normalized it already, as it does every record it reads.
            completed.append(replace(event, record=record))
    return completed, gone


def _result(outcome: dict[str, Any] | BaseException | None) -> dict[str, Any] | None:
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


async def _fetch(client: VendorClient, object_name: str, record_id: str) -> dict[str, Any] | None:
    try:
        return await client.get(object_name, record_id)
    except RecordNotFound:
        return None
