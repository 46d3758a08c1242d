"""NDJSON uploads: an object per line; blank lines are not rows; bad lines are row errors."""

from __future__ import annotations

import pytest

from interlink.bulk.formats import InvalidFile
from tests.bulk.formats.support import errors, field, read, records


async def test_one_record_per_line() -> None:
    rows = await read(
        b'{"id": 1, "tags": ["a"]}\n{"id": 2, "address": {"city": "Oslo"}}\n', "ndjson"
    )
    assert [row.number for row in rows] == [1, 2]
    assert records(rows) == [{"id": 1, "tags": ["a"]}, {"id": 2, "address": {"city": "Oslo"}}]


async def test_blank_lines_are_skipped_and_not_counted() -> None:
    rows = await read(b'\n{"id": 1}\n   \n\t\r\n{"id": 2}\n\n', "ndjson")
    assert [(row.number, row.record) for row in rows] == [(1, {"id": 1}), (2, {"id": 2})]


async def test_crlf_a_byte_order_mark_and_no_final_line_end() -> None:
    rows = await read(b'\xef\xbb\xbf{"id": 1}\r\n{"id": 2}', "ndjson")
    assert records(rows) == [{"id": 1}, {"id": 2}]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1, 2]", "line 2: a JSON array where a record (a JSON object) was expected"),
        (b"42", "line 2: a JSON number where a record (a JSON object) was expected"),
        (b'"text"', "line 2: a JSON string where a record (a JSON object) was expected"),
        (b"true", "line 2: a JSON boolean where a record (a JSON object) was expected"),
        (b"null", "line 2: JSON null where a record (a JSON object) was expected"),
        (b'{"id": }', "line 2: not valid JSON at column 8: unexpected character"),
        (b'{"id": 1', "line 2: not valid JSON at column 9: unexpected end of data"),
        (b'{"id": 1} {"id": 2}', "line 2: not valid JSON at column 11: unexpected content"),
        (b'{"id": NaN}', "line 2: not valid JSON at column 8: unexpected character"),
        (b'{"name": "caf\xe9"}', "line 2: not valid UTF-8 (byte 14 of the line)"),
    ],
)
async def test_a_line_that_is_not_a_json_object_is_that_rows_error(
    line: bytes, message: str
) -> None:
    rows = await read(b'{"id": 0}\n' + line + b'\n{"id": 3}\n', "ndjson")
    assert [row.number for row in rows] == [1, 2, 3]
    [(number, error)] = errors(rows)
    assert number == 2
    assert error is not None
    assert error.startswith(message)
    assert rows[1].raw == line.decode("utf-8", "replace")
    assert records(rows)[2] == {"id": 3}


async def test_a_line_over_the_limit_is_that_rows_error() -> None:
    long_line = b'{"blob": "' + b"x" * (1 << 20) + b'"}\n'
    rows = await read(b'{"id": 1}\n' + long_line + b'{"id": 2}\n', "ndjson")
    assert errors(rows) == [(2, "line 2 is longer than 1 MiB")]
    assert records(rows) == [{"id": 1}, None, {"id": 2}]


async def test_a_line_just_under_the_limit_is_read() -> None:
    blob = "x" * ((1 << 20) - 20)
    rows = await read(b'{"blob": "' + blob.encode() + b'"}\n', "ndjson")
    assert records(rows) == [{"blob": blob}]


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n\t\n", b"\xef\xbb\xbf"])
async def test_a_file_without_records_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidFile, match="the file is empty"):
        await read(data, "ndjson")


async def test_a_utf16_file_is_refused() -> None:
    with pytest.raises(InvalidFile, match="UTF-16"):
        await read('{"id": 1}\n'.encode("utf-16"), "ndjson")


async def test_values_are_converted_by_the_schema() -> None:
    schema = [field("age", "integer"), field("active", "boolean"), field("tags", "array")]
    data = b'{"age": "42", "active": "yes", "tags": [1], "other": "7"}\n{"age": 4.0}\n'
    rows = await read(data, "ndjson", schema=schema)
    assert records(rows) == [{"age": 42, "active": True, "tags": [1], "other": "7"}, {"age": 4}]


async def test_a_value_the_schema_refuses_is_that_rows_error() -> None:
    schema = [field("age", "integer"), field("tags", "array")]
    rows = await read(b'{"age": "old"}\n{"tags": "a,b"}\n', "ndjson", schema=schema)
    assert errors(rows) == [
        (1, "line 1: field 'age' must be an integer"),
        # text is read as JSON only from CSV cells; here it is just a string
        (2, "line 2: field 'tags' must be an array"),
    ]
    assert rows[0].raw == {"age": "old"}
