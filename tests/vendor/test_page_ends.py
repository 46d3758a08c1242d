"""Where page-number and offset listings end, through a live vendor that caps its pages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlink.elements.definition import ElementDefinition
from interlink.vendor import PaginationError

from .fake_vendor import FakeVendor, vendor_element
from .support import FakeClock, make_client

ALL_IDS = [str(n) for n in range(1, 24)]
KINDS = ["page_number", "offset"]
ENDPOINTS = {
    "page_number": ("/pages/contacts", "items", "size", "pages"),
    "offset": ("/offset/contacts", "results", "limit", "offset"),
}


def counted(kind: str, **pagination: Any) -> ElementDefinition:
    """The fake vendor's page-number or offset listing, 10 a page, as `contacts`."""
    path, records_path, limit_param, _ = ENDPOINTS[kind]
    contacts = {
        "path": path,
        "id_field": "contact_id",
        "records_path": records_path,
        "pagination": {"type": kind, "limit_param": limit_param, "page_size": 10, **pagination},
    }
    return vendor_element(objects={"contacts": contacts})


async def read_all(
    element: ElementDefinition, vendor: FakeVendor, clock: FakeClock
) -> list[list[str]]:
    async with make_client(element, vendor.base_url, clock) as client:
        return [
            [record["id"] for record in page.records]
            async for page in client.iterate_pages("contacts")
        ]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_vendor_capping_its_pages_loses_nothing_by_default(
    vendor: FakeVendor, clock: FakeClock, kind: str
) -> None:
    vendor.page_cap = 4  # we ask for 10 a page
    pages = await read_all(counted(kind), vendor, clock)
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3, 0]
    assert [record for page in pages for record in page] == ALL_IDS


@pytest.mark.parametrize("kind", KINDS)
async def test_stop_on_short_page_saves_the_last_request(
    vendor: FakeVendor, clock: FakeClock, kind: str
) -> None:
    pages = await read_all(counted(kind, stop_on_short_page=True), vendor, clock)
    assert [len(page) for page in pages] == [10, 10, 3]
    assert vendor.calls[ENDPOINTS[kind][3]] == 3


async def test_stop_on_short_page_is_only_for_vendors_that_never_cap(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    # Why it is not the default: a capped page looks like the last one.
    vendor.page_cap = 4
    pages = await read_all(counted("offset", stop_on_short_page=True), vendor, clock)
    assert pages == [ALL_IDS[:4]]


@pytest.mark.parametrize(
    ("kind", "pagination"),
    [
        ("page_number", {"has_more_path": "meta.has_more"}),
        ("page_number", {"total_path": "meta.total"}),
        ("offset", {"has_more_path": "has_more"}),
        ("offset", {"total_path": "total"}),
    ],
    ids=["page_number-has_more", "page_number-total", "offset-has_more", "offset-total"],
)
async def test_the_vendors_own_word_ends_the_listing_without_an_extra_request(
    vendor: FakeVendor, clock: FakeClock, kind: str, pagination: dict[str, str]
) -> None:
    vendor.page_cap = 4
    pages = await read_all(counted(kind, **pagination), vendor, clock)
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3]
    assert [record for page in pages for record in page] == ALL_IDS
    assert vendor.calls[ENDPOINTS[kind][3]] == 6


async def test_a_total_count_listing_resumes_from_a_checkpoint(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    vendor.page_cap = 4
    element = counted("page_number", total_path="meta.total")
    async with make_client(element, vendor.base_url, clock) as client:
        first = await client.list_page("contacts")
    state = json.loads(json.dumps(first.next_state))
    ids = [record["id"] for record in first.records]
    async with make_client(element, vendor.base_url, clock) as fresh:
        async for page in fresh.iterate_pages("contacts", page_state=state):
            ids += [record["id"] for record in page.records]
    assert ids == ALL_IDS
    assert vendor.calls["pages"] == 6


async def test_a_misnamed_has_more_path_fails_instead_of_stopping(
    vendor: FakeVendor, clock: FakeClock
) -> None:
    element = counted("page_number", has_more_path="meta.more")
    async with make_client(element, vendor.base_url, clock) as client:
        with pytest.raises(PaginationError, match=r"no true/false at 'meta\.more'"):
            await client.list_page("contacts")
