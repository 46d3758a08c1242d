"""CSV uploads: the SPEC's cell rules, record numbering, and every kind of bad input."""

from __future__ import annotations

import pytest

from interlink.bulk.formats import InvalidFile
from tests.bulk.formats.support import errors, field, pieces, read, records


async def test_a_header_row_then_one_record_per_row() -> None:
    rows = await read(b"id,email\n1,a@example.com\n2,b@example.com\n", "csv")
    assert [row.number for row in rows] == [1, 2]
    assert records(rows) == [
        {"id": "1", "email": "a@example.com"},
        {"id": "2", "email": "b@example.com"},
    ]
    assert all(row.ok and row.raw is None for row in rows)


async def test_an_empty_cell_leaves_the_field_out_and_null_cell_sets_null() -> None:
    rows = await read(b"a,b,c\n,#null,x\n#NULL, #null,\n", "csv")
    assert records(rows) == [
        {"b": None, "c": "x"},
        # only the exact cell `#null` is null; anything else is text
        {"a": "#NULL", "b": " #null"},
    ]


async def test_dotted_headers_build_nested_objects() -> None:
    data = b"id,address.city,address.geo.lat,address.geo.lng\n1,Oslo,59.9,#null\n2,,,\n"
    rows = await read(data, "csv")
    assert records(rows) == [
        {"id": "1", "address": {"city": "Oslo", "geo": {"lat": "59.9", "lng": None}}},
        # an object whose every cell is empty is left out altogether
        {"id": "2"},
    ]


async def test_header_names_are_stripped_of_surrounding_spaces() -> None:
    rows = await read(b" id , email\n1,x\n", "csv")
    assert records(rows) == [{"id": "1", "email": "x"}]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"id,email,id", "line 1: duplicate header 'id' (columns 1 and 3)"),
        (b"id, id", "line 1: duplicate header 'id' (columns 1 and 2)"),
        (b"a.b,a.b", "line 1: duplicate header 'a.b' (columns 1 and 2)"),
        (b"a,a.b", "line 1: header 'a' is a field and also the parent of 'a.b'"),
        (b"a.b.c,a.b", "line 1: header 'a.b' is a field and also the parent of 'a.b.c'"),
        (b"a,,b", "line 1: column 2 of the header row has no name"),
        (b"a,b,", "line 1: column 3 of the header row has no name"),
        (b"a..b", "line 1: header 'a..b' (column 1) has an empty part in its dotted name"),
        (b".a", "line 1: header '.a' (column 1) has an empty part in its dotted name"),
        (b"a.", "line 1: header 'a.' (column 1) has an empty part in its dotted name"),
    ],
)
async def test_a_header_that_cannot_be_used_refuses_the_file(header: bytes, message: str) -> None:
    with pytest.raises(InvalidFile) as caught:
        await read(header + b"\n1,2,3\n", "csv")
    assert str(caught.value).startswith(message)
    assert caught.value.line == 1
    assert caught.value.field == "file"


async def test_the_header_is_the_first_non_blank_line() -> None:
    with pytest.raises(InvalidFile) as caught:
        await read(b"\n\na,a\n", "csv")
    assert str(caught.value).startswith("line 3: duplicate header")
    assert caught.value.line == 3


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n", b"\r\n\r\n"])
async def test_an_empty_file_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidFile, match="the file is empty"):
        await read(data, "csv")


async def test_a_header_without_rows_is_a_file_of_no_records() -> None:
    assert await read(b"id,email\r\n", "csv") == []


async def test_quoted_cells_hold_commas_quotes_and_line_breaks() -> None:
    data = b'id,note\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n4,""\n'
    rows = await read(data, "csv")
    assert records(rows) == [
        {"id": "1", "note": "a, b"},
        {"id": "2", "note": 'say "hi"'},
        {"id": "3", "note": "two\nlines"},
        {"id": "4"},  # a quoted empty cell is still empty
    ]


async def test_rows_count_records_not_lines() -> None:
    data = b'id,note\n1,"one\ntwo\nthree"\n2,x\n3,"a\n\nb"\n4,"\n"\n5,bad,extra\n'
    rows = await read(data, "csv")
    assert [row.number for row in rows] == [1, 2, 3, 4, 5]
    assert records(rows)[:4] == [
        {"id": "1", "note": "one\ntwo\nthree"},
        {"id": "2", "note": "x"},
        {"id": "3", "note": "a\n\nb"},
        {"id": "4", "note": "\n"},
    ]
    # messages name the file's lines, which differ from row numbers
    assert errors(rows) == [(5, "line 11: 3 cells where the header has 2")]


async def test_an_error_in_a_record_spanning_lines_names_all_its_lines() -> None:
    rows = await read(b'id,note\n1,"a\nb",extra\n2,x\n', "csv")
    assert errors(rows) == [(1, "lines 2–3: 3 cells where the header has 2")]
    assert rows[0].raw == '1,"a\nb",extra'
    assert records(rows)[1] == {"id": "2", "note": "x"}


