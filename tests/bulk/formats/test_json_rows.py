"""JSON uploads: one array of objects, streamed; non-objects are row errors, broken JSON is not."""

from __future__ import annotations

import pytest

from interlink.bulk.formats import InvalidFile
from tests.bulk.formats.support import errors, field, outcome, pieces, read, records


async def test_an_array_of_objects_is_one_row_per_element() -> None:
    data = b'[{"id": 1, "tags": ["a", {"b": null}]}, {"id": 2, "address": {"city": "Oslo"}}]'
    rows = await read(data, "json")
    assert [row.number for row in rows] == [1, 2]
    assert records(rows) == [
        {"id": 1, "tags": ["a", {"b": None}]},
        {"id": 2, "address": {"city": "Oslo"}},
    ]


async def test_whitespace_anywhere_between_tokens_and_a_byte_order_mark() -> None:
    data = b'\xef\xbb\xbf \r\n[\n  {"id": 1} ,\n\t{"id": 2}\n]\n\n'
    assert records(await read(data, "json")) == [{"id": 1}, {"id": 2}]


@pytest.mark.parametrize("data", [b"[]", b" [ \n ] \n"])
async def test_an_empty_array_is_a_file_of_no_records(data: bytes) -> None:
    assert await read(data, "json") == []


async def test_an_element_that_is_not_an_object_is_that_rows_error() -> None:
    data = b'[{"id": 1},\n 2,\n "x",\n [1, 2],\n null,\n false,\n {"id": 7}]'
    rows = await read(data, "json")
    assert errors(rows) == [
        (2, "line 2: a JSON number where a record (a JSON object) was expected"),
        (3, "line 3: a JSON string where a record (a JSON object) was expected"),
        (4, "line 4: a JSON array where a record (a JSON object) was expected"),
        (5, "line 5: JSON null where a record (a JSON object) was expected"),
        (6, "line 6: a JSON boolean where a record (a JSON object) was expected"),
    ]
    assert [row.raw for row in rows[1:6]] == ["2", '"x"', "[1, 2]", "null", "false"]
    assert records(rows)[6] == {"id": 7}


@pytest.mark.parametrize("data", [b"", b"   \n\t", b"\xef\xbb\xbf"])
async def test_an_empty_file_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidFile, match="the file is empty"):
        await read(data, "json")


@pytest.mark.parametrize(
    ("data", "message", "position"),
    [
        (
            b'{"id": 1}',
            "line 1, column 1: a JSON upload must be an array of objects ([{…}, …]); "
            "the file holds one JSON object",
            (1, 1),
        ),
        (
            b'\n  {"id": 1}\n{"id": 2}\n',
            "line 2, column 3: a JSON upload must be an array of objects ([{…}, …]); "
            "the file holds one JSON object",
            (2, 3),
        ),
        (b'"text"', "line 1, column 1: a JSON upload must be an array", (1, 1)),
        (b"42", "line 1, column 1: a JSON upload must be an array", (1, 1)),
        (b"id,name\n1,x\n", "line 1, column 1: a JSON upload must be an array", (1, 1)),
    ],
)
async def test_json_that_is_not_an_array_is_refused(
    data: bytes, message: str, position: tuple[int, int]
) -> None:
    with pytest.raises(InvalidFile) as caught:
        await read(data, "json")
    assert str(caught.value).startswith(message)
    assert (caught.value.line, caught.value.column) == position


