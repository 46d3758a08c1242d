"""A vendor's webhook post read as events: the same shape polling produces.

The element's `webhooks.events` says where each part sits (dotted paths). A body is one
event or an array of them. Types the element does not map, and objects the instance does
not watch, are acknowledged and ignored; a post we cannot read at all is refused whole.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from interlink.elements.definition import ElementDefinition, ObjectDefinition, WebhookEvents
from interlink.errors import InvalidInput
from interlink.eventing.marks import vendor_text
from interlink.eventing.recorder import Change, NewEvent
from interlink.vendor.hooks import load_hooks
from interlink.vendor.paths import MISSING, lookup
from interlink.vendor.times import parse_time, rfc3339

MAX_ID_LENGTH = 255  # the width of the events' id columns
# Vendors write event times in unix seconds or milliseconds; 10¹¹ s is the year 5138.
MILLISECONDS_FROM = 10**11


class MalformedPayload(InvalidInput):
    """A post that is not JSON, or an event without its id, type or record id."""


@dataclass(frozen=True)
class VendorEvent:
    """One event of a post, understood. `record` is `None` for a delete without one, and
    for an event whose record is still to be fetched from the vendor."""

    vendor_event_id: str
    object_name: str
    change: Change
    record_id: str
    record: dict[str, Any] | None
    occurred_at: str | None
    position: int  # its index in the post, for messages


@dataclass(frozen=True)
class ParsedPost:
    events: list[VendorEvent]
    ignored: int  # types not mapped, objects not watched


def parse_post(
    body: bytes,
    element: ElementDefinition,
    watched: Collection[str],
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> ParsedPost:
    """The events of `body` for the objects in `watched`; `MalformedPayload` if unreadable.
    `headers` are the post's, for elements that read the event's id or type there."""
    if element.webhooks is None:
        raise MalformedPayload(f"element {element.key!r} receives no webhooks", field="body")
    spec = element.webhooks.events
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"the body is not valid JSON: {exc}", field="body") from None
    in_headers = spec.id_header is not None or spec.type_header is not None
    # Where the headers name the event, the post is one event, whatever its body.
    items = document if isinstance(document, list) and not in_headers else [document]
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lowered = {name.lower(): value for name, value in pairs}
    events: list[VendorEvent] = []
    ignored = 0
    for position, item in enumerate(items):
        event = _read_event(
            item, position, spec, element, watched, batch=len(items) > 1, headers=lowered
        )
        if event is None:
            ignored += 1
        else:
            events.append(event)
    return ParsedPost(events, ignored)


def _read_event(
    item: Any,
    position: int,
    spec: WebhookEvents,
    element: ElementDefinition,
    watched: Collection[str],
    *,
    batch: bool,
    headers: Mapping[str, str],
) -> VendorEvent | None:
    where = f"body[{position}]" if batch else "body"
    if not isinstance(item, dict):
        raise MalformedPayload(f"{where}: an event must be a JSON object", field=where)
    if spec.id_header is not None:
        vendor_event_id = _identifier(headers.get(spec.id_header.lower(), "").strip() or MISSING)
        id_place, id_field = f"the {spec.id_header} header", f"headers.{spec.id_header}"
    else:
        vendor_event_id = _identifier(lookup(item, spec.id_path, MISSING))
        id_place, id_field = repr(spec.id_path), f"{where}.{spec.id_path}"
    if vendor_event_id is None:
        raise MalformedPayload(f"{where}: the event has no usable id at {id_place}", field=id_field)
    if spec.type_header is not None:
        event_type = headers.get(spec.type_header.lower(), "").strip()
        type_place, type_field = f"the {spec.type_header} header", f"headers.{spec.type_header}"
        action = lookup(item, spec.action_path) if spec.action_path else None
        if event_type and isinstance(action, str) and action:
            # GitHub: `X-GitHub-Event: issues` and `"action": "opened"` → `issues.opened`;
            # an event without an action stays the header's word (and maps to nothing).
            event_type = f"{event_type}{spec.type_separator}{action}"
    else:
        event_type = lookup(item, spec.type_path)
        type_place, type_field = repr(spec.type_path), f"{where}.{spec.type_path}"
    if not isinstance(event_type, str) or not event_type:
        raise MalformedPayload(f"{where}: the event has no type at {type_place}", field=type_field)
    object_name, change = _classify(event_type, spec)
    if object_name is None or change is None or object_name not in watched:
        return None  # a type the element does not map, or an object nobody watches
    obj = element.objects.get(object_name)
    if obj is None:
        return None
    record_id_path = spec.record_id_path_of(object_name)
    record_id = _identifier(lookup(item, record_id_path, MISSING))
    if record_id is None:
        raise MalformedPayload(
            f"{where}: the event has no usable record id at {record_id_path!r}",
            field=f"{where}.{record_id_path}",
        )
    record: dict[str, Any] | None = None
    record_path = spec.record_path_of(object_name)
    if change != "deleted" and not spec.fetch_record and record_path is not None:
        found = lookup(item, record_path, MISSING)
        if not isinstance(found, dict):
            raise MalformedPayload(
                f"{where}: the event has no record object at {record_path!r}",
                field=f"{where}.{record_path}",
            )
        record = normalize_record(element, object_name, found, record_id)
    occurred = lookup(item, spec.occurred_at_path) if spec.occurred_at_path else None
    return VendorEvent(
        vendor_event_id=vendor_event_id,
        object_name=object_name,
        change=change,
        record_id=record_id,
        record=record,
        occurred_at=_event_time(occurred),
        position=position,
    )


def _classify(event_type: str, spec: WebhookEvents) -> tuple[str | None, Change | None]:
    """`contact.created` → (`contacts`, `created`) through the element's maps; the prefix is
    everything before the last separator (`customer.subscription.updated`)."""
    if not spec.type_separator:
        return None, None
    prefix, separator, suffix = event_type.rpartition(spec.type_separator)
    if not separator:
        return None, None
    return spec.objects.get(prefix), spec.changes.get(suffix)


def needs_fetch(element: ElementDefinition, event: VendorEvent) -> bool:
    """Whether the record must come from the vendor: the element says webhooks carry only
    ids, and the record still exists (a delete has nothing to fetch)."""
    hooks = element.webhooks
    return hooks is not None and hooks.events.fetch_record and event.change != "deleted"


def normalize_record(
    element: ElementDefinition, object_name: str, record: dict[str, Any], record_id: str
) -> dict[str, Any]:
    """The vendor's record with its id on top as a string, then the element's own touch —
    the shape the vendor client gives polled records."""
    if record.get("id") == record_id:
        normalized = dict(record)
    else:
        normalized = {"id": record_id, **{k: v for k, v in record.items() if k != "id"}}
    normalized = load_hooks(element.hooks).normalize_record(object_name, normalized)
    if not isinstance(normalized, dict) or not isinstance(normalized.get("id"), str):
        raise MalformedPayload(f"the {object_name} record has no usable id", field="body")
    return normalized


def to_new_event(event: VendorEvent, element: ElementDefinition) -> NewEvent:
    """The event as the recorder stores it; its time is the vendor's event time, else the
    record's own updated time."""
    obj = element.objects[event.object_name]
    return NewEvent(
        object_name=event.object_name,
        record_id=event.record_id,
        change=event.change,
        record=None if event.change == "deleted" else event.record,
        vendor_time=event.occurred_at or _updated_time(event.record, obj),
        source="webhook",
        vendor_event_id=event.vendor_event_id,
    )


