"""Paginators as state machines, on hand-made answers: loops, origins, checkpoints."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from interlink.elements.definition import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
)
from interlink.errors import InvalidInput
from interlink.vendor import PageRequest, PaginationError, make_paginator
from interlink.vendor.paginators import LOOP_WINDOW, PaginationConfig

BASE = "https://api.example.com/v2"
FIRST = PageRequest("/contacts", {"status": "active"})


def answer(body: Any = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", f"{BASE}/contacts?status=active")
    return httpx.Response(200, json=body, headers=headers, request=request)


def records(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": start + n} for n in range(count)]


def test_cursor_reads_a_dotted_path_and_stops_without_one() -> None:
    paginator = make_paginator(
        CursorPagination(type="cursor", cursor_path="meta.next"), base_url=BASE
    )
    assert paginator.first_request_params({"status": "active"}) == {
        "status": "active",
        "limit": "100",
    }
    paginator.update(answer({"meta": {"next": "abc"}}), records(100))
    assert paginator.has_next
    assert paginator.next_request(FIRST) == PageRequest(
        "/contacts", {"status": "active", "cursor": "abc"}
    )
    paginator.update(answer({"meta": {"next": ""}}), records(5))
    assert not paginator.has_next


def test_a_cursor_coming_back_after_others_is_a_loop() -> None:
    paginator = make_paginator(CursorPagination(type="cursor"), base_url=BASE)
    for cursor in ["a", "b", "c"]:
        paginator.update(answer({"next_cursor": cursor}), records(1))
    with pytest.raises(PaginationError, match="same cursor twice"):
        paginator.update(answer({"next_cursor": "a"}), records(1))


def test_loop_memory_is_bounded_so_the_state_stays_small() -> None:
    paginator = make_paginator(CursorPagination(type="cursor"), base_url=BASE)
    for number in range(LOOP_WINDOW * 3):
        paginator.update(answer({"next_cursor": f"c{number}"}), records(1))
    assert len(paginator.state()["seen"]) == LOOP_WINDOW


def test_link_header_resolves_relative_links_and_refuses_other_origins() -> None:
    paginator = make_paginator(LinkHeaderPagination(type="link_header"), base_url=BASE)
    paginator.update(answer([], headers={"Link": '</v2/contacts?page=2>; rel="next"'}), [])
    assert paginator.next_request(FIRST) == PageRequest(f"{BASE}/contacts?page=2", {})
    for other in [
        "http://api.example.com/v2/x",
        "https://api.example.com:8443/x",
        "https://evil.example/x",
    ]:
        with pytest.raises(PaginationError, match="another origin"):
            paginator.update(answer([], headers={"Link": f'<{other}>; rel="next"'}), [])


def test_default_ports_are_the_same_origin() -> None:
    paginator = make_paginator(
        NextUrlPagination(type="next_url"), base_url="http://api.example.com"
    )
    paginator.update(answer({"next": "http://api.example.com:80/page/2"}), [])
    assert paginator.has_next


def test_credentials_echoed_into_a_next_url_are_not_kept() -> None:
    paginator = make_paginator(
        NextUrlPagination(type="next_url"), base_url=BASE, private_params={"api_key"}
    )
    paginator.update(answer({"next": f"{BASE}/contacts?page=2&api_key=sk_live_123"}), [])
    assert paginator.state()["position"] == f"{BASE}/contacts?page=2"


def test_page_number_counts_and_stops_on_an_empty_page() -> None:
    config = PageNumberPagination(type="page_number", page_size=10, first_page=0)
    paginator = make_paginator(config, base_url=BASE)
    assert paginator.first_request_params({}) == {"limit": "10", "page": "0"}
    paginator.update(answer(), records(10))
    assert paginator.next_request(FIRST).params == {"status": "active", "page": "1"}
    paginator.update(answer(), records(9, start=10))
    assert paginator.has_next  # short, but the vendor may cap its pages below ours
    assert paginator.next_request(FIRST).params == {"status": "active", "page": "2"}
    paginator.update(answer(), [])
    assert not paginator.has_next


@pytest.mark.parametrize(
    "config",
    [
        PageNumberPagination(type="page_number", page_size=10, stop_on_short_page=True),
        OffsetPagination(type="offset", page_size=10, stop_on_short_page=True),
    ],
    ids=["page_number", "offset"],
)
def test_stop_on_short_page_trusts_the_page_size(
    config: PageNumberPagination | OffsetPagination,
) -> None:
    paginator = make_paginator(config, base_url=BASE)
    paginator.update(answer(), records(10))
    assert paginator.has_next
    paginator.update(answer(), records(9, start=10))
    assert not paginator.has_next


def test_has_more_decides_whatever_the_page_length() -> None:
    config = PageNumberPagination(type="page_number", page_size=10, has_more_path="meta.more")
    paginator = make_paginator(config, base_url=BASE)
    paginator.update(answer({"meta": {"more": True}}), records(3))
    assert paginator.has_next
    paginator.update(answer({"meta": {"more": False}}), records(10, start=3))
    assert not paginator.has_next


@pytest.mark.parametrize("body", [{}, {"meta": {"more": "yes"}}, {"meta": {"more": None}}])
def test_a_has_more_flag_that_is_not_a_boolean_is_an_error(body: Any) -> None:
    config = OffsetPagination(type="offset", has_more_path="meta.more")
    paginator = make_paginator(config, base_url=BASE)
    with pytest.raises(PaginationError, match=r"no true/false at 'meta\.more'"):
        paginator.update(answer(body), records(3))


def test_total_counts_the_records_read_not_the_pages() -> None:
    config = PageNumberPagination(type="page_number", page_size=10, total_path="total")
    paginator = make_paginator(config, base_url=BASE)
    for start in (0, 4, 8):  # the vendor caps pages at 4
        paginator.update(answer({"total": 11}), records(4, start=start)[: 11 - start])
    assert not paginator.has_next
    assert paginator.state()["read"] == 11


@pytest.mark.parametrize("total", [None, -1, "eleven", True, 2.5])
def test_a_total_that_is_not_a_count_is_an_error(total: Any) -> None:
    paginator = make_paginator(OffsetPagination(type="offset", total_path="n"), base_url=BASE)
    with pytest.raises(PaginationError, match="no record count at 'n'"):
        paginator.update(answer({"n": total}), records(3))


@pytest.mark.parametrize(
    "config",
    [
        OffsetPagination(type="offset", has_more_path="more"),
        PageNumberPagination(type="page_number", total_path="total"),
    ],
    ids=["has_more", "total"],
)
def test_an_empty_page_the_vendor_says_is_not_the_last_is_an_error(
    config: PageNumberPagination | OffsetPagination,
) -> None:
    paginator = make_paginator(config, base_url=BASE)
    with pytest.raises(PaginationError, match="empty page"):
        paginator.update(answer({"more": True, "total": 50}), [])


def test_a_page_state_from_before_total_counts_still_resumes() -> None:
    config = PageNumberPagination(type="page_number", page_size=10)
    old_state = {"type": "page_number", "page_size": 10, "last_page": None, "page": 3}
    resumed = make_paginator(config, base_url=BASE, state=old_state)
    assert resumed.has_next
    assert resumed.next_request(FIRST).params["page"] == "3"


def test_a_vendor_ignoring_the_page_parameter_is_caught() -> None:
    paginator = make_paginator(OffsetPagination(type="offset", page_size=10), base_url=BASE)
    paginator.update(answer(), records(10))
    with pytest.raises(PaginationError, match="same page twice"):
        paginator.update(answer(), records(10))


def test_offset_advances_by_what_came_back() -> None:
    paginator = make_paginator(OffsetPagination(type="offset", page_size=10), base_url=BASE)
    paginator.update(answer(), records(10))
    paginator.update(answer(), records(10, start=10))
    assert paginator.next_request(FIRST).params == {"status": "active", "offset": "20"}
    paginator.update(answer(), [])
    assert not paginator.has_next


def test_no_pagination_is_one_page() -> None:
    paginator = make_paginator(NoPagination(type="none"), base_url=BASE)
    paginator.update(answer(), records(1000))
    assert not paginator.has_next


CONFIGS: list[tuple[PaginationConfig, Any]] = [
    (CursorPagination(type="cursor"), {"next_cursor": "xyz"}),
    (NextUrlPagination(type="next_url"), {"next": f"{BASE}/contacts?after=9"}),
    (PageNumberPagination(type="page_number", page_size=10), None),
    (OffsetPagination(type="offset", page_size=10), None),
]


@pytest.mark.parametrize(("config", "body"), CONFIGS, ids=lambda value: getattr(value, "type", ""))
def test_state_round_trips_through_json(config: PaginationConfig, body: Any) -> None:
    paginator = make_paginator(config, base_url=BASE)
    paginator.update(answer(body), records(10))
    state = json.loads(json.dumps(paginator.state()))
    resumed = make_paginator(config, base_url=BASE, state=state)
    assert resumed.has_next
    assert resumed.state() == paginator.state()
    assert resumed.next_request(FIRST) == paginator.next_request(FIRST)


def test_page_state_keeps_its_page_size() -> None:
    config = PageNumberPagination(type="page_number", page_size=50)
    paginator = make_paginator(config, base_url=BASE, page_size=20)
    paginator.update(answer(), records(20))
    resumed = make_paginator(config, base_url=BASE, page_size=50, state=paginator.state())
    assert resumed.page_size == 20


@pytest.mark.parametrize(
    "state",
    [
        {"type": "offset", "offset": 10, "page_size": 10},
        {"type": "cursor", "position": 12, "seen": []},
        {"type": "cursor", "position": "a", "seen": "not a list"},
    ],
)
def test_a_state_that_is_not_ours_is_refused(state: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        make_paginator(CursorPagination(type="cursor"), base_url=BASE, state=state)