async def test_crlf_line_ends_and_a_last_line_without_one() -> None:
    rows = await read(b'a,b\r\n1,"x\r\ny"\r\n2,3', "csv")
    assert records(rows) == [{"a": "1", "b": "x\r\ny"}, {"a": "2", "b": "3"}]


async def test_blank_lines_are_not_records() -> None:
    rows = await read(b"a,b\n\n1,2\r\n\r\n\n3,4\n\n", "csv")
    assert [(row.number, row.record) for row in rows] == [
        (1, {"a": "1", "b": "2"}),
        (2, {"a": "3", "b": "4"}),
    ]


async def test_a_line_of_spaces_is_a_record_and_here_a_ragged_one() -> None:
    rows = await read(b"a,b\n  \n1,2\n", "csv")
    assert errors(rows) == [(1, "line 2: 1 cells where the header has 2")]


async def test_a_utf8_byte_order_mark_is_dropped() -> None:
    rows = await read(b"\xef\xbb\xbfid,name\n1,\xc3\x85se\n", "csv")
    assert records(rows) == [{"id": "1", "name": "Åse"}]


async def test_a_utf16_file_is_refused_at_once() -> None:
    with pytest.raises(InvalidFile, match="the file is UTF-16: save it as UTF-8"):
        await read("id,name\n1,x\n".encode("utf-16"), "csv")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"1,2,3", "line 3: 3 cells where the header has 2"),
        (b"1", "line 3: 1 cells where the header has 2"),
        (b"1,2,", "line 3: 3 cells where the header has 2"),
    ],
)
async def test_a_ragged_row_is_that_rows_error(line: bytes, message: str) -> None:
    rows = await read(b"a,b\n0,0\n" + line + b"\n4,4\n", "csv")
    assert errors(rows) == [(2, message)]
    assert rows[1].raw == line.decode()
    assert records(rows) == [{"a": "0", "b": "0"}, None, {"a": "4", "b": "4"}]


async def test_bad_quoting_is_that_rows_error_and_reading_goes_on() -> None:
    rows = await read(b'a,b\n"x"y,1\n2,3\n', "csv")
    assert errors(rows) == [
        (
            1,
            "line 2: bad quoting: a quoted cell must be followed by a comma or the end of the line",
        )
    ]
    assert rows[0].raw == '"x"y,1'
    assert records(rows)[1] == {"a": "2", "b": "3"}


async def test_a_quote_inside_an_unquoted_cell_is_a_plain_character() -> None:
    rows = await read(b'a,b\n5" disk,x"y\n', "csv")
    assert records(rows) == [{"a": '5" disk', "b": 'x"y'}]


async def test_a_quote_never_closed_is_the_last_rows_error() -> None:
    rows = await read(b'a,b\n1,2\n3,"open\n4,5\n', "csv")
    assert errors(rows) == [(2, "lines 3–4: bad quoting: the file ends inside a quoted cell")]
    assert records(rows)[0] == {"a": "1", "b": "2"}


async def test_a_quote_left_open_mid_file_costs_one_row_at_most_a_mib_long() -> None:
    filler = b"x,y\n" * 300_000  # 1.2 MB swallowed by the open quote
    rows = await read(b'a,b\n1,"open\n' + filler + b"2,3\n", "csv")
    assert rows[0].error is not None
    assert rows[0].error.endswith("the record is longer than 1 MiB (is a quote left open?)")
    assert rows[0].error.startswith("lines 2–")
    assert rows[-1].record == {"a": "2", "b": "3"}
    # after the cut-off, what follows is read as rows again
    assert all(row.ok for row in rows[1:])


async def test_a_cell_over_csvs_size_limit_is_that_rows_error() -> None:
    big = b"z" * 140_000
    rows = await read(b'a,b\n1,"' + big + b'"\n2,3\n', "csv")
    assert errors(rows) == [(1, "line 2: a cell is longer than 131072 characters")]
    assert records(rows)[1] == {"a": "2", "b": "3"}


async def test_a_cell_over_the_size_limit_spanning_lines_is_one_rows_error() -> None:
    big = b"zzzz\n" * 30_000
    rows = await read(b'a,b\n1,"' + big + b'"\n2,3\n', "csv")
    assert [row.number for row in rows] == [1, 2]
    assert rows[0].error == "lines 2–30002: a cell is longer than 131072 characters"
    assert rows[1].record == {"a": "2", "b": "3"}


async def test_a_line_over_the_limit_is_that_rows_error_and_never_held() -> None:
    long_line = b"1," + b"y" * (1 << 20) + b"\n"
    rows = await read(b"a,b\n" + long_line + b"2,3\n", "csv")
    assert errors(rows) == [(1, "line 2 is longer than 1 MiB")]
    assert rows[0].raw is None
    assert records(rows)[1] == {"a": "2", "b": "3"}


