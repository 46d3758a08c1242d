"""Instances: an organization's authenticated connections to elements."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements.catalog import find_element
from interlink.elements.definition import ElementDefinition
from interlink.errors import InvalidInput, NotFound
from interlink.eventing import lifecycle
from interlink.eventing.delivery.signing import new_signing_secret
from interlink.eventing.status import object_status
from interlink.eventing.webhooks.registration import hook_url
from interlink.hub import Hub
from interlink.ids import new_id
from interlink.services.instance_config import EventsSettings, check_events, split_config
from interlink.storage.models import Instance
from interlink.storage.types import utcnow


class NewInstance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    element: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    events: EventsSettings = Field(default_factory=EventsSettings)


class EventsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    mode: str | None = None
    objects: list[str] | None = None
    poll_interval_seconds: int | None = None
    callback_url: str | None = None
    initial: str | None = None
    reconciliation_interval_seconds: int | None = None


class DeliveryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str = Field(pattern="^enabled$", description="re-enable a disabled delivery")


class InstancePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    events: EventsPatch | None = None
    delivery: DeliveryPatch | None = None


async def create_instance(
    hub: Hub, session: AsyncSession, organization_id: str, request: NewInstance
) -> Instance:
    """Validate and store; nothing is sent to the vendor before this answers."""
    element = await find_element(session, organization_id, request.element)
    allow_private = hub.settings.allow_private_networks
    public, secret = await split_config(element, request.config, allow_private=allow_private)
    await check_events(
        element,
        request.events,
        min_poll_interval=hub.settings.min_poll_interval,
        allow_private=allow_private,
    )
    instance = Instance(
        id=new_id("inst"),
        organization_id=organization_id,
        element_key=element.key,
        name=request.name,
        config=public,
        credentials=hub.secrets.encrypt_json(secret),
        events=request.events.model_dump(),
        signing_secret=hub.secrets.encrypt(new_signing_secret()),
        hook_token=secrets.token_urlsafe(24),
        auth_state="unknown",
        delivery_state="enabled",
    )
    session.add(instance)
    await session.flush()
    await lifecycle.instance_created(session, hub, instance)
    return instance


async def get_instance(session: AsyncSession, organization_id: str, instance_id: str) -> Instance:
    """Another organization's instance is simply not found."""
    instance = await session.scalar(
        select(Instance).where(
            Instance.id == instance_id,
            Instance.organization_id == organization_id,
            Instance.deleted_at.is_(None),
        )
    )
    if instance is None:
        raise NotFound(f"no instance {instance_id!r}")
    return instance


async def list_instances(
    session: AsyncSession, organization_id: str, *, after: str | None, limit: int
) -> list[Instance]:
    query = select(Instance).where(
        Instance.organization_id == organization_id, Instance.deleted_at.is_(None)
    )
    if after:
        query = query.where(Instance.id > after)
    return list(await session.scalars(query.order_by(Instance.id).limit(limit)))


async def update_instance(
    hub: Hub, session: AsyncSession, instance: Instance, patch: InstancePatch
) -> Instance:
    element = await find_element(session, instance.organization_id, instance.element_key)
    allow_private = hub.settings.allow_private_networks
    if patch.name is not None:
        instance.name = patch.name
    if patch.config is not None:
        await _apply_config(hub, element, instance, patch.config, allow_private=allow_private)
    if patch.events is not None:
        merged = {**instance.events, **patch.events.model_dump(exclude_unset=True)}
        try:
            events = EventsSettings.model_validate(merged)
        except ValueError as exc:
            raise InvalidInput(f"events: {exc}", field="events") from exc
        await check_events(
            element,
            events,
            min_poll_interval=hub.settings.min_poll_interval,
            allow_private=allow_private,
        )
        instance.events = events.model_dump()
    reenabled = patch.delivery is not None and instance.delivery_state != "enabled"
    if patch.delivery is not None:
        instance.delivery_state = "enabled"
        instance.delivery_reason = None
        instance.delivery_failing_since = None
    instance.updated_at = utcnow()
    await session.flush()
    await lifecycle.instance_updated(session, hub, instance, delivery_reenabled=reenabled)
    return instance


async def _apply_config(
    hub: Hub,
    element: ElementDefinition,
    instance: Instance,
    changes: dict[str, Any],
    *,
    allow_private: bool,
) -> None:
    public, secret = await split_config(element, changes, allow_private=allow_private, partial=True)
    url_fields = {field.name for field in element.config if field.type == "url"}
    moved = {
        name for name in url_fields if name in public and public[name] != instance.config.get(name)
    }
    missing = element.secret_fields - set(secret)
    if moved and missing:
        # Credentials meant for one host must never follow the instance to another.
        raise InvalidInput(
            f"changing {sorted(moved)[0]} needs the credentials again: {sorted(missing)}",
            field=f"config.{sorted(missing)[0]}",
        )
    instance.config = {**instance.config, **public}
    if secret:
        stored = hub.secrets.decrypt_json(instance.credentials)
        instance.credentials = hub.secrets.encrypt_json({**stored, **secret})
    # New credentials or a new host: what we knew about authentication no longer holds.
    if secret or moved:
        instance.auth_state, instance.auth_message, instance.auth_checked_at = "unknown", None, None


async def delete_instance(hub: Hub, session: AsyncSession, instance: Instance) -> None:
    """Gone from the API at once; jobs see `deleted_at` and stop, data follows retention."""
    instance.deleted_at = utcnow()
    instance.events = {**instance.events, "enabled": False}
    await session.flush()
    await lifecycle.instance_deleted(session, hub, instance)


async def describe_instance(hub: Hub, session: AsyncSession, instance: Instance) -> dict[str, Any]:
    """The public shape of an instance: never its credentials."""
    events = dict(instance.events)
    events["signing_secret"] = hub.secrets.decrypt(instance.signing_secret)
    answer: dict[str, Any] = {
        "id": instance.id,
        "element": instance.element_key,
        "name": instance.name,
        "config": instance.config,
        "events": events,
        "status": {
            "auth": {
                "state": instance.auth_state,
                "message": instance.auth_message,
                "checked_at": _iso(instance.auth_checked_at),
            },
            "delivery": {"state": instance.delivery_state, "reason": instance.delivery_reason},
            "objects": await object_status(session, instance),
        },
        "created_at": _iso(instance.created_at),
        "updated_at": _iso(instance.updated_at),
    }
    if events.get("mode") == "webhook":
        answer["webhook_url"] = hook_url(hub, instance)
    return answer


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
