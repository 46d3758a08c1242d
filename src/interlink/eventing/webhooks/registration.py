"""Webhook subscriptions at the vendor: registered in the background after an instance
enters webhook mode, removed when it leaves it or is deleted.

Both jobs of one instance share a lock, so they run one at a time in the order they were
asked for; each looks at the instance as it is when it runs, so a quick change of mind
(webhook → polling → webhook) ends in the state last asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from interlink.elements.catalog import find_element
from interlink.elements.definition import ElementDefinition, WebhookRegistration
from interlink.errors import NotFound
from interlink.eventing.task_names import REGISTER_WEBHOOK_TASK, REMOVE_WEBHOOK_TASK
from interlink.eventing.webhooks.credentials import (
    WEBHOOK_ID,
    WEBHOOK_SECRET,
    new_webhook_secret,
    read_credentials,
    update_credentials,
)
from interlink.hub import Hub
from interlink.runtime import AlreadyQueued, JobContext, RetryLater, RetryPolicy, TaskRegistry
from interlink.services.connections import vendor_client
from interlink.storage.models import Instance
from interlink.vendor import FatalVendorError, RetryableVendorError, VendorError
from interlink.vendor.paths import lookup

# Failures other than the vendor's "wait N seconds" come back with growing pauses, for
# about a day, then the job is failed and shows why.
RETRY = RetryPolicy(max_attempts=12, base_delay=10.0, max_delay=3600.0)
# A vendor that no longer knows the subscription has already forgotten it.
GONE_STATUSES = (404, 410)
# The longest a vendor's Retry-After reschedules a job (as for deliveries: an hour).
MAX_RETRY_AFTER_SECONDS = 3600.0


def hook_url(hub: Hub, instance: Instance) -> str:
    """Where the vendor posts this instance's webhooks."""
    return f"{hub.public_url}/v1/hooks/{instance.id}/{instance.hook_token}"


def webhook_lock(instance_id: str) -> str:
    """Registration and removal of one instance's webhook never run at the same time."""
    return f"webhook:{instance_id}"


def wants_webhook(instance: Instance) -> bool:
    return instance.deleted_at is None and instance.events.get("mode") == "webhook"


async def schedule_registration(session: AsyncSession, hub: Hub, instance: Instance) -> None:
    """Called in the transaction that creates or changes `instance`: in webhook mode, store
    a webhook secret now (posts arriving right after registration must verify) and queue
    the registration; out of it, queue the removal of what was registered."""
    registration = await _registration(session, instance)
    if registration is None:
        return
    credentials = read_credentials(hub, instance)
    if not wants_webhook(instance):
        if credentials.get(WEBHOOK_ID) or credentials.get(WEBHOOK_SECRET):
            await _defer(session, hub, REMOVE_WEBHOOK_TASK, instance.id)
        return
    if credentials.get(WEBHOOK_ID):
        return  # registered already
    if not credentials.get(WEBHOOK_SECRET):
        element = await find_element(session, instance.organization_id, instance.element_key)
        update_credentials(hub, instance, **{WEBHOOK_SECRET: new_webhook_secret(element)})
    await _defer(session, hub, REGISTER_WEBHOOK_TASK, instance.id)


async def schedule_removal(session: AsyncSession, hub: Hub, instance: Instance) -> None:
    """Called in the transaction that deletes `instance` (a soft delete: the row and its
    credentials remain): queue the removal of its subscription at the vendor."""
    if await _registration(session, instance) is not None:
        await _defer(session, hub, REMOVE_WEBHOOK_TASK, instance.id)


def register_webhook_tasks(registry: TaskRegistry, hub: Hub) -> None:
    """The registration and removal jobs, bound to the hub."""

    @registry.task(name=REGISTER_WEBHOOK_TASK, retry=RETRY)
    async def register_webhook(context: JobContext, instance_id: str) -> None:
        await _register(context, hub, instance_id)

    @registry.task(name=REMOVE_WEBHOOK_TASK, retry=RETRY)
    async def remove_webhook(context: JobContext, instance_id: str) -> None:
        await _remove(context, hub, instance_id)


@dataclass(frozen=True)
class _Target:
    instance: Instance
    element: ElementDefinition
    registration: WebhookRegistration


