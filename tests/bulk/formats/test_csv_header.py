"""The stable CSV header: the union of the whole file's columns, in an order that follows
from the file alone (and the field order given), never from its first page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from interlink.bulk.formats import csv_download, csv_header, flatten
from tests.bulk.formats.support import gather, stream


def source(records: list[dict[str, Any]]) -> Callable[[], AsyncIterator[dict[str, Any]]]:
    return lambda: stream(records)


def test_flatten_opens_non_empty_objects_only() -> None:
    record: dict[str, Any] = {"a": {"b": {"c": 1}, "d": []}, "e": {}, "f": None, "g": [{"h": 1}]}
    assert flatten(record) == {"a.b.c": 1, "a.d": [], "e": {}, "f": None, "g": [{"h": 1}]}


async def test_the_header_is_the_union_of_every_records_columns_in_first_seen_order() -> None:
    records: list[dict[str, Any]] = [
        {"id": "1", "email": "a@x"},
        {"id": "2", "phone": "5"},
        {"zip": "0150", "id": "3"},
    ]
    assert await csv_header(source(records)) == ["id", "email", "phone", "zip"]


async def test_a_column_seen_only_late_in_the_file_is_still_there() -> None:
    records: list[dict[str, Any]] = [{"id": str(i)} for i in range(10_000)] + [
        {"id": "last", "late": "x"}
    ]
    assert await csv_header(source(records)) == ["id", "late"]


async def test_columns_of_one_nested_object_stay_together() -> None:
    records: list[dict[str, Any]] = [
        {"id": "1", "address": {"city": "Oslo"}, "name": "a"},
        {"address": {"zip": "0150", "geo": {"lat": 1}}, "id": "2"},
        {"address": {"geo": {"lng": 2}}},
    ]
    assert await csv_header(source(records)) == [
        "id",
        "address.city",
        "address.zip",
        "address.geo.lat",
        "address.geo.lng",
        "name",
    ]


async def test_field_order_puts_those_fields_first() -> None:
    records: list[dict[str, Any]] = [
        {"zeta": 1, "extra": 2, "address": {"city": "x"}, "id": "1"},
        {"alpha": 3},
    ]
    header = await csv_header(source(records), field_order=["id", "address", "alpha", "absent"])
    # fields not in the data get no column; the rest follow in first-seen order
    assert header == ["id", "address.city", "alpha", "zeta", "extra"]


async def test_a_null_parent_gives_way_to_its_children() -> None:
    records: list[dict[str, Any]] = [
        {"address": None},
        {"address": {"city": "Oslo"}},
        {"address": {}},
    ]
    assert await csv_header(source(records)) == ["address.city"]


async def test_a_parent_only_ever_null_or_empty_is_a_column_of_its_own() -> None:
    records: list[dict[str, Any]] = [{"a": None, "b": {}}, {"a": None, "b": {}}]
    assert await csv_header(source(records)) == ["a", "b"]


async def test_a_value_beside_children_keeps_its_column_so_nothing_is_lost() -> None:
    records: list[dict[str, Any]] = [{"a": {"b": 1}}, {"a": "flat"}]
    assert await csv_header(source(records)) == ["a", "a.b"]


async def test_the_same_records_always_give_the_same_header() -> None:
    records: list[dict[str, Any]] = [{"b": 1, "a": {"y": 1}}, {"c": 1, "a": {"x": 1}}]
    first = await csv_header(source(records))
    assert first == await csv_header(source(records)) == ["b", "a.y", "a.x", "c"]


async def test_a_download_reads_its_source_twice_header_then_rows() -> None:
    records: list[dict[str, Any]] = [{"id": "1"}, {"id": "2", "address": {"city": "Oslo"}}]
    opened = 0

    def reopen() -> AsyncIterator[dict[str, Any]]:
        nonlocal opened
        opened += 1
        return stream(records)

    data = await gather(csv_download(reopen, field_order=["id"]))
    assert opened == 2
    assert data == b"id,address.city\r\n1,\r\n2,Oslo\r\n"


async def test_a_download_of_nothing_is_an_empty_file() -> None:
    assert await gather(csv_download(source([]))) == b""
