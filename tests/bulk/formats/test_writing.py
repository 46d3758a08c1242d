"""Downloads: NDJSON, one JSON array, RFC 4180 CSV with flattened columns — all streamed."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from interlink.bulk.formats import (
    csv_chunks,
    json_array_chunks,
    ndjson_chunks,
    ndjson_records,
)
from interlink.bulk.formats.writing import CHUNK_BYTES
from interlink.errors import InterlinkError
from tests.bulk.formats.support import gather, pieces, stream

RECORDS: list[dict[str, Any]] = [
    {"id": "1", "name": "Åse", "tags": ["a", "b"], "address": {"city": "Oslo"}},
    {"id": "2", "n": 1.5, "ok": True, "none": None},
]


async def test_ndjson_is_one_object_per_line() -> None:
    data = await gather(ndjson_chunks(stream(RECORDS)))
    assert data.endswith(b"\n")
    assert [orjson.loads(line) for line in data.splitlines()] == RECORDS


@pytest.mark.parametrize("write", [ndjson_chunks, json_array_chunks])
async def test_integers_beyond_64_bits_are_written_too(write: Any) -> None:
    data = await gather(write(stream([{"n": 10**30}])))
    assert b'{"n":1000000000000000000000000000000}' in data


async def test_ndjson_of_no_records_is_empty() -> None:
    assert await gather(ndjson_chunks(stream([]))) == b""


async def test_json_array_is_one_valid_array_a_record_to_a_line() -> None:
    data = await gather(json_array_chunks(stream(RECORDS)))
    assert json.loads(data) == RECORDS
    assert data.startswith(b"[\n{")
    assert data.endswith(b"}\n]\n")
    assert len(data.splitlines()) == len(RECORDS) + 2


async def test_json_array_of_no_records_is_an_empty_array() -> None:
    assert await gather(json_array_chunks(stream([]))) == b"[]\n"


@pytest.mark.parametrize("write", [ndjson_chunks, json_array_chunks])
async def test_output_comes_in_chunks_of_bounded_size(write: Any) -> None:
    many = ({"id": str(i), "pad": "x" * 100} for i in range(5_000))
    chunks = [chunk async for chunk in write(stream(many))]
    assert len(chunks) > 5
    assert all(len(chunk) < CHUNK_BYTES + 200 for chunk in chunks)


async def _csv(records: list[dict[str, Any]], header: list[str]) -> bytes:
    return await gather(csv_chunks(stream(records), header))


async def test_csv_is_rfc_4180_crlf_and_quoted_only_where_needed() -> None:
    data = await _csv(
        [{"a": "plain", "b": "x,y", "c": 'say "hi"', "d": "two\nlines"}], ["a", "b", "c", "d"]
    )
    assert data == b'a,b,c,d\r\nplain,"x,y","say ""hi""","two\nlines"\r\n'


async def test_csv_cells_spell_values_as_json_does() -> None:
    record: dict[str, Any] = {
        "none": None,
        "yes": True,
        "no": False,
        "int": 42,
        "float": 1.5,
        "big": 1e16,
        "list": ["a", 1],
        "empty": {},
        "text": "",
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    header = [*record, "missing"]
    data = await _csv([record], header)
    [row] = list(csv.reader(io.StringIO(data.decode())))[1:]
    assert row == [
        "",
        "true",
        "false",
        "42",
        "1.5",
        "1e+16",
        '["a",1]',
        "{}",
        "",
        "2024-01-02T03:04:05+00:00",
        "",
    ]


async def test_csv_flattens_nested_objects_to_dotted_columns() -> None:
    record: dict[str, Any] = {
        "id": "1",
        "address": {"city": "Oslo", "geo": {"lat": 59.9}},
        "deep": {"a": []},
    }
    data = await _csv([record], ["id", "address.city", "address.geo.lat", "deep.a"])
    assert data == b"id,address.city,address.geo.lat,deep.a\r\n1,Oslo,59.9,[]\r\n"


async def test_csv_writes_an_object_as_json_where_the_header_has_no_columns_for_its_parts() -> None:
    data = await _csv([{"address": {"city": "Oslo"}}], ["address"])
    assert data == b'address\r\n"{""city"":""Oslo""}"\r\n'


async def test_csv_leaves_a_parent_cell_empty_where_its_parts_have_columns() -> None:
    records: list[dict[str, Any]] = [{"a": "text"}, {"a": {"b": 1}}, {"a": None}]
    data = await _csv(records, ["a", "a.b"])
    assert data == b"a,a.b\r\ntext,\r\n,1\r\n,\r\n"


async def test_csv_row_of_one_empty_cell_is_not_a_blank_line() -> None:
    assert await _csv([{"a": None}], ["a"]) == b'a\r\n""\r\n'


async def test_csv_without_columns_is_an_empty_file() -> None:
    assert await _csv([{}, {}], []) == b""


async def test_csv_is_utf8_without_a_byte_order_mark() -> None:
    data = await _csv([{"name": "Åse 😀"}], ["name"])
    assert data == "name\r\nÅse 😀\r\n".encode()


async def test_stored_ndjson_is_read_back_as_records() -> None:
    data = b'{"id": 1}\n\n{"id": 2, "a": {"b": [1]}}\n'
    got = [record async for record in ndjson_records(pieces(data, [3, 11]))]
    assert got == [{"id": 1}, {"id": 2, "a": {"b": [1]}}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"id": 1}\n{"id": \n', "stored NDJSON line 2 is not JSON"),
        (b'{"id": 1}\n[1]\n', "stored NDJSON line 2 is not a JSON object"),
    ],
)
async def test_a_damaged_stored_file_is_a_fault_not_a_skipped_record(
    data: bytes, message: str
) -> None:
    with pytest.raises(InterlinkError, match=message):
        [record async for record in ndjson_records(pieces(data))]
