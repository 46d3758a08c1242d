"""The records API: an element's objects read and written through the hub, normalized.

No database transaction is held while the vendor is called: a slow vendor must never
keep the (single-writer, on SQLite) database locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interlink.ceql import (
    CEQLError,
    Comparison,
    Predicate,
    check_fields,
    matches,
    parse_where,
    split,
)
from interlink.elements.catalog import find_element
from interlink.elements.definition import ElementDefinition, ObjectDefinition
from interlink.elements.record_schema import check_write
from interlink.errors import NotFound
from interlink.hub import Hub
from interlink.services.connections import vendor_client
from interlink.services.instances import get_instance
from interlink.storage.models import Instance

# A filtered list may have to read many vendor pages to fill one page of answers; past this
# many it answers what it has, with a cursor, so one request stays bounded in time.
MAX_VENDOR_PAGES_PER_REQUEST = 20


@dataclass(frozen=True)
class Target:
    instance: Instance
    element: ElementDefinition
    object_name: str
    obj: ObjectDefinition


async def resolve(hub: Hub, organization_id: str, instance_id: str, object_name: str) -> Target:
    async with hub.database.transaction() as session:
        instance = await get_instance(session, organization_id, instance_id)
        element = await find_element(session, organization_id, instance.element_key)
    obj = element.find_object(object_name)
    if obj is None:
        raise NotFound(f"element {element.key!r} has no object {object_name!r}")
    return Target(instance, element, object_name, obj)


@dataclass(frozen=True)
class RecordPage:
    records: list[dict[str, Any]]
    next_position: dict[str, Any] | None


def pushed_filters(obj: ObjectDefinition, predicate: Predicate | None) -> dict[str, str]:
    """Equality conditions the vendor's list call can apply itself."""

    def can_push(candidate: Predicate) -> bool:
        return (
            isinstance(candidate, Comparison)
            and candidate.op == "="
            and (obj.equality_filters == "*" or candidate.field in obj.equality_filters)
            and isinstance(candidate.value, str | int | float)
            and not isinstance(candidate.value, bool)
        )

    pushed, _ = split(predicate, can_push)
    filters: dict[str, str] = {}
    for condition in pushed:
        assert isinstance(condition, Comparison)
        if condition.field in filters and filters[condition.field] != str(condition.value):
            continue  # a = 1 and a = 2: leave it to the local evaluation (nothing matches)
        filters[condition.field] = str(condition.value)
    return filters


def parse_filter(obj: ObjectDefinition, where: str | None) -> Predicate | None:
    if not where:
        return None
    try:
        predicate = parse_where(where)
        if obj.fields is not None:
            check_fields(predicate, [field.name for field in obj.fields])
    except CEQLError as exc:
        exc.field = exc.field or "where"
        raise
    return predicate


async def list_records(
    hub: Hub, target: Target, *, where: str | None, limit: int, position: dict[str, Any] | None
) -> RecordPage:
    """One page of records matching `where`; the whole predicate is always checked locally,
    so pushing conditions down is only ever an optimisation."""
    predicate = parse_filter(target.obj, where)
    filters = pushed_filters(target.obj, predicate)
    state: dict[str, Any] | None = (position or {}).get("state")
    skip: int = int((position or {}).get("skip", 0))
    found: list[dict[str, Any]] = []
    async with vendor_client(hub, target.instance, target.element) as client:
        for _ in range(MAX_VENDOR_PAGES_PER_REQUEST):
            vendor_page = await client.list_page(
                target.object_name,
                filters=filters,
                page_state=state,
                # Unfiltered, a vendor page is an answer page; filtered, read in big pages.
                page_size=limit if predicate is None else None,
            )
            for index, record in enumerate(vendor_page.records[skip:], start=skip):
                if predicate is None or matches(predicate, record):
                    found.append(record)
                    if len(found) == limit:
                        more_here = index + 1 < len(vendor_page.records)
                        if more_here:
                            return RecordPage(found, {"state": state, "skip": index + 1})
                        following = vendor_page.next_state
                        return RecordPage(
                            found, {"state": following, "skip": 0} if following else None
                        )
            skip = 0
            state = vendor_page.next_state
            if state is None:
                return RecordPage(found, None)
    return RecordPage(found, {"state": state, "skip": 0})


async def check_connection(hub: Hub, instance: Instance, element: ElementDefinition) -> None:
    """A cheap authenticated call now; its outcome lands in the instance's auth status."""
    async with vendor_client(hub, instance, element) as client:
        await client.check()


async def get_record(hub: Hub, target: Target, record_id: str) -> dict[str, Any]:
    async with vendor_client(hub, target.instance, target.element) as client:
        return await client.get(target.object_name, record_id)


async def create_record(hub: Hub, target: Target, record: dict[str, Any]) -> dict[str, Any]:
    body = check_write(target.obj, record, partial=False)
    async with vendor_client(hub, target.instance, target.element) as client:
        return await client.create(target.object_name, body)


async def update_record(
    hub: Hub, target: Target, record_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    body = check_write(target.obj, fields, partial=True)
    async with vendor_client(hub, target.instance, target.element) as client:
        return await client.update(target.object_name, record_id, body)


async def delete_record(hub: Hub, target: Target, record_id: str) -> None:
    async with vendor_client(hub, target.instance, target.element) as client:
        await client.delete(target.object_name, record_id)
