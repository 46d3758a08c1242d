"""NDJSON uploads: one JSON object per line, one Row per non-blank line."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence

import orjson

from interlink.bulk.formats.conversion import RecordConverter
from interlink.bulk.formats.lines import physical_lines, without_bom
from interlink.bulk.formats.rows import (
    ROW_LIMIT_TEXT,
    InvalidFile,
    Row,
    describe_json,
    raw_text,
)
from interlink.elements.definition import SchemaField
from interlink.errors import InvalidInput


async def ndjson_rows(
    chunks: AsyncIterable[bytes], *, schema: Sequence[SchemaField] | None = None
) -> AsyncIterator[Row]:
    """The records of an NDJSON upload, one per line.

    Rows count records, so blank (whitespace-only) lines are skipped and not counted; error
    messages name the line. A line that is not JSON, not an object or longer than the row
    limit is that row's error. A file with no record at all is InvalidFile.
    """
    convert = RecordConverter(schema, text_cells=False)
    number = 0
    line_number = 0
    async for data in physical_lines(without_bom(chunks)):
        line_number += 1
        if data is None:
            number += 1
            yield Row(number, None, f"line {line_number} is longer than {ROW_LIMIT_TEXT}")
            continue
        if data.isspace():
            continue
        number += 1
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            yield Row(number, None, f"line {line_number}: {_json_problem(data)}", raw_text(data))
            continue
        if not isinstance(value, dict):
            yield Row(
                number,
                None,
                f"line {line_number}: {describe_json(value)} where a record (a JSON object) "
                "was expected",
                raw_text(data),
            )
            continue
        try:
            record = convert(value)
        except InvalidInput as exc:
            yield Row(number, None, f"line {line_number}: {exc.detail}", value)
            continue
        yield Row(number, record)
    if number == 0:
        raise InvalidFile("the file is empty: an NDJSON upload has one JSON object per line")


def _json_problem(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start + 1} of the line)"
    try:  # again without the line end, which would move the error's place to a line 2
        orjson.loads(data.rstrip(b"\r\n"))
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON at column {exc.colno}: {exc.msg}"
    return "not valid JSON"
