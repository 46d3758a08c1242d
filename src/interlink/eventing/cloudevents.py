"""The CloudEvents 1.0 (structured, batch) shape of stored events."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Batch:
    """Consecutive events of one delivery and its body: the exact bytes to POST."""

    events: list[Event]
    body: bytes


def encoded_batches(events: list[Event], element_key: str) -> list[Batch]:
    """Consecutive runs of at most 100 events and 256 KiB (unless one event alone is larger),
    each encoded as `encode_batch` would; every event is encoded once, sizes and body alike."""
    result: list[Batch] = []
    current: list[Event] = []
    encoded: list[bytes] = []
    size = 2  # the array's brackets
    for event in events:
        one = orjson.dumps(to_cloudevent(event, element_key))
        event_size = len(one) + 1  # and a comma
        if current and (len(current) >= MAX_BATCH_EVENTS or size + event_size > MAX_BATCH_BYTES):
            result.append(Batch(current, _array(encoded)))
            current, encoded, size = [], [], 2
        current.append(event)
        encoded.append(one)
        size += event_size
    if current:
        result.append(Batch(current, _array(encoded)))
    return result


def encode_batch(events: list[Event], element_key: str) -> bytes:
    return orjson.dumps([to_cloudevent(event, element_key) for event in events])


def _array(encoded: list[bytes]) -> bytes:
    # orjson writes compact JSON: its array of these values is exactly this.
    return b"[" + b",".join(encoded) + b"]"