async def test_invalid_utf8_is_that_rows_error() -> None:
    rows = await read(b"a,b\n1,caf\xe9\n2,caf\xc3\xa9\n3,\xff\xfe\n", "csv")
    assert errors(rows) == [
        (1, "line 2: not valid UTF-8 (byte 6 of the line)"),
        (3, "line 4: not valid UTF-8 (byte 3 of the line)"),
    ]
    assert rows[0].raw == "1,caf\ufffd"
    assert records(rows)[1] == {"a": "2", "b": "café"}


async def test_invalid_utf8_in_a_multiline_record_spoils_that_record_only() -> None:
    rows = await read(b'a,b\n1,"x\ny\xff"\n2,3\n', "csv")
    assert errors(rows) == [(1, "line 3: not valid UTF-8 (byte 2 of the line)")]
    assert records(rows)[1] == {"a": "2", "b": "3"}


async def test_a_bare_carriage_return_in_an_unquoted_cell_is_that_rows_error() -> None:
    rows = await read(b"a,b\n1,x\ry\n2,3\n", "csv")
    assert errors(rows) == [(1, "line 2: a line break inside an unquoted cell (quote the cell)")]
    assert records(rows)[1] == {"a": "2", "b": "3"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'"a"b,c\n1,2\n', "the header row cannot be read: line 1: bad quoting"),
        (b"a,\xff\n1,2\n", "the header row cannot be read: line 1: not valid UTF-8"),
        (b'a,"b\n', "the header row cannot be read: line 1: bad quoting: the file ends"),
        (b"a," + b"b" * (1 << 20) + b"\n", "the header row cannot be read: line 1 is longer"),
    ],
)
async def test_a_header_row_that_cannot_be_read_refuses_the_file(data: bytes, message: str) -> None:
    with pytest.raises(InvalidFile) as caught:
        await read(data, "csv")
    assert str(caught.value).startswith(message)
    assert caught.value.line == 1


SCHEMA = [
    field("id", "string"),
    field("age", "integer"),
    field("score", "number"),
    field("active", "boolean"),
    field("born", "datetime"),
    field("tags", "array"),
    field("address", "object"),
]


async def test_values_are_converted_by_the_schema() -> None:
    data = (
        b"id,age,score,active,born,tags,address.city,extra\n"
        b'7, 42 ,1.5,TRUE,2024-01-02T03:04:05Z,"[""a"",1]",Oslo,kept\n'
        b"8,#null,,no,,[],,\n"
    )
    rows = await read(data, "csv", schema=SCHEMA)
    assert records(rows) == [
        {
            "id": "7",
            "age": 42,
            "score": 1.5,
            "active": True,
            "born": "2024-01-02T03:04:05Z",
            "tags": ["a", 1],
            "address": {"city": "Oslo"},
            "extra": "kept",  # not in the schema: left as text
        },
        {"id": "8", "age": None, "active": False, "tags": []},
    ]


async def test_an_object_field_may_come_as_json_in_one_cell() -> None:
    rows = await read(b'address\n"{""city"": ""Oslo""}"\n', "csv", schema=SCHEMA)
    assert records(rows) == [{"address": {"city": "Oslo"}}]


@pytest.mark.parametrize(
    ("header", "cell", "message"),
    [
        (b"age", b"forty", "line 2: field 'age' must be an integer"),
        (b"score", b'"1,5"', "line 2: field 'score' must be a number"),
        (b"active", b"maybe", "line 2: field 'active' must be a boolean"),
        (b"born", b"yesterday", "line 2: field 'born' must be a datetime"),
        (b"tags", b"a;b", "line 2: field 'tags' must be an array written as JSON"),
        (b"tags", b'"{""a"":1}"', "line 2: field 'tags' must be an array"),
        (b"id.part", b"x", "line 2: field 'id' must be a string"),
    ],
)
async def test_a_value_the_schema_refuses_is_that_rows_error_naming_the_field(
    header: bytes, cell: bytes, message: str
) -> None:
    rows = await read(header + b"\n" + cell + b"\n", "csv", schema=SCHEMA)
    assert errors(rows) == [(1, message)]
    # the record as read, before conversion, for the errors file
    assert isinstance(rows[0].raw, dict)


async def test_a_conversion_error_leaves_the_other_rows_alone() -> None:
    rows = await read(b"id,age\n1,x\n2,3\n", "csv", schema=SCHEMA)
    assert rows[0].raw == {"id": "1", "age": "x"}
    assert records(rows) == [None, {"id": "2", "age": 3}]


async def test_without_a_schema_every_value_stays_text() -> None:
    rows = await read(b"age,active\n42,true\n", "csv")
    assert records(rows) == [{"age": "42", "active": "true"}]


async def test_reading_one_chunk_or_many_gives_the_same_rows() -> None:
    data = b'a,b\n1,"x\ny"\n2,3\n'
    whole = await read(data, "csv")
    assert await read(pieces(data, [5, 6, 9, 11]), "csv") == whole
