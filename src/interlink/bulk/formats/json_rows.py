"""JSON uploads: one top-level array of objects, parsed element by element as it arrives."""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any, NoReturn

from interlink.bulk.formats.conversion import RecordConverter
from interlink.bulk.formats.lines import without_bom
from interlink.bulk.formats.rows import (
    MAX_ROW_BYTES,
    ROW_LIMIT_TEXT,
    InvalidFile,
    Row,
    describe_json,
    raw_text,
)
from interlink.elements.definition import SchemaField
from interlink.errors import InvalidInput

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*\Z")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is too large a number")
    return number


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


async def json_rows(
    chunks: AsyncIterable[bytes], *, schema: Sequence[SchemaField] | None = None
) -> AsyncIterator[Row]:
    """The records of a JSON upload: `[{…}, {…}, …]`, one Row per element.

    An element that is valid JSON but not an object is that row's error. The document must
    be JSON, though: once a syntax error is met, where the next element starts is anyone's
    guess, so InvalidFile is raised there — after the rows before it (a caller that must
    not act on a broken file reads it through once first). So is a file that is empty, is
    not an array, has data after the array, is not UTF-8, or holds an element longer than
    the row limit.
    """
    convert = RecordConverter(schema, text_cells=False)
    text = _Text(chunks)
    first = await text.peek()
    if first is None:
        raise InvalidFile("the file is empty: a JSON upload is an array of objects")
    if first != "[":
        line, column = text.position(text.pos)
        found = "one JSON object" if first == "{" else "something else"
        raise InvalidFile(
            f"line {line}, column {column}: a JSON upload must be an array of objects "
            f"([{{…}}, …]); the file holds {found}",
            line=line,
            column=column,
        )
    text.pos += 1
    number = 0
    upcoming = await text.peek()
    if upcoming == "]":
        text.pos += 1
    while upcoming != "]":
        if upcoming is None:
            text.fail("the file ends inside the array (a ']' is missing)", text.pos)
        number += 1
        start_line, _ = text.position(text.pos)
        value, source = await text.value(number)
        where = f"line {start_line}"
        if not isinstance(value, dict):
            yield Row(
                number,
                None,
                f"{where}: {describe_json(value)} where a record (a JSON object) was expected",
                raw_text(source),
            )
        else:
            try:
                yield Row(number, convert(value))
            except InvalidInput as exc:
                yield Row(number, None, f"{where}: {exc.detail}", value)
        upcoming = await text.peek()
        if upcoming == ",":
            text.pos += 1
            upcoming = await text.peek()
            if upcoming == "]":
                text.fail("a ',' before the array's ']' (trailing commas are not JSON)", text.pos)
        elif upcoming == "]":
            text.pos += 1
            break
        elif upcoming is not None:
            text.fail(f"expected ',' or ']' after element {number}", text.pos)
    if await text.peek() is not None:
        text.fail("unexpected data after the array", text.pos)


class _Text:
    """A rolling window on the decoded file: what is not parsed yet, with its position.

    `text[pos:]` is unread; the parsed part is dropped whenever more is read, so the window
    holds at most one element plus one chunk.
    """

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = aiter(without_bom(chunks))
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._bytes_read = 0  # after the byte-order mark
        self._not_utf8: InvalidFile | None = None
        self.at_end = False
        self.text = ""
        self.pos = 0
        self._line = 1  # of text[0]
        self._column = 1  # of text[0]
        self._mark = (0, 1, 1)  # the last position counted: index, line, column

    async def read_more(self) -> bool:
        """Append the next chunk; False once the whole file has been read."""
        if self._not_utf8 is not None:
            raise self._not_utf8
        if self.at_end:
            return False
        self._drop_parsed()
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            chunk, self.at_end = b"", True
        held_back, _ = self._decoder.getstate()  # a character's first bytes from before
        try:
            self.text += self._decoder.decode(chunk, final=self.at_end)
        except UnicodeDecodeError as exc:
            # Raised once the text before the bad byte is used up, so that what is read
            # does not depend on where the chunks happen to break.
            offset = self._bytes_read - len(held_back) + exc.start
            self._not_utf8 = InvalidFile(f"the file is not UTF-8 (byte {offset + 1})")
            self.text += (held_back + chunk)[: exc.start].decode("utf-8")
            self.at_end = False
        self._bytes_read += len(chunk)
        return True

    async def peek(self) -> str | None:
        """The next character that is not whitespace, not consumed; None at the end."""
        while True:
            match = _WHITESPACE.match(self.text, self.pos)
            assert match is not None  # the pattern matches the empty string
            self.pos = match.end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not await self.read_more():
                return None

    async def value(self, number: int) -> tuple[Any, str]:
        """The JSON value at `pos` and its text, reading on until it is whole."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self.at_end or len(self.text) - self.pos > MAX_ROW_BYTES:
                    too_long = "" if self.at_end else f" (or it is longer than {ROW_LIMIT_TEXT})"
                    reason = exc.msg.removesuffix(" starting at").removesuffix(" at")
                    self.fail(f"element {number} is not valid JSON: {reason}{too_long}", exc.pos)
                await self.read_more()
                continue
            except ValueError as exc:  # NaN, Infinity, 1e400
                self.fail(f"element {number}: {exc}", self.pos)
            except RecursionError:
                self.fail(f"element {number} is nested too deeply", self.pos)
            # A number running to the end of the text read so far may go on: `-1` of `-1.5e3`.
            if not self.at_end and _NUMBER_TAIL.match(self.text, end):
                await self.read_more()
                continue
            if end - self.pos > MAX_ROW_BYTES:
                self.fail(f"element {number} is longer than {ROW_LIMIT_TEXT}", self.pos)
            source = self.text[self.pos : end] if not isinstance(value, dict) else ""
            self.pos = end
            return value, source

    def position(self, index: int) -> tuple[int, int]:
        """(line, column) in the file, from 1, of `text[index]`.

        Counted on from the last position asked for, as rows ask in file order: counting
        from the window's start each time would make reading quadratic in the window.
        """
        mark, line, column = self._mark
        if index < mark:
            mark, line, column = 0, self._line, self._column
        newlines = self.text.count("\n", mark, index)
        if newlines == 0:
            column += index - mark
        else:
            line += newlines
            column = index - self.text.rfind("\n", mark, index)
        self._mark = (index, line, column)
        return line, column

    def fail(self, message: str, index: int) -> NoReturn:
        line, column = self.position(index)
        raise InvalidFile(f"line {line}, column {column}: {message}", line=line, column=column)

    def _drop_parsed(self) -> None:
        if self.pos:
            self._line, self._column = self.position(self.pos)
            self.text = self.text[self.pos :]
            self.pos = 0
            self._mark = (0, self._line, self._column)
