"""Definition features through a live vendor: deleted_at formats, batch result shapes and
path variables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from interlink.elements.definition import Request
from interlink.errors import ConfigurationError, InvalidInput
from interlink.vendor import FatalVendorError

from .fake_vendor import FakeVendor, vendor_element
from .support import FakeClock, make_client

SINCE = datetime(2024, 5, 2, tzinfo=UTC)
DELETED_AT = "2024-05-02T00:30:00.000Z"  # 1714609800 in unix seconds


def deletes(**options: Any) -> dict[str, Any]:
    return {
        "deletes": {
            "type": "endpoint",
            "path": "/api/contacts/deleted",
            "since_param": "since",
            "pagination": {"type": "cursor", "cursor_path": "paging.next"},
            **options,
        }
    }


@pytest.mark.parametrize(
    ("time_format", "written"),
    [
        ("rfc3339", "2024-05-02T02:30:00+02:00"),
        ("rfc3339", "2024-05-02T00:30:00Z"),
        ("unix", 1714609800),
        ("unix", "1714609800"),
        ("unix_ms", 1714609800000),
    ],
)
async def test_deleted_at_is_answered_in_rfc3339_utc(
    vendor: FakeVendor, clock: FakeClock, time_format: str, written: Any
) -> None:
    vendor.deleted = [{"id": "30", "deleted_at": written}]
    element = vendor_element(contacts=deletes(deleted_at_format=time_format))
    async with make_client(element, vendor.base_url, clock) as client:
        page = await client.deleted_since("contacts", SINCE)
    assert page.records == [{"id": "30", "deleted_at": DELETED_AT}]


async def test_sub_millisecond_deletion_times_are_kept(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    vendor.deleted = [{"id": "30", "deleted_at": "2024-05-02T00:30:00.123456Z"}]
    async with make_client(vendor_element(contacts=deletes()), vendor.base_url, clock) as client:
        page = await client.deleted_since("contacts", SINCE)
    assert page.records[0]["deleted_at"] == "2024-05-02T00:30:00.123456Z"


async def test_a_deletion_without_a_time_answers_none(vendor: FakeVendor, clock: FakeClock) -> None:
    vendor.deleted = [{"id": "30"}, {"id": "31", "deleted_at": None}]
    async with make_client(vendor_element(contacts=deletes()), vendor.base_url, clock) as client:
        page = await client.deleted_since("contacts", SINCE)
    assert page.records == [{"id": "30", "deleted_at": None}, {"id": "31", "deleted_at": None}]


@pytest.mark.parametrize(
    ("time_format", "written"),
    [
        ("rfc3339", 1714609800),  # the element forgot to say unix
        ("rfc3339", "2024-05-02T00:30:00"),  # no offset: hours off either way
        ("unix", "yesterday"),
        ("unix_ms", True),
    ],
)
async def test_a_deletion_time_not_in_the_declared_format_is_fatal(
    vendor: FakeVendor, clock: FakeClock, time_format: str, written: Any
) -> None:
    vendor.deleted = [{"id": "30", "deleted_at": written}]
    element = vendor_element(contacts=deletes(deleted_at_format=time_format))
    async with make_client(element, vendor.base_url, clock) as client:
        with pytest.raises(FatalVendorError, match=f"deleted_at .* is not a {time_format} time"):
            await client.deleted_since("contacts", SINCE)


NESTED_BATCH = {"path": "/api/contacts/batch-nested", "actions": ["create"]}
BATCH_INPUTS = [
    {"email": "ann@example.com"},
    {"email": "no-at-sign"},
    {"email": "held@review.example"},  # answered 202: held, not created
]


async def test_batch_success_statuses_and_nested_errors(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    batch = {**NESTED_BATCH, "result_error_path": "errors.0", "success_statuses": [200, 201]}
    async with make_client(vendor_element(contacts={"batch": batch}), vendor.base_url, clock) as c:
        outcomes = await c.batch("contacts", "create", BATCH_INPUTS)
    assert [outcome.ok for outcome in outcomes] == [True, False, False]
    assert outcomes[0].id == "500"
    assert outcomes[1].error == "email must contain @"
    assert outcomes[2].error == "rejected with status 202"


async def test_without_success_statuses_a_held_input_counts_as_done(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    batch = {**NESTED_BATCH, "result_error_path": "errors.0"}
    async with make_client(vendor_element(contacts={"batch": batch}), vendor.base_url, clock) as c:
        outcomes = await c.batch("contacts", "create", BATCH_INPUTS)
    assert [outcome.ok for outcome in outcomes] == [True, False, True]


async def test_a_failure_status_written_as_text_is_a_failure(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    batch = {**NESTED_BATCH}  # no error field where this vendor puts errors: only "400"
    async with make_client(vendor_element(contacts={"batch": batch}), vendor.base_url, clock) as c:
        outcomes = await c.batch("contacts", "create", BATCH_INPUTS[:2])
    assert [outcome.ok for outcome in outcomes] == [True, False]
    assert outcomes[1].error == "rejected with status 400"


async def test_an_empty_error_list_is_no_error_and_a_full_one_is_kept(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    batch = {**NESTED_BATCH, "result_error_field": "errors"}
    async with make_client(vendor_element(contacts={"batch": batch}), vendor.base_url, clock) as c:
        outcomes = await c.batch("contacts", "create", BATCH_INPUTS[:2])
    assert outcomes[0].ok
    assert outcomes[1].error is not None
    assert "INVALID_EMAIL" in outcomes[1].error
    assert outcomes[1].status == "400"


async def test_path_variables_are_one_quoted_segment_and_config_is_filled_once(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    element = vendor_element(
        config=[
            {"name": "base_url", "type": "url"},
            {"name": "api_key", "secret": True},
            {"name": "workspace"},
        ]
    )
    spec = Request(method="DELETE", path="/echo/{config.workspace}/hooks/{webhook_id}")
    config = {"workspace": "w{webhook_id}"}
    async with make_client(element, vendor.base_url, clock, config=config) as client:
        answer = await client.call(spec, path_values={"webhook_id": "../a b"})
    assert answer["raw_path"] == "/echo/w%7Bwebhook_id%7D/hooks/..%2Fa%20b"


async def test_a_missing_or_unsafe_path_variable_is_refused_before_any_call(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    spec = Request(path="/echo/exports/{export_id}")
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(ConfigurationError, match=r"\{export_id\}"):
            await client.call(spec)
        with pytest.raises(ConfigurationError, match=r"\{export_id\}"):
            await client.call(spec, path_values={"id": "1"})
        for value in ["", ".", ".."]:
            with pytest.raises(InvalidInput):
                await client.call(spec, path_values={"export_id": value})
    assert vendor.calls["echo"] == 0
