"""Telling each record read from a vendor apart: created, updated, deleted, or already known.

Pure functions over what the fingerprints remember (`Seen`), so the rules are testable
without a database. The caller looks the fingerprints up and applies the outcome in the
same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from interlink.elements.definition import ObjectDefinition, TimeFormat, Tombstone
from interlink.eventing.fingerprints import Seen, content_hash
from interlink.eventing.marks import is_older, vendor_text
from interlink.eventing.recorder import NewEvent
from interlink.vendor.paths import lookup


@dataclass(frozen=True)
class Sighting:
    """One record as a listing returned it."""

    record_id: str
    record: dict[str, Any]
    vendor_updated: str | None
    digest: str
    tombstoned: bool


@dataclass(frozen=True)
class FingerprintWrite:
    record_id: str
    vendor_updated: str | None
    digest: str
    deleted: bool
    scan_id: str | None


@dataclass
class Outcome:
    """What one page changes: the events to record and the fingerprints to write."""

    events: list[NewEvent] = field(default_factory=list)
    fingerprints: dict[str, FingerprintWrite] = field(default_factory=dict)


def time_format(obj: ObjectDefinition) -> TimeFormat:
    return obj.updated_field.format if obj.updated_field else "rfc3339"


def sight(record: dict[str, Any], obj: ObjectDefinition, updated_at: str | None = None) -> Sighting:
    """`record` as listed; `updated_at`: its change time where the listing gives it apart
    from the record (a change feed), else the record's updated_field."""
    updated: Any = updated_at
    if updated is None and obj.updated_field:
        updated = lookup(record, obj.updated_field.name)
    tombstoned = False
    if isinstance(obj.deletes, Tombstone):
        marker = lookup(record, obj.deletes.field)
        tombstoned = marker is not None and marker in obj.deletes.values
    return Sighting(
        record_id=record["id"],
        record=record,
        vendor_updated=vendor_text(updated),
        digest=content_hash(record),
        tombstoned=tombstoned,
    )


def classify(
    sightings: Iterable[Sighting],
    seen: dict[str, Seen],
    *,
    object_name: str,
    time_format: TimeFormat,
    emit: bool,
    scan_id: str | None,
) -> Outcome:
    """The events and fingerprint writes for `sightings`, in order.

    Never seen, or seen deleted → created; the same vendor updated time and the same content
    as remembered → already emitted, dropped; an older updated time than remembered → a stale
    read, dropped; else → updated. A tombstone of a known record → deleted, of an unknown
    one → nothing. `emit` False (a baseline) writes fingerprints only. A full scan (`scan_id`)
    refreshes the fingerprint of every record it saw, changed or not.
    """
    known = dict(seen)
    outcome = Outcome()
    pending: dict[str, int] = {}  # record id → index of its event on this page

    def remember(sighting: Sighting, *, deleted: bool) -> None:
        write = FingerprintWrite(
            sighting.record_id, sighting.vendor_updated, sighting.digest, deleted, scan_id
        )
        outcome.fingerprints[sighting.record_id] = write
        known[sighting.record_id] = Seen(sighting.vendor_updated, sighting.digest, deleted)

    for sighting in sightings:
        prior = known.get(sighting.record_id)
        if sighting.tombstoned:
            if prior is not None and not prior.deleted and emit:
                outcome.events.append(_event(object_name, sighting, "deleted"))
                pending.pop(sighting.record_id, None)
            if prior is None or not prior.deleted or scan_id:
                remember(sighting, deleted=True)
            continue
        unchanged = (
            prior is not None
            and prior.vendor_updated == sighting.vendor_updated
            and prior.content_hash == sighting.digest
        )
        stale = prior is not None and is_older(
            sighting.vendor_updated, prior.vendor_updated, time_format
        )
        if unchanged or stale:
            # A record we saw deleted that is listed unchanged stays deleted: a stale list.
            if scan_id and prior is not None:
                outcome.fingerprints[sighting.record_id] = FingerprintWrite(
                    sighting.record_id,
                    prior.vendor_updated,
                    prior.content_hash,
                    prior.deleted,
                    scan_id,
                )
            continue
        change = "created" if prior is None or prior.deleted else "updated"
        remember(sighting, deleted=False)
        if not emit:
            continue
        index = pending.get(sighting.record_id)
        if index is not None:
            # Seen twice on one page: one event with the latest state.
            earlier = outcome.events[index]
            outcome.events[index] = _event(object_name, sighting, earlier.change)
        else:
            pending[sighting.record_id] = len(outcome.events)
            outcome.events.append(_event(object_name, sighting, change))
    return outcome


def _event(object_name: str, sighting: Sighting, change: Any) -> NewEvent:
    return NewEvent(
        object_name=object_name,
        record_id=sighting.record_id,
        change=change,
        record=None if change == "deleted" else sighting.record,
        vendor_time=sighting.vendor_updated,
        source="poll",
    )
