"""CSV uploads: RFC 4180 records read incrementally, one Row per record (not per line)."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from interlink.bulk.formats.conversion import RecordConverter
from interlink.bulk.formats.csv_columns import Columns
from interlink.bulk.formats.lines import physical_lines, without_bom
from interlink.bulk.formats.rows import (
    MAX_ROW_BYTES,
    ROW_LIMIT_TEXT,
    InvalidFile,
    Row,
    raw_text,
)
from interlink.elements.definition import SchemaField
from interlink.errors import InvalidInput

_QUOTE = '"'
_DELIMITER = ","


async def csv_rows(
    chunks: AsyncIterable[bytes], *, schema: Sequence[SchemaField] | None = None
) -> AsyncIterator[Row]:
    """The records of a CSV upload: a header row, then one Row per record.

    Blank lines are not records and are skipped. A record whose cells cannot be read (bad
    quoting, not UTF-8, more or fewer cells than the header, too long) is a Row with an
    error and reading goes on; InvalidFile is raised only for an empty file or a header
    that cannot be used, which both come before any row.
    """
    reader = _CsvReader(schema)
    async for row in reader.rows(chunks):
        yield row


class _NeedMore(Exception):
    """The csv reader ran past the lines received so far, inside a record."""


@dataclass(slots=True)
class _Line:
    number: int
    text: str
    bad_encoding: str | None


class _Feed:
    """The lines of the record in progress, lent to csv.reader one at a time.

    csv.reader pulls lines synchronously while an upload arrives asynchronously. Where the
    reader would run past the lines received so far, the feed raises _NeedMore instead of
    ending the file; csv.reader starts every record afresh, so once more lines have arrived
    the same record is served again from its first line.
    """

    def __init__(self) -> None:
        self.lines: list[_Line] = []
        self.taken = 0
        self.at_end = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.taken < len(self.lines):
            self.taken += 1
            return self.lines[self.taken - 1].text
        if self.at_end:
            raise StopIteration
        raise _NeedMore

    def take(self, count: int) -> list[_Line]:
        taken = self.lines[:count]
        del self.lines[:count]
        return taken


class _RecordEnds:
    """Whether a line ends a record, following csv's own reading of quotes (strict mode).

    Once a record runs over lines, csv.reader is asked for it again only when it is
    complete, so a cell spanning many lines is parsed once rather than once per line.
    A quote opens a quoted cell only at the start of a cell (elsewhere it is a plain
    character); inside, `""` is a quote; after the closing quote only a comma or the line
    end may follow, anything else is csv's error and ends the record with the line.
    """

    def __init__(self) -> None:
        self.in_quotes = False

    def after(self, text: str) -> bool:
        if not self.in_quotes and _QUOTE not in text:
            return True
        body = text.rstrip("\r\n")
        in_quotes = self.in_quotes
        position = 0
        while (found := body.find(_QUOTE, position)) >= 0:
            position = found + 1
            if in_quotes:
                if body.startswith(_QUOTE, position):
                    position += 1
                    continue
                in_quotes = False
                if position < len(body) and body[position] != _DELIMITER:
                    break
            elif found == 0 or body[found - 1] == _DELIMITER:
                in_quotes = True
        self.in_quotes = in_quotes
        return not in_quotes


class _CsvReader:
    def __init__(self, schema: Sequence[SchemaField] | None) -> None:
        self._convert = RecordConverter(schema, text_cells=True)
        self._columns: Columns | None = None
        self._number = 0

    async def rows(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[Row]:
        feed = _Feed()
        reader = csv.reader(feed, strict=True)
        ends = _RecordEnds()
        line_number = 0
        waiting = 0  # bytes of the record in progress
        async for data in physical_lines(without_bom(chunks)):
            line_number += 1
            if data is None:
                dropped = feed.take(len(feed.lines))
                first = dropped[0].number if dropped else line_number
                where = f"{_lines(first, line_number)}: " if dropped else ""
                yield self._error(
                    first, f"{where}line {line_number} is longer than {ROW_LIMIT_TEXT}", None
                )
                ends = _RecordEnds()
                waiting = 0
                continue
            line = _decode(line_number, data)
            feed.lines.append(line)
            waiting += len(data)
            # The first line of a record goes to csv at once; once a record runs over lines,
            # csv is asked again only when _RecordEnds sees it end.
            if not ends.in_quotes or ends.after(line.text):
                for lines, cells, error in _records(feed, reader):
                    if (row := self._row(lines, cells, error)) is not None:
                        yield row
                ends = _RecordEnds()
                for pending in feed.lines:  # csv wants more: follow the quotes of what it has
                    ends.after(pending.text)
                waiting = sum(len(pending.text) for pending in feed.lines)
            if waiting > MAX_ROW_BYTES:
                dropped = feed.take(len(feed.lines))
                yield self._error(
                    dropped[0].number,
                    f"{_lines(dropped[0].number, line_number)}: the record is longer than "
                    f"{ROW_LIMIT_TEXT} (is a quote left open?)",
                    _raw(dropped),
                )
                ends = _RecordEnds()
                waiting = 0
        feed.at_end = True
        for lines, cells, error in _records(feed, reader):
            if (row := self._row(lines, cells, error)) is not None:
                yield row
        if self._columns is None:
            raise InvalidFile("the file is empty: a CSV upload starts with a header row")

    def _row(self, lines: list[_Line], cells: list[str] | None, error: str | None) -> Row | None:
        """The Row for one record read, or None for a blank line or the header row."""
        if cells == []:
            return None
        first = lines[0].number
        where = _lines(first, lines[-1].number)
        bad_encoding = next((line.bad_encoding for line in lines if line.bad_encoding), None)
        if bad_encoding:
            return self._error(first, bad_encoding, _raw(lines))
        if error is not None or cells is None:
            return self._error(first, f"{where}: {error}", _raw(lines))
        if self._columns is None:
            self._columns = Columns(cells, line=first)
            return None
        if len(cells) != len(self._columns):
            return self._error(
                first,
                f"{where}: {len(cells)} cells where the header has {len(self._columns)}",
                _raw(lines),
            )
        record = self._columns.record(cells)
        try:
            converted = self._convert(record)
        except InvalidInput as exc:
            return self._error(first, f"{where}: {exc.detail}", record)
        self._number += 1
        return Row(self._number, converted)

    def _error(self, line: int, message: str, raw: str | dict[str, Any] | None) -> Row:
        """A bad record's Row; before the header is read, the whole file is unreadable."""
        if self._columns is None:
            raise InvalidFile(f"the header row cannot be read: {message}", line=line)
        self._number += 1
        return Row(self._number, None, message, raw)


