"""Listing through a live vendor: every pagination type, resumable states, loops, origins."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from interlink.errors import InvalidInput
from interlink.vendor import PaginationError

from .fake_vendor import FakeVendor, vendor_element
from .support import FakeClock, make_client

ALL_IDS = [str(n) for n in range(1, 24)]
# Page numbers and offsets end on an empty page unless the element says otherwise: one
# more request, and no record lost to a vendor that caps its pages (see test_page_ends).
PAGE_SIZES = {
    "contacts": [10, 10, 3],
    "linked": [10, 10, 3],
    "paged": [10, 10, 3, 0],
    "offsets": [10, 10, 3, 0],
    "nexturl": [10, 10, 3],
}
PAGED_OBJECTS = list(PAGE_SIZES)


@pytest.mark.parametrize("object_name", PAGED_OBJECTS)
async def test_every_pagination_type_reads_every_record_once(
    vendor: FakeVendor, clock: FakeClock, object_name: str
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        pages = [page async for page in client.iterate_pages(object_name)]
    assert [len(page.records) for page in pages] == PAGE_SIZES[object_name]
    assert [record["id"] for page in pages for record in page.records] == ALL_IDS
    assert pages[-1].next_state is None


async def test_records_keep_the_vendor_shape_with_a_string_id(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        page = await client.list_page("contacts", page_size=2)
    assert page.records[0] == {"id": "1", **vendor.contacts[1]}


@pytest.mark.parametrize("object_name", PAGED_OBJECTS)
async def test_a_page_state_survives_json_and_resumes_in_a_new_client(
    vendor: FakeVendor, clock: FakeClock, object_name: str
) -> None:
    element = vendor_element()
    async with make_client(element, vendor.base_url, clock) as client:
        first = await client.list_page(object_name)
    assert first.next_state is not None
    checkpoint = json.loads(json.dumps(first.next_state))
    async with make_client(element, vendor.base_url, clock) as fresh:
        second = await fresh.list_page(object_name, page_state=checkpoint)
    assert [record["id"] for record in second.records] == ALL_IDS[10:20]


async def test_a_page_number_stops_on_an_empty_page_after_full_ones(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    for number in range(21, 24):
        del vendor.contacts[number]
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        pages = [page async for page in client.iterate_pages("paged")]
    assert [len(page.records) for page in pages] == [10, 10, 0]


async def test_filters_and_changed_since_reach_the_vendor(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        by_email = await client.list_page("contacts", filters={"email": "c5@example.com"})
        recent = await client.list_page(
            "contacts", changed_since=datetime(2024, 5, 1, 12, 0, 20, 999, tzinfo=UTC)
        )
    assert [record["id"] for record in by_email.records] == ["5"]
    assert [record["id"] for record in recent.records] == ["20", "21", "22", "23"]
    assert vendor.seen[-1].query_params["updated_since"] == "2024-05-01T12:00:20.000Z"


async def test_what_the_element_cannot_filter_is_refused_before_any_call(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(InvalidInput) as unknown_filter:
            await client.list_page("contacts", filters={"name": "x"})
        with pytest.raises(InvalidInput):
            await client.list_page("linked", changed_since=datetime.now(UTC))
        with pytest.raises(ValueError, match="timezone"):
            await client.list_page("contacts", changed_since=datetime(2024, 1, 1))
    assert unknown_filter.value.field == "filters.name"
    assert sum(vendor.calls.values()) == 0


async def test_page_size_is_sent_and_never_above_the_elements(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        small = await client.list_page("contacts", page_size=4)
        large = await client.list_page("paged", page_size=500)
    assert len(small.records) == 4
    assert len(large.records) == 10
    assert vendor.seen[-1].query_params["size"] == "10"


async def test_the_same_cursor_twice_is_a_loop(vendor: FakeVendor, clock: FakeClock) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(PaginationError, match="same cursor twice"):
            async for _ in client.iterate_pages("loop"):
                pass
    assert vendor.calls["loop"] == 2


@pytest.mark.parametrize("object_name", ["evil", "evillink"])
async def test_a_next_page_on_another_origin_is_refused(
    vendor: FakeVendor, clock: FakeClock, object_name: str
) -> None:
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(PaginationError, match="another origin"):
            await client.list_page(object_name)
    assert vendor.calls[object_name] == 1


async def test_a_forged_state_cannot_point_the_client_elsewhere(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    forged = {"type": "next_url", "position": f"{vendor.other_origin}/steal", "seen": []}
    async with make_client(vendor_element(), vendor.base_url, clock) as client:
        with pytest.raises(PaginationError, match="another origin"):
            await client.list_page("nexturl", page_state=forged)
        with pytest.raises(InvalidInput):
            await client.list_page("nexturl", page_state={"type": "cursor", "position": "3"})
    assert vendor.calls["nexturl"] == 0