async def _register(context: JobContext, hub: Hub, instance_id: str) -> None:
    target = await _load(hub, instance_id)
    if target is None or not wants_webhook(target.instance):
        return
    instance, registration = target.instance, target.registration
    credentials = read_credentials(hub, instance)
    if credentials.get(WEBHOOK_ID):
        return  # registered by an earlier run
    secret = credentials.get(WEBHOOK_SECRET)
    if not secret and registration.secret_key is not None:
        context.log.warning("instance %s has no webhook secret to register", instance_id)
        return
    body: dict[str, str] = {registration.url_key: hook_url(hub, instance)}
    if registration.secret_key is not None and isinstance(secret, str):
        body[registration.secret_key] = secret
    with _retry_when_told():
        async with vendor_client(hub, instance, target.element) as client:
            answer = await client.call(registration.create, json=body)
    webhook_id = lookup(answer, registration.id_path)
    if isinstance(webhook_id, bool) or not isinstance(webhook_id, str | int) or webhook_id == "":
        raise FatalVendorError(
            f"{target.element.key}: registering a webhook answered no id at "
            f"{registration.id_path!r}"
        )
    async with hub.database.transaction() as session:
        current = await _locked(session, instance_id)
        if current is None:
            return
        update_credentials(hub, current, **{WEBHOOK_ID: str(webhook_id)})
        if not wants_webhook(current):
            # Deleted or switched to polling while we registered: take it back.
            await _defer(session, hub, REMOVE_WEBHOOK_TASK, instance_id)
    context.log.info("registered webhook %s for instance %s", webhook_id, instance_id)


async def _remove(context: JobContext, hub: Hub, instance_id: str) -> None:
    target = await _load(hub, instance_id)
    if target is None or wants_webhook(target.instance):
        return  # wanted again since the removal was asked for
    webhook_id = read_credentials(hub, target.instance).get(WEBHOOK_ID)
    if webhook_id:
        try:
            with _retry_when_told():
                async with vendor_client(hub, target.instance, target.element) as client:
                    await client.call(
                        target.registration.delete, path_values={"webhook_id": str(webhook_id)}
                    )
        except VendorError as exc:
            if exc.status not in GONE_STATUSES:
                raise
    user_secret = WEBHOOK_SECRET in {field.name for field in target.element.config}
    async with hub.database.transaction() as session:
        current = await _locked(session, instance_id)
        if current is None or wants_webhook(current):
            return
        forget = {WEBHOOK_ID: None} if user_secret else {WEBHOOK_ID: None, WEBHOOK_SECRET: None}
        update_credentials(hub, current, **forget)
    if webhook_id:
        context.log.info("removed webhook %s of instance %s", webhook_id, instance_id)


@contextlib.contextmanager
def _retry_when_told() -> Iterator[None]:
    """The vendor's "come back in N seconds" (a 429 or 503 with Retry-After) reschedules the
    job for then without using up an attempt; other failures take the job's backoff."""
    try:
        yield
    except RetryableVendorError as exc:
        if exc.retry_after is None:
            raise
        delay = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
        raise RetryLater(delay, f"the vendor asked to wait {delay:g} s") from exc


async def _registration(session: AsyncSession, instance: Instance) -> WebhookRegistration | None:
    try:
        element = await find_element(session, instance.organization_id, instance.element_key)
    except NotFound:
        return None
    return element.webhooks.registration if element.webhooks is not None else None


async def _load(hub: Hub, instance_id: str) -> _Target | None:
    async with hub.database.transaction() as session:
        instance = await session.get(Instance, instance_id)
        if instance is None:
            return None
        try:
            element = await find_element(session, instance.organization_id, instance.element_key)
        except NotFound:
            return None
    if element.webhooks is None or element.webhooks.registration is None:
        return None
    return _Target(instance, element, element.webhooks.registration)


async def _locked(session: AsyncSession, instance_id: str) -> Instance | None:
    instance: Instance | None = await session.scalar(
        select(Instance).where(Instance.id == instance_id).with_for_update()
    )
    return instance


async def _defer(session: AsyncSession, hub: Hub, task_name: str, instance_id: str) -> None:
    with contextlib.suppress(AlreadyQueued):
        await hub.runtime.defer(
            task_name,
            {"instance_id": instance_id},
            lock=webhook_lock(instance_id),
            queueing_lock=f"{task_name}:{instance_id}",
            session=session,
        )
