"""Single records, deletes and batches through a live vendor, and how it refuses them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from interlink.errors import InvalidInput, NotFound
from interlink.vendor import (
    FatalVendorError,
    RecordNotFound,
    RecordRejected,
    RetryableVendorError,
    VendorAuthError,
)

from .fake_vendor import FakeVendor, vendor_element
from .support import FakeClock, free_port, make_client


async def test_get_normalizes_the_id(vendor: FakeVendor, clock: FakeClock) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        record = await client.get("contacts", "7")
    assert record == {"id": "7", **vendor.contacts[7]}


async def test_get_of_a_missing_record_is_record_not_found(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(RecordNotFound) as caught:
            await client.get("contacts", "404")
    assert caught.value.status == 404
    assert caught.value.vendor_message == "no contact with that id"


async def test_ids_stay_inside_their_path_segment(vendor: FakeVendor, clock: FakeClock) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(RecordNotFound):
            await client.get("contacts", "../deleted")
        with pytest.raises(InvalidInput):
            await client.get("contacts", "..")
    assert vendor.calls["deleted"] == 0  # "../deleted" stayed one quoted segment


async def test_create_wraps_and_unwraps_the_record(vendor: FakeVendor, clock: FakeClock) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        created = await client.create("contacts", {"email": "new@example.com"})
    assert created["id"] == "24"
    assert created["email"] == "new@example.com"
    assert vendor.contacts[24]["email"] == "new@example.com"


@pytest.mark.parametrize(
    ("email", "status", "detail"),
    [("no-at-sign", 422, {"field": "email"}), ("c3@example.com", 409, {"existing_id": "3"})],
)
async def test_a_refused_create_is_record_rejected_with_the_vendors_body(
    vendor: FakeVendor, clock: FakeClock, email: str, status: int, detail: dict[str, str]
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(RecordRejected) as caught:
            await client.create("contacts", {"email": email})
    assert caught.value.status == status
    assert caught.value.body.items() >= detail.items()
    assert vendor.calls["create"] == 1


async def test_update_answered_with_204_reads_the_record_back(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        updated = await client.update("contacts", "5", {"name": "Renamed"})
    assert updated["name"] == "Renamed"
    assert updated["id"] == "5"
    assert vendor.calls["get"] == 1


async def test_delete_then_delete_again(vendor: FakeVendor, clock: FakeClock) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        await client.delete("contacts", "5")
        with pytest.raises(RecordNotFound):
            await client.delete("contacts", "5")
    assert 5 not in vendor.contacts


async def test_deleted_since_pages_through_the_deleted_endpoint(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    since = datetime(2024, 5, 2, tzinfo=UTC)
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        first = await client.deleted_since("contacts", since)
        second = await client.deleted_since("contacts", since, first.next_state)
    assert first.records == [
        {"id": "30", "deleted_at": "2024-05-02T00:30:00.000Z"},
        {"id": "31", "deleted_at": "2024-05-02T00:31:00.000Z"},
    ]
    assert [record["id"] for record in second.records] == ["32"]
    assert second.next_state is None
    assert vendor.seen[-1].query_params["since"] == str(int(since.timestamp()))


async def test_batch_reports_every_input_in_order(vendor: FakeVendor, clock: FakeClock) -> None:
    inputs = [{"email": f"b{n}@example.com"} for n in range(5)]
    inputs[1] = {"email": "broken"}
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        outcomes = await client.batch("contacts", "create", inputs, id_property="email")
    assert vendor.calls["batch"] == 2  # max_size 3
    assert [outcome.index for outcome in outcomes] == [0, 1, 2, 3, 4]
    assert [outcome.ok for outcome in outcomes] == [True, False, False, True, False]
    assert outcomes[0].id == "1000"
    assert outcomes[1].error == "bad email"
    assert outcomes[1].status == 422
    assert outcomes[2].error == "the vendor gave no result for it"
    assert outcomes[3].id == "1000"  # the vendor numbers each chunk from 0


async def test_unsupported_operations_are_refused_before_any_call(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    element = vendor_element()
    async with make_client(element, vendor.base_url, clock) as client:
        with pytest.raises(NotFound):
            await client.get("invoices", "1")
        with pytest.raises(InvalidInput):
            await client.batch("contacts", "delete", [{"id": "1"}])
        with pytest.raises(InvalidInput):
            await client.deleted_since("linked", datetime.now(UTC))
    assert sum(vendor.calls.values()) == 0


async def test_a_401_is_an_auth_error_with_the_vendors_message(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(VendorAuthError) as caught:
            await client.list_page("revoked")
    assert caught.value.vendor_message == "API key [redacted] was revoked"
    assert vendor.calls["revoked"] == 1


async def test_a_redirect_is_not_followed(vendor: FakeVendor, clock: FakeClock) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(FatalVendorError, match="redirect"):
            await client.list_page("redirect")


async def test_check_makes_one_small_call(vendor: FakeVendor, clock: FakeClock) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        await client.check()
    assert vendor.seen[-1].query_params["limit"] == "1"
    unreachable = f"http://127.0.0.1:{free_port()}"
    async with make_client(vendor_element(retry={"max_attempts": 1}), unreachable, clock) as dead:
        with pytest.raises(RetryableVendorError):
            await dead.check()


async def test_an_answer_that_is_not_what_the_element_says_is_fatal(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    element = vendor_element(
        objects={"contacts": {"path": "/api/contacts", "records_path": "data"}}
    )
    async with make_client(element, vendor.base_url, clock) as client:
        with pytest.raises(FatalVendorError, match="no list of records at 'data'"):
            await client.list_page("contacts")
