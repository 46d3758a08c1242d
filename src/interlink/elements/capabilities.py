"""What an element can do, derived from its definition (never declared twice)."""

from __future__ import annotations

from typing import Any

from interlink.elements.definition import ElementDefinition, ObjectDefinition


def object_capabilities(element: ElementDefinition, obj: ObjectDefinition) -> dict[str, Any]:
    return {
        "read": True,
        "write": not obj.read_only,
        "changed_since": obj.changed_since is not None,
        "deletes": obj.deletes.type,
        "native_batch": obj.batch is not None,
        "native_bulk": obj.bulk_export is not None,
        "upsert": obj.upsert or bool(obj.batch and "upsert" in obj.batch.actions),
        "filters": obj.equality_filters,
        "events": event_modes(element),
    }


def event_modes(element: ElementDefinition) -> list[str]:
    # Polling works for every element: without a changed-since filter it diffs full scans.
    modes = ["polling"]
    if element.webhooks is not None:
        modes.append("webhook")
    return modes


def element_capabilities(element: ElementDefinition) -> dict[str, Any]:
    objects = element.objects.values()
    return {
        "events": event_modes(element),
        "webhook_registration": bool(element.webhooks and element.webhooks.registration),
        "changed_since": any(obj.changed_since for obj in objects),
        "deletes": any(obj.deletes.type != "none" for obj in objects),
        "native_batch": any(obj.batch for obj in objects),
        "native_bulk": any(obj.bulk_export for obj in objects),
        "upsert": any(obj.upsert for obj in objects),
        "auth": element.auth.type,
    }


def describe(element: ElementDefinition, *, custom: bool = False) -> dict[str, Any]:
    """The public shape of `GET /v1/elements/{key}`."""
    return {
        "key": element.key,
        "name": element.name,
        "description": element.description,
        "custom": custom,
        "config": [
            field.model_dump(exclude_none=True, exclude={"default"} if field.secret else set())
            for field in element.config
        ],
        "objects": [
            {
                "name": name,
                **({"fields": [f.model_dump() for f in obj.fields]} if obj.fields else {}),
                "capabilities": object_capabilities(element, obj),
            }
            for name, obj in element.objects.items()
        ],
        "capabilities": element_capabilities(element),
    }
