"""Events and their delivery: the events feed, the delivery log, retry, replay, and the
rotation of an instance's signing secret."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.api.auth import Caller, get_caller, get_hub, transaction
from interlink.api.idempotency import idempotent
from interlink.api.pagination import PageParams, decode_cursor, encode_cursor, page
from interlink.errors import InvalidInput
from interlink.eventing.delivery import listing
from interlink.eventing.delivery.operations import replay_events, retry_delivery
from interlink.eventing.delivery.signing import rotate_signing_secret
from interlink.hub import Hub
from interlink.services.instances import get_instance
from interlink.storage.models import Instance
from interlink.storage.types import utcnow

router = APIRouter(tags=["events"])

DeliveryStatus = Literal["pending", "failed", "succeeded", "dead"]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime
    until: AwareDatetime | None = None  # now when left out


@router.get("/v1/instances/{instance_id}/events")
async def list_events(
    instance_id: str,
    object_name: str | None = Query(None, alias="object", description="e.g. contacts"),
    event_type: str | None = Query(None, alias="type", description="e.g. contacts.updated"),
    after: str | None = Query(None, description="an event id: the page starts after it"),
    params: PageParams = Depends(),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    """The stored events in recording order. `next_cursor` is the last event's id, so it
    works as `after` too; following it pages forward without gaps."""
    instance = await get_instance(session, caller.organization_id, instance_id)
    change = None
    if event_type is not None:
        type_object, change = listing.parse_event_type(event_type)
        if object_name is not None and object_name != type_object:
            raise InvalidInput("object and type name different objects", field="type")
        object_name = type_object
    if after is not None and params.cursor is not None and after != params.cursor:
        raise InvalidInput("give either after or cursor", field="cursor")
    start = after or params.cursor
    after_sequence = None
    if start is not None:
        after_sequence = await listing.sequence_of(session, instance.id, start)
    events = await listing.list_events(
        session,
        instance.id,
        object_name=object_name,
        change=change,
        after_sequence=after_sequence,
        limit=params.limit + 1,
    )
    more = len(events) > params.limit
    events = events[: params.limit]
    data = [listing.describe_event(event, instance.element_key) for event in events]
    return page(data, events[-1].id if more else None)


@router.get("/v1/events/{event_id}")
async def get_event(
    event_id: str,
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    event = await listing.find_event(session, caller.organization_id, event_id)
    element_key = await listing.element_key_of(session, event.instance_id)
    return listing.describe_event(event, element_key)


@router.post("/v1/instances/{instance_id}/events/replay", status_code=202)
async def replay(
    instance_id: str,
    body: ReplayRequest,
    request: Request,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> Response:
    """Deliver the events recorded in [since, until) again, as new deliveries (reason
    `replay`); the events keep their ids and sequences."""
    instance = await get_instance(session, caller.organization_id, instance_id)

    async def create() -> tuple[int, Any]:
        until = body.until or utcnow()
        done = await replay_events(session, hub.runtime, instance, body.since, until)
        return 202, {
            "instance_id": instance.id,
            "since": listing.iso(body.since),
            "until": listing.iso(until),
            "events": done.events,
            "deliveries": done.deliveries,
        }

    return await idempotent(request, session, caller.organization_id, create)


@router.get("/v1/instances/{instance_id}/deliveries")
async def list_deliveries(
    instance_id: str,
    status: DeliveryStatus | None = Query(None),
    params: PageParams = Depends(),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    """The instance's deliveries, newest first, each with its attempts."""
    instance = await get_instance(session, caller.organization_id, instance_id)
    before = str(decode_cursor(params.cursor)) if params.cursor else None
    deliveries = await listing.list_deliveries(
        session, instance.id, status=status, before_id=before, limit=params.limit + 1
    )
    more = len(deliveries) > params.limit
    deliveries = deliveries[: params.limit]
    attempts = await listing.attempts_of(session, [delivery.id for delivery in deliveries])
    data = [listing.describe_delivery(d, attempts.get(d.id, [])) for d in deliveries]
    return page(data, encode_cursor(deliveries[-1].id) if more else None)


@router.get("/v1/deliveries/{delivery_id}")
async def get_delivery(
    delivery_id: str,
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    delivery = await listing.find_delivery(session, caller.organization_id, delivery_id)
    attempts = await listing.attempts_of(session, [delivery.id])
    return listing.describe_delivery(delivery, attempts.get(delivery.id, []))


@router.post("/v1/deliveries/{delivery_id}/retry", status_code=202)
async def retry(
    delivery_id: str,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> dict[str, Any]:
    """A failed or dead delivery is tried again now (once it heads the instance's queue)."""
    delivery = await listing.find_delivery(session, caller.organization_id, delivery_id)
    instance = await get_instance(session, caller.organization_id, delivery.instance_id)
    await retry_delivery(session, hub.runtime, instance, delivery)
    attempts = await listing.attempts_of(session, [delivery.id])
    return listing.describe_delivery(delivery, attempts.get(delivery.id, []))


@router.post("/v1/instances/{instance_id}/signing-secret")
async def rotate_secret(
    instance_id: str,
    request: Request,
    hub: Hub = Depends(get_hub),
    caller: Caller = Depends(get_caller),
    session: AsyncSession = transaction(),
) -> Response:
    """A new signing secret; the previous one keeps signing deliveries for 24 hours."""
    instance = await get_instance(session, caller.organization_id, instance_id)

    async def create() -> tuple[int, Any]:
        now = utcnow()
        secret = rotate_signing_secret(hub.secrets, instance, now)
        instance.updated_at = now
        await session.flush()
        return 200, _events_block(instance, secret)

    return await idempotent(request, session, caller.organization_id, create)


def _events_block(instance: Instance, secret: str) -> dict[str, Any]:
    return {
        **instance.events,
        "signing_secret": secret,
        "previous_secret_expires_at": listing.iso(instance.previous_secret_expires_at),
    }
