"""The CloudEvents 1.0 (structured, batch) shape of stored events."""

from __future__ import annotations

from typing import Any

import orjson

from interlink.storage.models import Event

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
MAX_BATCH_EVENTS = 100
MAX_BATCH_BYTES = 256 * 1024


def to_cloudevent(event: Event, element_key: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "object": event.object_name,
        "id": event.record_id,
        "change": event.change,
    }
    if event.change != "deleted" and event.record is not None:
        data["record"] = event.record
    cloudevent: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": f"/v1/instances/{event.instance_id}",
        "type": f"{event.object_name}.{event.change}",
        "subject": event.record_id,
        "time": event.vendor_time or _iso(event),
        "datacontenttype": "application/json",
        "elementkey": element_key,
        "sequence": event.sequence,
        "data": data,
    }
    return cloudevent


def _iso(event: Event) -> str:
    return event.recorded_at.isoformat().replace("+00:00", "Z")


def encoded_size(cloudevent: dict[str, Any]) -> int:
    return len(orjson.dumps(cloudevent))


def batches(events: list[Event], element_key: str) -> list[list[Event]]:
    """Consecutive runs of at most 100 events and 256 KiB (unless one event alone is larger)."""
    result: list[list[Event]] = []
    current: list[Event] = []
    size = 2  # the array's brackets
    for event in events:
        event_size = encoded_size(to_cloudevent(event, element_key)) + 1  # and a comma
        if current and (len(current) >= MAX_BATCH_EVENTS or size + event_size > MAX_BATCH_BYTES):
            result.append(current)
            current, size = [], 2
        current.append(event)
        size += event_size
    if current:
        result.append(current)
    return result


def encode_batch(events: list[Event], element_key: str) -> bytes:
    return orjson.dumps([to_cloudevent(event, element_key) for event in events])