def _records(
    feed: _Feed, reader: Iterator[list[str]]
) -> Iterator[tuple[list[_Line], list[str] | None, str | None]]:
    """Each record csv.reader can read from the feed: its lines, and its cells or error."""
    while feed.lines:
        feed.taken = 0
        try:
            cells: list[str] | None = next(reader)
            error = None
        except _NeedMore:
            return
        except StopIteration:
            return
        except csv.Error as exc:
            # The record ends where _RecordEnds said it does, even where csv gave up sooner
            # (a cell over csv's size limit): the rest of it must not be read as records.
            cells, error = None, _explain(exc)
            feed.taken = len(feed.lines)
        yield feed.take(max(feed.taken, 1)), cells, error


def _decode(number: int, data: bytes) -> _Line:
    try:
        return _Line(number, data.decode("utf-8"), None)
    except UnicodeDecodeError as exc:
        return _Line(
            number,
            data.decode("utf-8", "replace"),
            f"line {number}: not valid UTF-8 (byte {exc.start + 1} of the line)",
        )


def _explain(error: csv.Error) -> str:
    message = str(error)
    if message.startswith("',' expected after"):
        return "bad quoting: a quoted cell must be followed by a comma or the end of the line"
    if message == "unexpected end of data":
        return "bad quoting: the file ends inside a quoted cell"
    if message.startswith("new-line character seen in unquoted field"):
        return "a line break inside an unquoted cell (quote the cell)"
    if message.startswith("field larger than field limit"):
        return f"a cell is longer than {csv.field_size_limit()} characters"
    return f"malformed CSV: {message}"


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}–{last}"


def _raw(lines: list[_Line]) -> str:
    return raw_text("".join(line.text for line in lines))