@pytest.mark.parametrize(
    ("data", "rows_before", "message"),
    [
        (b'[{"id": 1},\n {"id": tru}]', 1, "line 2, column 9: element 2 is not valid JSON"),
        (b'[{"id": 1}, {"id": 2},]', 2, "line 1, column 23: a ',' before the array's ']'"),
        (b'[{"id": 1} {"id": 2}]', 1, "line 1, column 12: expected ',' or ']' after element 1"),
        (b'[{"id": 1},', 1, "line 1, column 12: the file ends inside the array"),
        (b'[{"id": 1}', 1, "line 1, column 11: the file ends inside the array"),
        (b"[", 0, "line 1, column 2: the file ends inside the array"),
        (b'[{"id": 1}]\n[{"id": 2}]', 1, "line 2, column 1: unexpected data after the array"),
        (b'[{"id": 1}] x', 1, "line 1, column 13: unexpected data after the array"),
        (
            b'[{"id": 1}, {"id": "a',
            1,
            "line 1, column 20: element 2 is not valid JSON: Unterminated string",
        ),
        (b'[{"n": NaN}]', 0, "line 1, column 2: element 1: NaN is not JSON"),
        (b'[{"n": -Infinity}]', 0, "line 1, column 2: element 1: -Infinity is not JSON"),
        (b'[{"n": 1e400}]', 0, "line 1, column 2: element 1: 1e400 is too large a number"),
        (
            b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]",
            0,
            "line 1, column 2: element 1 is nested too deeply",
        ),
    ],
)
async def test_broken_json_ends_the_file_where_it_breaks(
    data: bytes, rows_before: int, message: str
) -> None:
    rows, failure = await outcome(pieces(data), "json")
    assert len(rows) == rows_before
    assert all(row.ok for row in rows)
    assert failure is not None
    assert failure.startswith(message), failure


async def test_invalid_utf8_refuses_the_file_saying_which_byte() -> None:
    with pytest.raises(InvalidFile, match=r"the file is not UTF-8 \(byte 10\)"):
        await read(b'[{"id": "\xff"}]', "json")


async def test_invalid_utf8_byte_counts_from_the_start_across_chunks() -> None:
    data = b'\xef\xbb\xbf[{"id": "\xc3\xa9\xc3\xff"}]'
    rows, failure = await outcome(pieces(data, [12, 14]), "json")
    assert failure == "the file is not UTF-8 (byte 12)"  # counted after the byte-order mark
    assert rows == []


async def test_a_utf16_file_is_refused() -> None:
    with pytest.raises(InvalidFile, match="UTF-16"):
        await read('[{"id": 1}]'.encode("utf-16"), "json")


@pytest.mark.parametrize("chunk", [65536, 1 << 21])
async def test_an_element_over_the_limit_refuses_the_file(chunk: int) -> None:
    data = b'[{"id": 1},\n {"blob": "' + b"x" * (1 << 20) + b'"}]'
    rows, failure = await outcome(pieces(data, range(0, len(data), chunk)), "json")
    assert records(rows) == [{"id": 1}]
    assert failure == "line 2, column 2: element 2 is longer than 1 MiB"


async def test_an_unclosed_element_is_not_read_on_past_the_limit() -> None:
    data = b'[{"id": 1}, {"blob": "' + b"x" * (3 << 20)
    rows, failure = await outcome(pieces(data, range(0, len(data), 65536)), "json")
    assert records(rows) == [{"id": 1}]
    assert failure == (
        "line 1, column 22: element 2 is not valid JSON: Unterminated string "
        "(or it is longer than 1 MiB)"
    )


async def test_an_element_under_the_limit_is_read_across_many_chunks() -> None:
    blob = "x" * 900_000
    data = b'[{"blob": "' + blob.encode() + b'"}, {"id": 2}]'
    rows = await read(pieces(data, range(0, len(data), 65536)), "json")
    assert records(rows) == [{"blob": blob}, {"id": 2}]


async def test_values_are_converted_by_the_schema() -> None:
    schema = [field("age", "integer"), field("born", "datetime")]
    data = b'[{"age": "7", "born": "2024-01-01T00:00:00Z"}, {"age": true}]'
    rows = await read(data, "json", schema=schema)
    assert records(rows)[0] == {"age": 7, "born": "2024-01-01T00:00:00Z"}
    assert errors(rows) == [(2, "line 1: field 'age' must be an integer")]
    assert rows[1].raw == {"age": True}