def vendor_updated(record: dict[str, Any] | None, obj: ObjectDefinition) -> str | None:
    """The record's updated field as the vendor wrote it, as polling's fingerprints keep it
    (numbers as their text), so a reconciliation poll recognises the same state."""
    if record is None or obj.updated_field is None:
        return None
    value = lookup(record, obj.updated_field.name)
    return None if isinstance(value, dict | list) else vendor_text(value)


def _updated_time(record: dict[str, Any] | None, obj: ObjectDefinition) -> str | None:
    written = vendor_updated(record, obj)
    if written is None or obj.updated_field is None:
        return None
    if obj.updated_field.format == "rfc3339":
        return written
    try:
        return rfc3339(parse_time(written, obj.updated_field.format))
    except (ValueError, OverflowError):
        return None


def _identifier(value: Any) -> str | None:
    if isinstance(value, bool) or value is MISSING:
        return None
    if isinstance(value, str):
        text = value if value.strip() else None
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        return None
    return text if text is not None and len(text) <= MAX_ID_LENGTH else None


def _event_time(value: Any) -> str | None:
    """An event time as RFC 3339: strings as the vendor wrote them, unix numbers converted."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    seconds = value / 1000 if abs(value) >= MILLISECONDS_FROM else value
    try:
        return rfc3339(datetime.fromtimestamp(seconds, UTC))
    except (ValueError, OverflowError, OSError):
        return None
