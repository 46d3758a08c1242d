"""Vendor posts read as events: paths, types, objects, records, times, and refusals."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from interlink.elements.catalog import builtin_elements
from interlink.eventing.webhooks.normalize import (
    MalformedPayload,
    needs_fetch,
    parse_post,
    to_new_event,
    vendor_updated,
)

from .elements import element, hubspot_like

SANDBOX = builtin_elements()["sandbox"]
CONTACTS = ["contacts"]


def sandbox_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": "evt_1",
        "type": "contact.updated",
        "occurred_at": "2024-05-01T12:00:00.123Z",
        "object": {"id": "c_1", "email": "a@b.c", "updated_at": "2024-05-01T12:00:00.120Z"},
    }
    event.update(overrides)
    return event


def parse(body: Any, watched: list[str] = CONTACTS) -> Any:
    return parse_post(orjson.dumps(body), SANDBOX, watched)


def test_one_event_becomes_one_new_event() -> None:
    parsed = parse(sandbox_event())
    assert parsed.ignored == 0
    [event] = parsed.events
    new = to_new_event(event, SANDBOX)
    assert new.object_name == "contacts"
    assert new.change == "updated"
    assert new.record_id == "c_1"
    assert new.record == {"id": "c_1", "email": "a@b.c", "updated_at": "2024-05-01T12:00:00.120Z"}
    assert new.vendor_time == "2024-05-01T12:00:00.123Z"
    assert new.source == "webhook"
    assert new.vendor_event_id == "evt_1"


def test_an_array_of_events_keeps_its_order() -> None:
    parsed = parse([sandbox_event(id="evt_1"), sandbox_event(id="evt_2", type="contact.created")])
    assert [(e.vendor_event_id, e.change) for e in parsed.events] == [
        ("evt_1", "updated"),
        ("evt_2", "created"),
    ]


def test_deletes_carry_no_record() -> None:
    [event] = parse(sandbox_event(type="contact.deleted")).events
    assert to_new_event(event, SANDBOX).record is None
    assert event.change == "deleted"


def test_the_record_id_goes_on_top_as_a_string() -> None:
    [event] = parse(sandbox_event(object={"id": 42, "email": "x@y.z"})).events
    assert event.record_id == "42"
    assert event.record == {"id": "42", "email": "x@y.z"}


def test_without_an_event_time_the_records_updated_time_is_used() -> None:
    body = sandbox_event()
    del body["occurred_at"]
    [event] = parse(body).events
    assert to_new_event(event, SANDBOX).vendor_time == "2024-05-01T12:00:00.120Z"


@pytest.mark.parametrize(
    "body",
    [
        sandbox_event(type="deal.created"),  # an object the element does not map
        sandbox_event(type="contact.merged"),  # a change it does not map
        sandbox_event(type="ping"),  # no separator at all
        sandbox_event(type="company.created"),  # mapped, but the instance does not watch it
    ],
)
def test_unknown_types_and_unwatched_objects_are_ignored(body: dict[str, Any]) -> None:
    parsed = parse(body)
    assert parsed.events == []
    assert parsed.ignored == 1


def test_an_ignored_event_need_not_have_a_record() -> None:
    parsed = parse({"id": "evt_9", "type": "account.ping"})
    assert parsed.ignored == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"", "body"),
        (b"42", "body"),
        (orjson.dumps({k: v for k, v in sandbox_event().items() if k != "id"}), "body.id"),
        (orjson.dumps(sandbox_event(id="")), "body.id"),
        (orjson.dumps(sandbox_event(id=True)), "body.id"),
        (orjson.dumps(sandbox_event(id="x" * 256)), "body.id"),
        (orjson.dumps(sandbox_event(type=None)), "body.type"),
        (orjson.dumps(sandbox_event(object={"email": "a@b.c"})), "body.object.id"),
        (orjson.dumps(sandbox_event(object="c_1")), "body.object.id"),
        (orjson.dumps([sandbox_event(), "nope"]), "body[1]"),
        (orjson.dumps([sandbox_event(), sandbox_event(type=7)]), "body[1].type"),
    ],
)
def test_malformed_posts_are_refused_naming_the_place(body: bytes, field: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_post(body, SANDBOX, CONTACTS)
    assert caught.value.field == field


def test_a_created_event_without_its_record_is_malformed() -> None:
    body = sandbox_event(type="contact.created", object={"id": "c_1"})
    body["object"] = None
    with pytest.raises(MalformedPayload):
        parse(body)


def test_an_id_only_vendor_reads_numbers_and_millisecond_times() -> None:
    acme = element(hubspot_like())
    body = [
        {
            "eventId": 101,
            "subscriptionType": "contact.creation",
            "objectId": 7,
            "occurredAt": 1714564800123,
        },
        {
            "eventId": 102,
            "subscriptionType": "contact.deletion",
            "objectId": 8,
            "occurredAt": 1714564801000,
        },
        {"eventId": 103, "subscriptionType": "contact.privacyDeletion", "objectId": 9},
    ]
    parsed = parse_post(orjson.dumps(body), acme, CONTACTS)
    assert parsed.ignored == 1
    created, deleted = parsed.events
    assert (created.vendor_event_id, created.record_id, created.record) == ("101", "7", None)
    assert created.occurred_at == "2024-05-01T12:00:00.123Z"
    assert needs_fetch(acme, created)
    assert not needs_fetch(acme, deleted)


def test_vendor_updated_is_the_field_as_written() -> None:
    obj = SANDBOX.objects["contacts"]
    assert (
        vendor_updated({"updated_at": "2024-05-01T12:00:00.120Z"}, obj)
        == "2024-05-01T12:00:00.120Z"
    )
    assert vendor_updated({}, obj) is None
    assert vendor_updated(None, obj) is None
